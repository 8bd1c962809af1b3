//! The real binary, as systemd runs it: start, serve, stop on a signal.

use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

use crate::support::worker::{Worker, corebuild, wait_for_address};

async fn stops_cleanly_on(signal: Signal) {
    let workdir = tempfile::tempdir().unwrap();
    let work = workdir.path().join("work");
    let mut child = corebuild(&[
        ("COREBUILD_BIND", "127.0.0.1"),
        ("COREBUILD_PORT", "0"),
        ("COREBUILD_WORKDIR", work.to_str().unwrap()),
    ])
    .spawn()
    .expect("spawn corebuild");
    let (address, _log) = wait_for_address(&mut child).await;
    assert!(work.is_dir(), "the missing workdir was created");

    let body: Value = reqwest::get(format!("http://{address}/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["ok"], true);

    let pid = Pid::from_raw(child.id().unwrap() as i32);
    kill(pid, signal).unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("corebuild did not stop after the signal")
        .unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after {signal}: {status}"
    );
}

#[tokio::test]
async fn sigterm_stops_the_worker_with_status_zero() {
    stops_cleanly_on(Signal::SIGTERM).await;
}

#[tokio::test]
async fn sigint_stops_the_worker_with_status_zero() {
    stops_cleanly_on(Signal::SIGINT).await;
}

/// The service reaps orphans its builders leave (it is a child subreaper). A builder
/// that exits the instant it starts is a zombie before its job has registered it; the
/// reaper, run at every job's end, must not take it for an orphan, or that job's wait
/// fails with ECHILD (`internal_error`). Many jobs of such a builder at once make the
/// moment likely.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_builder_that_exits_at_once_is_never_reaped_as_an_orphan() {
    let s3 = crate::support::s3::start_s3().await;
    let workdir = tempfile::tempdir().unwrap();
    let worker = Worker::start(
        &workdir.path().join("work"),
        &[
            ("COREBUILD_MAX_CONCURRENCY", "3"),
            ("COREBUILD_QUEUE_CAPACITY", "300"),
            ("ISO_CREATOR_COMMAND", "/bin/true"),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let ids: Vec<String> = (0..240).map(|n| format!("instant-{n}")).collect();
    for id in &ids {
        let response = client
            .post(format!("{}/corebuild/v1/jobs/baseos-image", worker.url))
            .header("Prefer", "respond-async")
            .json(&serde_json::json!({ "job": crate::support::helpers::job(id, &s3) }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
    }
    for id in &ids {
        let status = worker.wait_until_finished(id).await;
        // `true` writes no artifact: each job fails for that, and for nothing else.
        assert_eq!(status["error"]["code"], "build_failed", "{id}: {status}");
        let message = status["error"]["message"].as_str().unwrap();
        assert!(message.contains("wrote no artifact"), "{id}: {message}");
    }
    worker.stop().await;
}
