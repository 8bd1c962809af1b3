//! Shared test plumbing: an in-process worker on 127.0.0.1:0 with a temp workdir.

use std::net::SocketAddr;

use corebuild::cli::Cli;
use corebuild::config::Config;
use corebuild::startup::Application;
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

pub struct TestApp {
    pub address: SocketAddr,
    pub client: reqwest::Client,
    pub workdir: TempDir,
    /// Starts the drain, as the first SIGTERM does.
    pub stop: CancellationToken,
    /// Cuts the drain short, as a second signal does.
    pub force: CancellationToken,
    /// The worker's token when it has one; the helpers below send it, `client` does not.
    pub token: Option<String>,
    /// The `--worker-id` it was given, if any.
    pub worker_id: Option<String>,
    /// Checks every JSON answer against the worker's OpenAPI document.
    pub contract: crate::support::contract::ContractProxy,
    /// The running application; ends once it has stopped.
    pub stopped: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request failed")
    }

    pub async fn capabilities(&self) -> serde_json::Value {
        self.get("/corebuild/v1/capabilities")
            .await
            .json()
            .await
            .unwrap()
    }

    /// A request carrying the worker's token, if it has one.
    pub fn authed(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.client.request(method, self.url(path));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Tests do not wait for a grace time: stop and cut the drain short.
        self.stop.cancel();
        self.force.cancel();
        let violations = self.contract.violations.lock().unwrap().clone();
        if !violations.is_empty() && !std::thread::panicking() {
            panic!("answers that break the OpenAPI document: {violations:#?}");
        }
    }
}

/// A config as an operator would give it, plus the test's own arguments.
pub fn config_with(workdir: &TempDir, extra: &[&str]) -> Config {
    let mut args = vec![
        "corebuild".to_owned(),
        "serve".to_owned(),
        "--bind".to_owned(),
        "127.0.0.1".to_owned(),
        "--port".to_owned(),
        "0".to_owned(),
        "--workdir".to_owned(),
        workdir.path().join("work").display().to_string(),
    ];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    Cli::try_parse_from_args(args)
        .expect("test config must parse")
        .into_serve_config()
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

pub async fn spawn_app_with(extra: &[&str]) -> TestApp {
    let workdir = tempfile::tempdir().expect("temp workdir");
    let config = config_with(&workdir, extra);
    let app = Application::build(config).await.expect("app builds");
    // Tests talk to the worker through the contract-checking proxy.
    let contract = crate::support::contract::start(app.address()).await;
    let address = contract.address;
    let (stop, force) = (CancellationToken::new(), CancellationToken::new());
    let stopped = tokio::spawn(app.run_until_stopped(stop.clone(), force.clone()));
    let token = extra
        .iter()
        .position(|a| *a == "--token")
        .map(|i| extra[i + 1].to_owned());
    let worker_id = extra
        .iter()
        .position(|a| *a == "--worker-id")
        .map(|i| extra[i + 1].to_owned());
    TestApp {
        worker_id,
        address,
        contract,
        token,
        client: reqwest::Client::new(),
        workdir,
        stop,
        force,
        stopped: Some(stopped),
    }
}

/// The fake isocreator under `tests/fixtures/`, as an `ISO_CREATOR_COMMAND` with `mode`.
pub fn fake_isocreator(mode: &str) -> String {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/fake-isocreator"
    );
    format!("'{script}' {mode}")
}

/// A worker whose isocreator is the fake one in `mode`.
pub async fn spawn_worker(mode: &str, extra: &[&str]) -> TestApp {
    let command = fake_isocreator(mode);
    let mut args = vec!["--iso-creator-command", command.as_str()];
    args.extend_from_slice(extra);
    spawn_app_with(&args).await
}

