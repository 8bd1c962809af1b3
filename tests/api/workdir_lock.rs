//! One workdir, one worker: a second `corebuild serve` on the same folder stops at
//! once, naming the folder and the worker that holds it, and touches nothing of the
//! first one's: not its workspaces, not its builders.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::helpers::{fake_isocreator, job};
use crate::support::s3::start_s3;
use crate::support::worker::{Worker, corebuild};

/// A second worker on `work`, on `port`; returns its exit code and stderr once it ends.
async fn second_worker(work: &std::path::Path, port: &str) -> (Option<i32>, String, Duration) {
    let started = Instant::now();
    let output = tokio::time::timeout(
        Duration::from_secs(20),
        corebuild(&[
            ("COREBUILD_BIND", "127.0.0.1"),
            ("COREBUILD_PORT", port),
            ("COREBUILD_WORKDIR", work.to_str().unwrap()),
        ])
        .output(),
    )
    .await
    .expect("the second worker stops by itself")
    .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn a_second_worker_on_the_same_workdir_stops_and_leaves_the_first_ones_job_alone() {
    let s3 = start_s3().await;
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let command = fake_isocreator("sleep 3");
    let first = Worker::start(&work, &[("ISO_CREATOR_COMMAND", &command)]).await;
    let first_pid = first.child.id().unwrap();
    let submitted = reqwest::Client::new()
        .post(format!("{}/corebuild/v1/jobs/baseos-image", first.url))
        .header("Prefer", "respond-async")
        .json(&json!({ "job": job("held", &s3) }))
        .send()
        .await
        .unwrap();
    assert_eq!(submitted.status(), 202);
    // Wait until the builder runs: the moment a start-up sweep would kill it.
    while first.get("/corebuild/v1/jobs/held/logs").await["lines"]
        .as_array()
        .is_none_or(Vec::is_empty)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Both orders of failure: a free port (it would serve), and the first one's port.
    let taken = first.url.rsplit(':').next().unwrap().to_owned();
    for port in ["0", taken.as_str()] {
        let (code, stderr, took) = second_worker(&work, port).await;
        assert_eq!(code, Some(1), "port {port}: {stderr}");
        assert!(
            stderr.contains(&std::fs::canonicalize(&work).unwrap().display().to_string())
                && stderr.contains(&format!("PID {first_pid}"))
                && stderr.contains("in use"),
            "port {port}: the message names the workdir and the holder: {stderr}"
        );
        // Generous for a loaded machine; the worker itself gives up without waiting.
        assert!(took < Duration::from_secs(10), "port {port}: took {took:?}");
    }

    let status = first.wait_until_finished("held").await;
    assert_eq!(
        status["state"], "succeeded",
        "the first worker's build was not touched: {status}"
    );
    first.stop().await;
    // Once the first has gone, the folder is free again.
    Worker::start(&work, &[]).await.stop().await;
}
