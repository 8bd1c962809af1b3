//! Workers of a fleet for the cluster tests: in-process workers sharing a test NATS.

use crate::support::helpers::{TestApp, spawn_worker};
use crate::support::nats::FLEET_KEY;

/// A worker of the fleet on `nats`, one executor, the fake builder in `mode`.
pub async fn cluster_worker(nats: &str, id: &str, mode: &str, extra: &[&str]) -> TestApp {
    let mut args = vec![
        "--nats-url",
        nats,
        "--cluster-key",
        FLEET_KEY,
        "--worker-id",
        id,
        "--max-concurrency",
        "1",
    ];
    args.extend_from_slice(extra);
    spawn_worker(mode, &args).await
}

/// `corebuild_cluster_jobs_started_total` of one worker.
pub async fn started_runs(worker: &TestApp) -> u64 {
    let metrics = worker.get("/metrics").await.text().await.unwrap();
    metrics
        .lines()
        .filter(|l| l.starts_with("corebuild_cluster_jobs_started_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}
