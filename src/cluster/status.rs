//! Reading and changing job status documents: status, list, cancel, waiting for the
//! end, and retention.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::kv;
use futures::StreamExt;

use super::doc::StoredJob;
use super::names::key;
use super::{Cluster, ClusterError};
use crate::domain::{FailureCode, JobFailure, JobState};
use crate::jobs::JobView;
use crate::jobs::rules::{self, Cancel};
use crate::time::now_ms;

/// How often finished jobs past their retention are removed from NATS.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// Longest wait for the next document while listing.
const LIST_WAIT: Duration = Duration::from_secs(5);
/// A job admitted but never published (its worker died in between) ends after this.
const UNQUEUED_LIMIT_MS: u64 = 60_000;

impl Cluster {
    /// The job's document and its revision, unless it is unknown or past retention.
    pub(super) async fn load(&self, id: &str) -> Result<Option<(StoredJob, u64)>, ClusterError> {
        self.reachable()?;
        let entry = self
            .status
            .entry(key(id))
            .await
            .map_err(|e| ClusterError::nats("reading the job's status", e))?;
        Ok(entry
            .filter(|e| e.operation == kv::Operation::Put)
            .and_then(|e| StoredJob::from_bytes(&e.value).map(|doc| (doc, e.revision)))
            .filter(|(doc, _)| !doc.expired(self.retention())))
    }

    pub(crate) async fn view(&self, id: &str) -> Result<JobView, ClusterError> {
        let (doc, _) = self
            .load(id)
            .await?
            .ok_or_else(|| ClusterError::NotFound(id.to_owned()))?;
        Ok(self.with_position(&doc).await)
    }

    /// Every job of the fleet still retained, newest first.
    pub(crate) async fn list(&self) -> Result<Vec<JobView>, ClusterError> {
        let docs = self.all_docs().await?;
        let delivered = self.delivered().await;
        let retention = self.retention();
        let mut views: Vec<JobView> = docs
            .into_iter()
            .filter(|(doc, _)| !doc.expired(retention))
            .map(|(doc, _)| position(doc.view.clone(), &doc, delivered))
            .collect();
        views.sort_by_key(|v| std::cmp::Reverse(v.created_at));
        Ok(views)
    }

    /// Every document in the bucket, read through one watch of the newest value per
    /// key (one consumer, not one request per job).
    async fn all_docs(&self) -> Result<Vec<(StoredJob, u64)>, ClusterError> {
        self.reachable()?;
        let unavailable = |e: &dyn std::fmt::Display| ClusterError::nats("listing jobs", e);
        let bucket = self
            .status_stream
            .get_info()
            .await
            .map_err(|e| unavailable(&e))?;
        if bucket.state.messages == 0 {
            return Ok(Vec::new());
        }
        let mut watch = self
            .status
            .watch_with_history(">")
            .await
            .map_err(|e| unavailable(&e))?;
        let mut docs = Vec::new();
        loop {
            // The bucket was not empty a moment ago; a pruner may empty it meanwhile.
            let next = tokio::time::timeout(LIST_WAIT, watch.next()).await;
            let Ok(Some(entry)) = next else {
                break;
            };
            let entry = entry.map_err(|e| unavailable(&e))?;
            if entry.operation == kv::Operation::Put
                && let Some(doc) = StoredJob::from_bytes(&entry.value)
            {
                docs.push((doc, entry.revision));
            }
            if entry.delta == 0 {
                break;
            }
        }
        Ok(docs)
    }

    /// The job's view with its place in the fleet's queue, while it waits.
    pub(super) async fn with_position(&self, doc: &StoredJob) -> JobView {
        let delivered = if doc.view.state == JobState::Queued {
            self.delivered().await
        } else {
            None
        };
        position(doc.view.clone(), doc, delivered)
    }

    /// The stream sequence of the last job handed to any worker.
    async fn delivered(&self) -> Option<u64> {
        let info = self.consumer.get_info().await.ok()?;
        Some(info.delivered.stream_sequence)
    }

