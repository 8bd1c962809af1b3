//! Readiness apart from liveness: `/ready` says whether a worker should get work, with
//! the reasons when not; `/health` stays a plain liveness check. A missing builder is
//! found at start-up, not by the first job.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::helpers::{job, spawn_worker};
use crate::support::s3::start_s3;
use crate::support::worker::Worker;

async fn ready(client: &reqwest::Client, base: &str) -> (u16, Value) {
    let response = client.get(format!("{base}/ready")).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn a_draining_worker_is_alive_but_not_ready() {
    let s3 = start_s3().await;
    let app = spawn_worker("sleep 3", &[]).await;
    let base = app.url("");
    let (status, body) = ready(&app.client, &base).await;
    assert_eq!((status, &body), (200, &json!({ "ready": true })));
    assert_eq!(app.capabilities().await["builderInstalled"], true);

    assert_eq!(app.submit_async(&job("draining", &s3)).await.status(), 202);
    app.wait_for_state("draining", "running").await;
    app.stop.cancel();
    let body = loop {
        let (status, body) = ready(&app.client, &base).await;
        if status == 503 {
            break body;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(body["ready"], false);
    assert_eq!(body["reasons"], json!(["draining"]), "{body}");
    assert!(body["message"].as_str().unwrap().contains("shutting down"));
    let health: Value = app.get("/health").await.json().await.unwrap();
    assert_eq!(health, json!({ "ok": true }), "liveness is unchanged");
}

#[tokio::test]
async fn a_missing_builder_is_named_at_start_up_and_makes_the_worker_not_ready_until_installed() {
    let dir = tempfile::tempdir().unwrap();
    let builder = dir.path().join("bin").join("isocreator");
    let worker = Worker::start(
        &dir.path().join("work"),
        &[("ISO_CREATOR_COMMAND", builder.to_str().unwrap())],
    )
    .await;
    let (base, client) = (worker.url.clone(), reqwest::Client::new());

    let (status, body) = ready(&client, &base).await;
    assert_eq!(status, 503);
    assert_eq!(body["reasons"], json!(["builder_missing"]), "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains(builder.to_str().unwrap()),
        "{body}"
    );
    let caps = worker.get("/corebuild/v1/capabilities").await;
    assert_eq!(caps["builderInstalled"], false, "{caps}");

    // Installed while the worker runs: ready, with no restart.
    std::fs::create_dir_all(builder.parent().unwrap()).unwrap();
    std::fs::write(&builder, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&builder, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(ready(&client, &base).await, (200, json!({ "ready": true })));

    let log = worker.stop().await;
    let warning = log
        .lines()
        .find(|l| l.contains("is not installed"))
        .unwrap_or_else(|| panic!("a start-up warning: {log}"));
    assert!(warning.contains("WARN"), "{warning}");
    assert!(warning.contains(builder.to_str().unwrap()), "{warning}");
}
