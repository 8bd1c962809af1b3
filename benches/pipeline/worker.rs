//! A release build of the worker, started fresh for one measurement, and what /proc
//! says about it.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};

pub const FAKE_ISOCREATOR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/fake-isocreator"
);

pub struct Worker {
    child: tokio::process::Child,
    pub address: String,
    pub pid: u32,
    http: reqwest::Client,
}

impl Worker {
    /// Starts the worker with `fake_args` for the fake isocreator and extra variables.
    /// Its log goes to `worker.log` in `dir` (the last worker's log stays there): a
    /// file costs the worker what journald would, and the benchmark spends no CPU
    /// reading it while measuring.
    pub async fn start(dir: &Path, fake_args: &str, env: &[(&str, &str)]) -> Worker {
        Self::start_with(dir, &format!("'{FAKE_ISOCREATOR}' {fake_args}"), env).await
    }

    /// Starts the worker with `builder` as its ISO_CREATOR_COMMAND.
    pub async fn start_with(dir: &Path, builder: &str, env: &[(&str, &str)]) -> Worker {
        let log_path = dir.join("worker.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_corebuild"));
        command
            .env("COREBUILD_BIND", "127.0.0.1")
            .env("COREBUILD_PORT", "0")
            .env("COREBUILD_WORKDIR", dir.join("work"))
            .env("COREBUILD_LOG_FORMAT", "json")
            .env("ISO_CREATOR_COMMAND", builder)
            .stdout(log)
            .stderr(Stdio::null())
            .kill_on_drop(true);
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("the release worker starts");
        let address = loop {
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "the worker exited with {status}; see {}",
                    log_path.display()
                );
            }
            let text = std::fs::read_to_string(&log_path).unwrap();
            let listening = text.lines().find_map(|line| {
                let event: Value = serde_json::from_str(line).ok()?;
                (event["message"] == "corebuild listening")
                    .then(|| event["address"].as_str().map(str::to_owned))?
            });
            if let Some(address) = listening {
                break address;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let pid = child.id().unwrap();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(3600))
            .build()
            .unwrap();
        Worker {
            child,
            address,
            pid,
            http,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Submits a job and waits for its result (the synchronous route).
    pub async fn run_job(&self, id: &str, s3: impl Into<Endpoint>) -> Value {
        self.post_job(id, s3, None).await
    }

    /// Submits a job with a token and waits for its answer: how long that took.
    pub async fn run_job_timed(&self, id: &str, s3: impl Into<Endpoint>, token: &str) -> f64 {
        let sent = std::time::Instant::now();
        self.post_job(id, s3, Some(token)).await;
        sent.elapsed().as_secs_f64() * 1000.0
    }

    /// The blocking submission of job `id`, which must succeed; its answer.
    async fn post_job(&self, id: &str, s3: impl Into<Endpoint>, token: Option<&str>) -> Value {
        let mut request = self
            .http
            .post(self.url("/corebuild/v1/jobs/baseos-image"))
            .json(&job(id, s3));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        assert_eq!(answer["success"], true, "{}", answer["error"]);
        answer
    }

    /// A GET with a token that must succeed: its body and how long it took, in ms.
    pub async fn get_timed(&self, path: &str, token: &str) -> (Value, f64) {
        let sent = std::time::Instant::now();
        let response = self
            .http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        let body: Value = response.json().await.unwrap();
        (body, sent.elapsed().as_secs_f64() * 1000.0)
    }

    /// Submits a job without waiting (`Prefer: respond-async`).
    pub async fn submit_async(&self, id: &str, s3: impl Into<Endpoint>, token: &str) {
        let status = self
            .http
            .post(self.url("/corebuild/v1/jobs/baseos-image"))
            .bearer_auth(token)
            .header("Prefer", "respond-async")
            .json(&job(id, s3))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 202);
    }

    pub async fn state(&self, id: &str, token: &str) -> String {
        self.status(id, token).await["state"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub async fn status(&self, id: &str, token: &str) -> Value {
        self.http
            .get(self.url(&format!("/corebuild/v1/jobs/{id}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn cancel(&self, id: &str, token: &str) {
        let status = self
            .http
            .delete(self.url(&format!("/corebuild/v1/jobs/{id}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_success(), "cancel answered {status}");
    }

    /// User + system CPU seconds of the worker process (all its threads, not its
    /// children).
    pub fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).unwrap();
        // Fields after the command name, which is in parentheses and may hold spaces.
        let (_, rest) = stat.rsplit_once(") ").unwrap();
        let fields: Vec<&str> = rest.split(' ').collect();
        let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
        let per_second = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .unwrap()
            .unwrap() as f64;
        ticks / per_second
    }

    /// A memory figure from /proc/PID/status (`VmHWM`, `VmRSS`) in MiB.
    pub fn memory_mib(&self, field: &str) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap();
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap();
        kib / 1024.0
    }

    /// SIGTERM, as systemd would, and wait for the exit.
    pub async fn stop(mut self) {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let _ = self.child.wait().await;
    }
}

/// Where a job uploads to: the discard endpoint over plain HTTP or over TLS.
#[derive(Clone, Copy)]
pub struct Endpoint {
    pub address: std::net::SocketAddr,
    pub tls: bool,
}

impl From<std::net::SocketAddr> for Endpoint {
    fn from(address: std::net::SocketAddr) -> Self {
        Self {
            address,
            tls: false,
        }
    }
}

fn job(id: &str, s3: impl Into<Endpoint>) -> Value {
    let s3 = s3.into();
    // The certificate is for `localhost`.
    let endpoint = if s3.tls {
        format!("localhost:{}", s3.address.port())
    } else {
        s3.address.to_string()
    };
    json!({ "job": {
        "id": id,
        "architecture": "amd64", "imageKind": "ubuntu-iso",
        "cloudlyUrl": "https://cloudly.example.com", "provisioningToken": "bench-token",
        "s3Descriptor": { "endpoint": endpoint, "useSsl": s3.tls,
            "accessKey": "bench", "accessSecret": "bench-secret", "bucketName": "bench" }
    }})
}
