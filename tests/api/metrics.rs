//! `/metrics` scraped before and after jobs.

use crate::support::helpers::{TestApp, job, spawn_worker};
use crate::support::s3::start_s3;

async fn scrape(app: &TestApp) -> String {
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    response.text().await.unwrap()
}

/// The value of the sample whose name and labels are exactly `series`, or 0.
fn value(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

#[tokio::test]
async fn jobs_uploads_and_requests_are_counted() {
    let s3 = start_s3().await;
    let app = spawn_worker(
        "success 4096",
        &["--max-concurrency", "1", "--queue-capacity", "1"],
    )
    .await;
    let before = scrape(&app).await;
    assert_eq!(value(&before, "corebuild_jobs_submitted_total"), 0.0);
    assert_eq!(value(&before, "corebuild_jobs_running"), 0.0);
    assert!(before.contains("# TYPE corebuild_upload_duration_seconds histogram"));

    assert_eq!(app.submit(&job("m-1", &s3)).await.status(), 200);
    let mut bad = job("m-2", &s3);
    bad["s3Descriptor"]["accessSecret"] = serde_json::json!("wrong-secret-000");
    assert_eq!(app.submit(&bad).await.status(), 502);
    // Attaching to a finished job is not a new submission.
    assert_eq!(app.submit(&job("m-1", &s3)).await.status(), 200);

    let after = scrape(&app).await;
    assert_eq!(value(&after, "corebuild_jobs_submitted_total"), 2.0);
    assert_eq!(
        value(
            &after,
            r#"corebuild_jobs_finished_total{outcome="succeeded"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &after,
            r#"corebuild_jobs_finished_total{outcome="upload_failed"}"#
        ),
        1.0
    );
    assert_eq!(value(&after, "corebuild_uploaded_bytes_total"), 4096.0);
    assert_eq!(
        value(&after, "corebuild_upload_duration_seconds_count"),
        1.0
    );
    assert_eq!(
        value(
            &after,
            r#"corebuild_job_duration_seconds_count{outcome="succeeded"}"#
        ),
        1.0
    );
    assert_eq!(value(&after, "corebuild_jobs_queued"), 0.0);
    assert_eq!(
        value(
            &after,
            r#"corebuild_http_requests_total{method="POST",route="/corebuild/v1/jobs/baseos-image",status="200"}"#
        ),
        2.0
    );
    assert_eq!(
        value(
            &after,
            r#"corebuild_http_requests_total{method="GET",route="/metrics",status="200"}"#
        ),
        1.0,
        "the first scrape is counted"
    );
    assert!(!after.contains("wrong-secret-000"));
}

#[tokio::test]
async fn requests_are_counted_by_route_not_by_path() {
    let app = spawn_worker("success 1", &[]).await;
    for id in ["a", "b", "c"] {
        assert_eq!(
            app.get(&format!("/corebuild/v1/jobs/{id}")).await.status(),
            404
        );
    }
    let metrics = scrape(&app).await;
    assert_eq!(
        value(
            &metrics,
            r#"corebuild_http_requests_total{method="GET",route="/corebuild/v1/jobs/{id}",status="404"}"#
        ),
        3.0
    );
}

#[tokio::test]
async fn the_workers_own_state_is_exported_a_silent_job_shows_its_silence_and_a_pause_shows() {
    let s3 = start_s3().await;
    let app = spawn_worker(
        "sleep 30",
        &["--max-concurrency", "2", "--queue-capacity", "3"],
    )
    .await;
    let idle = scrape(&app).await;
    assert_eq!(value(&idle, "corebuild_executors"), 2.0);
    assert_eq!(value(&idle, "corebuild_queue_capacity"), 3.0);
    assert_eq!(value(&idle, "corebuild_accepting"), 1.0);
    assert_eq!(value(&idle, "corebuild_paused"), 0.0);
    assert_eq!(value(&idle, "corebuild_running_job_silence_seconds"), 0.0);
    assert!(value(&idle, "corebuild_workdir_size_bytes") > 0.0);
    let free = value(&idle, "corebuild_workdir_free_bytes");
    assert!(free > 0.0 && free <= value(&idle, "corebuild_workdir_size_bytes"));
    let version = format!(
        "corebuild_build_info{{version=\"{}\"}}",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(value(&idle, &version), 1.0);

    // The builder prints its first line and then nothing for 30 s.
    assert_eq!(app.submit_async(&job("quiet", &s3)).await.status(), 202);
    app.wait_for_state("quiet", "running").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let silence = value(&scrape(&app).await, "corebuild_running_job_silence_seconds");
        if silence >= 2.0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "silence stays {silence}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }

    let paused = app
        .authed(reqwest::Method::POST, "/corebuild/v1/worker/pause")
        .json(&serde_json::json!({"reason": "disk swap"}))
        .send()
        .await
        .unwrap();
    assert_eq!(paused.status(), 200);
    assert_eq!(value(&scrape(&app).await, "corebuild_paused"), 1.0);
    assert!(app.cancel("quiet").await.status().is_success());
}
