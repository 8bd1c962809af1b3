//! A fleet of different build hosts on one nats-server: each job runs only on a worker
//! that builds its class (architecture and image kind), whichever worker it was
//! submitted through; the fleet view, capabilities and the per-class gauges agree with
//! who is up; a paused worker takes nothing new, also across a NATS restart; a job no
//! live worker builds waits visibly, is taken by a worker of its class that joins
//! later, or ends as `queue_timeout`; a deep backlog of one class never starves another.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::fleet::cluster_worker;
use crate::support::helpers::{TestApp, job};
use crate::support::nats::NatsServer;
use crate::support::s3::{S3Server, start_s3};

/// Short leases, so the fleet view follows workers within a second or two.
const ACK_WAIT: &str = "3";

/// A worker of `nats` that builds `architectures` × `kinds`, one executor.
async fn builder(
    nats: &NatsServer,
    id: &str,
    mode: &str,
    architectures: &str,
    kinds: &str,
) -> TestApp {
    let extra = [
        "--architectures",
        architectures,
        "--image-kinds",
        kinds,
        "--nats-ack-wait-secs",
        ACK_WAIT,
        "--queue-timeout-secs",
        "300",
    ];
    cluster_worker(&nats.url(), id, mode, &extra).await
}

/// A job of the class `architecture`/`kind`.
fn class_job(id: &str, class: &str, s3: &S3Server) -> Value {
    let (architecture, kind) = class.split_once('/').unwrap();
    let mut job = job(id, s3);
    job["architecture"] = json!(architecture);
    job["imageKind"] = json!(kind);
    if kind == "balena-raw" {
        job["sourceImageUrl"] = json!("https://images.example.com/balena.img.xz");
    }
    job
}

async fn workers_of(app: &TestApp) -> Vec<Value> {
    let response = app
        .authed(Method::GET, "/corebuild/v1/workers")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["workers"].as_array().unwrap().clone()
}

