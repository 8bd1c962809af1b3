//! Status polling: `wrk` on `GET /corebuild/v1/jobs/{id}` while two jobs run, with a
//! token set as in production, on the same cores as the worker.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::discard_s3::DiscardS3;
use crate::worker::Worker;

pub const WRK: &str = "wrk -t2 -c32 -d10s --latency";
const TOKEN: &str = "bench-polling-token";

pub struct Polling {
    pub requests_per_second: f64,
    pub p99_ms: f64,
    pub peak_rss_mib: f64,
}

/// `runs` wrk runs against one worker; `None` when wrk is not installed.
pub async fn measure(dir: &Path, s3: &DiscardS3, runs: usize) -> Option<Polling> {
    Command::new("wrk").arg("--version").output().ok()?;
    let worker = Worker::start(
        dir,
        "sleep 600",
        &[
            ("COREBUILD_MAX_CONCURRENCY", "2"),
            ("COREBUILD_TOKEN", TOKEN),
        ],
    )
    .await;
    for id in ["bench-poll-1", "bench-poll-2"] {
        worker.submit_async(id, s3.address, TOKEN).await;
    }
    for id in ["bench-poll-1", "bench-poll-2"] {
        while worker.state(id, TOKEN).await != "running" {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let mut samples = Vec::new();
    for _ in 0..runs {
        samples.push(wrk(worker.url("/corebuild/v1/jobs/bench-poll-1"), TOKEN).await);
    }
    for id in ["bench-poll-1", "bench-poll-2"] {
        assert_eq!(
            worker.state(id, TOKEN).await,
            "running",
            "jobs ran throughout"
        );
        worker.cancel(id, TOKEN).await;
    }
    let peak_rss_mib = worker.memory_mib("VmHWM");
    worker.stop().await;
    let (requests_per_second, p99_ms) = medians(&samples);
    Some(Polling {
        requests_per_second,
        p99_ms,
        peak_rss_mib,
    })
}

/// The median throughput and the median p99 of wrk runs, each taken on its own: on a
/// shared host one run stalled by a neighbour moves neither (a run's p99 is where
/// such a stall shows first, its throughput hardly).
pub fn medians(samples: &[(f64, f64)]) -> (f64, f64) {
    let median = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    (
        median(samples.iter().map(|s| s.0).collect()),
        median(samples.iter().map(|s| s.1).collect()),
    )
}

/// One wrk run on `url` with `token`: requests per second and p99 in ms. Every answer
/// must be a 2xx.
pub async fn wrk(url: String, token: &str) -> (f64, f64) {
    let header = format!("Authorization: Bearer {token}");
    let output = tokio::task::spawn_blocking(move || {
        Command::new("wrk")
            .args(WRK.split(' ').skip(1))
            .args(["-H", &header])
            .arg(url)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "wrk failed: {report}");
    assert!(
        !report.contains("Non-2xx"),
        "every poll must succeed: {report}"
    );
    (requests_per_second(&report), p99_ms(&report))
}

fn requests_per_second(report: &str) -> f64 {
    report
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("wrk reports requests/s")
}

/// The 99th percentile from wrk's latency distribution (`99%  2.60ms`), in ms.
fn p99_ms(report: &str) -> f64 {
    let value = report
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .map(str::trim)
        .expect("wrk reports a latency distribution");
    let (number, factor) = if let Some(v) = value.strip_suffix("us") {
        (v, 0.001)
    } else if let Some(v) = value.strip_suffix("ms") {
        (v, 1.0)
    } else if let Some(v) = value.strip_suffix('s') {
        (v, 1000.0)
    } else {
        panic!("unknown latency unit in {value}")
    };
    number.parse::<f64>().unwrap() * factor
}
