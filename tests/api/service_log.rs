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
