//! The job engine as the API sees it: admit, look up, count, and shut down.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::executor::{Executor, JobRunner};
use super::log::{JobLog, Stream};
use super::queue::JobQueue;
use super::record::{FailureCode, JobFailure, JobRecord};
use super::registry::{Admission, AdmitError, Registry};
use super::scrub::Scrubber;
use crate::build::Job;
use crate::metrics::Metrics;
use crate::secret::Secret;

#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub executors: usize,
    pub queue_capacity: usize,
    pub log_lines: usize,
    pub retention: Duration,
    pub max_retained: usize,
    /// Secrets that are not part of a job but must not reach a job's log either.
    pub worker_secrets: Vec<Secret>,
}

pub struct Engine {
    settings: EngineSettings,
    registry: Arc<Registry>,
    queue: Arc<JobQueue>,
    executor: Executor,
    tracker: TaskTracker,
    /// Stops the executors from taking new jobs, and the pruner.
    stop: CancellationToken,
    accepting: AtomicBool,
    metrics: Arc<Metrics>,
}

#[derive(Debug, thiserror::Error)]
pub enum CancelError {
    #[error("no job {0}")]
    NotFound(String),
    #[error("job {0} has already finished")]
    Finished(String),
}

impl Engine {
    pub fn start(
        settings: EngineSettings,
        runner: Arc<dyn JobRunner>,
        metrics: Arc<Metrics>,
    ) -> Arc<Self> {
        let registry = Arc::new(Registry::default());
        let queue = Arc::new(JobQueue::new(settings.queue_capacity));
        let tracker = TaskTracker::new();
        let stop = CancellationToken::new();
        let prune = {
            let (registry, retention, max) = (
                Arc::clone(&registry),
                settings.retention,
                settings.max_retained,
            );
            Arc::new(move || {
                registry.prune(retention, max);
            })
        };
        let executor = Executor::start(
            settings.executors,
            Arc::clone(&queue),
            runner,
            prune.clone(),
            Arc::clone(&metrics),
            &tracker,
            stop.clone(),
        );
        // Retention also passes while no job finishes.
        let pruner_stop = stop.clone();
        tracker.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tokio::select! {
                    () = pruner_stop.cancelled() => break,
                    _ = tick.tick() => prune(),
                }
            }
        });
        Arc::new(Self {
            settings,
            registry,
            queue,
            executor,
            tracker,
            stop,
            accepting: AtomicBool::new(true),
            metrics,
        })
    }

    /// Queues `job`, or attaches to the same job already known (contract 2.4).
    /// `api_token` is masked in the job's log like the job's own secrets.
    pub fn submit(&self, job: Job, api_token: Option<&str>) -> Result<Admission, AdmitError> {
        let admitted = self.admit(job, api_token);
        match &admitted {
            Ok(Admission::Queued(_)) => self.metrics.job_submitted(),
            Ok(Admission::Attached(_)) | Err(AdmitError::Conflict(_)) => {}
            Err(AdmitError::QueueFull) => self.metrics.rejected("queue_full"),
            Err(AdmitError::ShuttingDown) => self.metrics.rejected("shutting_down"),
        }
        admitted
    }

    fn admit(&self, job: Job, api_token: Option<&str>) -> Result<Admission, AdmitError> {
        self.registry.admit(job, &self.queue, |job, attempt| {
            let worker_secrets = self.settings.worker_secrets.iter().map(Secret::expose);
            let scrubber = Scrubber::new(
                job.secrets()
                    .into_iter()
                    .chain(api_token)
                    .chain(worker_secrets),
            );
            let log = JobLog::new(self.settings.log_lines, scrubber);
            log.push(
                Stream::Corebuild,
                &format!(
                    "Starting isocreator for {} {}",
                    job.architecture,
                    job.image.kind()
                ),
            );
            JobRecord::new(job, attempt, log)
        })
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn get(&self, id: &str) -> Option<Arc<JobRecord>> {
        self.registry.get(id)
    }

    pub fn running(&self) -> usize {
        self.executor.running()
    }

    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// False once shutdown has begun.
    pub fn accepting(&self) -> bool {
        self.accepting.load(Ordering::SeqCst)
    }

    /// 0-based place in the queue while the job waits.
    pub fn queue_position(&self, record: &Arc<JobRecord>) -> Option<usize> {
        self.queue.position(record)
    }

    /// Every retained job, newest first.
    pub fn list(&self) -> Vec<Arc<JobRecord>> {
        let mut jobs = self.registry.all();
        jobs.sort_by_key(|r| std::cmp::Reverse(r.serial));
        jobs
    }

    /// Cancels a job: a waiting one leaves the queue at once; a running one is stopped
    /// (its runner sees the token) and ends as `cancelled` once it has cleaned up.
    pub fn cancel(&self, id: &str) -> Result<Arc<JobRecord>, CancelError> {
        let record = self
            .registry
            .get(id)
            .ok_or_else(|| CancelError::NotFound(id.to_owned()))?;
        if record.state().is_finished() {
            return Err(CancelError::Finished(id.to_owned()));
        }
        record.cancel_for("the job was cancelled");
        if self.queue.remove(&record) {
            record.log.push(Stream::Corebuild, "Cancelled while queued");
            record.finish(Err(JobFailure {
                code: FailureCode::Cancelled,
                message: record.cancel_message(),
            }));
            self.metrics.job_finished(&record);
        }
        Ok(record)
    }

    /// Stops accepting and ends waiting jobs as `shutting_down`; running jobs get until
    /// `grace` has passed (or `force` fires) to finish, then are cancelled. Returns once
    /// every job has cleaned up after itself.
    pub async fn shutdown(&self, grace: Duration, force: &CancellationToken) {
        self.accepting.store(false, Ordering::SeqCst);
        for record in self.queue.close() {
            record.log.push(
                Stream::Corebuild,
                "Not started: the worker is shutting down",
            );
            record.finish(Err(JobFailure {
                code: FailureCode::ShuttingDown,
                message: "the worker is shutting down; the job did not start".to_owned(),
            }));
            self.metrics.job_finished(&record);
        }
        self.stop.cancel();
        self.tracker.close();
        let running = self.running();
        if running > 0 {
            tracing::info!(
                running,
                grace_secs = grace.as_secs(),
                "waiting for running jobs"
            );
        }
        tokio::select! {
            () = self.tracker.wait() => return,
            () = tokio::time::sleep(grace) => {
                tracing::warn!("shutdown grace time is over; cancelling running jobs");
            }
            () = force.cancelled() => tracing::warn!("second signal; cancelling running jobs"),
        }
        for record in self.registry.all() {
            if !record.state().is_finished() {
                record.cancel_for("cancelled: the worker shut down before the job finished");
            }
        }
        self.tracker.wait().await;
    }
}
