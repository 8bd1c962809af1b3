//! Gauges of the worker's own state, read at each scrape: what the dashboard's "this
//! host" row and the alert rules (contrib/prometheus) look at.

use prometheus::{IntGauge, IntGaugeVec, Opts, Registry};

use super::registered;

/// The worker's state at scrape time.
pub(crate) struct WorkerNow {
    /// The executor pool's size, and how many jobs may wait for it.
    pub(crate) executors: usize,
    pub(crate) queue_capacity: usize,
    pub(crate) paused: bool,
    /// False once the drain has begun.
    pub(crate) accepting: bool,
    /// Free and total bytes of the workdir's filesystem, when it could be read.
    pub(crate) workdir_space: Option<(u64, u64)>,
    /// Seconds since the quietest running job last logged a line or moved its upload.
    pub(crate) longest_silence_secs: Option<u64>,
}

pub(super) struct WorkerGauges {
    executors: IntGauge,
    queue_capacity: IntGauge,
    paused: IntGauge,
    accepting: IntGauge,
    workdir_free: IntGauge,
    workdir_size: IntGauge,
    silence: IntGauge,
}

impl WorkerGauges {
    pub(super) fn register(registry: &Registry) -> Self {
        let gauge = |name: &str, help: &str| registered(registry, IntGauge::new(name, help));
        let info = registered(
            registry,
            IntGaugeVec::new(
                Opts::new("build_info", "Always 1; the version of the running binary."),
                &["version"],
            ),
        );
        info.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        Self {
            executors: gauge(
                "executors",
                "Jobs this worker runs at once (its executor pool).",
            ),
            queue_capacity: gauge(
                "queue_capacity",
                "Jobs that may wait for an executor (COREBUILD_QUEUE_CAPACITY).",
            ),
            paused: gauge("paused", "1 while the worker is paused (corebuild pause)."),
            accepting: gauge(
                "accepting",
                "1 while the worker takes jobs, 0 once it drains.",
            ),
            workdir_free: gauge(
                "workdir_free_bytes",
                "Bytes free to the service on the workdir's filesystem.",
            ),
            workdir_size: gauge(
                "workdir_size_bytes",
                "Size of the workdir's filesystem in bytes.",
            ),
            silence: gauge(
                "running_job_silence_seconds",
                "Seconds since the quietest running job logged a line or moved its upload (0 when none runs).",
            ),
        }
    }

    pub(super) fn set(&self, now: &WorkerNow) {
        let set = |g: &IntGauge, v: u64| g.set(i64::try_from(v).unwrap_or(i64::MAX));
        set(&self.executors, now.executors as u64);
        set(&self.queue_capacity, now.queue_capacity as u64);
        set(&self.paused, u64::from(now.paused));
        set(&self.accepting, u64::from(now.accepting));
        if let Some((free, size)) = now.workdir_space {
            set(&self.workdir_free, free);
            set(&self.workdir_size, size);
        }
        set(&self.silence, now.longest_silence_secs.unwrap_or(0));
    }
}
