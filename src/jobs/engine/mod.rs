//! The job engine as the API sees it: admit, cancel and shut down; what it holds is
//! read through `reads.rs`.

mod reads;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::events::JobEvents;
use super::executor::{Executor, JobRunner, Pool};
use super::pause::Pause;
use super::queue::JobQueue;
use super::record::JobRecord;
use super::registry::{Admission, AdmitError, Registry};
use super::rules::{self, Cancel};
use super::submission::SubmittedBy;
use crate::domain::{BuildClass, BuildSet, ErrorCode, FailureCode, Job, JobFailure, Secret};
use crate::joblog::{JobLog, LogBudget, Scrubber};
use crate::time::now_ms;
use crate::upload::Fence;

/// What a fleet run brings to the engine beside the job.
pub(crate) struct FleetRun {
    /// The run's hold on the job, which fences its upload.
    pub(crate) fence: Arc<dyn Fence>,
    /// The first `seq` of this run's log: after every line of the runs before it.
    pub(crate) log_from: u64,
    /// For the first run of a submission: when it was admitted to the fleet's queue.
    pub(crate) queued_since: Option<u64>,
    /// The id of the request that submitted the job, wherever it was made.
    pub(crate) request_id: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct EngineSettings {
    pub(crate) executors: usize,
    pub(crate) queue_capacity: usize,
    pub(crate) log_lines: usize,
    pub(crate) retention: Duration,
    pub(crate) max_retained: usize,
    /// Bytes of log text all retained jobs keep together.
    pub(crate) log_bytes: u64,
    /// Secrets that are not part of a job but must not reach a job's log either.
    pub(crate) worker_secrets: Vec<Secret>,
    /// The architectures and image kinds this worker builds.
    pub(crate) builds: BuildSet,
    /// The longest a job waits in the queue before it ends as `queue_timeout`.
    pub(crate) queue_timeout: Option<Duration>,
    /// Whether a pause holds the jobs of this engine's queue (standalone). In a fleet
    /// the taker stops taking instead, and a job already claimed runs.
    pub(crate) pause_holds_queue: bool,
}

/// How often retention is applied while no job finishes.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

pub(crate) struct Engine {
    settings: EngineSettings,
    registry: Arc<Registry>,
    queue: Arc<JobQueue>,
    executor: Executor,
    runner: Arc<dyn JobRunner>,
    events: Arc<dyn JobEvents>,
    log_budget: Arc<LogBudget>,
    tracker: TaskTracker,
    /// Stops the executors from taking new jobs, and the pruner.
    stop: CancellationToken,
    accepting: AtomicBool,
    /// Paused: nothing new starts (`corebuild pause`).
    pause: Arc<Pause>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum CancelError {
    #[error(transparent)]
    NotFound(#[from] super::NoJob),
    #[error("job {0} has already finished")]
    Finished(String),
}

impl Engine {
    pub(crate) fn start(
        settings: EngineSettings,
        runner: Arc<dyn JobRunner>,
        events: Arc<dyn JobEvents>,
    ) -> Arc<Self> {
        let registry = Arc::new(Registry::new(settings.retention));
        let queue = Arc::new(JobQueue::new(settings.queue_capacity));
        let tracker = TaskTracker::new();
        let stop = CancellationToken::new();
        let prune: Arc<dyn Fn() + Send + Sync> = {
            let (registry, retention, max) = (
                Arc::clone(&registry),
                settings.retention,
                settings.max_retained,
            );
            Arc::new(move || {
                registry.prune(retention, max);
            })
        };
        let pause = Arc::new(Pause::default());
        let pool = Pool {
            size: settings.executors,
            pause: settings.pause_holds_queue.then(|| Arc::clone(&pause)),
            queue: Arc::clone(&queue),
            runner: Arc::clone(&runner),
            events: Arc::clone(&events),
            on_finish: prune.clone(),
        };
        let executor = Executor::start(pool, &tracker, stop.clone());
        let log_budget = LogBudget::new(settings.log_bytes);
        let engine = Arc::new(Self {
            settings,
            registry,
            queue,
            executor,
            runner,
            events,
            log_budget,
            tracker,
            stop,
            accepting: AtomicBool::new(true),
            pause,
        });
        engine.start_sweeper(prune);
        engine
    }

    /// Applies retention, and the queue-wait limit, now and then until shutdown. It
    /// holds the engine weakly, so it never keeps it alive.
    fn start_sweeper(self: &Arc<Self>, prune: Arc<dyn Fn() + Send + Sync>) {
        // Often enough that a job outlives its queue-wait limit by a quarter at most.
        let every = self.settings.queue_timeout.map_or(PRUNE_EVERY, |limit| {
            (limit / 4).clamp(Duration::from_millis(250), PRUNE_EVERY)
        });
        let (engine, stop) = (Arc::downgrade(self), self.stop.clone());
        self.tracker.spawn(async move {
            let mut tick = tokio::time::interval(every);
            let mut last_prune = std::time::Instant::now();
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    _ = tick.tick() => {}
                }
                let Some(engine) = engine.upgrade() else {
                    break;
                };
                engine.end_overdue();
                if last_prune.elapsed() >= PRUNE_EVERY {
                    prune();
                    last_prune = std::time::Instant::now();
                }
            }
        });
    }