/// A minimal valid ubuntu-iso job for `s3`.
pub fn job(id: &str, s3: &crate::support::s3::S3Server) -> serde_json::Value {
    serde_json::json!({
        "id": id,
        "architecture": "amd64",
        "imageKind": "ubuntu-iso",
        "cloudlyUrl": "https://cloudly.example.com",
        "provisioningToken": "one-time-baseos-token-5a4b",
        "s3Descriptor": s3.descriptor()
    })
}

impl TestApp {
    /// The blocking submission.
    pub async fn submit(&self, job: &serde_json::Value) -> reqwest::Response {
        self.client
            .post(self.url("/corebuild/v1/jobs/baseos-image"))
            .json(&serde_json::json!({ "job": job }))
            .send()
            .await
            .expect("request failed")
    }

    /// What is left in the workdir: after a job, nothing should be.
    pub fn workspaces(&self) -> Vec<std::path::PathBuf> {
        workspaces_in(&self.workdir.path().join("work"))
    }
}

/// What a workdir holds besides the worker's lock file: after a job, nothing.
pub fn workspaces_in(work: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(work)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.ends_with(".corebuild.lock"))
        .collect()
}

impl TestApp {
    /// A blocking submission running on its own, for tests that look on while it waits.
    pub fn submit_in_background(
        &self,
        job: serde_json::Value,
    ) -> tokio::task::JoinHandle<reqwest::Response> {
        let (client, url) = (
            self.client.clone(),
            self.url("/corebuild/v1/jobs/baseos-image"),
        );
        tokio::spawn(async move {
            client
                .post(url)
                .json(&serde_json::json!({ "job": job }))
                .send()
                .await
                .expect("request failed")
        })
    }
}

/// An answer's `logs` as strings.
pub fn log_lines(body: &serde_json::Value) -> Vec<&str> {
    body["logs"]
        .as_array()
        .expect("logs")
        .iter()
        .map(|l| l.as_str().expect("log line"))
        .collect()
}

/// How many times the fake isocreator started, by its first line in the log.
pub fn builds_in(body: &serde_json::Value) -> usize {
    log_lines(body)
        .iter()
        .filter(|l| l.starts_with("fake isocreator:"))
        .count()
}

impl TestApp {
    /// `Prefer: respond-async` submission.
    pub async fn submit_async(&self, job: &serde_json::Value) -> reqwest::Response {
        self.authed(reqwest::Method::POST, "/corebuild/v1/jobs/baseos-image")
            .header("Prefer", "respond-async")
            .json(&serde_json::json!({ "job": job }))
            .send()
            .await
            .expect("request failed")
    }

    pub async fn status(&self, id: &str) -> serde_json::Value {
        let response = self
            .authed(reqwest::Method::GET, &format!("/corebuild/v1/jobs/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "status of {id}");
        response.json().await.unwrap()
    }

    /// Polls the job's status until `ready` holds (at most 30 s) and returns it.
    pub async fn wait_for_status(
        &self,
        id: &str,
        ready: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            // A job submitted in the background may not be known yet: 404 until it is.
            let response = self
                .authed(reqwest::Method::GET, &format!("/corebuild/v1/jobs/{id}"))
                .send()
                .await
                .unwrap();
            let status: serde_json::Value = match response.status().as_u16() {
                200 => response.json().await.unwrap(),
                404 => serde_json::Value::Null,
                other => panic!("status of {id}: {other}"),
            };
            if ready(&status) {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "job {id} never got there: {status}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    pub async fn wait_for_state(&self, id: &str, state: &str) -> serde_json::Value {
        self.wait_for_status(id, |s| s["state"] == state).await
    }

    pub async fn cancel(&self, id: &str) -> reqwest::Response {
        self.client
            .delete(self.url(&format!("/corebuild/v1/jobs/{id}")))
            .send()
            .await
            .expect("request failed")
    }

    /// Starts the drain as SIGTERM would, and waits until the application has stopped.
    pub async fn stop_and_wait(&mut self) {
        self.stop.cancel();
        let stopped = self.stopped.take().expect("stopped once");
        stopped.await.expect("app task").expect("app ran");
    }
}
