//! The job engine as the API sees it: admit, look up, count, and shut down.

use std::sync::Arc;
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
}

impl Engine {
    pub fn start(settings: EngineSettings, runner: Arc<dyn JobRunner>) -> Arc<Self> {
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
        })
    }

    /// Queues `job`, or attaches to the same job already known (contract 2.4).
    /// `api_token` is masked in the job's log like the job's own secrets.
    pub fn submit(&self, job: Job, api_token: Option<&str>) -> Result<Admission, AdmitError> {
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

    pub fn get(&self, id: &str) -> Option<Arc<JobRecord>> {
        self.registry.get(id)
    }

    pub fn running(&self) -> usize {
        self.executor.running()
    }

    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Stops taking jobs, ends waiting ones as `shutting_down`, cancels running ones and
    /// waits until every job has cleaned up after itself.
    pub async fn shutdown(&self) {
        self.stop.cancel();
        for record in self.queue.drain() {
            record.finish(Err(JobFailure {
                code: FailureCode::ShuttingDown,
                message: "the worker is shutting down".to_owned(),
            }));
        }
        for record in self.registry.all() {
            if !record.state().is_finished() {
                record.cancel.cancel();
            }
        }
        self.tracker.close();
        self.tracker.wait().await;
    }
}