    /// Cancels a job of the fleet: a waiting one ends at once and leaves the queue; a
    /// running one is marked, and its worker, told on the cancel subject, stops it.
    pub(crate) async fn cancel(&self, id: &str) -> Result<JobView, ClusterError> {
        loop {
            let (mut doc, revision) = self
                .load(id)
                .await?
                .ok_or_else(|| ClusterError::NotFound(id.to_owned()))?;
            let queued = match rules::cancel(doc.view.state) {
                Cancel::Finished => return Err(ClusterError::Finished(id.to_owned())),
                Cancel::Now => {
                    doc.fail(&StoredJob::cancelled_while_queued());
                    true
                }
                Cancel::Stop => {
                    doc.cancel_requested = true;
                    false
                }
            };
            match self.status.update(key(id), doc.to_bytes(), revision).await {
                Ok(_) => {}
                Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => continue,
                Err(e) => return Err(ClusterError::nats("cancelling the job", e)),
            }
            if queued {
                // Whoever takes the message finds the job cancelled and drops it; taking
                // it out now frees its place in the queue.
                if let Some(seq) = doc.seq {
                    let _ = self.jobs.delete_message(seq).await;
                }
            } else if let Err(e) = self
                .client
                .publish(self.names.cancel_subject(), id.to_owned().into())
                .await
            {
                tracing::warn!(job_id = %id, "cancel announcement not sent ({e}); the job's worker sees the mark within seconds");
            }
            return Ok(doc.view);
        }
    }

    /// Waits until the job has finished and returns its final view.
    pub(crate) async fn wait(&self, id: &str) -> Result<JobView, ClusterError> {
        self.reachable()?;
        let mut watch = self
            .status
            .watch_with_history(key(id))
            .await
            .map_err(|e| ClusterError::nats("watching the job", e))?;
        while let Some(entry) = watch.next().await {
            let entry = entry.map_err(|e| ClusterError::nats("watching the job", e))?;
            if entry.operation != kv::Operation::Put {
                return Err(ClusterError::NotFound(id.to_owned()));
            }
            if let Some(doc) = StoredJob::from_bytes(&entry.value)
                && doc.view.state.is_finished()
            {
                return Ok(doc.view);
            }
        }
        Err(ClusterError::Unavailable(
            "the watch on the job ended".to_owned(),
        ))
    }

    /// Removes finished jobs past their retention (status and logs), and ends jobs
    /// whose admitting worker died before it published them.
    async fn prune(&self) -> Result<(), ClusterError> {
        let retention = self.retention();
        for (mut doc, revision) in self.all_docs().await? {
            let id = doc.view.id.clone();
            if doc.expired(retention) {
                if self
                    .status
                    .delete_expect_revision(key(&id), Some(revision))
                    .await
                    .is_ok()
                {
                    self.purge_log(&id).await;
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
                let _ = self.status.update(key(&id), doc.to_bytes(), revision).await;
            }
        }
        Ok(())
    }
}

/// `view` with `queuePosition` from the consumer's progress: the jobs published
/// before this one and not handed out yet.
fn position(mut view: JobView, doc: &StoredJob, delivered: Option<u64>) -> JobView {
    view.queue_position = match (view.state, doc.seq, delivered) {
        (JobState::Queued, Some(seq), Some(delivered)) => {
            Some(usize::try_from(seq.saturating_sub(delivered + 1)).unwrap_or(usize::MAX))
        }
        _ => None,
    };
    view
}

pub(super) fn start_pruner(cluster: &Arc<Cluster>) {
    let cluster = Arc::clone(cluster);
    cluster.background.clone().spawn(async move {
        let mut tick = tokio::time::interval(PRUNE_EVERY);
        loop {
            tokio::select! {
                () = cluster.abandon.cancelled() => break,
                _ = tick.tick() => {
                    if let Err(e) = cluster.prune().await {
                        tracing::debug!("pruning the status bucket: {e}");
                    }
                }
            }
        }
    });
}
