//! corebuild measured on this machine: `cargo bench --bench pipeline`.
//!
//! Starts everything itself: a discard S3 endpoint, and for every measurement a fresh
//! release worker whose fake isocreator hands over a pre-made random artifact (or
//! floods its log). Prints one Markdown table, then its performance targets and whether
//! this run met them:
//! - the upload phase (hash + upload, from the job's own log line) beside a hash-only
//!   pass, `sha256sum`, `aws s3 cp`, both together and `rclone copyto` where installed,
//!   on the same file and endpoint; median of `BENCH_RUNS` interleaved runs (default 3);
//! - status polling under `wrk` while two jobs run;
//! - log ingestion: the worker's CPU seconds per 100 MB of isocreator output, its RSS.
//!
//! `BENCH_SIZES=256MiB,2GiB` picks the artifact sizes (default 256MiB,1GiB,2GiB,4GiB;
//! empty skips the upload phase).

// The modules share their items with `pub`; nothing here is a public API.
#![allow(unreachable_pub)]

mod discard_s3;
mod logs;
mod polling;
mod upload;
mod worker;

use std::path::PathBuf;

use upload::{COREBUILD, HASH_ONLY, Measured, human};

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
    let s3 = discard_s3::start().await;

    // Polling and log ingestion first: on this kind of VM, freeing the gigabytes of
    // page cache the upload phase used slows everything for some seconds afterwards.
    eprintln!("status polling");
    let polling = polling::measure(&dir, &s3, runs).await;
    eprintln!("log ingestion");
    let mut ingested = Vec::new();
    for bytes in LOG_VOLUMES {
        ingested.push(logs::measure(&dir, &s3, bytes).await);
    }
    let mut uploads = Vec::new();
    for &size in &sizes {
        eprintln!("upload phase, {}", human(size));
        uploads.extend(upload::measure(&dir, &s3, size, runs).await);
    }

    print_table(&uploads, polling.as_ref(), &ingested, runs);
    print_targets(&uploads, polling.as_ref(), &ingested);
}

fn print_table(
    uploads: &[Measured],
    polling: Option<&polling::Polling>,
    ingested: &[logs::Ingested],
    runs: usize,
) {
    println!();
    println!("| measurement | size | result | vs corebuild | worker peak RSS |");
    println!("|---|---|---|---|---|");
    for row in uploads {
        let ratio = corebuild_seconds(uploads, row.size)
            .map_or_else(|| "-".to_owned(), |c| format!("{:.2}x", row.seconds / c));
        println!(
            "| {} | {} | {:.2} s, {:.2} GB/s | {ratio} | {} |",
            row.what,
            human(row.size),
            row.seconds,
            row.size as f64 / 1e9 / row.seconds,
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
        None => println!("| status polling | - | wrk not installed | - | - |"),
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
        "Upload rows: median of {runs} interleaved runs; \"vs corebuild\" is the row's time over corebuild's (unsigned payload) at the same size. Status polling: the wrk run with the median throughput of {runs}."
    );
}

fn corebuild_seconds(uploads: &[Measured], size: u64) -> Option<f64> {
    seconds_of(uploads, COREBUILD, size)
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
    if let (Some(core), Some(hash)) = (
        corebuild_seconds(uploads, 2 * GIB),
        seconds_of(uploads, HASH_ONLY, 2 * GIB),
    ) {
        let share = hash / core;
        println!(
            "- 2 GiB upload phase at {:.0}% of the hash-only limit (>= 85%): {}",
            share * 100.0,
            verdict(share >= 0.85)
        );
        if let Some(aws) = seconds_of(uploads, upload::AWS_CP, 2 * GIB) {
            println!(
                "- 2 GiB: {:.2}x the time of aws s3 cp (about 0.5x)",
                core / aws
            );
        }
        if let Some(both) = seconds_of(uploads, upload::SHA256SUM_AWS_CP, 2 * GIB) {
            println!(
                "- 2 GiB: {:.2}x the time of sha256sum + aws s3 cp (< 0.2x): {}",
                core / both,
                verdict(core / both < 0.2)
            );
        }
    } else {
        println!("- 2 GiB not in BENCH_SIZES: the upload targets are not checked");
    }
    let rss: Vec<(u64, f64)> = uploads
        .iter()
        .filter(|r| r.what == COREBUILD)
        .filter_map(|r| Some((r.size, r.peak_rss_mib?)))
        .collect();
    if let Some(at_2g) = rss.iter().find(|(s, _)| *s == 2 * GIB).map(|r| r.1) {
        println!(
            "- peak RSS during the 2 GiB upload {at_2g:.0} MiB (< 100 MiB): {}",
            verdict(at_2g < 100.0)
        );
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
