//! Prometheus metrics, one registry per application (so tests can run several apps in
//! one process), rendered in the text format at `GET /metrics`.

mod cluster;
mod worker;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

use std::sync::OnceLock;
use std::time::Duration;

use crate::domain::names::wire_enum;
use crate::domain::{ErrorCode, FailureCode, Outcome};
use crate::jobs::JobEvents;
pub(crate) use cluster::ClusterMetrics;
use cluster::FleetGauges;
use worker::WorkerGauges;
pub(crate) use worker::WorkerNow;

wire_enum! {
    /// The `outcome` label of the job series: coarser than failure codes, so a
    /// dashboard has one line for all cancellations.
    enum FinishedAs {
        Succeeded = "succeeded",
        Failed = "failed",
        TimedOut = "timed_out",
        UploadFailed = "upload_failed",
        Cancelled = "cancelled",
        Internal = "internal",
        WorkerLost = "worker_lost",
        QueueTimeout = "queue_timeout",
    }
}

impl FinishedAs {
    fn of(outcome: &Outcome) -> Self {
        match outcome {
            Ok(_) => Self::Succeeded,
            Err(f) => match f.code {
                FailureCode::BuildFailed => Self::Failed,
                FailureCode::TimedOut => Self::TimedOut,
                FailureCode::UploadFailed => Self::UploadFailed,
                FailureCode::Cancelled | FailureCode::ShuttingDown => Self::Cancelled,
                FailureCode::Internal => Self::Internal,
                FailureCode::WorkerLost => Self::WorkerLost,
                FailureCode::QueueTimeout => Self::QueueTimeout,
                FailureCode::UnreadableJob | FailureCode::QueueLost => Self::Internal,
            },
        }
    }
}

pub(crate) struct Metrics {
    registry: Registry,
    jobs_submitted: IntCounter,
    jobs_finished: IntCounterVec,
    queue_rejections: IntCounterVec,
    job_duration: HistogramVec,
    upload_duration: Histogram,
    uploaded_bytes: IntCounter,
    http_requests: IntCounterVec,
    jobs_running: IntGauge,
    jobs_queued: IntGauge,
    log_bytes: IntGauge,
    log_bytes_limit: IntGauge,
    /// Registered at the first scrape that has a certificate: a worker on plain HTTP
    /// exports no such series.
    certificate_not_after: OnceLock<IntGauge>,
    queue_wait: Histogram,
    /// Cluster mode: registered at the first scrape that has the fleet's figures.
    fleet: OnceLock<FleetGauges>,
    worker: WorkerGauges,
}

/// One job class of the fleet, as the gauges show it.
pub(crate) struct ClassNow {
    /// `amd64/ubuntu-iso`.
    pub(crate) class: String,
    /// Jobs of the class no worker has taken yet (its consumer's pending count).
    pub(crate) waiting: u64,
    /// Live workers that build the class.
    pub(crate) live: u64,
    /// Of those, the ones with every executor busy.
    pub(crate) busy: u64,
    /// Of those, the paused ones.
    pub(crate) paused: u64,
}

