//! DELETE in each state a job can be cancelled in, and nothing left behind.

use std::time::Duration;

use serde_json::Value;

use crate::support::helpers::{job, spawn_worker};
use crate::support::processes::{assert_all_gone, pids_from};
use crate::support::s3::start_s3;

#[tokio::test]
async fn a_queued_job_leaves_the_queue_and_its_caller_gets_cancelled() {
    let s3 = start_s3().await;
    let app = spawn_worker("sleep 1", &["--max-concurrency", "1"]).await;
    app.submit_async(&job("busy", &s3)).await;
    app.wait_for_state("busy", "running").await;
    let waiting = app.submit_in_background(job("waiting", &s3));
    app.wait_for_state("waiting", "queued").await;

    let response = app.cancel("waiting").await;
    assert_eq!(response.status(), 202);
    let status: Value = response.json().await.unwrap();
    assert_eq!(status["state"], "cancelled");
    assert_eq!(status["error"]["code"], "cancelled");
    assert!(status["startedAt"].is_null(), "it never started");

    let caller = waiting.await.unwrap();
    assert_eq!(caller.status(), 500);
    let body: Value = caller.json().await.unwrap();
    assert_eq!(body["code"], "cancelled");
    // The running job is not disturbed.
    app.wait_for_state("busy", "succeeded").await;
    assert!(app.workspaces().is_empty());
}

#[tokio::test]
async fn a_running_job_loses_its_whole_process_group() {
    let s3 = start_s3().await;
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pids");
    let app = spawn_worker(&format!("hang {}", pidfile.display()), &[]).await;
    app.submit_async(&job("doomed", &s3)).await;
    app.wait_for_state("doomed", "running").await;
    while !pidfile.exists() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let response = app.cancel("doomed").await;
    assert_eq!(response.status(), 202);
    let cancelled = app.wait_for_state("doomed", "cancelled").await;
    assert_eq!(cancelled["error"]["code"], "cancelled");
    assert_all_gone(&pids_from(&pidfile)).await;
    assert!(app.workspaces().is_empty());

    // Cancelling a finished job is a conflict; a new attempt may start.
    let again = app.cancel("doomed").await;
    assert_eq!(again.status(), 409);
    let body: Value = again.json().await.unwrap();
    assert_eq!(body["code"], "conflict");
    assert_eq!(app.cancel("never-was").await.status(), 404);
}

#[tokio::test]
async fn an_uploading_job_aborts_its_multipart_upload() {
    let s3 = start_s3().await;
    s3.delay_upload_parts(400);
    let app = spawn_worker(
        "success 31457280",
        &["--upload-part-size", "5MiB", "--upload-concurrency", "1"],
    )
    .await;
    app.submit_async(&job("mid-upload", &s3)).await;
    app.wait_for_state("mid-upload", "uploading").await;
    assert_eq!(app.cancel("mid-upload").await.status(), 202);
    let cancelled = app.wait_for_state("mid-upload", "cancelled").await;
    assert_eq!(cancelled["error"]["code"], "cancelled");
    assert!(cancelled["progress"].is_null());
    assert!(
        s3.incomplete_uploads().is_empty(),
        "left: {:?}",
        s3.incomplete_uploads()
    );
    assert!(!s3.exists("corebuild/baseos/mid-upload/baseos.iso").await);
    assert!(app.workspaces().is_empty());

    // The id may be submitted again: a second attempt.
    s3.delay_upload_parts(0);
    assert_eq!(
        app.submit_async(&job("mid-upload", &s3)).await.status(),
        202
    );
    let done = app.wait_for_state("mid-upload", "succeeded").await;
    assert_eq!(done["attempt"], 2);
}
