//! corebuild measured on this machine: `cargo bench --bench pipeline`.
//!
//! Starts everything itself: a discard S3 endpoint, and for every measurement a fresh
//! release worker whose fake isocreator hands over a pre-made random artifact (or
//! floods its log). Prints one Markdown table, then its performance targets and whether
//! this run met them:
//! - the machine: CPU model, SHA extensions, `openssl speed sha256`;
//! - the upload phase (hash + upload, from the job's own log line) with signed and
//!   unsigned payloads, over TLS, and two jobs at once, beside the machine's limit
//!   (`openssl dgst -sha256` of the same cached file), the worker's hasher alone,
//!   `aws s3 cp`, `openssl dgst` + `aws s3 cp` and `rclone copyto` where installed, on
//!   the same file and endpoint; median of `BENCH_RUNS` interleaved runs (default 3);
//! - status polling under `wrk` while two jobs run;
//! - log ingestion: the worker's CPU seconds per 100 MB of isocreator output, its RSS;
//! - cluster mode (three building workers and one that reads, on a local
//!   nats-server) beside one standalone worker: status polling and log pages through
//!   the worker that does not run the job, submit-to-start, jobs per second, blocking
//!   v1, and memory with 10,000 finished jobs retained.
//!
//! `BENCH_SIZES=256MiB,2GiB` picks the artifact sizes (default 256MiB,1GiB,2GiB,4GiB;
//! empty skips the upload phase). `BENCH_PARTS=upload` (any of `upload`, `polling`,
//! `logs`, `cluster`, comma-separated; default all four) runs only some sections. `OPENSSL_ia32cap=:~0x20000000` hides SHA-NI from
//! OpenSSL and from the worker's AWS-LC alike: the run then measures this machine as
//! one without it.

// The modules share their items with `pub`; nothing here is a public API.
#![allow(unreachable_pub)]

mod cluster;
mod cpu;
mod discard_s3;
mod fleet_report;
mod logs;
mod polling;
mod retained;
mod tls;
mod upload;
mod worker;

use std::path::PathBuf;

use upload::{COREBUILD, Measured, OPENSSL_DGST, human};

const GIB: u64 = 1024 * 1024 * 1024;
const LOG_VOLUMES: [u64; 2] = [100_000_000, 400_000_000];

#[tokio::main]
async fn main() {
    let sizes: Vec<u64> = std::env::var("BENCH_SIZES")
        .unwrap_or_else(|_| "256MiB,1GiB,2GiB,4GiB".to_owned())
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim()
                .parse::<bytesize::ByteSize>()
                .expect("BENCH_SIZES holds sizes such as 256MiB")
                .as_u64()
        })
        .collect();
    let runs: usize = std::env::var("BENCH_RUNS")
        .map(|r| r.parse().expect("BENCH_RUNS is a number"))
        .unwrap_or(3);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pipeline-bench");
    std::fs::create_dir_all(&dir).unwrap();
    let ca = tls::TestCa::create(&dir);
    let s3 = discard_s3::start(&ca).await;
    let machine = cpu::describe();

    let parts =
        std::env::var("BENCH_PARTS").unwrap_or_else(|_| "upload,polling,logs,cluster".to_owned());
    let part = |name: &str| parts.split(',').any(|p| p.trim() == name);

    // Polling and log ingestion first: on this kind of VM, freeing the gigabytes of
    // page cache the upload phase used slows everything for some seconds afterwards.
    let polling = if part("polling") {
        eprintln!("status polling");
        polling::measure(&dir, &s3, runs).await
    } else {
        None
    };
    let cluster = if part("cluster") {
        eprintln!("cluster mode");
        cluster::measure(&dir, &s3, runs).await
    } else {
        None
    };
    let mut ingested = Vec::new();
    if part("logs") {
        eprintln!("log ingestion");
        for bytes in LOG_VOLUMES {
            ingested.push(logs::measure(&dir, &s3, bytes).await);
        }
    }
    let mut uploads = Vec::new();
    for &size in sizes.iter().filter(|_| part("upload")) {
        eprintln!("upload phase, {}", human(size));
        uploads.extend(upload::measure(&dir, &s3, &ca, size, runs).await);
    }

    println!();
    for line in &machine {
        println!("{line}  ");
    }
    print_table(&uploads, polling.as_ref(), &ingested, runs);
    fleet_report::table(cluster.as_ref(), polling.as_ref());
    print_targets(&uploads, polling.as_ref(), &ingested);
    fleet_report::targets(cluster.as_ref(), polling.as_ref());
}

fn print_table(
    uploads: &[Measured],
    polling: Option<&polling::Polling>,
    ingested: &[logs::Ingested],
    runs: usize,
) {
    println!();
    println!("| measurement | size | result | vs the limit | worker peak RSS |");
    println!("|---|---|---|---|---|");
    for row in uploads {
        // Two jobs move twice the bytes in their time.
        let bytes = if row.what == upload::TWO_JOBS {
            2 * row.size
        } else {
            row.size
        };
        let ratio = seconds_of(uploads, OPENSSL_DGST, row.size).map_or_else(
            || "-".to_owned(),
            |limit| {
                format!(
                    "{:.0}%",
                    100.0 * (bytes as f64 / row.seconds) / (row.size as f64 / limit)
                )
            },
        );
        println!(
            "| {} | {} | {:.2} s, {:.2} GB/s | {ratio} | {} |",
            row.what,
            human(row.size),
            row.seconds,
            bytes as f64 / 1e9 / row.seconds,
            row.peak_rss_mib
                .map_or_else(|| "-".to_owned(), |m| format!("{m:.0} MiB")),
        );
    }
    match polling {
        Some(p) => println!(
            "| status polling, `{}`, two jobs running | - | {:.0} req/s, p99 {:.2} ms | - | {:.0} MiB |",
            polling::WRK,
            p.requests_per_second,
            p.p99_ms,
            p.peak_rss_mib
        ),
        None => println!(
            "| status polling | - | not measured (wrk not installed, or left out) | - | - |"
        ),
    }
    for i in ingested {
        println!(
            "| log ingestion | {} MB of output | {:.2} CPU s ({:.2} CPU s per 100 MB) | - | {:.0} MiB (idle {:.0} MiB) |",
            i.bytes / 1_000_000,
            i.cpu_seconds,
            i.cpu_seconds_per_100_mb(),
            i.peak_rss_mib,
            i.idle_rss_mib
        );
    }
    println!();
    println!(
        "Upload rows: median of {runs} interleaved runs; \"vs the limit\" is the row's throughput over openssl dgst -sha256's on the same cached file (two jobs: their bytes together). Status polling: the median throughput and, apart, the median p99 of {runs} wrk runs."
    );
}