/// Waits until the fleet view through `app` names exactly `ids` (sorted).
async fn wait_for_fleet(app: &TestApp, ids: &[&str]) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let workers = workers_of(app).await;
        let names: Vec<&str> = workers
            .iter()
            .map(|w| w["workerId"].as_str().unwrap())
            .collect();
        if names == ids {
            return workers;
        }
        assert!(
            Instant::now() < deadline,
            "the fleet view shows {names:?}, not {ids:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until capabilities through `app` say the fleet builds exactly `classes`.
async fn wait_for_fleet_classes(app: &TestApp, classes: &[&str]) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let caps = app.capabilities().await;
        if caps["fleet"]["supportedClasses"] == json!(classes) {
            return caps;
        }
        assert!(
            Instant::now() < deadline,
            "the fleet builds {}, not {classes:?}",
            caps["fleet"]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The value of one series of `app`'s metrics.
async fn gauge(app: &TestApp, series: &str) -> Option<u64> {
    let text = app.get("/metrics").await.text().await.unwrap();
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_job_runs_only_on_a_worker_of_its_class_and_the_fleet_view_follows_who_is_up() {
    let nats = NatsServer::start();
    let s3 = start_s3().await;
    let mut amd = builder(&nats, "amd", "fleet 1", "amd64", "ubuntu-iso").await;
    let pi = builder(&nats, "pi", "fleet 1", "arm64,rpi", "balena-raw").await;
    let arm = builder(&nats, "arm", "fleet 1", "arm64", "ubuntu-iso").await;
    let workers = [&amd, &pi, &arm];
    let can_build: HashMap<&str, &str> = [
        ("amd64/ubuntu-iso", "amd"),
        ("rpi/balena-raw", "pi"),
        ("arm64/balena-raw", "pi"),
        ("arm64/ubuntu-iso", "arm"),
    ]
    .into();
    let mut jobs = Vec::new();
    for (n, class) in can_build.keys().cycle().take(8).enumerate() {
        let id = format!("routed-{n}");
        // Through every worker in turn, most of which do not build the class.
        let through = workers[n % 3];
        assert_eq!(
            through
                .submit_async(&class_job(&id, class, &s3))
                .await
                .status(),
            202
        );
        jobs.push((id, *class));
    }
    for (id, class) in &jobs {
        let status = arm.wait_for_state(id, "succeeded").await;
        assert_eq!(
            status["workerId"], can_build[class],
            "{id} ({class}) ran on {}",
            status["workerId"]
        );
        assert_eq!(status["attempt"], 1);
    }

    let view = wait_for_fleet(&pi, &["amd", "arm", "pi"]).await;
    let pi_record = view.iter().find(|w| w["workerId"] == "pi").unwrap();
    assert_eq!(pi_record["architectures"], json!(["arm64", "rpi"]));
    assert_eq!(pi_record["imageKinds"], json!(["balena-raw"]));
    assert_eq!(pi_record["state"], "active");
    assert_eq!(pi_record["executors"], 1);
    assert!(
        pi_record["url"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
    assert_eq!(pi_record["version"], env!("CARGO_PKG_VERSION"));
    let caps = wait_for_fleet_classes(
        &amd,
        &[
            "amd64/ubuntu-iso",
            "arm64/ubuntu-iso",
            "arm64/balena-raw",
            "rpi/balena-raw",
        ],
    )
    .await;
    assert_eq!(
        caps["supportedArchitectures"],
        json!(["amd64"]),
        "its own beside the fleet's"
    );
    assert_eq!(caps["fleet"]["liveWorkers"], 3);
    // The gauges per class agree with the view.
    let series = |class: &str, state: &str| {
        format!("corebuild_fleet_workers{{class=\"{class}\",state=\"{state}\"}}")
    };
    assert_eq!(
        gauge(&arm, &series("arm64/balena-raw", "live")).await,
        Some(1)
    );
    assert_eq!(
        gauge(&arm, &series("arm64/ubuntu-iso", "live")).await,
        Some(1)
    );
    assert_eq!(
        gauge(&arm, &series("amd64/balena-raw", "live")).await,
        Some(0)
    );
    assert_eq!(
        gauge(
            &arm,
            "corebuild_fleet_jobs_waiting{class=\"rpi/balena-raw\"}"
        )
        .await,
        Some(0)
    );
    let waits = gauge(&amd, "corebuild_queue_wait_seconds_count")
        .await
        .unwrap();
    assert!(
        waits >= 2,
        "amd started its jobs after a queue wait: {waits}"
    );

    // A worker that stops leaves the view, and the fleet no longer builds its class.
    amd.stop_and_wait().await;
    wait_for_fleet(&pi, &["arm", "pi"]).await;
    wait_for_fleet_classes(
        &arm,
        &["arm64/ubuntu-iso", "arm64/balena-raw", "rpi/balena-raw"],
    )
    .await;
    assert_eq!(
        gauge(&arm, &series("amd64/ubuntu-iso", "live")).await,
        Some(0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_no_live_worker_builds_waits_visibly_until_a_worker_of_its_class_joins() {
    let nats = NatsServer::start();
    let s3 = start_s3().await;
    let pi = builder(&nats, "pi", "fleet 1", "rpi", "balena-raw").await;
    wait_for_fleet_classes(&pi, &["rpi/balena-raw"]).await;
    let response = pi
        .submit_async(&class_job("orphan", "amd64/ubuntu-iso", &s3))
        .await;
    assert_eq!(response.status(), 202);
    let answer: Value = response.json().await.unwrap();
    let note = answer["queueNote"].as_str().unwrap_or_default();
    assert!(
        note.contains("no live worker of the fleet builds amd64/ubuntu-iso"),
        "{answer}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let status = pi.status("orphan").await;
    assert_eq!(status["state"], "queued", "{status}");
    assert!(status["queueNote"].is_string(), "{status}");
    assert_eq!(
        gauge(
            &pi,
            "corebuild_fleet_jobs_waiting{class=\"amd64/ubuntu-iso\"}"
        )
        .await,
        Some(1),
        "an autoscaler sees the backlog of a class with no worker"
    );
    assert_eq!(
        gauge(
            &pi,
            "corebuild_fleet_workers{class=\"amd64/ubuntu-iso\",state=\"live\"}"
        )
        .await,
        Some(0)
    );

    let amd = builder(&nats, "amd", "fleet 1", "amd64", "ubuntu-iso").await;
    let done = pi.wait_for_state("orphan", "succeeded").await;
    assert_eq!(done["workerId"], "amd");
    assert!(done.get("queueNote").is_none(), "{done}");
    drop(amd);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_of_a_class_nobody_takes_ends_as_queue_timeout_and_leaves_the_queue() {
    let nats = NatsServer::start();
    let s3 = start_s3().await;
    let extra = [
        "--architectures",
        "amd64",
        "--nats-ack-wait-secs",
        ACK_WAIT,
        "--queue-timeout-secs",
        "2",
    ];
    let amd = cluster_worker(&nats.url(), "amd", "fleet 1", &extra).await;
    assert_eq!(
        amd.submit_async(&class_job("nobody", "arm64/ubuntu-iso", &s3))
            .await
            .status(),
        202
    );
    let ended = amd.wait_for_state("nobody", "failed").await;
    assert_eq!(ended["error"]["code"], "queue_timeout", "{ended}");
    assert!(
        ended["error"]["message"]
            .as_str()
            .unwrap()
            .contains("arm64/ubuntu-iso")
    );
    assert!(ended["startedAt"].is_null());
    let deadline = Instant::now() + Duration::from_secs(10);
    while gauge(
        &amd,
        "corebuild_fleet_jobs_waiting{class=\"arm64/ubuntu-iso\"}",
    )
    .await
        != Some(0)
    {
        assert!(
            Instant::now() < deadline,
            "the timed-out job's message left the queue"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A worker of the class that joins later finds nothing to run.
    let arm = builder(&nats, "arm", "fleet 1", "arm64", "ubuntu-iso").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(amd.status("nobody").await["state"], "failed");
    assert_eq!(crate::support::fleet::started_runs(&arm).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paused_worker_takes_nothing_new_even_across_a_nats_restart_and_finishes_its_job() {
    let mut nats = NatsServer::start();
    let s3 = start_s3().await;
    let worker = builder(&nats, "solo", "fleet 3", "amd64", "ubuntu-iso").await;
    assert_eq!(
        worker
            .submit_async(&class_job("before", "amd64/ubuntu-iso", &s3))
            .await
            .status(),
        202
    );
    worker.wait_for_state("before", "running").await;
    let paused = worker
        .authed(Method::POST, "/corebuild/v1/worker/pause")
        .json(&json!({"reason": "kernel update"}))
        .send()
        .await
        .unwrap();
    assert_eq!(paused.status(), 200);
    assert_eq!(
        worker
            .submit_async(&class_job("after", "amd64/ubuntu-iso", &s3))
            .await
            .status(),
        202
    );
    worker.wait_for_state("before", "succeeded").await;
    let status = worker.status("after").await;
    assert_eq!(status["state"], "queued");
    assert!(
        status["queueNote"]
            .as_str()
            .unwrap()
            .contains("paused or draining"),
        "{status}"
    );
    let view = wait_for_fleet(&worker, &["solo"]).await;
    assert_eq!(view[0]["state"], "paused");
    assert_eq!(view[0]["paused"]["reason"], "kernel update");

    nats.restart();
    let deadline = Instant::now() + Duration::from_secs(30);
    while worker.capabilities().await["cluster"] != "connected" {
        assert!(Instant::now() < deadline, "never connected again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        worker.status("after").await["state"],
        "queued",
        "still paused after the reconnect"
    );
    assert_eq!(worker.capabilities().await["state"], "paused");

    worker
        .authed(Method::POST, "/corebuild/v1/worker/resume")
        .send()
        .await
        .unwrap();
    let done = worker.wait_for_state("after", "succeeded").await;
    assert_eq!(done["workerId"], "solo");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deep_backlog_of_one_class_never_starves_another_on_a_worker_of_both() {
    let nats = NatsServer::start();
    let s3 = start_s3().await;
    let worker = builder(&nats, "both", "fleet 1", "amd64,arm64", "ubuntu-iso").await;
    let backlog: Vec<String> = (0..6).map(|i| format!("deep-{i}")).collect();
    for id in &backlog {
        assert_eq!(
            worker
                .submit_async(&class_job(id, "amd64/ubuntu-iso", &s3))
                .await
                .status(),
            202
        );
    }
    worker.wait_for_state(&backlog[0], "running").await;
    assert_eq!(
        worker
            .submit_async(&class_job("other", "arm64/ubuntu-iso", &s3))
            .await
            .status(),
        202
    );
    let other = worker.wait_for_state("other", "succeeded").await;
    let other_started = other["startedAt"].as_u64().unwrap();
    let mut before = 0;
    for id in &backlog {
        let status = worker.wait_for_state(id, "succeeded").await;
        if status["startedAt"].as_u64().unwrap() < other_started {
            before += 1;
        }
    }
    // The job running when it came, and at most one more: it waited one job's time.
    assert!(
        before <= 2,
        "{before} jobs of the backlog started before it"
    );
}
