//! Cluster mode: three release workers on one nats-server (loopback, JetStream on the
//! same disk). Status polling through the cluster path (`wrk` on a worker that does not
//! run the job, so every answer is read from NATS), and submit-to-start latency: the
//! time from sending a submission to one worker until a worker of the fleet has started
//! the job, beside the same figure for one standalone worker.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::discard_s3::DiscardS3;
use crate::polling::wrk;
use crate::worker::Worker;

const TOKEN: &str = "bench-cluster-token";
const KEY: &str = "5d2c8e1f0a4b7c9d3e6f8a1b2c4d6e8f0a1b3c5d7e9f1a2b4c6d8e0f2a3b5c7d";
/// Submissions per latency measurement.
const STARTS: usize = 40;

pub struct Cluster {
    pub polling: Option<(f64, f64)>,
    /// p50 and p99 of submit-to-start, in ms: three cluster workers, one standalone.
    pub fleet_start_ms: (f64, f64),
    pub standalone_start_ms: (f64, f64),
}

struct Nats(Child);

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `None` when nats-server is not installed.
pub async fn measure(dir: &Path, s3: &DiscardS3, runs: usize) -> Option<Cluster> {
    Command::new("nats-server").arg("--version").output().ok()?;
    let store = dir.join("nats");
    let _ = std::fs::remove_dir_all(&store);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _nats = Nats(
        Command::new("nats-server")
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(&store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let url = format!("nats://127.0.0.1:{port}");
    let mut workers = Vec::new();
    for i in 1..=3 {
        let own = dir.join(format!("cluster-{i}"));
        std::fs::create_dir_all(&own).unwrap();
        let id = format!("bench-{i}");
        workers.push(
            Worker::start(
                &own,
                "fleet 0",
                &[
                    ("COREBUILD_MAX_CONCURRENCY", "1"),
                    ("COREBUILD_TOKEN", TOKEN),
                    ("COREBUILD_NATS_URL", &url),
                    ("COREBUILD_CLUSTER_KEY", KEY),
                    ("COREBUILD_WORKER_ID", &id),
                ],
            )
            .await,
        );
    }
    let fleet_start_ms = submit_to_start(&workers[0], s3, "fleet").await;

    // Polling: one long job, read through a worker that does not run it.
    workers[0]
        .submit_async("long-poll", s3.address, TOKEN)
        .await;
    while workers[0].state("long-poll", TOKEN).await != "running" {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let runner = workers[0].status("long-poll", TOKEN).await["workerId"]
        .as_str()
        .unwrap()
        .to_owned();
    let reader = workers
        .iter()
        .zip(["bench-1", "bench-2", "bench-3"])
        .find(|(_, id)| *id != runner)
        .map(|(w, _)| w)
        .unwrap();
    let polling = if Command::new("wrk").arg("--version").output().is_ok() {
        let mut samples = Vec::new();
        for _ in 0..runs {
            samples.push(wrk(reader.url("/corebuild/v1/jobs/long-poll"), TOKEN).await);
        }
        samples.sort_by(|a, b| a.0.total_cmp(&b.0));
        Some(samples[samples.len() / 2])
    } else {
        None
    };
    workers[0].cancel("long-poll", TOKEN).await;
    for worker in workers {
        worker.stop().await;
    }

    let own = dir.join("standalone");
    std::fs::create_dir_all(&own).unwrap();
    let standalone = Worker::start(
        &own,
        "fleet 0",
        &[
            ("COREBUILD_MAX_CONCURRENCY", "3"),
            ("COREBUILD_TOKEN", TOKEN),
        ],
    )
    .await;
    let standalone_start_ms = submit_to_start(&standalone, s3, "alone").await;
    standalone.stop().await;
    Some(Cluster {
        polling,
        fleet_start_ms,
        standalone_start_ms,
    })
}

/// p50 and p99 over [`STARTS`] jobs sent one after the other to `worker`, each once
/// the one before has finished: an idle fleet taking one job.
async fn submit_to_start(worker: &Worker, s3: &DiscardS3, prefix: &str) -> (f64, f64) {
    let mut delays = Vec::new();
    for n in 0..STARTS {
        let id = format!("{prefix}-start-{n}");
        let sent = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
            * 1000.0;
        worker.submit_async(&id, s3.address, TOKEN).await;
        let deadline = Instant::now() + Duration::from_secs(60);
        let started = loop {
            let status = worker.status(&id, TOKEN).await;
            if status["state"] == "succeeded" {
                break status["startedAt"].as_f64().unwrap();
            }
            assert!(Instant::now() < deadline, "{id} never finished: {status}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        delays.push(started - sent);
    }
    delays.sort_by(f64::total_cmp);
    let at = |q: f64| delays[((delays.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99))
}
