//! Admission in cluster mode: once fleet-wide, decided by compare-and-set on the job's
//! status document (docs/api.md, "Submitting the same id twice"), then the sealed job
//! is published to the fleet's queue.

use async_nats::HeaderMap;
use async_nats::jetstream::kv;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::doc::StoredJob;
use super::names::key;
use super::{Cluster, ClusterError};
use crate::domain::{Job, JobState};
use crate::jobs::rules::{self, Admit, Known, Retention};
use crate::jobs::{JobEvents, JobView};
use crate::time::now_ms;

/// Headers of a queued job's message: which job and round it is, needed to open it.
pub(super) const JOB_HEADER: &str = "Corebuild-Job";
pub(super) const ROUND_HEADER: &str = "Corebuild-Round";

/// What the queue's message carries, sealed with the fleet key: the job as it was
/// sent (parsed again by the worker that takes it) and the token it came with, which
/// that worker masks in the job's log.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Envelope {
    pub(super) job: Value,
    pub(super) api_token: Option<String>,
}

/// How a submission was taken.
pub(crate) struct Admitted {
    pub(crate) view: JobView,
    /// The same job was already known: no second build.
    pub(crate) attached: bool,
}

impl Cluster {
    pub(crate) async fn submit(
        &self,
        job: &Job,
        raw: Value,
        api_token: Option<&str>,
    ) -> Result<Admitted, ClusterError> {
        if self.stop_taking.is_cancelled() {
            return Err(ClusterError::ShuttingDown);
        }
        self.reachable()?;
        let id = job.id.as_str();
        let entry_key = key(id);
        let canonical = serde_json::to_vec(&raw).expect("a JSON value serializes");
        let fingerprint = self.settings.key.fingerprint(&canonical);
        let retention = self.retention();
        loop {
            let entry = self
                .status
                .entry(entry_key.clone())
                .await
                .map_err(|e| ClusterError::nats("reading the job's status", e))?
                .filter(|e| e.operation == kv::Operation::Put);
            let existing = entry
                .as_ref()
                .and_then(|e| StoredJob::from_bytes(&e.value).map(|doc| (doc, e.revision)));
            let known = existing.as_ref().map(|(doc, _)| Known {
                state: doc.view.state,
                attempt: doc.view.attempt,
                finished_at: doc.view.finished_at,
                same_content: doc.fingerprint == fingerprint,
            });
            let attempt = match (rules::admit(known, retention, now_ms()), &existing) {
                (Admit::Build { attempt }, _) => attempt,
                (Admit::Attach, Some((existing, _))) => {
                    let view = self.with_position(existing).await;
                    return Ok(Admitted {
                        view,
                        attached: true,
                    });
                }
                // (An unknown id is always built, never attached.)
                (Admit::Conflict, _) | (Admit::Attach, None) => {
                    return Err(ClusterError::Conflict(id.to_owned()));
                }
            };
            // Each build of an id is a round of its own; the sealed message names it.
            let round = existing.as_ref().map_or(1, |(doc, _)| doc.round + 1);
            let doc = new_round(job, &fingerprint, round, attempt);
            let written = match existing {
                None => match self.status.create(&entry_key, doc.to_bytes()).await {
                    Ok(revision) => (revision, None),
                    Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => continue,
                    Err(e) => return Err(ClusterError::nats("admitting the job", e)),
                },
                Some((existing, revision)) => match self
                    .status
                    .update(&entry_key, doc.to_bytes(), revision)
                    .await
                {
                    Ok(new_revision) => (new_revision, Some(existing)),
                    Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => continue,
                    Err(e) => return Err(ClusterError::nats("admitting the job", e)),
                },
            };
            let (revision, previous) = written;
            return self
                .enqueue(doc, revision, previous, raw, api_token)
                .await
                .map(|view| Admitted {
                    view,
                    attached: false,
                });
        }
    }

    /// Publishes the sealed job; on failure the status document is put back as it was.
    async fn enqueue(
        &self,
        mut doc: StoredJob,
        revision: u64,
        previous: Option<StoredJob>,
        raw: Value,
        api_token: Option<&str>,
    ) -> Result<JobView, ClusterError> {
        let id = doc.view.id.clone();
        let envelope = Envelope {
            job: raw,
            api_token: api_token.map(str::to_owned),
        };
        let plain = serde_json::to_vec(&envelope).expect("the envelope serializes");
        let sealed = self
            .settings
            .key
            .seal(&self.names.seal_context(&id, doc.round), &plain);
        let mut headers = HeaderMap::new();
        headers.insert(JOB_HEADER, id.as_str());
        headers.insert(ROUND_HEADER, doc.round.to_string().as_str());
        // One message per admission, even if a publish is repeated; the admission time
        // tells apart an id forgotten after its retention and submitted anew.
        headers.insert(
            "Nats-Msg-Id",
            format!("{}.{}.{}", key(&id), doc.round, doc.view.created_at).as_str(),
        );
        let published = match self
            .js
            .publish_with_headers(self.names.jobs_subject(), headers, sealed.into())
            .await
        {
            Ok(ack) => ack.await,
            Err(e) => Err(e),
        };
        let published = published.map_err(|e| (is_full(&e), e.to_string()));
        let published = match published {
            Ok(ack) if ack.duplicate => {
                Err((false, "JetStream took the job for a duplicate".to_owned()))
            }
            other => other,
        };
        match published {
            Ok(ack) => {
                doc.seq = Some(ack.sequence);
                // A worker may have claimed the job already; then its document wins.
                let _ = self.status.update(key(&id), doc.to_bytes(), revision).await;
                self.metrics.events().admitted();
                Ok(self.with_position(&doc).await)
            }
            Err((full, reason)) => {
                let rollback = match previous {
                    Some(previous) => self
                        .status
                        .update(key(&id), previous.to_bytes(), revision)
                        .await
                        .map(drop)
                        .map_err(|e| e.to_string()),
                    None => self
                        .status
                        .delete_expect_revision(key(&id), Some(revision))
                        .await
                        .map_err(|e| e.to_string()),
                };
                if let Err(rollback) = rollback {
                    tracing::warn!(job_id = %id, "could not take back a job that was not queued: {rollback}");
                }
                if full {
                    self.metrics
                        .events()
                        .rejected(crate::domain::ErrorCode::QueueFull);
                    Err(ClusterError::QueueFull)
                } else {
                    Err(ClusterError::nats("queueing the job", reason))
                }
            }
        }
    }

    pub(super) fn retention(&self) -> Retention {
        Retention::new(self.settings.retention)
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
        },
        fingerprint: fingerprint.to_owned(),
        round,
        runs: 0,
        seq: None,
        cancel_requested: false,
    }
}

/// Whether JetStream refused the message because the stream is at its limit
/// (discard-new: "maximum messages exceeded").
fn is_full(err: &async_nats::jetstream::context::PublishError) -> bool {
    use std::error::Error;
    err.source()
        .and_then(|s| s.downcast_ref::<async_nats::jetstream::Error>())
        .is_some_and(|e| {
            e.error_code() == async_nats::jetstream::ErrorCode::STREAM_STORE_FAILED
                || e.to_string().contains("maximum messages")
        })
}
