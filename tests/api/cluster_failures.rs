//! Cluster mode when things break: a worker killed mid-job, a drain cut short, NATS
//! stopped and started again, a NATS node lost, NATS missing at start-up. And the
//! job's secrets, which must never rest in NATS in clear.

use std::time::{Duration, Instant};

use futures::StreamExt;
use nix::sys::signal::kill;
use nix::unistd::Pid;
use serde_json::Value;

use crate::support::fleet::{Process, cluster_worker};
use crate::support::helpers::job;
use crate::support::nats::{FLEET_KEY, NatsCluster, NatsServer};
use crate::support::s3::start_s3;
use crate::support::worker::corebuild;

fn alive(pid: Pid) -> bool {
    kill(pid, None).is_ok()
        && std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_whose_worker_is_killed_finishes_on_another_as_attempt_2() {
    let nats = NatsServer::start();
    let s3 = start_s3().await;
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let mut workers = [
        Process::start(&nats.url(), "k1", dirs[0].path(), "fleet 6", &[]).await,
        Process::start(&nats.url(), "k2", dirs[1].path(), "fleet 6", &[]).await,
    ];
    assert_eq!(
        workers[0]
            .submit_async(&job("survivor", &s3))
            .await
            .status(),
        202
    );
    let running = workers[0]
        .wait_for("survivor", Duration::from_secs(20), |s| {
            s["state"] == "running"
        })
        .await;
    let victim = usize::from(running["workerId"] == "k2");
    let other = 1 - victim;
    let builder = workers[victim].builder_pid("survivor").await;
    workers[victim].kill_9().await;

    // Within the ack wait (3 s) plus a fetch, the other worker runs it again.
    let done = workers[other]
        .wait_for("survivor", Duration::from_secs(40), |s| {
            s["state"] == "succeeded"
        })
        .await;
    assert_eq!(done["attempt"], 2, "{done}");
    assert_eq!(done["workerId"], ["k1", "k2"][other]);
    assert!(s3.exists(done["artifact"]["key"].as_str().unwrap()).await);

    // The dead worker's builder is gone, and so is its workspace once it is back.
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(builder) {
        assert!(Instant::now() < deadline, "the builder outlived its worker");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let restarted = Process::start(
        &nats.url(),
        ["k1", "k2"][victim],
        dirs[victim].path(),
        "fleet 1",
        &[],
    )
    .await;
    let left: Vec<_> = std::fs::read_dir(dirs[victim].path().join("work"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with("survivor"))
        .collect();
    assert!(left.is_empty(), "workspaces left: {left:?}");
    drop(restarted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_that_loses_its_worker_more_often_than_allowed_fails_as_worker_lost() {
    let nats = NatsServer::start();
    let s3 = start_s3().await;
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let attempts = [("COREBUILD_MAX_ATTEMPTS", "1")];
    let mut workers = [
        Process::start(&nats.url(), "m1", dirs[0].path(), "fleet 6", &attempts).await,
        Process::start(&nats.url(), "m2", dirs[1].path(), "fleet 6", &attempts).await,
    ];
    assert_eq!(
        workers[0].submit_async(&job("unlucky", &s3)).await.status(),
        202
    );
    let running = workers[0]
        .wait_for("unlucky", Duration::from_secs(20), |s| {
            s["state"] == "running"
        })
        .await;
    let victim = usize::from(running["workerId"] == "m2");
    workers[victim].kill_9().await;
    let failed = workers[1 - victim]
        .wait_for("unlucky", Duration::from_secs(40), |s| {
            s["state"] == "failed"
        })
        .await;
    assert_eq!(failed["error"]["code"], "worker_lost", "{failed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_cut_off_by_the_end_of_a_drain_goes_to_another_worker() {
    let nats = NatsServer::start();
    let s3 = start_s3().await;
    let mut a = cluster_worker(
        &nats.url(),
        "da",
        "fleet 4",
        &["--shutdown-grace-secs", "1"],
    )
    .await;
    let b = cluster_worker(&nats.url(), "db", "fleet 4", &[]).await;
    // Keep b busy so the drained job first lands on a.
    assert_eq!(b.submit_async(&job("first", &s3)).await.status(), 202);
    let first = b.wait_for_state("first", "running").await;
    let (drained, id) = if first["workerId"] == "da" {
        (&mut a, "first")
    } else {
        assert_eq!(b.submit_async(&job("second", &s3)).await.status(), 202);
        b.wait_for_status("second", |s| {
            s["state"] == "running" && s["workerId"] == "da"
        })
        .await;
        (&mut a, "second")
    };
    drained.stop_and_wait().await;
    let done = b.wait_for_status(id, |s| s["state"] == "succeeded").await;
    assert_eq!(done["workerId"], "db", "{done}");
    assert_eq!(done["attempt"], 2, "{done}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nats_stopped_mid_job_and_started_again_the_job_ends_right() {
    let mut nats = NatsServer::start();
    let s3 = start_s3().await;
    let worker = cluster_worker(&nats.url(), "n1", "fleet 5", &[]).await;
    assert_eq!(
        worker.submit_async(&job("weathered", &s3)).await.status(),
        202
    );
    worker.wait_for_state("weathered", "running").await;
    nats.kill();
    // While NATS is away the worker lives on, says so, and admits nothing.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let health: Value = worker.get("/health").await.json().await.unwrap();
        if health["cluster"] == "lost" {
            assert_eq!(health["ok"], true);
            break;
        }
        assert!(Instant::now() < deadline, "{health}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Not ready: a load balancer sends nothing here while NATS is away.
    let ready = worker.get("/ready").await;
    assert_eq!(ready.status(), 503);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(
        ready["reasons"],
        serde_json::json!(["cluster_lost"]),
        "{ready}"
    );
    let refused = worker.submit_async(&job("while-away", &s3)).await;
    assert_eq!(refused.status(), 503);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "unavailable", "{body}");
    let asked = Instant::now();
    let status = worker
        .authed(reqwest::Method::GET, "/corebuild/v1/jobs/weathered")
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), 503, "status is read from NATS");
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "at once, not after a time-out"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    nats.restart();
    // The worker reconnects by itself (its back-off may take a few seconds).
    let deadline = Instant::now() + Duration::from_secs(20);
    while worker.capabilities().await["cluster"] != "connected" {
        assert!(Instant::now() < deadline, "the worker never reconnected");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(worker.get("/ready").await.status(), 200, "ready again");
    let done = worker.wait_for_state("weathered", "succeeded").await;
    assert_eq!(done["attempt"], 1, "{done}");
}

/// A NATS that hangs (SIGSTOP: the TCP connection stays open, nothing is answered) is
/// seen: `/health` answers at once and says `degraded` within seconds, job routes answer
/// `503` within 3 s, readiness drops, and all comes back when the server does.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hung_nats_is_seen_and_job_routes_answer_503_within_seconds() {
    let nats = NatsServer::start();
    let s3 = start_s3().await;
    let worker = cluster_worker(&nats.url(), "hung", "success", &[]).await;
    assert_eq!(worker.submit(&job("before-hang", &s3)).await.status(), 200);
    nats.pause();
    let paused = Instant::now();
    loop {
        let asked = Instant::now();
        let health: Value = worker.get("/health").await.json().await.unwrap();
        assert!(
            asked.elapsed() < Duration::from_secs(1),
            "/health took {:?}",
            asked.elapsed()
        );
        if health["cluster"] == "degraded" {
            assert_eq!(health["ok"], true, "alive all the same");
            break;
        }
        assert!(
            paused.elapsed() < Duration::from_secs(10),
            "never degraded: {health}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for path in ["/corebuild/v1/jobs/before-hang", "/corebuild/v1/jobs"] {
        let asked = Instant::now();
        let answer = worker
            .authed(reqwest::Method::GET, path)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 503, "{path}");
        assert!(
            asked.elapsed() < Duration::from_secs(3),
            "{path} took {:?}",
            asked.elapsed()
        );
    }
    let asked = Instant::now();
    assert_eq!(
        worker.submit_async(&job("while-hung", &s3)).await.status(),
        503
    );
    assert!(asked.elapsed() < Duration::from_secs(3));
    assert_eq!(worker.get("/ready").await.status(), 503);

    nats.resume();
    let deadline = Instant::now() + Duration::from_secs(20);
    while worker.capabilities().await["cluster"] != "connected" {
        assert!(Instant::now() < deadline, "never connected again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(worker.status("before-hang").await["state"], "succeeded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancel_mark_stops_a_silent_job_even_without_its_announcement() {
    let nats = NatsServer::start();
    let s3 = start_s3().await;
    let worker = cluster_worker(&nats.url(), "quiet", "fleet", &[]).await;
    assert_eq!(
        worker.submit_async(&job("long-quiet", &s3)).await.status(),
        202
    );
    worker.wait_for_state("long-quiet", "running").await;
    // Mark the job in the bucket as a cancel request does, but announce nothing.
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let bucket = js.get_key_value("corebuild_status").await.unwrap();
    loop {
        let entry = bucket.entry("long-quiet").await.unwrap().unwrap();
        let mut doc: Value = serde_json::from_slice(&entry.value).unwrap();
        doc["cancelRequested"] = true.into();
        let bytes = serde_json::to_vec(&doc).unwrap();
        if bucket
            .update("long-quiet", bytes.into(), entry.revision)
            .await
            .is_ok()
        {
            break;
        }
    }
    let started = Instant::now();
    let cancelled = worker.wait_for_state("long-quiet", "cancelled").await;
    assert_eq!(cancelled["error"]["code"], "cancelled", "{cancelled}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_that_lost_nats_still_stops_on_sigterm() {
    let mut nats = NatsServer::start();
    let mut worker = cluster_worker(&nats.url(), "gone", "success", &[]).await;
    nats.kill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(30), worker.stop_and_wait())
        .await
        .expect("the worker stopped");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_three_node_nats_cluster_loses_a_node_and_no_job_is_lost_or_run_twice() {
    let mut nats = NatsCluster::start();
    nats.wait_for_jetstream().await;
    let s3 = start_s3().await;
    let urls = nats.urls();
    let replicas = ["--nats-replicas", "3", "--nats-prefix", "r3"];
    let a = cluster_worker(&urls, "ra", "fleet 2", &replicas).await;
    let b = cluster_worker(&urls, "rb", "fleet 2", &replicas).await;
    let ids: Vec<String> = (0..4).map(|i| format!("replicated-{i}")).collect();
    for id in &ids {
        assert_eq!(a.submit_async(&job(id, &s3)).await.status(), 202);
    }
    a.wait_for_state(&ids[0], "running").await;
    nats.nodes[0].kill();
    // While the workers move to the other nodes and JetStream elects new leaders, a
    // read may be answered 503 unavailable, which a client retries.
    let deadline = Instant::now() + Duration::from_secs(60);
    for id in &ids {
        let done = loop {
            let response = b
                .authed(reqwest::Method::GET, &format!("/corebuild/v1/jobs/{id}"))
                .send()
                .await
                .unwrap();
            match response.status().as_u16() {
                200 => {
                    let status: Value = response.json().await.unwrap();
                    if status["state"] == "succeeded" {
                        break status;
                    }
                    assert!(
                        status["state"] != "failed" && status["state"] != "cancelled",
                        "{status}"
                    );
                }
                503 => {}
                other => panic!("status of {id}: {other}"),
            }
            assert!(Instant::now() < deadline, "job {id} did not finish");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(done["attempt"], 1, "{done}");
    }
    let started = crate::support::fleet::started_runs(&a).await
        + crate::support::fleet::started_runs(&b).await;
    let texts = (
        a.get("/metrics").await.text().await.unwrap(),
        b.get("/metrics").await.text().await.unwrap(),
    );
    assert_eq!(started, 4, "each job ran once: {texts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn secrets_never_rest_in_nats_in_clear() {
    let nats = NatsServer::start();
    let s3 = start_s3().await;
    // Everything published on the fleet's subjects and the bucket, as it goes by.
    let client = async_nats::connect(nats.url()).await.unwrap();
    let mut seen = client.subscribe(">").await.unwrap();
    let worker = cluster_worker(
        &nats.url(),
        "s1",
        "secrets",
        &["--token", "worker-token-3f9a"],
    )
    .await;
    let mut secret_job = job("secretive", &s3);
    secret_job["wifi"] = serde_json::json!({"ssid": "lab", "password": "wifi-pass-81c2"});
    let response = worker
        .authed(reqwest::Method::POST, "/corebuild/v1/jobs/baseos-image")
        .json(&serde_json::json!({ "job": secret_job }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let descriptor = s3.descriptor();
    let secrets = [
        "wifi-pass-81c2",
        "one-time-baseos-token-5a4b",
        descriptor["accessSecret"].as_str().unwrap(),
        "worker-token-3f9a",
        FLEET_KEY,
    ];
    let mut messages = Vec::new();
    while let Ok(Some(message)) =
        tokio::time::timeout(Duration::from_millis(500), seen.next()).await
    {
        messages.push(message.payload.to_vec());
    }
    assert!(messages.len() > 3, "the test saw the traffic");
    // And what rests: every bucket value and stream message, read back raw.
    let js = async_nats::jetstream::new(client);
    for stream in ["corebuild_logs", "KV_corebuild_status", "corebuild_jobs"] {
        let stream = js.get_stream(stream).await.unwrap();
        let last = stream.cached_info().state.last_sequence;
        for seq in 1..=last {
            if let Ok(message) = stream.get_raw_message(seq).await {
                messages.push(message.payload.to_vec());
            }
        }
    }
    for message in &messages {
        let text = String::from_utf8_lossy(message);
        for secret in secrets {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
}

#[tokio::test]
async fn without_nats_at_start_up_the_worker_names_the_url_and_exits() {
    let port = crate::support::nats::free_port();
    let url = format!("nats://127.0.0.1:{port}");
    let workdir = tempfile::tempdir().unwrap();
    let work = workdir.path().join("work");
    let output = corebuild(&[
        ("COREBUILD_WORKDIR", work.to_str().unwrap()),
        ("COREBUILD_PORT", "0"),
        ("COREBUILD_NATS_URL", &url),
        ("COREBUILD_CLUSTER_KEY", FLEET_KEY),
    ])
    .output()
    .await
    .unwrap();
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr).into_owned()
        + &String::from_utf8_lossy(&output.stdout);
    assert!(
        said.contains(&url) && said.contains("COREBUILD_NATS_URL"),
        "{said}"
    );

    // A fleet needs its key, checked before anything connects.
    for (key, named) in [
        (None, "COREBUILD_CLUSTER_KEY"),
        (Some("abc"), "COREBUILD_CLUSTER_KEY"),
    ] {
        let mut env = vec![
            ("COREBUILD_WORKDIR", work.to_str().unwrap()),
            ("COREBUILD_PORT", "0"),
            ("COREBUILD_NATS_URL", url.as_str()),
        ];
        env.extend(key.map(|k| ("COREBUILD_CLUSTER_KEY", k)));
        let output = corebuild(&env).output().await.unwrap();
        assert!(!output.status.success());
        let said = String::from_utf8_lossy(&output.stderr).into_owned()
            + &String::from_utf8_lossy(&output.stdout);
        assert!(
            said.contains(named) && said.contains("openssl rand -hex 32"),
            "{said}"
        );
    }
}
