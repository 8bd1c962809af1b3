//! The bounded queue and the fixed pool, seen over HTTP.

use std::time::Duration;

use serde_json::Value;

use crate::support::helpers::{builds_in, job, spawn_worker};
use crate::support::s3::start_s3;

#[tokio::test]
async fn a_full_queue_answers_503_and_later_jobs_still_run() {
    let s3 = start_s3().await;
    let app = spawn_worker(
        "sleep 1.5",
        &["--max-concurrency", "1", "--queue-capacity", "1"],
    )
    .await;

    let first = app.submit_in_background(job("q-1", &s3));
    wait_for(&app, |c| c["runningJobs"] == 1).await;
    let second = app.submit_in_background(job("q-2", &s3));
    let caps = wait_for(&app, |c| c["queuedJobs"] == 1).await;
    assert_eq!(caps["runningJobs"], 1);
    assert_eq!(caps["maxConcurrentJobs"], 1);

    let refused = app.submit(&job("q-3", &s3)).await;
    assert_eq!(refused.status(), 503);
    assert!(
        refused.headers().get("retry-after").is_some(),
        "Retry-After is set"
    );
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "queue_full");
    assert_eq!(body["success"], false);

    assert_eq!(first.await.unwrap().status(), 200);
    assert_eq!(second.await.unwrap().status(), 200);
    // Room again: the refused job can be submitted now and runs.
    let retried = app.submit(&job("q-3", &s3)).await;
    assert_eq!(retried.status(), 200);
    let caps = wait_for(&app, |c| c["runningJobs"] == 0).await;
    assert_eq!(caps["queuedJobs"], 0);
    assert!(app.workspaces().is_empty());
}

/// Polls capabilities until `ready` holds (at most 10 s).
async fn wait_for(app: &crate::support::helpers::TestApp, ready: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..200 {
        let caps: Value = app.capabilities().await;
        if ready(&caps) {
            return caps;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("capabilities never reached the expected state");
}

#[tokio::test]
async fn identical_submissions_share_one_build() {
    let s3 = start_s3().await;
    let app = spawn_worker("sleep 0.5", &["--max-concurrency", "2"]).await;
    let request = job("same-1", &s3);
    let submissions: Vec<_> = (0..8)
        .map(|_| app.submit_in_background(request.clone()))
        .collect();
    let mut answers = Vec::new();
    for submission in submissions {
        let response = submission.await.unwrap();
        assert_eq!(response.status(), 200);
        answers.push(response.json::<Value>().await.unwrap());
    }
    // The artifact is random bytes: one build means one hash for everybody.
    let first = &answers[0]["artifact"];
    assert!(answers.iter().all(|a| a["artifact"] == *first));
    let builds = builds_in(&answers[0]);
    assert_eq!(builds, 1);

    // A finished job answers at once with the stored result.
    let again: Value = app.submit(&request).await.json().await.unwrap();
    assert_eq!(again["artifact"], *first);

    // Different content under the same id is a conflict.
    let mut other = request.clone();
    other["hostname"] = serde_json::json!("another-host");
    let conflict = app.submit(&other).await;
    assert_eq!(conflict.status(), 409);
    let body: Value = conflict.json().await.unwrap();
    assert_eq!(body["code"], "conflict");
}

#[tokio::test]
async fn a_failed_job_can_be_submitted_again() {
    let s3 = start_s3().await;
    let app = spawn_worker("exit 2", &[]).await;
    let request = job("retry-1", &s3);
    assert_eq!(app.submit(&request).await.status(), 500);
    let again = app.submit(&request).await;
    assert_eq!(
        again.status(),
        500,
        "a new attempt ran (and failed the same way)"
    );
    let body: Value = again.json().await.unwrap();
    let starts = builds_in(&body);
    assert_eq!(starts, 1, "each attempt has its own log");
}

#[tokio::test]
async fn a_caller_that_goes_away_does_not_stop_its_job() {
    let s3 = start_s3().await;
    let app = spawn_worker("sleep 1", &[]).await;
    let request = job("walk-away", &s3);
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let gone = impatient
        .post(app.url("/corebuild/v1/jobs/baseos-image"))
        .json(&serde_json::json!({ "job": request }))
        .send()
        .await;
    assert!(gone.is_err(), "the caller timed out and hung up");
    // The retry attaches to the build that went on without its caller.
    let retry = app.submit(&request).await;
    assert_eq!(retry.status(), 200);
    let body: Value = retry.json().await.unwrap();
    let builds = builds_in(&body);
    assert_eq!(builds, 1);
    assert!(s3.exists("corebuild/baseos/walk-away/baseos.iso").await);
}
