//! Retention in the fleet: every worker removes finished jobs past their retention
//! (status and log) now and then, and ends jobs no worker will ever take: those whose
//! admitting worker died before it published them, and running ones whose worker is
//! gone (its lease expired) after their message went with a lost queue. Reads hide
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
}

impl Pruner {
    pub(super) fn new(
        store: &Arc<StatusStore>,
        logs: &Arc<LogStore>,
        queue: &Arc<FleetQueue>,
        leases: Arc<Leases>,
    ) -> Self {
        Self {
            store: Arc::clone(store),
            logs: Arc::clone(logs),
            queue: Arc::clone(queue),
            leases,
        }
    }

    /// Prunes every [`PRUNE_EVERY`] until `abandon`.
    pub(super) fn start(self, tasks: &TaskTracker, abandon: CancellationToken) {
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(PRUNE_EVERY);
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