    /// Ends every job that has waited in the queue past the limit, as `queue_timeout`.
    fn end_overdue(&self) {
        let Some(limit) = self.settings.queue_timeout else {
            return;
        };
        let limit_ms = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX);
        let deadline = now_ms().saturating_sub(limit_ms);
        for record in self.queue.take_waiting_since(deadline) {
            let message = format!(
                "the job waited in the queue for more than {}s (COREBUILD_QUEUE_TIMEOUT_SECS) and never ran",
                limit.as_secs()
            );
            record.log_sink().note(&format!("Not started: {message}"));
            self.end_unstarted(&record, JobFailure::new(FailureCode::QueueTimeout, message));
        }
    }

    /// Pausing and resuming: nothing new starts while paused.
    pub(crate) fn pause(&self) -> &Pause {
        &self.pause
    }

    /// What this worker builds.
    pub(crate) fn builds(&self) -> &BuildSet {
        &self.settings.builds
    }

    /// Queues `job`, or attaches to the same job already known (docs/api.md,
    /// "Submitting the same id twice"), with what `by` tells of its submission.
    pub(crate) fn submit(&self, job: Job, by: SubmittedBy<'_>) -> Result<Admission, AdmitError> {
        if let Some(refusal) = self.settings.builds.refusal(BuildClass::of(&job)) {
            self.events.rejected(ErrorCode::UnsupportedBuild);
            return Err(AdmitError::Unsupported(refusal));
        }
        let admitted = self.registry.admit(job, &self.queue, |job, attempt| {
            let log = self.new_log(&job, by.api_token);
            let mut record = JobRecord::new(job, attempt, log);
            record.request_id = by.request_id.map(str::to_owned);
            self.runner.admitted(&record.job, &record.log_sink());
            record
        });
        match &admitted {
            Ok(Admission::Queued(_)) => self.events.admitted(),
            Ok(Admission::Attached(_)) | Err(AdmitError::Conflict(_)) => {}
            Err(AdmitError::QueueFull) => self.events.rejected(ErrorCode::QueueFull),
            Err(AdmitError::ShuttingDown) => self.events.rejected(ErrorCode::ShuttingDown),
            Err(AdmitError::Unsupported(_)) => {}
        }
        admitted
    }

    /// Runs a job another part of the worker has already admitted (cluster mode: a job
    /// taken from the fleet's queue), as attempt `attempt`. It replaces any local record
    /// of the same id; the caller makes sure an executor is free.
    pub(crate) fn run_claimed(
        &self,
        job: Job,
        attempt: u32,
        api_token: Option<&str>,
        run: FleetRun,
    ) -> Result<Arc<JobRecord>, AdmitError> {
        if !self.accepting() {
            return Err(AdmitError::ShuttingDown);
        }
        let log = self.new_log(&job, api_token);
        log.start_at(run.log_from);
        let mut record = JobRecord::new(job, attempt, log);
        record.queued_since = run.queued_since;
        record.request_id = run.request_id;
        let record = Arc::new(record);
        record.fence_with(run.fence);
        self.runner.admitted(&record.job, &record.log_sink());
        self.registry.replace(Arc::clone(&record));
        self.queue.push(Arc::clone(&record))?;
        Ok(record)
    }

    /// A job's log, masking the job's secrets, the token it came with and the worker's.
    fn new_log(&self, job: &Job, api_token: Option<&str>) -> Arc<JobLog> {
        let worker_secrets = self.settings.worker_secrets.iter().map(Secret::expose);
        let scrubber = Scrubber::new(
            job.secrets()
                .into_iter()
                .chain(api_token)
                .chain(worker_secrets),
        );
        JobLog::new(self.settings.log_lines, scrubber, &self.log_budget)
    }

    /// Cancels a job: a waiting one leaves the queue at once; a running one is stopped
    /// (its runner sees the token) and ends as `cancelled` once it has cleaned up.
    pub(crate) fn cancel(&self, id: &str) -> Result<Arc<JobRecord>, CancelError> {
        let record = self
            .registry
            .get(id)
            .ok_or_else(|| super::NoJob(id.to_owned()))?;
        if rules::cancel(record.state()) == Cancel::Finished {
            return Err(CancelError::Finished(id.to_owned()));
        }
        // Stops it if it runs; a job still queued is taken out of the queue below.
        record.cancel_for("the job was cancelled");
        if self.queue.remove(&record) {
            record.log_sink().note("Cancelled while queued");
            self.end_unstarted(&record, record.cancelled());
        }
        Ok(record)
    }

    /// Ends a job that never ran.
    fn end_unstarted(&self, record: &JobRecord, failure: JobFailure) {
        record.finish(Err(failure));
        if let Some(outcome) = record.outcome() {
            self.events.finished(&outcome, None);
        }
    }

    /// Stops accepting and ends waiting jobs as `shutting_down`; running jobs get until
    /// `grace` has passed (or `force` fires) to finish, then are cancelled. Returns once
    /// every job has cleaned up after itself.
    pub(crate) async fn shutdown(&self, grace: Duration, force: &CancellationToken) {
        self.accepting.store(false, Ordering::SeqCst);
        for record in self.queue.close() {
            record
                .log_sink()
                .note("Not started: the worker is shutting down");
            let failure = JobFailure::new(
                FailureCode::ShuttingDown,
                "the worker is shutting down; the job did not start",
            );
            self.end_unstarted(&record, failure);
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
                record.cut_off("cancelled: the worker shut down before the job finished");
            }
        }
        self.tracker.wait().await;
    }
}
