//! The fixed pool: N workers take jobs from the queue one at a time and hand them to a
//! [`JobRunner`]. Each job runs in its own task, a panic boundary, inside a `job` span.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::queue::JobQueue;
use super::record::{FailureCode, JobFailure, JobRecord, Outcome};
use crate::metrics::Metrics;

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What running a job means; the pool neither knows nor cares (tests pass closures).
pub trait JobRunner: Send + Sync + 'static {
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

pub struct Executor {
    busy: Arc<AtomicUsize>,
}

impl Executor {
    /// Starts `size` workers on `tracker`; they stop taking jobs once `stop` fires.
    pub fn start(
        size: usize,
        queue: Arc<JobQueue>,
        runner: Arc<dyn JobRunner>,
        on_finish: Arc<dyn Fn() + Send + Sync>,
        metrics: Arc<Metrics>,
        tracker: &TaskTracker,
        stop: CancellationToken,
    ) -> Self {
        let busy = Arc::new(AtomicUsize::new(0));
        for _ in 0..size {
            let (queue, runner, on_finish, stop, busy, metrics) = (
                Arc::clone(&queue),
                Arc::clone(&runner),
                Arc::clone(&on_finish),
                stop.clone(),
                Arc::clone(&busy),
                Arc::clone(&metrics),
            );
            tracker.spawn(async move {
                loop {
                    let record = tokio::select! {
                        biased;
                        () = stop.cancelled() => break,
                        record = queue.next() => record,
                    };
                    busy.fetch_add(1, Ordering::SeqCst);
                    run_one(&runner, &record).await;
                    metrics.job_finished(&record);
                    busy.fetch_sub(1, Ordering::SeqCst);
                    on_finish();
                }
            });
        }
        Self { busy }
    }

    /// Jobs being run right now.
    pub fn running(&self) -> usize {
        self.busy.load(Ordering::SeqCst)
    }
}

async fn run_one(runner: &Arc<dyn JobRunner>, record: &Arc<JobRecord>) {
    if record.state().is_finished() {
        return; // cancelled while it waited
    }
    if record.cancel.is_cancelled() {
        // Cancelled between leaving the queue and starting: never start it.
        record.finish(Err(JobFailure {
            code: FailureCode::Cancelled,
            message: record.cancel_message(),
        }));
        return;
    }
    record.set_running();
    let span = tracing::info_span!("job", job_id = %record.job.id, attempt = record.attempt);
    let task = tokio::spawn(runner.run(Arc::clone(record)).instrument(span));
    let outcome = task.await.unwrap_or_else(|err| {
        tracing::error!(job_id = %record.job.id, "job task failed: {err}");
        Err(JobFailure {
            code: FailureCode::BuildFailed,
            message: "the worker failed while running this job (internal error)".to_owned(),
        })
    });
    match &outcome {
        Ok(artifact) => {
            tracing::info!(job_id = %record.job.id, size = artifact.size, "job succeeded")
        }
        Err(failure) => {
            tracing::warn!(job_id = %record.job.id, code = ?failure.code, "job failed: {}", failure.message)
        }
    }
    record.finish(outcome);
}
