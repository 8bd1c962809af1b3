//! `systemctl reload` sends SIGHUP: a worker without TLS has nothing to reload, and
//! must neither die nor disturb the job it runs.

use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};

use crate::binary::{corebuild, wait_for_address};
use crate::helpers::{fake_isocreator, job};
use crate::s3::start_s3;

#[tokio::test]
async fn sighup_to_a_plain_http_worker_keeps_it_and_its_running_job() {
    let s3 = start_s3().await;
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let command = fake_isocreator("sleep 2");
    let mut worker = corebuild(&[
        ("COREBUILD_BIND", "127.0.0.1"),
        ("COREBUILD_PORT", "0"),
        ("COREBUILD_WORKDIR", work.to_str().unwrap()),
        ("ISO_CREATOR_COMMAND", &command),
    ])
    .spawn()
    .unwrap();
    let pid = Pid::from_raw(worker.id().unwrap() as i32);
    let (address, log) = wait_for_address(&mut worker).await;
    let base = format!("http://{address}/corebuild/v1/jobs");
    let client = reqwest::Client::new();
    let submitted = client
        .post(format!("{base}/baseos-image"))
        .header("Prefer", "respond-async")
        .json(&json!({ "job": job("reloaded", &s3) }))
        .send()
        .await
        .unwrap();
    assert_eq!(submitted.status(), 202);
    // Twice while the builder runs, as `systemctl reload` would.
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        kill(pid, Signal::SIGHUP).unwrap();
    }
    let status = loop {
        let status: Value = client
            .get(format!("{base}/reloaded"))
            .send()
            .await
            .expect("the worker still answers after SIGHUP")
            .json()
            .await
            .unwrap();
        if status["state"] != "queued" && status["state"] != "running" {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status["state"], "succeeded", "{status}");
    assert!(worker.try_wait().unwrap().is_none(), "the worker lives on");

    kill(pid, Signal::SIGTERM).unwrap();
    assert_eq!(worker.wait().await.unwrap().code(), Some(0));
    let log = log.await.unwrap();
    assert_eq!(
        log.matches("SIGHUP: nothing to reload").count(),
        2,
        "each SIGHUP while serving is answered in the log: {log}"
    );
}
