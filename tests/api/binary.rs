//! The real binary, as systemd runs it: start, serve, stop on a signal.

use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

use crate::support::worker::{corebuild, wait_for_address};

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
