//! Cluster mode: workers sharing one job queue on a real nats-server. Any worker
//! answers for any job of the fleet; a job is admitted once fleet-wide.

use std::collections::HashSet;
use std::time::Duration;

use crate::support::fleet::{cluster_worker, started_runs};
use crate::support::helpers::{TestApp, job};
use crate::support::nats::{FLEET_KEY, NatsServer};
use crate::support::s3::start_s3;

async fn logs_of(app: &TestApp, id: &str, query: &str) -> reqwest::Response {
    app.authed(
        reqwest::Method::GET,
        &format!("/corebuild/v1/jobs/{id}/logs{query}"),
    )
    .send()
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jobs_submitted_to_one_worker_run_on_all_three_and_any_worker_answers_for_them() {
    let nats = NatsServer::start();
    let s3 = start_s3().await;
    let mut workers = Vec::new();
    for id in ["w1", "w2", "w3"] {
        workers.push(cluster_worker(&nats.url(), id, "fleet 2", &[]).await);
    }
    let ids: Vec<String> = (0..3).map(|i| format!("fleet-{i}")).collect();
    for id in &ids {
        let response = workers[0].submit_async(&job(id, &s3)).await;
        assert_eq!(response.status(), 202);
    }
    let mut ran_on = HashSet::new();
    for id in &ids {
        let status = workers[2].wait_for_state(id, "succeeded").await;
        assert_eq!(status["attempt"], 1);
        ran_on.insert(status["workerId"].as_str().unwrap().to_owned());
        let key = status["artifact"]["key"].as_str().unwrap();
        assert!(s3.exists(key).await, "{key} uploaded");
    }
    assert_eq!(ran_on.len(), 3, "each worker took one job: {ran_on:?}");

    // The log, paged and followed, through a worker that did not run the job.
    let status = workers[0].status(&ids[0]).await;
    let reader = workers.iter().find(|w| !w.runs(&status)).unwrap();
    let page: serde_json::Value = logs_of(reader, &ids[0], "").await.json().await.unwrap();
    assert_eq!(page["done"], true, "{page}");
    let lines = page["lines"].as_array().unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l["text"].as_str().unwrap().starts_with("fake isocreator:")),
        "{page}"
    );
    assert_eq!(page["nextSeq"], status["logLines"]);
    let second: serde_json::Value = logs_of(reader, &ids[0], "?since=1&limit=1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second["lines"][0]["seq"], 1);
    assert_eq!(second["nextSeq"], 2);
    let followed = logs_of(reader, &ids[0], "?follow=true")
        .await
        .text()
        .await
        .unwrap();
    assert!(followed.contains("id: 0\n"), "{followed}");
    assert!(
        followed.ends_with("event: end\ndata: {\"code\":null,\"state\":\"succeeded\"}\n\n"),
        "{followed}"
    );

    // Cancel through a worker that does not run the job.
    let long = job("long-fleet", &s3);
    let mut long_worker = workers[1].submit_async(&long).await;
    assert_eq!(long_worker.status(), 202);
    let running = workers[1]
        .wait_for_status("long-fleet", |s| s["state"] == "running")
        .await;
    long_worker = workers
        .iter()
        .find(|w| !w.runs(&running))
        .unwrap()
        .cancel_authed("long-fleet")
        .await;
    assert_eq!(long_worker.status(), 202);
    let cancelled = workers[2].wait_for_state("long-fleet", "cancelled").await;
    assert_eq!(cancelled["error"]["code"], "cancelled");

    // The list is the fleet's, from every worker.
    for worker in &workers {
        let list: serde_json::Value = worker
            .authed(reqwest::Method::GET, "/corebuild/v1/jobs")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(list["jobs"].as_array().unwrap().len(), 4, "{list}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fleet_reaches_nats_over_tls_with_a_token_and_not_without_them() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = crate::support::certs::make_certificate(dir.path(), "nats");
    let nats = NatsServer::start_with(&[
        "--tls",
        "--tlscert",
        cert.to_str().unwrap(),
        "--tlskey",
        key.to_str().unwrap(),
        "--auth",
        "nats-token-77b1",
    ]);
    let s3 = start_s3().await;
    let url = format!("tls://localhost:{}", nats.port);
    let worker = cluster_worker(
        &url,
        "tls-1",
        "success",
        &[
            "--nats-ca-file",
            ca.to_str().unwrap(),
            "--nats-token",
            "nats-token-77b1",
        ],
    )
    .await;
    assert_eq!(worker.submit(&job("over-tls", &s3)).await.status(), 200);
    assert_eq!(worker.status("over-tls").await["workerId"], "tls-1");

    // Without the token, or without trusting the CA, the worker does not start, and
    // says where it tried to connect.
    for extra in [
        vec!["--nats-ca-file", ca.to_str().unwrap()],
        vec!["--nats-token", "nats-token-77b1"],
    ] {
        let workdir = tempfile::tempdir().unwrap();
        let mut args = vec!["--nats-url", url.as_str(), "--cluster-key", FLEET_KEY];
        args.extend(extra);
        let config = crate::support::helpers::config_with(&workdir, &args);
        let err = corebuild::startup::Application::build(config)
            .await
            .err()
            .expect("no connection")
            .to_string();
        assert!(
            err.contains(&url) && err.contains("COREBUILD_NATS_URL"),
            "{err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn health_and_capabilities_say_the_worker_is_in_a_connected_cluster() {
    let nats = NatsServer::start();
    let worker = cluster_worker(&nats.url(), "w1", "success", &[]).await;
    let health: serde_json::Value = worker.get("/health").await.json().await.unwrap();
    assert_eq!(
        health,
        serde_json::json!({"ok": true, "cluster": "connected"})
    );
    assert_eq!(worker.capabilities().await["cluster"], "connected");
    let metrics = worker.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("corebuild_cluster_connected 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_blocking_endpoint_answers_through_a_worker_that_does_not_run_the_job() {
    let nats = NatsServer::start();
    let s3 = start_s3().await;
    let a = cluster_worker(&nats.url(), "wa", "fleet 1", &[]).await;
    let b = cluster_worker(&nats.url(), "wb", "fleet 1", &[]).await;
    // Keep one worker busy, then send the blocking call to that busy worker.
    assert_eq!(a.submit_async(&job("long-busy", &s3)).await.status(), 202);
    let busy = a.wait_for_state("long-busy", "running").await;
    let (busy_worker, free_worker) = if busy["workerId"] == "wa" {
        (&a, "wb")
    } else {
        (&b, "wa")
    };
    let response = busy_worker.submit(&job("blocking", &s3)).await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["success"], true, "{body}");
    assert_eq!(
        body["artifact"]["key"],
        "corebuild/baseos/blocking/baseos.iso"
    );
    assert!(!crate::support::helpers::log_lines(&body).is_empty());
    assert_eq!(
        busy_worker.status("blocking").await["workerId"],
        free_worker
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_id_sent_to_two_workers_at_once_builds_once() {
    let nats = NatsServer::start();
    let s3 = start_s3().await;
    let a = cluster_worker(&nats.url(), "wa", "fleet 1", &[]).await;
    let b = cluster_worker(&nats.url(), "wb", "fleet 1", &[]).await;
    let same = job("twice", &s3);
    let (first, second) = tokio::join!(a.submit(&same), b.submit(&same));
    assert_eq!(first.status(), 200);
    assert_eq!(second.status(), 200);
    let (first, second): (serde_json::Value, serde_json::Value) =
        (first.json().await.unwrap(), second.json().await.unwrap());
    assert_eq!(first["artifact"], second["artifact"]);
    assert_eq!(crate::support::helpers::builds_in(&first), 1);
    let started = started_runs(&a).await + started_runs(&b).await;
    assert_eq!(started, 1, "one run fleet-wide");
    // Different content under the same id is a conflict on every worker.
    let mut other = same.clone();
    other["architecture"] = "arm64".into();
    other["imageKind"] = "ubuntu-iso".into();
    for worker in [&a, &b] {
        let response = worker.submit_async(&other).await;
        assert_eq!(response.status(), 409);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_fleet_queue_answers_503_queue_full() {
    let nats = NatsServer::start();
    let s3 = start_s3().await;
    // The stream holds running and waiting jobs: two in all.
    let worker = cluster_worker(&nats.url(), "w1", "sleep 30", &["--queue-capacity", "2"]).await;
    assert_eq!(worker.submit_async(&job("q-1", &s3)).await.status(), 202);
    worker.wait_for_state("q-1", "running").await;
    assert_eq!(worker.submit_async(&job("q-2", &s3)).await.status(), 202);
    let full = worker.submit_async(&job("q-3", &s3)).await;
    assert_eq!(full.status(), 503);
    assert!(full.headers().contains_key("retry-after"));
    let body: serde_json::Value = full.json().await.unwrap();
    assert_eq!(body["code"], "queue_full");
    // Refused means not admitted: the id is free, and nothing waits in its name.
    let unknown = worker
        .authed(reqwest::Method::GET, "/corebuild/v1/jobs/q-3")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    // A cancelled waiting job frees its place.
    assert_eq!(worker.cancel_authed("q-2").await.status(), 202);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(worker.submit_async(&job("q-3", &s3)).await.status(), 202);
}

impl TestApp {
    /// Whether this worker is the one `status` names.
    pub fn runs(&self, status: &serde_json::Value) -> bool {
        self.worker_id.as_deref() == status["workerId"].as_str()
    }

    pub async fn cancel_authed(&self, id: &str) -> reqwest::Response {
        self.authed(reqwest::Method::DELETE, &format!("/corebuild/v1/jobs/{id}"))
            .send()
            .await
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_job_submitted_again_anywhere_is_its_next_attempt() {
    let nats = NatsServer::start();
    let s3 = start_s3().await;
    let a = cluster_worker(&nats.url(), "fa", "exit 3", &[]).await;
    let b = cluster_worker(&nats.url(), "fb", "exit 3", &[]).await;
    let failing = job("flaky", &s3);
    let first = a.submit(&failing).await;
    assert_eq!(first.status(), 500);
    let body: serde_json::Value = first.json().await.unwrap();
    assert_eq!(body["code"], "build_failed", "{body}");
    assert!(!crate::support::helpers::log_lines(&body).is_empty());
    let second = b.submit_async(&failing).await;
    assert_eq!(second.status(), 202);
    let again = a.wait_for_state("flaky", "failed").await;
    assert_eq!(again["attempt"], 2, "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_finished_job_past_its_retention_is_gone_from_every_worker() {
    let nats = NatsServer::start();
    let s3 = start_s3().await;
    let retention = ["--job-retention-secs", "1"];
    let a = cluster_worker(&nats.url(), "ra", "success", &retention).await;
    let b = cluster_worker(&nats.url(), "rb", "success", &retention).await;
    assert_eq!(a.submit(&job("brief", &s3)).await.status(), 200);
    assert_eq!(b.status("brief").await["state"], "succeeded");
    // Past the retention second, without waiting for a pruner.
    a.wait_for_status("brief", |s| s.is_null()).await;
    for worker in [&a, &b] {
        let gone = worker
            .authed(reqwest::Method::GET, "/corebuild/v1/jobs/brief")
            .send()
            .await
            .unwrap();
        assert_eq!(gone.status(), 404);
    }
    // Forgotten means a new first build.
    assert_eq!(b.submit_async(&job("brief", &s3)).await.status(), 202);
    let again = a.wait_for_state("brief", "succeeded").await;
    assert_eq!(again["attempt"], 1, "{again}");
}

/// README's "Run a fleet" demonstration, run as written.
#[tokio::test]
async fn the_fleet_example_script_shows_a_killed_workers_job_finish_elsewhere() {
    let output = tokio::process::Command::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/cluster/run.sh"
        ))
        .env("COREBUILD", env!("CARGO_BIN_EXE_corebuild"))
        .output()
        .await
        .unwrap();
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{said}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(said.contains("NATS connected"), "{said}");
    let finished = said.split("== every job finished").nth(1).unwrap();
    assert_eq!(finished.matches("succeeded").count(), 5, "{said}");
    assert!(said.contains("attempt 2, on worker-"), "{said}");
    // The mixed fleet: the Raspberry Pi job ran on the Raspberry Pi host.
    assert!(said.contains("arm64,rpi balena-raw"), "{said}");
    let pi_row = finished
        .lines()
        .find(|l| l.starts_with("fleet-pi"))
        .unwrap();
    assert!(pi_row.contains("worker-3"), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_status_read_anywhere_finds_a_job_at_once_and_never_goes_back() {
    let nats = NatsServer::start();
    let s3 = start_s3().await;
    let builder = cluster_worker(&nats.url(), "builder", "fleet 1", &[]).await;
    // Builds nothing amd64: it answers from its copy of the bucket, or the leader.
    let reader = cluster_worker(
        &nats.url(),
        "reader",
        "fleet 1",
        &["--architectures", "arm64"],
    )
    .await;
    assert_eq!(builder.submit_async(&job("seen", &s3)).await.status(), 202);
    // At once, on the worker that admitted it and on the other one.
    assert_eq!(builder.status("seen").await["id"], "seen");
    assert_eq!(reader.status("seen").await["id"], "seen");
    let order = ["queued", "running", "succeeded"];
    let mut last = 0;
    loop {
        let status = reader.status("seen").await;
        let state = status["state"].as_str().unwrap().to_owned();
        let at = order.iter().position(|s| *s == state).unwrap();
        assert!(at >= last, "went back from {} to {state}", order[last]);
        last = at;
        if state == "succeeded" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (mine, theirs) = (builder.status("seen").await, reader.status("seen").await);
    assert_eq!(mine, theirs, "both workers end with the same document");
}
