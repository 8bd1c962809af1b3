//! Submitting without waiting, and watching a job through its status.

use serde_json::{Value, json};

use crate::support::helpers::{job, spawn_app_with, spawn_worker};
use crate::support::s3::start_s3;

#[tokio::test]
async fn respond_async_answers_202_with_location_and_status() {
    let s3 = start_s3().await;
    let app = spawn_worker("sleep 0.5", &[]).await;
    let response = app.submit_async(&job("async-1", &s3)).await;
    assert_eq!(response.status(), 202);
    assert_eq!(response.headers()["location"], "/corebuild/v1/jobs/async-1");
    let status: Value = response.json().await.unwrap();
    assert_eq!(status["success"], true);
    assert_eq!(status["id"], "async-1");
    assert_eq!(status["buildType"], "baseos-image");
    assert_eq!(status["architecture"], "amd64");
    assert_eq!(status["imageKind"], "ubuntu-iso");
    assert_eq!(status["attempt"], 1);
    assert!(["queued", "running"].contains(&status["state"].as_str().unwrap()));
    assert_eq!(
        status.as_object().unwrap().len(),
        16,
        "the documented fields: {status}"
    );

    let running = app.wait_for_state("async-1", "running").await;
    assert!(running["queuePosition"].is_null());
    assert!(running["startedAt"].as_u64().unwrap() >= running["createdAt"].as_u64().unwrap());
    assert!(running["finishedAt"].is_null());

    let done = app.wait_for_state("async-1", "succeeded").await;
    assert_eq!(
        done["artifact"]["key"],
        "corebuild/baseos/async-1/baseos.iso"
    );
    assert!(done["error"].is_null());
    assert!(done["progress"].is_null(), "no progress outside the upload");
    assert!(done["finishedAt"].as_u64().unwrap() >= done["startedAt"].as_u64().unwrap());
    assert!(done["logLines"].as_u64().unwrap() >= 4);
    assert!(done["lastActivityAt"].as_u64().unwrap() >= done["startedAt"].as_u64().unwrap());
    assert!(s3.exists("corebuild/baseos/async-1/baseos.iso").await);

    // The same job again: attached to the finished one, 200 with its status.
    let again = app.submit_async(&job("async-1", &s3)).await;
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["state"], "succeeded");
    assert_eq!(again["artifact"], done["artifact"]);
}

#[tokio::test]
async fn failures_show_their_code_and_message_in_the_status() {
    let s3 = start_s3().await;
    let app = spawn_worker("exit 4", &[]).await;
    assert_eq!(app.submit_async(&job("fails", &s3)).await.status(), 202);
    let status = app.wait_for_state("fails", "failed").await;
    assert_eq!(
        status["error"],
        json!({ "code": "build_failed", "message": "isocreator exited with status 4" })
    );
    assert!(status["artifact"].is_null());
    // A new attempt is allowed after a failure.
    assert_eq!(app.submit_async(&job("fails", &s3)).await.status(), 202);
    let retried = app.wait_for_state("fails", "failed").await;
    assert_eq!(retried["attempt"], 2);
}

#[tokio::test]
async fn queued_jobs_report_their_place_in_line() {
    let s3 = start_s3().await;
    let app = spawn_worker("sleep 1", &["--max-concurrency", "1"]).await;
    for id in ["line-0", "line-1", "line-2"] {
        assert_eq!(app.submit_async(&job(id, &s3)).await.status(), 202);
    }
    app.wait_for_state("line-0", "running").await;
    assert_eq!(app.status("line-1").await["queuePosition"], 0);
    assert_eq!(app.status("line-2").await["queuePosition"], 1);
    let caps: Value = app.capabilities().await;
    assert_eq!(
        (caps["runningJobs"].as_u64(), caps["queuedJobs"].as_u64()),
        (Some(1), Some(2))
    );
    app.wait_for_state("line-2", "succeeded").await;
}

#[tokio::test]
async fn upload_progress_counts_acknowledged_bytes() {
    let s3 = start_s3().await;
    s3.delay_upload_parts(300);
    let app = spawn_worker(
        "success 20971520",
        &["--upload-part-size", "5MiB", "--upload-concurrency", "1"],
    )
    .await;
    app.submit_async(&job("progress", &s3)).await;
    let uploading = app.wait_for_state("progress", "uploading").await;
    let progress = &uploading["progress"];
    assert_eq!(progress["phase"], "uploading");
    assert_eq!(progress["bytesTotal"], 20_971_520);
    let mut seen = vec![progress["bytesDone"].as_u64().unwrap()];
    let later = app
        .wait_for_status("progress", |s| {
            s["progress"]["bytesDone"]
                .as_u64()
                .is_some_and(|d| d >= 5_242_880)
        })
        .await;
    seen.push(later["progress"]["bytesDone"].as_u64().unwrap());
    assert!(
        seen.iter().all(|d| d % 5_242_880 == 0),
        "whole acknowledged parts: {seen:?}"
    );
    assert!(later["lastActivityAt"].as_u64() >= uploading["lastActivityAt"].as_u64());
    let done = app.wait_for_state("progress", "succeeded").await;
    assert!(done["progress"].is_null());
}

#[tokio::test]
async fn the_list_is_newest_first_and_filters_by_state() {
    let s3 = start_s3().await;
    let app = spawn_worker("success 100", &[]).await;
    for id in ["list-a", "list-b", "list-c"] {
        app.submit(&job(id, &s3)).await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let list: Value = app.get("/corebuild/v1/jobs").await.json().await.unwrap();
    assert_eq!(list["success"], true);
    let ids: Vec<&str> = list["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["list-c", "list-b", "list-a"]);
    let running: Value = app
        .get("/corebuild/v1/jobs?state=running")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(running["jobs"], json!([]));
    let done: Value = app
        .get("/corebuild/v1/jobs?state=succeeded")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(done["jobs"].as_array().unwrap().len(), 3);
    let bad = app.get("/corebuild/v1/jobs?state=sleeping").await;
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().starts_with("state: "));
}

#[tokio::test]
async fn job_endpoints_need_the_token_and_unknown_jobs_are_404() {
    let app = spawn_app_with(&["--token", "t0ken-xyz"]).await;
    for path in [
        "/corebuild/v1/jobs",
        "/corebuild/v1/jobs/x",
        "/corebuild/v1/jobs/x/logs",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 401, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "unauthorized");
    }
    assert_eq!(app.cancel("x").await.status(), 401);
    let authed = |path: &str| {
        app.client
            .get(app.url(path))
            .bearer_auth("t0ken-xyz")
            .send()
    };
    let missing = authed("/corebuild/v1/jobs/nope").await.unwrap();
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["code"], "not_found");
    assert_eq!(
        authed("/corebuild/v1/jobs/nope/logs")
            .await
            .unwrap()
            .status(),
        404
    );
    let list = app
        .client
        .get(app.url("/corebuild/v1/jobs"))
        .header("x-corebuild-token", "t0ken-xyz")
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 200);
}
