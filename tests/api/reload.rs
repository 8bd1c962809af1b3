//! `systemctl reload` sends SIGHUP: a worker without TLS has nothing to reload, and
//! must neither die nor disturb the job it runs.

use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::json;

use crate::support::helpers::{fake_isocreator, job};
use crate::support::s3::start_s3;
use crate::support::worker::Worker;

#[tokio::test]
async fn sighup_to_a_plain_http_worker_keeps_it_and_its_running_job() {
    let s3 = start_s3().await;
    let dir = tempfile::tempdir().unwrap();
    let command = fake_isocreator("sleep 2");
    let mut worker = Worker::start(
        &dir.path().join("work"),
        &[("ISO_CREATOR_COMMAND", &command)],
    )
    .await;
    let submitted = reqwest::Client::new()
        .post(format!("{}/corebuild/v1/jobs/baseos-image", worker.url))
        .header("Prefer", "respond-async")
        .json(&json!({ "job": job("reloaded", &s3) }))
        .send()
        .await
        .unwrap();
    assert_eq!(submitted.status(), 202);
    // Twice while the builder runs, as `systemctl reload` would.
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        worker.signal(Signal::SIGHUP);
    }
    let status = worker.wait_until_finished("reloaded").await;
    assert_eq!(status["state"], "succeeded", "{status}");
    assert!(
        worker.child.try_wait().unwrap().is_none(),
        "the worker lives on"
    );

    let log = worker.stop().await;
    assert_eq!(
        log.matches("SIGHUP: nothing to reload").count(),
        2,
        "each SIGHUP is answered in the log: {log}"
    );
}
