//! Workers of a fleet for the cluster tests: in-process workers sharing a test NATS.

use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use tokio::process::Child;

use crate::support::helpers::{TestApp, fake_isocreator, spawn_worker};
use crate::support::nats::FLEET_KEY;
use crate::support::worker::{corebuild, wait_for_address};

/// A worker of the fleet on `nats`, one executor, the fake builder in `mode`.
pub async fn cluster_worker(nats: &str, id: &str, mode: &str, extra: &[&str]) -> TestApp {
    let mut args = vec![
        "--nats-url",
        nats,
        "--cluster-key",
        FLEET_KEY,
        "--worker-id",
        id,
        "--max-concurrency",
        "1",
    ];
    args.extend_from_slice(extra);
    spawn_worker(mode, &args).await
}

/// `corebuild_cluster_jobs_started_total` of one worker.
pub async fn started_runs(worker: &TestApp) -> u64 {
    let metrics = worker.get("/metrics").await.text().await.unwrap();
    metrics
        .lines()
        .filter(|l| l.starts_with("corebuild_cluster_jobs_started_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// A worker as its own process, so it can be killed with SIGKILL.
pub struct Process {
    pub child: Child,
    pub url: String,
    client: reqwest::Client,
    /// The worker's log, complete once the process has closed it.
    pub log: Option<tokio::task::JoinHandle<String>>,
}

impl Process {
    pub async fn start(
        nats: &str,
        id: &str,
        workdir: &Path,
        mode: &str,
        extra: &[(&str, &str)],
    ) -> Self {
        let command = fake_isocreator(mode);
        let work = workdir.join("work");
        let mut env = vec![
            ("COREBUILD_BIND", "127.0.0.1"),
            ("COREBUILD_PORT", "0"),
            ("COREBUILD_WORKDIR", work.to_str().unwrap()),
            ("COREBUILD_NATS_URL", nats),
            ("COREBUILD_CLUSTER_KEY", FLEET_KEY),
            ("COREBUILD_WORKER_ID", id),
            ("COREBUILD_MAX_CONCURRENCY", "1"),
            ("COREBUILD_NATS_ACK_WAIT_SECS", "3"),
            ("ISO_CREATOR_COMMAND", command.as_str()),
        ];
        env.extend_from_slice(extra);
        let mut child = corebuild(&env).spawn().unwrap();
        let (address, log) = wait_for_address(&mut child).await;
        Self {
            child,
            url: format!("http://{address}"),
            client: reqwest::Client::new(),
            log: Some(log),
        }
    }

    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id().unwrap() as i32)
    }

    pub async fn submit_async(&self, job: &Value) -> reqwest::Response {
        self.client
            .post(format!("{}/corebuild/v1/jobs/baseos-image", self.url))
            .header("Prefer", "respond-async")
            .json(&serde_json::json!({ "job": job }))
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> Value {
        self.client
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Polls the job's status until `ready` holds.
    pub async fn wait_for(
        &self,
        id: &str,
        limit: Duration,
        ready: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let status = self.get(&format!("/corebuild/v1/jobs/{id}")).await;
            if ready(&status) {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "job {id} never got there: {status}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The pid the fleet builder printed in the job's log.
    pub async fn builder_pid(&self, id: &str) -> Pid {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let page = self.get(&format!("/corebuild/v1/jobs/{id}/logs")).await;
            let pid = page["lines"]
                .as_array()
                .into_iter()
                .flatten()
                .find_map(|l| {
                    l["text"]
                        .as_str()?
                        .strip_prefix("builder pid ")?
                        .parse::<i32>()
                        .ok()
                });
            if let Some(pid) = pid {
                return Pid::from_raw(pid);
            }
            assert!(
                Instant::now() < deadline,
                "no builder pid in the log: {page}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGSTOP: the whole worker freezes, as a paused VM would.
    pub fn pause(&self) {
        kill(self.pid(), Signal::SIGSTOP).unwrap();
    }

    pub fn resume(&self) {
        kill(self.pid(), Signal::SIGCONT).unwrap();
    }

    /// Waits until the worker has stopped itself at a fault point.
    pub async fn wait_stopped(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        let stat = format!("/proc/{}/stat", self.pid());
        loop {
            let state = std::fs::read_to_string(&stat).unwrap_or_default();
            // The state is the field after the command's closing parenthesis.
            if state
                .rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('T'))
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the worker never reached its fault point"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, and the whole log.
    pub async fn stop_and_log(mut self) -> String {
        kill(self.pid(), Signal::SIGTERM).unwrap();
        let _ = tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await;
        let _ = self.child.kill().await;
        self.log.take().unwrap().await.unwrap()
    }

    pub async fn kill_9(&mut self) {
        kill(self.pid(), Signal::SIGKILL).unwrap();
        self.child.wait().await.unwrap();
    }
}
