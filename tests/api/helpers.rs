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
    shutdown: CancellationToken,
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
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A config as an operator would give it, plus the test's own arguments.
pub fn config_with(workdir: &TempDir, extra: &[&str]) -> Config {
    let mut args = vec![
        "corebuild".to_owned(),
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
    let address = app.address();
    let shutdown = CancellationToken::new();
    tokio::spawn(app.run_until_stopped(shutdown.clone()));
    TestApp {
        address,
        client: reqwest::Client::new(),
        workdir,
        shutdown,
    }
}
