//! Cluster mode beside one standalone worker, on the same machine: three release
//! workers that build, and a fourth that builds nothing the benchmark submits (it
//! builds only arm64), through which every read goes, on one nats-server (loopback,
//! JetStream on the same disk). The builder is a shell script that writes a tiny
//! artifact at once (`instant_builder`), so what is measured is the worker and NATS,
//! not a build.
//!
//! Rows: status polling through the reader, a 10-line log page of a 100,000-line and
//! of a 100-line log through the reader, submit-to-start on an idle fleet, jobs per
//! second through the fleet against a standalone worker with as many executors,
//! blocking v1 through the reader against standalone, and the reader's memory once
//! the bucket retains 10,000 more finished jobs (`retained`).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::discard_s3::DiscardS3;
use crate::polling::{self, wrk};
use crate::retained::{self, Retained};
use crate::worker::Worker;

pub const TOKEN: &str = "bench-cluster-token";
const KEY: &str = "5d2c8e1f0a4b7c9d3e6f8a1b2c4d6e8f0a1b3c5d7e9f1a2b4c6d8e0f2a3b5c7d";
/// Submissions per latency measurement.
const STARTS: usize = 200;
/// Jobs per dispatch measurement.
const DISPATCHED: usize = 300;
/// Blocking submissions per measurement.
const BLOCKING: usize = 60;
/// Requests per log-page measurement.
const PAGES: usize = 300;
/// Lines of the long and the short log.
pub const LONG_LOG: u64 = 100_000;
pub const SHORT_LOG: u64 = 100;

pub struct Cluster {
    pub polling: Option<(f64, f64)>,
    /// p50 and p99 of submit-to-start, in ms: an idle fleet of three, one standalone.
    pub fleet_start_ms: (f64, f64),
    pub standalone_start_ms: (f64, f64),
    /// p50 of a 10-line page of the long and of the short log, in ms.
    pub log_page_ms: (f64, f64),
    /// Jobs per second: the fleet of three, one standalone worker of three executors.
    pub dispatch: (f64, f64),
    /// p50 of a blocking v1 submission, in ms: through the reader, standalone.
    pub blocking_ms: (f64, f64),
    pub retained: Retained,
}