/// The upload-phase targets, at 2 GiB, as shares of the machine's limit.
fn upload_targets(uploads: &[Measured], verdict: &dyn Fn(bool) -> &'static str) {
    let at = |what| seconds_of(uploads, what, 2 * GIB);
    let Some(limit) = at(OPENSSL_DGST) else {
        println!(
            "- 2 GiB not in BENCH_SIZES, or openssl missing: the upload targets are not checked"
        );
        return;
    };
    let share = |seconds: f64| limit / seconds;
    for (what, target) in [
        (COREBUILD, 0.90),
        (upload::COREBUILD_SIGNED, 0.80),
        (upload::COREBUILD_TLS, 0.85),
    ] {
        if let Some(seconds) = at(what) {
            println!(
                "- 2 GiB, {what}: {:.0}% of openssl dgst's throughput (>= {:.0}%): {}",
                share(seconds) * 100.0,
                target * 100.0,
                verdict(share(seconds) >= target)
            );
        }
    }
    if let (Some(core), Some(script)) = (at(COREBUILD), at(upload::OPENSSL_AWS_CP)) {
        println!(
            "- 2 GiB: {:.2}x the time of openssl dgst + aws s3 cp (<= 0.6x): {}",
            core / script,
            verdict(core / script <= 0.6)
        );
    }
    if let (Some(one), Some(two)) = (at(COREBUILD), at(upload::TWO_JOBS)) {
        // Two jobs move twice the bytes: throughput ratio = 2 * one / two.
        let speedup = 2.0 * one / two;
        println!(
            "- two 2 GiB jobs at once: {speedup:.2}x one job's throughput (>= 1.7x): {}",
            verdict(speedup >= 1.7)
        );
    }
}

fn seconds_of(uploads: &[Measured], what: &str, size: u64) -> Option<f64> {
    uploads
        .iter()
        .find(|r| r.what == what && r.size == size)
        .map(|r| r.seconds)
}

fn print_targets(
    uploads: &[Measured],
    polling: Option<&polling::Polling>,
    ingested: &[logs::Ingested],
) {
    let verdict = |met: bool| if met { "met" } else { "MISSED" };
    println!();
    println!("Targets:");
    upload_targets(uploads, &verdict);
    let rss: Vec<(u64, f64)> = uploads
        .iter()
        .filter(|r| r.what == COREBUILD)
        .filter_map(|r| Some((r.size, r.peak_rss_mib?)))
        .collect();
    if let Some(at_2g) = rss.iter().find(|(s, _)| *s == 2 * GIB).map(|r| r.1) {
        println!(
            "- peak RSS during the 2 GiB upload {at_2g:.0} MiB (<= 100 MiB): {}",
            verdict(at_2g <= 100.0)
        );
        let two = uploads
            .iter()
            .find(|r| r.what == upload::TWO_JOBS && r.size == 2 * GIB)
            .and_then(|r| r.peak_rss_mib);
        if let Some(two) = two {
            println!(
                "- peak RSS with two 2 GiB jobs {two:.0} MiB, {:.2}x one job's (<= 2x): {}",
                two / at_2g,
                verdict(two <= 2.0 * at_2g)
            );
        }
    }
    if let (Some(low), Some(high)) = (
        rss.iter().map(|r| r.1).reduce(f64::min),
        rss.iter().map(|r| r.1).reduce(f64::max),
    ) {
        println!(
            "- peak RSS over all sizes {low:.0}-{high:.0} MiB (within 10 MiB): {}",
            verdict(high - low <= 10.0)
        );
    }
    if let Some(p) = polling {
        println!(
            "- status polling {:.0} req/s (>= 20,000), p99 {:.2} ms (< 5 ms): {}",
            p.requests_per_second,
            p.p99_ms,
            verdict(p.requests_per_second >= 20_000.0 && p.p99_ms < 5.0)
        );
    }
    if let (Some(first), Some(last)) = (ingested.first(), ingested.last()) {
        let worst = ingested
            .iter()
            .map(logs::Ingested::cpu_seconds_per_100_mb)
            .reduce(f64::max)
            .unwrap_or(f64::NAN);
        println!(
            "- log ingestion {worst:.2} CPU s per 100 MB (< 1): {}",
            verdict(worst < 1.0)
        );
        println!(
            "- peak RSS after {} MB of output {:.0} MiB, after {} MB {:.0} MiB (no growth past the ring): {}",
            first.bytes / 1_000_000,
            first.peak_rss_mib,
            last.bytes / 1_000_000,
            last.peak_rss_mib,
            verdict(last.peak_rss_mib - first.peak_rss_mib <= 2.0)
        );
    }
}