/// What the gauges show, read at scrape time.
pub(crate) struct Now {
    pub(crate) running: usize,
    pub(crate) queued: usize,
    /// Bytes of log text retained, and the budget for it.
    pub(crate) log_bytes: (u64, u64),
    /// Over HTTPS: when the API's certificate expires, in seconds since the epoch.
    pub(crate) certificate_not_after: Option<i64>,
    /// Cluster mode: each job class of the fleet.
    pub(crate) fleet: Option<Vec<ClassNow>>,
    pub(crate) worker: WorkerNow,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let registry = Registry::new_custom(Some("corebuild".to_owned()), None)
            .expect("a valid metric prefix");
        let jobs_submitted = registered(
            &registry,
            IntCounter::new(
                "jobs_submitted_total",
                "Jobs admitted for a build (attached retries not counted).",
            ),
        );
        let jobs_finished = registered(
            &registry,
            IntCounterVec::new(
                Opts::new("jobs_finished_total", "Jobs that ended, by outcome."),
                &["outcome"],
            ),
        );
        let queue_rejections = registered(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "queue_rejections_total",
                    "Submissions refused (503 queue full or shutting down, 422 unsupported build), by reason.",
                ),
                &["reason"],
            ),
        );
        let job_duration = registered(
            &registry,
            HistogramVec::new(
                HistogramOpts::new(
                    "job_duration_seconds",
                    "From a job's start to its end, by outcome.",
                )
                .buckets(vec![
                    10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0, 14400.0,
                ]),
                &["outcome"],
            ),
        );
        let upload_duration = registered(
            &registry,
            Histogram::with_opts(
                HistogramOpts::new(
                    "upload_duration_seconds",
                    "Hash-and-upload phase of succeeded jobs.",
                )
                .buckets(vec![
                    1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
                ]),
            ),
        );
        let uploaded_bytes = registered(
            &registry,
            IntCounter::new(
                "uploaded_bytes_total",
                "Artifact bytes uploaded by succeeded jobs.",
            ),
        );
        let http_requests = registered(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "http_requests_total",
                    "HTTP requests by method, route pattern and status.",
                ),
                &["method", "route", "status"],
            ),
        );
        let jobs_running = registered(
            &registry,
            IntGauge::new("jobs_running", "Jobs an executor is running now."),
        );
        let jobs_queued = registered(
            &registry,
            IntGauge::new("jobs_queued", "Jobs waiting in the queue now."),
        );
        let log_bytes = registered(
            &registry,
            IntGauge::new(
                "log_bytes",
                "Bytes of log text retained for all jobs together now.",
            ),
        );
        let log_bytes_limit = registered(
            &registry,
            IntGauge::new(
                "log_bytes_limit",
                "The budget for retained log text (COREBUILD_LOG_BYTES).",
            ),
        );
        let queue_wait = registered(
            &registry,
            Histogram::with_opts(
                HistogramOpts::new(
                    "queue_wait_seconds",
                    "From a job's admission to its start (in a fleet: its first run's).",
                )
                .buckets(vec![
                    0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0,
                ]),
            ),
        );
        let worker = WorkerGauges::register(&registry);
        Self {
            registry,
            worker,
            jobs_submitted,
            jobs_finished,
            queue_rejections,
            job_duration,
            upload_duration,
            uploaded_bytes,
            http_requests,
            jobs_running,
            jobs_queued,
            log_bytes,
            log_bytes_limit,
            certificate_not_after: OnceLock::new(),
            queue_wait,
            fleet: OnceLock::new(),
        }
    }

    pub(crate) fn uploaded(&self, bytes: u64, seconds: f64) {
        self.uploaded_bytes.inc_by(bytes);
        self.upload_duration.observe(seconds);
    }

    pub(crate) fn http_request(&self, method: &str, route: &str, status: u16) {
        self.http_requests
            .with_label_values(&[method, route, &status.to_string()])
            .inc();
    }

    /// The text exposition, with the gauges read at scrape time.
    pub(crate) fn render(&self, now: &Now) -> String {
        let gauge = |g: &IntGauge, v: u64| g.set(i64::try_from(v).unwrap_or(i64::MAX));
        gauge(&self.jobs_running, now.running as u64);
        gauge(&self.jobs_queued, now.queued as u64);
        gauge(&self.log_bytes, now.log_bytes.0);
        gauge(&self.log_bytes_limit, now.log_bytes.1);
        self.worker.set(&now.worker);
        if let Some(not_after) = now.certificate_not_after {
            self.certificate_not_after
                .get_or_init(|| {
                    registered(
                        &self.registry,
                        IntGauge::new(
                            "tls_certificate_not_after_seconds",
                            "When the API's TLS certificate expires, in seconds since the Unix epoch.",
                        ),
                    )
                })
                .set(not_after);
        }
        if let Some(classes) = &now.fleet {
            let gauges = self.fleet.get_or_init(|| self.register_fleet());
            let set = |g: &prometheus::IntGaugeVec, labels: &[&str], v: u64| {
                g.with_label_values(labels)
                    .set(i64::try_from(v).unwrap_or(i64::MAX));
            };
            for c in classes {
                set(&gauges.waiting, &[&c.class], c.waiting);
                set(&gauges.workers, &[&c.class, "live"], c.live);
                set(&gauges.workers, &[&c.class, "busy"], c.busy);
                set(&gauges.workers, &[&c.class, "paused"], c.paused);
            }
        }
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding into a Vec");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl JobEvents for Metrics {
    fn admitted(&self) {
        self.jobs_submitted.inc();
    }

    fn rejected(&self, reason: ErrorCode) {
        self.queue_rejections
            .with_label_values(&[reason.as_str()])
            .inc();
    }

    fn started(&self, waited: Duration) {
        self.queue_wait.observe(waited.as_secs_f64());
    }

    /// Counts a finished job once, with its run time when it ran at all.
    fn finished(&self, outcome: &Outcome, ran: Option<Duration>) {
        let label = FinishedAs::of(outcome).as_str();
        self.jobs_finished.with_label_values(&[label]).inc();
        if let Some(ran) = ran {
            self.job_duration
                .with_label_values(&[label])
                .observe(ran.as_secs_f64());
        }
    }
}

/// `metric`, registered: every series is made and registered in one step.
fn registered<M>(registry: &Registry, metric: prometheus::Result<M>) -> M
where
    M: prometheus::core::Collector + Clone + 'static,
{
    let metric = metric.expect("a valid metric");
    registry
        .register(Box::new(metric.clone()))
        .expect("metric names are unique");
    metric
}
