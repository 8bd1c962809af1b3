//! Retention in the fleet: every worker removes finished jobs past their retention
//! (status and log) now and then, and ends jobs no worker will ever take: those whose
//! admitting worker died before it published them, and running ones whose worker is
//! gone (its lease expired) after their message went with a lost queue, and queued
//! ones past the queue-wait limit (no worker of their class took them). Reads hide
//! expired jobs at once; this only frees the space.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::ClusterError;
use super::doc::StoredJob;
use super::lease::Leases;
use super::logs::LogStore;
use super::queue::FleetQueue;
use super::store::StatusStore;
use crate::domain::{FailureCode, JobFailure, JobState};
use crate::time::now_ms;

/// How often finished jobs past their retention are removed from NATS.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// A job admitted but never published (its worker died in between) ends after this.
const UNQUEUED_LIMIT_MS: u64 = 60_000;

pub(super) struct Pruner {
    store: Arc<StatusStore>,
    logs: Arc<LogStore>,
    queue: Arc<FleetQueue>,
    leases: Arc<Leases>,
    /// The longest a job waits in the fleet's queue before it ends as `queue_timeout`.
    queue_timeout: Option<Duration>,
}

impl Pruner {
    pub(super) fn new(
        store: &Arc<StatusStore>,
        logs: &Arc<LogStore>,
        queue: &Arc<FleetQueue>,
        leases: Arc<Leases>,
        queue_timeout: Option<Duration>,
    ) -> Self {
        Self {
            store: Arc::clone(store),
            logs: Arc::clone(logs),
            queue: Arc::clone(queue),
            leases,
            queue_timeout,
        }
    }

    /// Prunes every [`PRUNE_EVERY`] until `abandon`.
    pub(super) fn start(self, tasks: &TaskTracker, abandon: CancellationToken) {
        tasks.spawn(async move {
            // Often enough that a job outlives its queue-wait limit by a quarter at most.
            let every = self.queue_timeout.map_or(PRUNE_EVERY, |limit| {
                (limit / 4).clamp(Duration::from_secs(1), PRUNE_EVERY)
            });
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    () = abandon.cancelled() => break,
                    _ = tick.tick() => {
                        if let Err(e) = self.prune().await {
                            tracing::debug!("pruning the status bucket: {e}");
                        }
                    }
                }
            }
        });
    }

    async fn prune(&self) -> Result<(), ClusterError> {
        for (mut doc, revision) in self.store.all().await? {
            let id = doc.view.id.clone();
            if self.store.expired(&doc) {
                if self.store.delete(&id, revision).await.is_ok() {
                    self.logs.purge(&id).await;
                }
            } else if doc.view.state == JobState::Queued
                && doc.seq.is_none()
                && doc.runs == 0
                && now_ms().saturating_sub(doc.view.created_at) > UNQUEUED_LIMIT_MS
            {
                doc.fail(&JobFailure::new(
                    FailureCode::Internal,
                    "the worker that admitted the job stopped before it was queued; submit it again",
                ));
                let _ = self.store.update(&id, &doc, revision).await;
            } else if let Some(limit) = self.overdue(&doc) {
                let seq = doc.seq;
                doc.fail(&JobFailure::new(
                    FailureCode::QueueTimeout,
                    format!(
                        "no worker that builds {} took the job within {}s (COREBUILD_QUEUE_TIMEOUT_SECS); it never ran",
                        doc.class(),
                        limit.as_secs()
                    ),
                ));
                if self.store.update(&id, &doc, revision).await.is_ok() {
                    tracing::warn!(job_id = %id, class = %doc.class(), "the job waited past the queue-wait limit; it ends as queue_timeout");
                    if let Some(seq) = seq {
                        self.queue.remove(seq).await;
                    }
                }
            } else if self.orphaned(&doc).await? {
                doc.fail(&JobFailure::new(
                    FailureCode::QueueLost,
                    "the job's worker was lost after the fleet's job queue had lost the job's message, so no worker can take it over; submit it again",
                ));
                if self.store.update(&id, &doc, revision).await.is_ok() {
                    tracing::warn!(job_id = %id, "a running job lost its worker and its queued message; it ends as queue_lost");
                }
            }
        }
        Ok(())
    }

    /// The queue-wait limit, when a job that never ran has waited past it.
    fn overdue(&self, doc: &StoredJob) -> Option<Duration> {
        let limit = self.queue_timeout?;
        let waited = now_ms().saturating_sub(doc.view.created_at);
        let over = doc.view.state == JobState::Queued
            && doc.runs == 0
            && doc.seq.is_some()
            && u128::from(waited) > limit.as_millis();
        over.then_some(limit)
    }

    /// A running job whose worker's lease has expired and whose message is gone.
    async fn orphaned(&self, doc: &StoredJob) -> Result<bool, ClusterError> {
        let (Some(run), Some(worker)) = (&doc.run, &doc.view.worker_id) else {
            return Ok(false);
        };
        Ok(doc.view.state.is_active()
            && !self.leases.live(worker, &run.instance).await?
            && !self.queue.holds(doc).await?)
    }
}
