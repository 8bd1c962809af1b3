//! Cancelling a fleet's job from any worker: a waiting one ends at once and leaves the
//! queue; a running one is marked in its document and announced on the cancel
//! subject, and the worker running it stops it (it also finds the mark by itself).

use std::sync::Arc;

use dashmap::DashMap;
use futures::StreamExt;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::ClusterError;
use super::connection::Link;
use super::doc::StoredJob;
use super::queue::FleetQueue;
use super::store::StatusStore;
use crate::jobs::NoJob;
use crate::jobs::rules::{self, Cancel};
use crate::jobs::{JobRecord, JobView};

/// Jobs this worker runs now, by id: cancel requests find them here.
pub(super) type Active = Arc<DashMap<String, Arc<JobRecord>>>;

pub(super) struct Cancels {
    pub(super) store: Arc<StatusStore>,
    pub(super) queue: Arc<FleetQueue>,
    pub(super) link: Link,
    pub(super) subject: String,
    pub(super) active: Active,
}

impl Cancels {
    pub(super) async fn cancel(&self, id: &str) -> Result<JobView, ClusterError> {
        let modified = self
            .store
            .modify(id, "cancelling the job", |doc| {
                let doc = doc
                    .filter(|doc| !self.store.expired(doc))
                    .ok_or_else(|| ClusterError::NotFound(NoJob(id.to_owned())))?;
                let mut next = doc.clone();
                let decision = rules::cancel(doc.view.state);
                match decision {
                    Cancel::Finished => return Err(ClusterError::Finished(id.to_owned())),
                    Cancel::Now => next.fail(&StoredJob::cancelled_while_queued()),
                    Cancel::Stop => next.cancel_requested = true,
                }
                Ok((decision, Some(next)))
            })
            .await?;
        let (doc, _) = modified.written.expect("a cancel always writes");
        if modified.value == Cancel::Now {
            // Whoever takes the message finds the job cancelled and drops it; taking it
            // out now frees its place in the queue.
            if let Some(seq) = doc.seq {
                self.queue.remove(seq).await;
            }
        } else if let Err(e) = self
            .link
            .client()
            .publish(self.subject.clone(), id.to_owned().into())
            .await
        {
            tracing::warn!(job_id = %id, "cancel announcement not sent ({e}); the job's worker sees the mark within seconds");
        }
        Ok(doc.view)
    }

    /// Listens for cancel requests from any worker, for the jobs this one runs, until
    /// `abandon`.
    pub(super) async fn listen(
        &self,
        tasks: &TaskTracker,
        abandon: CancellationToken,
    ) -> Result<(), async_nats::SubscribeError> {
        let mut requests = self.link.client().subscribe(self.subject.clone()).await?;
        let active = Arc::clone(&self.active);
        tasks.spawn(async move {
            loop {
                let message = tokio::select! {
                    () = abandon.cancelled() => break,
                    message = requests.next() => match message {
                        Some(message) => message,
                        None => break,
                    },
                };
                let id = String::from_utf8_lossy(&message.payload).into_owned();
                if let Some(record) = active.get(&id) {
                    tracing::info!(job_id = %id, "cancel request from the fleet");
                    record.cancel_for("the job was cancelled");
                }
            }
        });
        Ok(())
    }
}
