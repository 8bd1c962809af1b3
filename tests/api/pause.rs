//! Pausing a worker without stopping it, and the queue-wait limit: a paused worker
//! finishes what it runs, starts nothing new, says so in readiness, capabilities and
//! the fleet view, and takes the queued jobs again once resumed; a job that waits past
//! COREBUILD_QUEUE_TIMEOUT_SECS ends as `queue_timeout` and never runs.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::helpers::{TestApp, job, spawn_worker};
use crate::support::s3::start_s3;

const TOKEN: &str = "pause-token-77a1";

async fn call(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = app.authed(method, path);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn cli(app: &TestApp, args: &[&str]) -> (bool, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_corebuild"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("COREBUILD_URL", format!("http://{}", app.address))
        .env("COREBUILD_TOKEN", TOKEN)
        .args(args)
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    (output.status.success(), text)
}

#[tokio::test]
async fn a_paused_worker_finishes_its_job_starts_nothing_new_and_takes_it_once_resumed() {
    let s3 = start_s3().await;
    let app = spawn_worker(
        "sleep 2",
        &[
            "--max-concurrency",
            "1",
            "--token",
            TOKEN,
            "--worker-id",
            "builder-1",
        ],
    )
    .await;
    let anonymous = app
        .client
        .post(app.url("/corebuild/v1/worker/pause"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401, "pausing needs the token");

    assert_eq!(app.submit_async(&job("first", &s3)).await.status(), 202);
    app.wait_for_state("first", "running").await;
    let (status, answer) = call(
        &app,
        Method::POST,
        "/corebuild/v1/worker/pause",
        Some(json!({"reason": "kernel update"})),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["worker"]["state"], "paused");
    assert_eq!(answer["worker"]["paused"]["reason"], "kernel update");
    assert_eq!(answer["worker"]["jobs"], json!(["first"]));

    assert_eq!(app.submit_async(&job("second", &s3)).await.status(), 202);
    let ready = app.get("/ready").await;
    assert_eq!(ready.status(), 503);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["reasons"], json!(["paused"]), "{ready}");
    assert!(ready["message"].as_str().unwrap().contains("kernel update"));
    let caps = app.capabilities().await;
    assert_eq!(caps["state"], "paused");
    assert_eq!(caps["paused"]["reason"], "kernel update");

    app.wait_for_state("first", "succeeded").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        app.status("second").await["state"],
        "queued",
        "nothing new starts"
    );
    let (_, workers) = call(&app, Method::GET, "/corebuild/v1/workers", None).await;
    let workers = workers["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 1, "standalone: the worker itself");
    assert_eq!(workers[0]["workerId"], "builder-1");
    assert_eq!(workers[0]["state"], "paused");
    assert_eq!(workers[0]["busy"], 0);
    assert_eq!(
        workers[0]["architectures"],
        json!(["amd64", "arm64", "rpi"])
    );
    assert!(
        workers[0]["url"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );

    let (status, answer) = call(&app, Method::POST, "/corebuild/v1/worker/resume", None).await;
    assert_eq!(status, 200);
    assert_eq!(answer["worker"]["state"], "active");
    assert!(answer["worker"].get("paused").is_none(), "{answer}");
    app.wait_for_state("second", "succeeded").await;
    assert_eq!(app.get("/ready").await.status(), 200);
}

#[tokio::test]
async fn the_cli_pauses_lists_and_resumes_the_worker() {
    let app = spawn_worker("success", &["--token", TOKEN, "--worker-id", "builder-2"]).await;
    let (ok, text) = cli(&app, &["pause", "--reason", "disk swap"]).await;
    assert!(ok, "{text}");
    assert!(
        text.starts_with("builder-2 is paused (disk swap)"),
        "{text}"
    );
    let (ok, table) = cli(&app, &["workers"]).await;
    assert!(ok, "{table}");
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("WORKER") && lines[0].contains("STATE"),
        "{table}"
    );
    assert!(
        lines[1].starts_with("builder-2") && lines[1].contains("paused (disk swap)"),
        "{table}"
    );
    let (ok, json) = cli(&app, &["workers", "--json"]).await;
    assert!(ok);
    let json: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["workers"][0]["paused"]["reason"], "disk swap");
    let (ok, text) = cli(&app, &["resume"]).await;
    assert!(ok && text.trim() == "builder-2 is active", "{text}");
    let (_, bad) = call(
        &app,
        Method::POST,
        "/corebuild/v1/worker/pause",
        Some(json!({"reason": "x".repeat(201)})),
    )
    .await;
    assert_eq!(bad["code"], "invalid_request");
    assert!(
        bad["error"].as_str().unwrap().starts_with("reason: "),
        "{bad}"
    );
    assert_eq!(
        app.capabilities().await["state"],
        "active",
        "a refused pause changes nothing"
    );
}

#[tokio::test]
async fn a_job_that_waits_past_the_queue_limit_ends_as_queue_timeout_and_never_runs() {
    let s3 = start_s3().await;
    let app = spawn_worker("success", &["--queue-timeout-secs", "1", "--token", TOKEN]).await;
    call(&app, Method::POST, "/corebuild/v1/worker/pause", None).await;
    let answer = app
        .authed(Method::POST, "/corebuild/v1/jobs/baseos-image")
        .json(&json!({ "job": job("stuck", &s3) }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 503, "the blocking caller is told");
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["code"], "queue_timeout", "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("COREBUILD_QUEUE_TIMEOUT_SECS")
    );
    let status = app.status("stuck").await;
    assert_eq!(status["state"], "failed");
    assert_eq!(status["error"]["code"], "queue_timeout");
    assert!(status["startedAt"].is_null(), "it never ran: {status}");
    assert!(app.workspaces().is_empty());
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("corebuild_jobs_finished_total{outcome=\"queue_timeout\"} 1"),
        "{metrics}"
    );
}
