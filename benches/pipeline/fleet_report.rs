//! The cluster section's table and targets. Ratios are against this run's own
//! standalone rows: the polling section's wrk figure and the standalone worker the
//! cluster section starts after the fleet.

use crate::cluster::{Cluster, LONG_LOG, SHORT_LOG};
use crate::polling::{self, Polling};
use crate::retained::JOBS;

pub fn table(cluster: Option<&Cluster>, standalone: Option<&Polling>) {
    let Some(c) = cluster else {
        println!();
        println!("Cluster mode: not measured (nats-server not installed, or left out).");
        return;
    };
    println!();
    println!(
        "| cluster mode (three building workers and a reader, one nats-server on loopback) | fleet | standalone |"
    );
    println!("|---|---|---|");
    let alone_polling = standalone.map_or("not measured".to_owned(), |p| {
        format!("{:.0} req/s, p99 {:.2} ms", p.requests_per_second, p.p99_ms)
    });
    match c.polling {
        Some((rps, p99)) => println!(
            "| status polling, `{}`, through a worker that does not run the job | {rps:.0} req/s, p99 {p99:.2} ms | {alone_polling} |",
            polling::WRK
        ),
        None => println!("| status polling | not measured (wrk not installed) | - |"),
    }
    println!(
        "| a 10-line log page from another worker, {LONG_LOG}-line log (p50 of pages spread over the log) | {:.2} ms | - |",
        c.log_page_ms.0
    );
    println!(
        "| a 10-line log page from another worker, {SHORT_LOG}-line log (likewise) | {:.2} ms | - |",
        c.log_page_ms.1
    );
    println!(
        "| submit-to-start, idle | p50 {:.0} ms, p99 {:.0} ms | p50 {:.0} ms, p99 {:.0} ms |",
        c.fleet_start_ms.0, c.fleet_start_ms.1, c.standalone_start_ms.0, c.standalone_start_ms.1
    );
    println!(
        "| dispatch, instant builder, 3 executors in all (median of BENCH_RUNS runs) | {:.0} jobs/s | {:.0} jobs/s |",
        c.dispatch.0, c.dispatch.1
    );
    println!(
        "| blocking v1, instant builder, through a worker that does not run the job (p50; median of BENCH_RUNS runs) | {:.1} ms | {:.1} ms |",
        c.blocking_ms.0, c.blocking_ms.1
    );
    let r = &c.retained;
    println!(
        "| the reader's RSS before and after {JOBS} more finished jobs retained (a tenth read) | {:.0} MiB, then {:.0} MiB (peak {:.0} MiB) | - |",
        r.before_mib, r.after_mib, r.peak_mib
    );
    println!(
        "| the reader's peak RSS after listing every job once | {:.0} MiB | - |",
        r.peak_after_list_mib
    );
}

pub fn targets(cluster: Option<&Cluster>, standalone: Option<&Polling>) {
    let Some(c) = cluster else {
        return;
    };
    let verdict = |met: bool| if met { "met" } else { "MISSED" };
    if let (Some((rps, p99)), Some(alone)) = (c.polling, standalone) {
        let share = rps / alone.requests_per_second;
        println!(
            "- fleet status polling {:.0}% of standalone's throughput (>= 60%), p99 {p99:.2} ms (< 5 ms): {}",
            share * 100.0,
            verdict(share >= 0.6 && p99 < 5.0)
        );
    }
    let (long, short) = c.log_page_ms;
    println!(
        "- log page of a {LONG_LOG}-line log p50 {long:.2} ms (<= 3 ms), {:.2}x that of a {SHORT_LOG}-line log (<= 2x): {}",
        long / short,
        verdict(long <= 3.0 && long <= 2.0 * short)
    );
    println!(
        "- submit-to-start on an idle fleet of three p99 {:.0} ms (<= 10 ms): {}",
        c.fleet_start_ms.1,
        verdict(c.fleet_start_ms.1 <= 10.0)
    );
    let rate = c.dispatch.0 / c.dispatch.1;
    println!(
        "- fleet dispatch {:.0}% of standalone's jobs per second (>= 70%): {}",
        rate * 100.0,
        verdict(rate >= 0.7)
    );
    let added = c.blocking_ms.0 - c.blocking_ms.1;
    println!(
        "- blocking v1 through a worker that does not run the job adds {added:.1} ms p50 (<= 10 ms): {}",
        verdict(added <= 10.0)
    );
    let r = &c.retained;
    println!(
        "- the reader's RSS with {JOBS} more finished jobs retained grew {:.1} MiB (<= 10 MiB: flat): {}",
        r.after_mib - r.before_mib,
        verdict(r.after_mib - r.before_mib <= 10.0)
    );
}
