//! Admission in cluster mode: once fleet-wide, decided by `jobs::rules::admit` over
//! the job's status document and written by compare-and-set, then the sealed job is
//! published to the fleet's queue (docs/api.md, "Submitting the same id twice").

use std::sync::Arc;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::ClusterError;
use super::doc::StoredJob;
use super::queue::{Envelope, FleetQueue, PublishError};
use super::seal::FleetKey;
use super::store::{Modified, StatusStore};
use crate::domain::{ErrorCode, Job, JobState};
use crate::jobs::rules::{self, Admit, Known};
use crate::jobs::{JobEvents, JobView, SubmittedBy};
use crate::metrics::ClusterMetrics;
use crate::time::now_ms;

/// How a submission was taken.
pub(crate) struct Admitted {
    pub(crate) view: JobView,
    /// The same job was already known: no second build.
    pub(crate) attached: bool,
}

pub(super) struct Admission {
    pub(super) store: Arc<StatusStore>,
    pub(super) queue: Arc<FleetQueue>,
    /// For the job's fingerprint, which tells a retry from other content.
    pub(super) key: Arc<FleetKey>,
    pub(super) metrics: Arc<ClusterMetrics>,
    /// Cancelled when the worker drains: it admits nothing more.
    pub(super) stopping: CancellationToken,
}

impl Admission {
    pub(super) async fn submit(
        &self,
        job: &Job,
        raw: Value,
        by: SubmittedBy<'_>,
    ) -> Result<Admitted, ClusterError> {
        if self.stopping.is_cancelled() {
            return Err(ClusterError::ShuttingDown);
        }
        let id = job.id.as_str();
        let canonical = serde_json::to_vec(&raw).expect("a JSON value serializes");
        let fingerprint = self.key.fingerprint(&canonical);
        let retention = self.store.retention();
        // Most submissions are of new ids: the document is created at once, and read
        // (and decided on again) only when it exists.
        let decided = self
            .store
            .modify_from(id, "admitting the job", None, |existing| {
                let known = existing.map(|doc| Known {
                    state: doc.view.state,
                    attempt: doc.view.attempt,
                    finished_at: doc.view.finished_at,
                    same_content: doc.fingerprint == fingerprint,
                });
                match rules::admit(known, retention, now_ms()) {
                    Admit::Build { attempt } => {
                        // Each build of an id is a round of its own; the sealed
                        // message names it.
                        let round = existing.map_or(1, |doc| doc.round + 1);
                        Ok((true, Some(new_round(job, &fingerprint, round, attempt))))
                    }
                    Admit::Attach => Ok((false, None)),
                    Admit::Conflict => Err(ClusterError::Conflict(id.to_owned())),
                }
            })
            .await?;
        match decided {
            Modified {
                written: Some(written),
                previous,
                ..
            } => {
                let envelope = Envelope {
                    job: raw,
                    api_token: by.api_token.map(str::to_owned),
                    request_id: by.request_id.map(str::to_owned),
                };
                let doc = self.enqueue(written, previous, &envelope).await?;
                Ok(Admitted {
                    view: self.view(&doc, by).await,
                    attached: false,
                })
            }
            Modified {
                previous: Some((existing, _)),
                ..
            } => Ok(Admitted {
                view: self.view(&existing, by).await,
                attached: true,
            }),
            // Attaching needs a known job, which `rules::admit` ensures.
            Modified { previous: None, .. } => Err(ClusterError::Conflict(id.to_owned())),
        }
    }

    /// The submission's answer: with the job's place in the queue, unless the
    /// submitter waits for the job's end (one request to NATS less while it runs).
    async fn view(&self, doc: &StoredJob, by: SubmittedBy<'_>) -> JobView {
        if by.waits {
            doc.view.clone()
        } else {
            self.queue.with_position(doc).await
        }
    }

    /// Publishes the sealed job; on failure the status document is put back as it was.
    async fn enqueue(
        &self,
        (mut doc, revision): (StoredJob, u64),
        previous: Option<(StoredJob, u64)>,
        envelope: &Envelope,
    ) -> Result<StoredJob, ClusterError> {
        let id = doc.view.id.clone();
        match self.queue.publish(&doc, envelope).await {
            Ok(seq) => {
                doc.seq = Some(seq);
                // A worker may have claimed the job already (one that looked without
                // the doorbell); then its document wins.
                let _ = self.store.update(&id, &doc, revision).await;
                // Rung after that write, not before: a claim racing it would fail its
                // compare-and-set and have to read the document again.
                self.queue.ring(&doc).await;
                self.metrics.events().admitted();
                Ok(doc)
            }
            Err(failure) => {
                let rollback = match previous {
                    Some((previous, _)) => self
                        .store
                        .update(&id, &previous, revision)
                        .await
                        .map(drop)
                        .map_err(|e| e.to_string()),
                    None => self
                        .store
                        .delete(&id, revision)
                        .await
                        .map_err(|e| e.to_string()),
                };
                if let Err(rollback) = rollback {
                    tracing::warn!(job_id = %id, "could not take back a job that was not queued: {rollback}");
                }
                match failure {
                    PublishError::Full => {
                        self.metrics.events().rejected(ErrorCode::QueueFull);
                        Err(ClusterError::QueueFull)
                    }
                    PublishError::Failed(reason) => {
                        Err(ClusterError::nats("queueing the job", reason))
                    }
                }
            }
        }
    }
}

/// A new submission round of `job`, queued.
fn new_round(job: &Job, fingerprint: &str, round: u32, attempt: u32) -> StoredJob {
    let now = now_ms();
    StoredJob {
        view: JobView {
            id: job.id.to_string(),
            architecture: job.architecture,
            image_kind: job.image.kind(),
            state: JobState::Queued,
            queue_position: None,
            attempt,
            created_at: now,
            started_at: None,
            finished_at: None,
            progress: None,
            last_activity_at: now,
            artifact: None,
            error: None,
            log_lines: 0,
            worker_id: None,
            queue_note: None,
        },
        fingerprint: fingerprint.to_owned(),
        round,
        runs: 0,
        seq: None,
        cancel_requested: false,
        run: None,
    }
}
