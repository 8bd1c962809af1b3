//! What a worker checks when it joins a fleet. One key per fleet: a worker whose
//! COREBUILD_CLUSTER_KEY does not open the fleet's key check refuses to start; a
//! rotation moves the check to the new key; a queued job that no worker can open ends
//! `unreadable_job` and leaves the queue. One shape per fleet: a worker whose ack wait
//! or limits differ from the fleet's refuses to start, naming the setting.

use std::time::Duration;

use async_nats::jetstream;

use crate::support::fleet::cluster_worker;
use crate::support::helpers::{job, spawn_worker};
use crate::support::nats::{FLEET_KEY, NatsServer};
use crate::support::s3::start_s3;
use crate::support::worker::corebuild;

const OTHER_KEY: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

/// A worker process on `nats` with `key` (and `previous`): its exit code and stderr,
/// or `None` when it started and was stopped.
async fn try_start(nats: &str, key: &str, previous: Option<&str>) -> Option<(i32, String)> {
    try_start_with(nats, key, previous, &[]).await
}

/// Like [`try_start`], with more of the worker's environment.
async fn try_start_with(
    nats: &str,
    key: &str,
    previous: Option<&str>,
    extra: &[(&str, &str)],
) -> Option<(i32, String)> {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let mut env = vec![
        ("COREBUILD_BIND", "127.0.0.1"),
        ("COREBUILD_PORT", "0"),
        ("COREBUILD_WORKDIR", work.to_str().unwrap()),
        ("COREBUILD_NATS_URL", nats),
        ("COREBUILD_CLUSTER_KEY", key),
    ];
    if let Some(previous) = previous {
        env.push(("COREBUILD_CLUSTER_PREVIOUS_KEY", previous));
    }
    env.extend_from_slice(extra);
    let mut child = corebuild(&env).spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    // Started: it logs that it listens. Refused: it exits.
    let listening = async {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = tokio::io::AsyncReadExt::read(&mut stdout, &mut buf)
                .await
                .unwrap();
            if n == 0 {
                return false;
            }
            seen.extend_from_slice(&buf[..n]);
            if String::from_utf8_lossy(&seen).contains("corebuild listening") {
                return true;
            }
        }
    };
    let started = tokio::time::timeout(Duration::from_secs(30), listening)
        .await
        .expect("the worker starts or stops within 30 s");
    if started {
        child.kill().await.unwrap();
        return None;
    }
    let status = child.wait().await.unwrap();
    let mut stderr = String::new();
    tokio::io::AsyncReadExt::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr)
        .await
        .unwrap();
    Some((status.code().unwrap_or(-1), stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_with_another_key_refuses_to_start_and_a_rotation_moves_the_check() {
    let nats = NatsServer::start();
    let url = nats.url();
    // The fleet's first worker seals the check with its key.
    let first = cluster_worker(&url, "k-first", "success", &[]).await;

    let (code, stderr) = try_start(&url, OTHER_KEY, None)
        .await
        .expect("a worker with another key must not start");
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("COREBUILD_CLUSTER_KEY") && stderr.contains("key check"),
        "{stderr}"
    );

    // A rotation: the new key, with the old one as the previous key, starts...
    assert_eq!(try_start(&url, OTHER_KEY, Some(FLEET_KEY)).await, None);
    // ...and moves the check to the new key: the old key alone no longer opens it,
    let (code, stderr) = try_start(&url, FLEET_KEY, None)
        .await
        .expect("the old key alone is refused after the rotation");
    assert_eq!(code, 1, "{stderr}");
    // while the new key alone does.
    assert_eq!(try_start(&url, OTHER_KEY, None).await, None);
    drop(first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_queued_job_no_worker_can_open_ends_unreadable_and_frees_its_place() {
    let nats = NatsServer::start();
    let s3 = start_s3().await;
    let url = nats.url();
    let worker = spawn_worker(
        "sleep 600",
        &[
            "--nats-url",
            &url,
            "--cluster-key",
            FLEET_KEY,
            "--worker-id",
            "u1",
            "--max-concurrency",
            "1",
            "--nats-ack-wait-secs",
            "3",
        ],
    )
    .await;
    // The one executor is busy, so the victim's message waits in the queue.
    assert_eq!(worker.submit_async(&job("busy", &s3)).await.status(), 202);
    worker.wait_for_state("busy", "running").await;
    assert_eq!(worker.submit_async(&job("victim", &s3)).await.status(), 202);

    // Its message replaced by one that names the same job and round but holds what no
    // fleet key opens.
    let client = async_nats::connect(&url).await.unwrap();
    let js = jetstream::new(client);
    let mut stream = js.get_stream("corebuild_jobs").await.unwrap();
    let last = stream.info().await.unwrap().state.last_sequence;
    let message = stream.get_raw_message(last).await.unwrap();
    // Its job and round, not its message id (JetStream would drop the copy as a
    // duplicate of the message it replaces).
    let mut headers = async_nats::HeaderMap::new();
    for name in ["Corebuild-Job", "Corebuild-Round"] {
        let value = message
            .headers
            .get(name)
            .expect("the message names its job");
        headers.insert(name, value.as_str());
    }
    stream.delete_message(last).await.unwrap();
    js.publish_with_headers("corebuild.jobs", headers, "cb1 not sealed at all".into())
        .await
        .unwrap()
        .await
        .unwrap();

    assert_eq!(worker.cancel("busy").await.status(), 202);
    let status = worker
        .wait_for_status("victim", |s| s["state"] == "failed")
        .await;
    assert_eq!(status["error"]["code"], "unreadable_job", "{status}");
    let message = status["error"]["message"].as_str().unwrap();
    assert!(message.contains("COREBUILD_CLUSTER_KEY"), "{message}");
    let left = stream.info().await.unwrap().state.messages;
    assert_eq!(left, 0, "the message left the queue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_whose_settings_differ_from_the_fleets_refuses_to_start_naming_them() {
    let nats = NatsServer::start();
    let url = nats.url();
    // The fleet is set up with an ack wait of 3 s and room for 16 queued jobs.
    let first = cluster_worker(&url, "shape-1", "success", &["--nats-ack-wait-secs", "3"]).await;
    let cases = [
        ("COREBUILD_NATS_ACK_WAIT_SECS", "30", "3"),
        ("COREBUILD_QUEUE_CAPACITY", "100", "16"),
        ("COREBUILD_LOG_LINES", "50", "10000"),
    ];
    for (setting, ours, fleets) in cases {
        let mut extra = vec![("COREBUILD_NATS_ACK_WAIT_SECS", "3")];
        extra.retain(|(name, _)| *name != setting);
        extra.push((setting, ours));
        let (code, stderr) = try_start_with(&url, FLEET_KEY, None, &extra)
            .await
            .unwrap_or_else(|| panic!("{setting}={ours} must not join"));
        assert_eq!(code, 1, "{stderr}");
        assert!(
            stderr.contains(&format!("{setting}={ours}"))
                && stderr.contains(&format!("set up with {fleets}")),
            "{setting}: {stderr}"
        );
    }
    // The same settings join.
    let same = try_start_with(
        &url,
        FLEET_KEY,
        None,
        &[("COREBUILD_NATS_ACK_WAIT_SECS", "3")],
    )
    .await;
    assert_eq!(same, None);
    drop(first);
}