struct Nats(Child);

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A builder that is done at once: it writes a tiny artifact where the job's config
/// says. A job id `lines-N-…` prints N apt-like lines first; `long-…` sleeps first.
fn instant_builder(dir: &Path) -> String {
    let path = dir.join("instant-builder");
    std::fs::write(
        &path,
        r#"#!/bin/sh
while IFS= read -r line; do
  case $line in
    *'"jobId": "'*) id=${line#*\"jobId\": \"}; id=${id%%\"*} ;;
    *'"path": "'*/output/*) out=${line#*\"path\": \"}; out=${out%%\"*} ;;
  esac
done < "$3"
case $id in
  lines-*) n=${id#lines-}; seq -f "Get:%.0f http://archive.ubuntu.com/ubuntu noble/main amd64 package [1 kB]" "${n%%-*}" ;;
  long-*) sleep 600 ;;
esac
mkdir -p "${out%/*}"
echo "instant artifact" > "$out"
"#,
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!("'{}'", path.display())
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
    let builder = instant_builder(dir);
    let log_lines = LONG_LOG.to_string();
    let common = [
        ("COREBUILD_TOKEN", TOKEN),
        ("COREBUILD_QUEUE_CAPACITY", "1000"),
        ("COREBUILD_LOG_LINES", log_lines.as_str()),
    ];
    let mut workers = Vec::new();
    for i in 1..=4 {
        let own = dir.join(format!("cluster-{i}"));
        std::fs::create_dir_all(&own).unwrap();
        let id = format!("bench-{i}");
        let mut env = vec![
            ("COREBUILD_MAX_CONCURRENCY", "1"),
            ("COREBUILD_NATS_URL", url.as_str()),
            ("COREBUILD_CLUSTER_KEY", KEY),
            ("COREBUILD_WORKER_ID", id.as_str()),
        ];
        env.extend(common);
        if i == 4 {
            // The reader: it builds none of the benchmark's (amd64) jobs.
            env.push(("COREBUILD_ARCHITECTURES", "arm64"));
        }
        workers.push(Worker::start_with(&own, &builder, &env).await);
    }
    let reader = workers.pop().unwrap();
    eprintln!("  submit-to-start");
    let fleet_start_ms = submit_to_start(&workers[0], s3, "fleet").await;
    eprintln!("  dispatch");
    let fleet_rate = dispatch_runs(&workers, &reader, s3, "fleet", runs).await;
    eprintln!("  blocking v1");
    let fleet_blocking = blocking_runs(&reader, s3, "fleet", runs).await;
    eprintln!("  log pages");
    let log_page_ms = (
        log_page(&reader, s3, LONG_LOG).await,
        log_page(&reader, s3, SHORT_LOG).await,
    );
    eprintln!("  status polling");
    let polling = poll_through(&reader, &workers, s3, runs).await;
    eprintln!("  10,000 retained jobs");
    let retained = retained::measure(&url, &reader, TOKEN).await;
    for worker in workers {
        worker.stop().await;
    }
    reader.stop().await;

    let own = dir.join("standalone");
    std::fs::create_dir_all(&own).unwrap();
    let mut env = vec![("COREBUILD_MAX_CONCURRENCY", "3")];
    env.extend(common);
    let standalone = Worker::start_with(&own, &builder, &env).await;
    let standalone_start_ms = submit_to_start(&standalone, s3, "alone").await;
    let alone = std::slice::from_ref(&standalone);
    let standalone_rate = dispatch_runs(alone, &standalone, s3, "alone", runs).await;
    let standalone_blocking = blocking_runs(&standalone, s3, "alone", runs).await;
    standalone.stop().await;
    Some(Cluster {
        polling,
        fleet_start_ms,
        standalone_start_ms,
        log_page_ms,
        dispatch: (fleet_rate, standalone_rate),
        blocking_ms: (fleet_blocking, standalone_blocking),
        retained,
    })
}

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1000.0
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Waits until `id` has succeeded (read through `reader`) and returns its status.
async fn succeeded(reader: &Worker, id: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let status = reader.status(id, TOKEN).await;
        if status["state"] == "succeeded" {
            return status;
        }
        assert!(Instant::now() < deadline, "{id} never finished: {status}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// p50 and p99 over [`STARTS`] jobs sent one after the other to `worker`, each once
/// the one before has finished: an idle fleet taking one job.
async fn submit_to_start(worker: &Worker, s3: &DiscardS3, prefix: &str) -> (f64, f64) {
    let mut delays = Vec::new();
    for n in 0..STARTS {
        let id = format!("{prefix}-start-{n}");
        let sent = now_ms();
        worker.submit_async(&id, s3.address, TOKEN).await;
        let started = succeeded(worker, &id).await["startedAt"].as_f64().unwrap();
        delays.push(started - sent);
    }
    delays.sort_by(f64::total_cmp);
    (quantile(&delays, 0.5), quantile(&delays, 0.99))
}

/// The median of `runs` [`dispatch`] runs: one run's rate moves by a quarter between
/// runs on a shared host, the standalone reference's most.
async fn dispatch_runs(
    entries: &[Worker],
    reader: &Worker,
    s3: &DiscardS3,
    prefix: &str,
    runs: usize,
) -> f64 {
    let mut rates = Vec::new();
    for run in 0..runs {
        rates.push(dispatch(entries, reader, s3, &format!("{prefix}{run}")).await);
    }
    median(rates)
}

/// The median of `runs` [`blocking`] p50s.
async fn blocking_runs(entry: &Worker, s3: &DiscardS3, prefix: &str, runs: usize) -> f64 {
    let mut p50s = Vec::new();
    for run in 0..runs {
        p50s.push(blocking(entry, s3, &format!("{prefix}{run}")).await);
    }
    median(p50s)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Jobs per second: [`DISPATCHED`] jobs submitted at once, spread over `entries`, from
/// the first submission to the last job's end.
async fn dispatch(entries: &[Worker], reader: &Worker, s3: &DiscardS3, prefix: &str) -> f64 {
    let ids: Vec<String> = (0..DISPATCHED)
        .map(|n| format!("{prefix}-dispatch-{n}"))
        .collect();
    let first = now_ms();
    // Eight clients submit at once, each to the entries in turn.
    let mut clients = Vec::new();
    for client in 0..8 {
        let mine: Vec<(usize, &String)> = ids.iter().enumerate().skip(client).step_by(8).collect();
        clients.push(async move {
            for (n, id) in mine {
                entries[n % entries.len()]
                    .submit_async(id, s3.address, TOKEN)
                    .await;
            }
        });
    }
    futures::future::join_all(clients).await;
    let mut last = first;
    for id in &ids {
        let status = succeeded(reader, id).await;
        last = last.max(status["finishedAt"].as_f64().unwrap());
    }
    DISPATCHED as f64 / ((last - first) / 1000.0)
}

/// p50 of [`BLOCKING`] blocking submissions to `entry`, one after the other.
async fn blocking(entry: &Worker, s3: &DiscardS3, prefix: &str) -> f64 {
    let mut took = Vec::new();
    for n in 0..BLOCKING {
        took.push(
            entry
                .run_job_timed(&format!("{prefix}-blocking-{n}"), s3.address, TOKEN)
                .await,
        );
    }
    took.sort_by(f64::total_cmp);
    quantile(&took, 0.5)
}

/// p50 of a 10-line page of a finished job's log of `lines` lines (and the few the
/// worker adds), read through `reader`, which did not run it: [`PAGES`] pages at
/// cursors spread evenly over the log, so that pages which cross a batch boundary
/// (and read two batches) count as often as they happen.
async fn log_page(reader: &Worker, s3: &DiscardS3, lines: u64) -> f64 {
    let id = format!("lines-{lines}-page");
    reader.submit_async(&id, s3.address, TOKEN).await;
    let status = succeeded(reader, &id).await;
    let end = status["logLines"].as_u64().unwrap();
    assert!(end >= lines, "{id}: {end} lines");
    // The workers keep the newest LONG_LOG lines (COREBUILD_LOG_LINES).
    let first = end.saturating_sub(LONG_LOG);
    let mut took = Vec::new();
    for n in 0..PAGES as u64 {
        let since = first + n * (end - first - 10) / PAGES as u64;
        let path = format!("/corebuild/v1/jobs/{id}/logs?since={since}&limit=10");
        let (page, ms) = reader.get_timed(&path, TOKEN).await;
        assert_eq!(page["lines"][0]["seq"], since, "{page}");
        assert_eq!(page["lines"].as_array().unwrap().len(), 10);
        took.push(ms);
    }
    took.sort_by(f64::total_cmp);
    quantile(&took, 0.5)
}

/// wrk on a long job's status through `reader`, while one of `workers` runs it.
async fn poll_through(
    reader: &Worker,
    workers: &[Worker],
    s3: &DiscardS3,
    runs: usize,
) -> Option<(f64, f64)> {
    workers[0]
        .submit_async("long-poll", s3.address, TOKEN)
        .await;
    while reader.state("long-poll", TOKEN).await != "running" {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let polling = if Command::new("wrk").arg("--version").output().is_ok() {
        let mut samples = Vec::new();
        for _ in 0..runs {
            samples.push(wrk(reader.url("/corebuild/v1/jobs/long-poll"), TOKEN).await);
        }
        Some(polling::medians(&samples))
    } else {
        None
    };
    reader.cancel("long-poll", TOKEN).await;
    polling
}
