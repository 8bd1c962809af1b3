//! The service's own log as an operator reads it in the journal: request durations in
//! plain figures, no line that mistakes HTTP threads for build workers, and a first
//! NATS connection that is not announced as one coming back.

use serde_json::Value;

use crate::support::fleet::Process;
use crate::support::nats::NatsServer;

fn events(log: &str) -> Vec<Value> {
    log.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_service_log_reads_plainly_from_start_to_stop() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let worker = Process::start(&nats.url(), "log-1", dir.path(), "success", &[]).await;
    for _ in 0..20 {
        let health = reqwest::get(format!("{}/health", worker.url))
            .await
            .unwrap();
        assert_eq!(health.status(), 200);
    }
    let log = worker.stop_and_log().await;
    let events = events(&log);

    let requests: Vec<&Value> = events
        .iter()
        .filter(|e| e["message"] == "http request")
        .collect();
    assert!(requests.len() >= 20, "{log}");
    for request in requests {
        let duration = request["duration_ms"].to_string();
        let decimals = duration.split('.').nth(1).map_or(0, str::len);
        assert!(
            decimals <= 3,
            "duration_ms {duration} has more than µs precision"
        );
    }

    let listening = events
        .iter()
        .find(|e| e["message"] == "corebuild listening")
        .unwrap();
    assert!(
        listening["http_threads"].as_u64().unwrap() >= 1,
        "{listening}"
    );
    // actix-server's "starting 2 workers" (HTTP threads, read as build workers) is gone.
    assert!(
        events.iter().all(|e| !e["target"]
            .as_str()
            .unwrap_or("")
            .starts_with("actix_server")
            || e["level"] == "WARN"
            || e["level"] == "ERROR"),
        "{log}"
    );

    let nats_lines: Vec<&str> = events
        .iter()
        .filter_map(|e| e["message"].as_str())
        .filter(|m| m.contains("NATS"))
        .collect();
    assert!(nats_lines.contains(&"connected to NATS"), "{nats_lines:?}");
    assert!(
        !nats_lines.contains(&"NATS connection is back"),
        "{nats_lines:?}"
    );
}

/// Lines of `log` that carry `request_id` and name `job_id` (the job's own span).
fn job_lines_with<'a>(log: &'a str, request_id: &str, job_id: &str) -> Vec<&'a str> {
    log.lines()
        .filter(|l| l.contains(&format!("\"request_id\":\"{request_id}\"")))
        .filter(|l| l.contains(&format!("\"job_id\":\"{job_id}\"")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_id_is_echoed_logged_and_carried_to_the_workers_that_build_its_job() {
    let s3 = crate::support::s3::start_s3().await;
    let nats = NatsServer::start();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // A builds only arm64, so the amd64 job it admits is built by B.
    let a = Process::start(
        &nats.url(),
        "rid-a",
        dir_a.path(),
        "success",
        &[("COREBUILD_ARCHITECTURES", "arm64")],
    )
    .await;
    let b = Process::start(&nats.url(), "rid-b", dir_b.path(), "success", &[]).await;
    let client = reqwest::Client::new();
    let submit = |id: &str, header: Option<&str>| {
        let mut request = client
            .post(format!("{}/corebuild/v1/jobs/baseos-image", a.url))
            .json(&serde_json::json!({ "job": crate::support::helpers::job(id, &s3) }));
        if let Some(header) = header {
            request = request.header("x-request-id", header);
        }
        request.send()
    };

    let answer = submit("rid-1", Some("cloudly-7f3a:build/42"))
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["x-request-id"], "cloudly-7f3a:build/42");

    // A hostile id is replaced, and a request without one gets one.
    let hostile = submit("rid-2", Some("{\"x\": 1} <script>")).await.unwrap();
    let replaced = hostile.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        !replaced.is_empty() && !replaced.contains('<'),
        "{replaced}"
    );
    let health = client
        .get(format!("{}/health", a.url))
        .send()
        .await
        .unwrap();
    let fresh = health.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(fresh, replaced);

    let log_a = a.stop_and_log().await;
    let log_b = b.stop_and_log().await;
    let request_line = log_a
        .lines()
        .find(|l| l.contains("\"http request\"") && l.contains("cloudly-7f3a:build/42"))
        .unwrap_or_else(|| panic!("the request's line:\n{log_a}"));
    assert!(
        request_line.contains("/corebuild/v1/jobs/baseos-image"),
        "{request_line}"
    );
    assert!(
        log_a.contains(&format!("\"request_id\":\"{fresh}\"")),
        "{log_a}"
    );
    // The job's lines on the worker that built it carry the id of the request that
    // submitted it through another worker.
    assert!(
        !job_lines_with(&log_b, "cloudly-7f3a:build/42", "rid-1").is_empty(),
        "{log_b}"
    );
    assert!(
        !job_lines_with(&log_b, &replaced, "rid-2").is_empty(),
        "{log_b}"
    );
}

#[tokio::test]
async fn a_standalone_job_carries_the_id_of_the_request_that_submitted_it() {
    let s3 = crate::support::s3::start_s3().await;
    let dir = tempfile::tempdir().unwrap();
    let builder = crate::support::helpers::fake_isocreator("success");
    let worker = crate::support::worker::Worker::start(
        &dir.path().join("work"),
        &[("ISO_CREATOR_COMMAND", builder.as_str())],
    )
    .await;
    let answer = reqwest::Client::new()
        .post(format!("{}/corebuild/v1/jobs/baseos-image", worker.url))
        .header("x-request-id", "req-standalone-1")
        .json(&serde_json::json!({ "job": crate::support::helpers::job("rid-s", &s3) }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["x-request-id"], "req-standalone-1");
    let log = worker.stop().await;
    assert!(
        !job_lines_with(&log, "req-standalone-1", "rid-s").is_empty(),
        "{log}"
    );
}
