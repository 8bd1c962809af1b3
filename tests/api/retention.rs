//! A finished job past its retention time is gone for every read at once, whatever the
//! pruner's tick, and its id starts a first build again.

use crate::support::helpers::{job, spawn_worker};
use crate::support::s3::start_s3;

#[tokio::test]
async fn a_job_past_its_retention_is_gone_at_once() {
    let s3 = start_s3().await;
    let app = spawn_worker("success 100", &["--job-retention-secs", "1"]).await;
    let done = app.submit(&job("short-lived", &s3)).await;
    assert_eq!(done.status(), 200);
    assert_eq!(app.status("short-lived").await["state"], "succeeded");
    // The pruner runs once a minute; reads must not wait for it: gone within moments
    // of the retention second.
    app.wait_for_status("short-lived", |s| s.is_null()).await;
    for path in [
        "/corebuild/v1/jobs/short-lived",
        "/corebuild/v1/jobs/short-lived/logs",
    ] {
        let response = app.authed(reqwest::Method::GET, path).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
    let cancel = app.cancel("short-lived").await;
    assert_eq!(cancel.status(), 404);
    let list: serde_json::Value = app.get("/corebuild/v1/jobs").await.json().await.unwrap();
    assert_eq!(list["jobs"], serde_json::json!([]), "{list}");
    // Submitting the id again is a first build, not an attachment to the old result.
    let again = app.submit_async(&job("short-lived", &s3)).await;
    assert_eq!(again.status(), 202);
    let status: serde_json::Value = again.json().await.unwrap();
    assert_eq!(status["attempt"], 1);
}
