//! Self-healing fleets: a stream or bucket an admin deletes (or a NATS that lost its
//! store) is recreated by the workers within seconds; a job whose queued message went
//! with the old queue ends `queue_lost` instead of waiting for ever; the fleet takes
//! new jobs again.

use std::time::{Duration, Instant};

use async_nats::jetstream;

use crate::support::fleet::cluster_worker;
use crate::support::helpers::{TestApp, job};
use crate::support::nats::NatsServer;
use crate::support::s3::start_s3;

/// Submits until the fleet admits the job again (at most 30 s).
async fn submit_until_admitted(worker: &TestApp, job: &serde_json::Value) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = worker.submit_async(job).await.status();
        if status == 202 {
            return;
        }
        assert!(Instant::now() < deadline, "never admitted again: {status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deleted_queue_and_bucket_come_back_and_lost_jobs_end_queue_lost() {
    let nats = NatsServer::start();
    let s3 = start_s3().await;
    // One executor: a long job holds it, so the next one waits in the queue.
    let worker = cluster_worker(&nats.url(), "healer", "fleet 1", &[]).await;
    assert_eq!(
        worker.submit_async(&job("long-holder", &s3)).await.status(),
        202
    );
    worker.wait_for_state("long-holder", "running").await;
    assert_eq!(
        worker.submit_async(&job("waiting", &s3)).await.status(),
        202
    );

    let js = jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    js.delete_stream("corebuild_jobs").await.unwrap();

    let lost = worker
        .wait_for_status("waiting", |s| s["state"] == "failed")
        .await;
    assert_eq!(lost["error"]["code"], "queue_lost", "{lost}");
    let health: serde_json::Value = worker.get("/health").await.json().await.unwrap();
    assert_eq!(
        health["cluster"], "degraded",
        "a repair was just made: {health}"
    );
    js.get_stream("corebuild_jobs")
        .await
        .expect("the queue is back");
    // The fleet takes jobs again; the new one runs once the long job is cancelled.
    submit_until_admitted(&worker, &job("after-queue", &s3)).await;
    assert_eq!(worker.cancel("long-holder").await.status(), 202);
    worker.wait_for_state("after-queue", "succeeded").await;

    // The status bucket deleted: the fleet comes back with a bucket (and key check).
    js.delete_stream("KV_corebuild_status").await.unwrap();
    submit_until_admitted(&worker, &job("after-bucket", &s3)).await;
    worker.wait_for_state("after-bucket", "succeeded").await;
    let check = js
        .get_key_value("corebuild_status")
        .await
        .unwrap()
        .get("_fleet_key_check")
        .await
        .unwrap();
    assert!(check.is_some(), "the key check is sealed again");
}
