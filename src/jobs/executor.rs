//! The fixed pool: N workers take jobs from the queue one at a time and hand them to a
//! [`JobRunner`]. Each job runs in its own task, a panic boundary, inside a `job` span.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::events::JobEvents;
use super::pause::Pause;
use super::queue::JobQueue;
use super::record::JobRecord;
use crate::domain::{FailureCode, Job, JobFailure, Outcome};
use crate::joblog::LogSink;
use crate::time::now_ms;

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What running a job means; the pool neither knows nor cares (tests pass closures).
pub(crate) trait JobRunner: Send + Sync + 'static {
    /// Called as a job is admitted, before it waits in the queue: the place for the
    /// runner's first log line, so even a queued job's log says what will happen.
    fn admitted(&self, _job: &Job, _log: &LogSink) {}

    /// Runs the job to its outcome. Cancellation arrives through `record.cancel`.
    fn run(&self, record: Arc<JobRecord>) -> BoxFuture<Outcome>;
}

impl<F, Fut> JobRunner for F
where
    F: Fn(Arc<JobRecord>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    fn run(&self, record: Arc<JobRecord>) -> BoxFuture<Outcome> {
        Box::pin(self(record))
    }
}

/// What the pool's workers share.
#[derive(Clone)]
pub(crate) struct Pool {
    pub(crate) size: usize,
    /// While paused, no worker of the pool takes a job (standalone only).
    pub(crate) pause: Option<Arc<Pause>>,
    pub(crate) queue: Arc<JobQueue>,
    pub(crate) runner: Arc<dyn JobRunner>,
    pub(crate) events: Arc<dyn JobEvents>,
    /// Called after each job, once it has finished and been counted.
    pub(crate) on_finish: Arc<dyn Fn() + Send + Sync>,
}

pub(crate) struct Executor {
    busy: Arc<AtomicUsize>,
}

impl Executor {
    /// Starts `pool.size` workers on `tracker`; they stop taking jobs once `stop` fires.
    pub(crate) fn start(pool: Pool, tracker: &TaskTracker, stop: CancellationToken) -> Self {
        let busy = Arc::new(AtomicUsize::new(0));
        for _ in 0..pool.size {
            let (pool, stop, busy) = (pool.clone(), stop.clone(), Arc::clone(&busy));
            tracker.spawn(async move {
                loop {
                    let record = tokio::select! {
                        biased;
                        () = stop.cancelled() => break,
                        // Checked before the queue, so a paused pool takes nothing.
                        () = paused(pool.pause.as_deref()) => {
                            tokio::select! {
                                () = stop.cancelled() => break,
                                () = resumed(pool.pause.as_deref()) => continue,
                            }
                        }
                        record = pool.queue.next() => record,
                    };
                    busy.fetch_add(1, Ordering::SeqCst);
                    if let Some(since) = record.queued_since {
                        let waited = now_ms().saturating_sub(since);
                        pool.events.started(Duration::from_millis(waited));
                    }
                    run_one(&pool.runner, &record).await;
                    if let Some(outcome) = record.outcome() {
                        pool.events.finished(&outcome, ran_for(&record));
                    }
                    busy.fetch_sub(1, Ordering::SeqCst);
                    (pool.on_finish)();
                }
            });
        }
        Self { busy }
    }

    /// Jobs being run right now.
    pub(crate) fn running(&self) -> usize {
        self.busy.load(Ordering::SeqCst)
    }
}

/// Returns once `pause` is paused; never without one.
async fn paused(pause: Option<&Pause>) {
    match pause {
        Some(pause) => pause.paused().await,
        None => std::future::pending().await,
    }
}

async fn resumed(pause: Option<&Pause>) {
    if let Some(pause) = pause {
        pause.resumed().await;
    }
}

fn ran_for(record: &JobRecord) -> Option<Duration> {
    let status = record.status();
    let (start, end) = (status.started_at?, status.finished_at?);
    Some(Duration::from_millis(end.saturating_sub(start)))
}

async fn run_one(runner: &Arc<dyn JobRunner>, record: &Arc<JobRecord>) {
    if record.state().is_finished() {
        return; // cancelled while it waited
    }
    if record.cancel.is_cancelled() {
        // Cancelled between leaving the queue and starting: never start it.
        record.finish(Err(record.cancelled()));
        return;
    }
    record.set_running();
    let span = tracing::info_span!(
        "job",
        job_id = %record.job.id,
        attempt = record.attempt,
        request_id = record.request_id.as_deref()
    );
    let task = tokio::spawn(runner.run(Arc::clone(record)).instrument(span.clone()));
    let outcome = task.await.unwrap_or_else(|err| {
        tracing::error!(parent: &span, job_id = %record.job.id, "job task failed: {err}");
        Err(JobFailure::new(
            FailureCode::Internal,
            "the worker failed while running this job (internal error)",
        ))
    });
    match &outcome {
        Ok(artifact) => {
            tracing::info!(parent: &span, job_id = %record.job.id, size = artifact.size, "job succeeded")
        }
        Err(failure) => {
            tracing::warn!(parent: &span, job_id = %record.job.id, code = %failure.code.code(), "job failed: {}", failure.message)
        }
    }
    record.finish(outcome);
}
