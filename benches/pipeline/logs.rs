//! Log ingestion: the worker's own CPU time for reading, scrubbing and keeping a
//! chatty isocreator's output, and whether its memory stays at the size of the ring.

use std::path::Path;

use crate::discard_s3::DiscardS3;
use crate::worker::Worker;

pub struct Ingested {
    pub bytes: u64,
    pub cpu_seconds: f64,
    pub idle_rss_mib: f64,
    pub peak_rss_mib: f64,
}

impl Ingested {
    pub fn cpu_seconds_per_100_mb(&self) -> f64 {
        self.cpu_seconds / (self.bytes as f64 / 100e6)
    }
}

/// One fresh worker per volume, so each peak RSS is that volume's alone.
pub async fn measure(dir: &Path, s3: &DiscardS3, bytes: u64) -> Ingested {
    let worker = Worker::start(dir, &format!("chatter {bytes}"), &[]).await;
    let idle_rss_mib = worker.memory_mib("VmRSS");
    let before = worker.cpu_seconds();
    let answer = worker.run_job("bench-logs", s3.address).await;
    let cpu_seconds = worker.cpu_seconds() - before;
    assert!(
        answer["logs"].as_array().unwrap().len() > 1000,
        "the job kept the output's last lines"
    );
    let peak_rss_mib = worker.memory_mib("VmHWM");
    worker.stop().await;
    Ingested {
        bytes,
        cpu_seconds,
        idle_rss_mib,
        peak_rss_mib,
    }
}
