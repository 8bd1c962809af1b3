//! The fleet's job queue: sealed jobs on a work-queue stream, one subject and one
//! shared pull consumer per job class (architecture and image kind), so a job is taken
//! only by a worker that builds it. A message says which job and round it is; its
//! body (the job as sent and the token it came with) opens only with the fleet key.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, AckKind, consumer, stream};
use bytes::Bytes;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::ClusterError;
use super::doc::StoredJob;
use super::names::{Names, key};
use super::seal::{FleetKey, SealError};
use crate::domain::{BuildClass, JobState};
use crate::jobs::JobView;

/// Headers of a queued job's message: which job and round it is, needed to open it.
const JOB_HEADER: &str = "Corebuild-Job";
const ROUND_HEADER: &str = "Corebuild-Round";

/// How long one look at a class's consumer may take.
const FETCH_LIMIT: Duration = Duration::from_secs(5);
/// How long a look that gave up still listens for a job to hand back.
const LATE_LIMIT: Duration = Duration::from_secs(60);

/// What the queue's message carries, sealed with the fleet key: the job as it was
/// sent (parsed again by the worker that takes it), the token it came with, which
/// that worker masks in the job's log, and the id of the request that submitted it
/// (absent in messages of workers before request ids).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Envelope {
    pub(super) job: Value,
    pub(super) api_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) request_id: Option<String>,
}

/// A queued job's message, opened.
pub(super) struct Opened {
    pub(super) id: String,
    pub(super) round: u32,
    pub(super) envelope: Envelope,
}

/// Why a queued message cannot be opened here.
#[derive(Debug, thiserror::Error)]
pub(super) enum OpenError {
    #[error("the message names no job")]
    NoJob,
    #[error("the message names no round")]
    NoRound,
    #[error(transparent)]
    Seal(#[from] SealError),
    #[error("the sealed job is not JSON: {0}")]
    NotJson(serde_json::Error),
}

/// Why a job was not queued.
pub(super) enum PublishError {
    /// The stream is at its capacity.
    Full,
    Failed(String),
}

pub(super) struct FleetQueue {
    js: jetstream::Context,
    jobs: stream::Stream,
    /// Each class's consumer.
    consumers: Vec<(BuildClass, consumer::PullConsumer)>,
    /// The consumer of jobs queued before classes, which every worker drains.
    unrouted: consumer::PullConsumer,
    names: Names,
    key: Arc<FleetKey>,
}

impl FleetQueue {
    pub(super) fn new(
        js: jetstream::Context,
        jobs: stream::Stream,
        consumers: Vec<(BuildClass, consumer::PullConsumer)>,
        unrouted: consumer::PullConsumer,
        names: Names,
        key: Arc<FleetKey>,
    ) -> Self {
        Self {
            js,
            jobs,
            consumers,
            unrouted,
            names,
            key,
        }
    }

    fn consumer(&self, class: BuildClass) -> Option<&consumer::PullConsumer> {
        self.consumers
            .iter()
            .find(|(c, _)| *c == class)
            .map(|(_, consumer)| consumer)
    }

    /// Seals and publishes the round `doc` stands for; returns its stream sequence.
    pub(super) async fn publish(
        &self,
        doc: &StoredJob,
        envelope: &Envelope,
    ) -> Result<u64, PublishError> {
        let id = &doc.view.id;
        let plain = serde_json::to_vec(envelope).expect("the envelope serializes");
        let sealed = self
            .key
            .seal(&self.names.seal_context(id, doc.round), &plain);
        let mut headers = HeaderMap::new();
        headers.insert(JOB_HEADER, id.as_str());
        headers.insert(ROUND_HEADER, doc.round.to_string().as_str());
        // One message per admission, even if a publish is repeated; the admission time
        // tells apart an id forgotten after its retention and submitted anew.
        headers.insert(
            "Nats-Msg-Id",
            format!("{}.{}.{}", key(id), doc.round, doc.view.created_at).as_str(),
        );
        let class = doc.class();
        let published = match self
            .js
            .publish_with_headers(self.names.jobs_subject(class), headers, sealed.into())
            .await
        {
            Ok(ack) => ack.await,
            Err(e) => Err(e),
        };
        match published {
            Ok(ack) if ack.duplicate => Err(PublishError::Failed(
                "JetStream took the job for a duplicate".to_owned(),
            )),
            Ok(ack) => Ok(ack.sequence),
            Err(e) if is_full(&e) => Err(PublishError::Full),
            Err(e) => Err(PublishError::Failed(e.to_string())),
        }
    }

    /// Rings the doorbell of the class `doc` is of: its idle workers look at once
    /// rather than at their next poll. Rung once the job is stored and its document
    /// names its sequence, so whoever looks finds the job and claims the document as
    /// admission left it.
    pub(super) async fn ring(&self, doc: &StoredJob) {
        let doorbell = self.names.doorbell_subject(doc.class());
        let _ = self.js.client().publish(doorbell, Bytes::new()).await;
    }

    /// Whether the queue still holds `message` itself at its sequence, and not another
    /// job's message in a queue made again since.
    pub(super) async fn still_holds(
        &self,
        message: &jetstream::Message,
    ) -> Result<bool, ClusterError> {
        let (Ok(info), Ok(label)) = (message.info(), Self::label(message)) else {
            return Ok(false);
        };
        match self.jobs.get_raw_message(info.stream_sequence).await {
            Ok(stored) => Ok(Self::label_of(&stored.headers).is_ok_and(|l| l == label)),
            Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => Ok(false),
            Err(e) => Err(ClusterError::nats("looking for a job's message", e)),
        }
    }

    /// Whether the message of the round `doc` stands for is still in the queue.
    pub(super) async fn holds(&self, doc: &StoredJob) -> Result<bool, ClusterError> {
        let Some(seq) = doc.seq else {
            return Ok(false);
        };
        match self.jobs.get_raw_message(seq).await {
            Ok(message) => Ok(Self::label_of(&message.headers)
                .is_ok_and(|(id, round)| id == doc.view.id && round == doc.round)),
            Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => Ok(false),
            Err(e) => Err(ClusterError::nats("looking for a job's message", e)),
        }
    }

    /// One job of the first class of `classes` that has one, starting at `start` and
    /// going round, then of the unrouted subject; none at once when all are empty.
    /// Returns the index of the class it came from. A class whose consumer does not
    /// answer (its leader moving) does not keep the others from being looked at; a job
    /// that reaches such a look after it gave up is handed back (`late`).
    pub(super) async fn fetch_one(
        &self,
        classes: &[BuildClass],
        start: usize,
        late: (&TaskTracker, &CancellationToken),
    ) -> Result<Option<(usize, jetstream::Message)>, ClusterError> {
        let n = classes.len();
        let order = (0..n).map(|i| (start + i) % n);
        let consumers = order
            .filter_map(|i| self.consumer(classes[i]).map(|c| (i, c)))
            .chain([(start, &self.unrouted)]);
        let mut failed = None;
        for (i, consumer) in consumers {
            match Self::fetch_from(consumer, late).await {
                Ok(Some(message)) => return Ok(Some((i, message))),
                Ok(None) => {}
                Err(e) => failed = Some(e),
            }
        }
        failed.map_or(Ok(None), Err)
    }

    /// One message of `consumer`, or none at once (`no_wait`). The request has no
    /// expiry (with one, the server would hold it when nothing is queued), so the
    /// client bounds it; a message the server hands over after that is given back at
    /// once by a task on `late`, rather than waiting out the ack wait unseen.
    async fn fetch_from(
        consumer: &consumer::PullConsumer,
        (late, stop): (&TaskTracker, &CancellationToken),
    ) -> Result<Option<jetstream::Message>, ClusterError> {
        let failed = |e: &dyn std::fmt::Display| ClusterError::nats("fetching a job", e);
        let mut batch =
            tokio::time::timeout(FETCH_LIMIT, consumer.fetch().max_messages(1).messages())
                .await
                .map_err(|_| failed(&"no answer in time"))?
                .map_err(|e| failed(&e))?;
        match tokio::time::timeout(FETCH_LIMIT, batch.next()).await {
            Ok(Some(Ok(message))) => Ok(Some(message)),
            Ok(Some(Err(e))) => Err(failed(&e)),
            Ok(None) => Ok(None),
            Err(_) => {
                let stop = stop.clone();
                late.spawn(async move {
                    let arrived = tokio::select! {
                        () = stop.cancelled() => return,
                        arrived = tokio::time::timeout(LATE_LIMIT, batch.next()) => arrived,
                    };
                    if let Ok(Some(Ok(message))) = arrived {
                        tracing::debug!("a job arrived after its fetch gave up; handing it back");
                        let _ = message.ack_with(AckKind::Nak(None)).await;
                    }
                });
                Err(failed(&"no answer in time"))
            }
        }
    }

    /// The job id and round a queued message names (in clear, in its headers).
    pub(super) fn label(message: &jetstream::Message) -> Result<(String, u32), OpenError> {
        match &message.headers {
            Some(headers) => Self::label_of(headers),
            None => Err(OpenError::NoJob),
        }
    }

    /// The job id and round a queued message's headers name.
    pub(super) fn label_of(headers: &HeaderMap) -> Result<(String, u32), OpenError> {
        let header = |name| headers.get(name).map(|v| v.as_str().to_owned());
        let id = header(JOB_HEADER).ok_or(OpenError::NoJob)?;
        let round: u32 = header(ROUND_HEADER)
            .and_then(|r| r.parse().ok())
            .ok_or(OpenError::NoRound)?;
        Ok((id, round))
    }

    /// The job id, round and envelope of a queued message.
    pub(super) fn open(&self, message: &jetstream::Message) -> Result<Opened, OpenError> {
        let (id, round) = Self::label(message)?;
        let plain = self
            .key
            .open(&self.names.seal_context(&id, round), &message.payload)?;
        let envelope: Envelope = serde_json::from_slice(&plain).map_err(OpenError::NotJson)?;
        Ok(Opened {
            id,
            round,
            envelope,
        })
    }

    /// Takes a cancelled job's message out, freeing its place.
    pub(super) async fn remove(&self, seq: u64) {
        let _ = self.jobs.delete_message(seq).await;
    }

    /// How far the class's consumer has got: the stream sequence of the last job it
    /// handed out, and how many of its jobs no worker has taken yet.
    async fn progress(&self, class: BuildClass) -> Option<Progress> {
        let info = self.consumer(class)?.get_info().await.ok()?;
        Some(Progress {
            delivered: info.delivered.stream_sequence,
            pending: info.num_pending,
        })
    }

    /// The jobs of each class that no worker has taken yet: the backlog an autoscaler
    /// scales a class's workers by.
    pub(super) async fn backlog(&self) -> Vec<(BuildClass, u64)> {
        let mut backlog = Vec::new();
        for (class, _) in &self.consumers {
            if let Some(progress) = self.progress(*class).await {
                backlog.push((*class, progress.pending));
            }
        }
        backlog
    }

    /// The job's view with its place in the queue, while it waits.
    pub(super) async fn with_position(&self, doc: &StoredJob) -> JobView {
        let progress = if doc.view.state == JobState::Queued {
            self.progress(doc.class()).await
        } else {
            None
        };
        position(doc, progress)
    }

    /// Every view with its place in the queue (one look at each class's consumer).
    pub(super) async fn with_positions<'a>(
        &self,
        docs: impl Iterator<Item = &'a StoredJob>,
    ) -> Vec<JobView> {
        let mut progress = HashMap::new();
        for (class, _) in &self.consumers {
            progress.insert(*class, self.progress(*class).await);
        }
        docs.map(|doc| position(doc, progress.get(&doc.class()).copied().flatten()))
            .collect()
    }
}

/// A class consumer's progress.
#[derive(Clone, Copy)]
struct Progress {
    delivered: u64,
    pending: u64,
}

/// The view with `queuePosition` from its class consumer's progress: the jobs
/// published before this one and not handed out yet, at most the class's pending jobs
/// less this one (jobs of other classes published in between are not counted then).
fn position(doc: &StoredJob, progress: Option<Progress>) -> JobView {
    let mut view = doc.view.clone();
    view.queue_position = match (view.state, doc.seq, progress) {
        (JobState::Queued, Some(seq), Some(p)) => {
            let before = seq
                .saturating_sub(p.delivered + 1)
                .min(p.pending.saturating_sub(1));
            Some(usize::try_from(before).unwrap_or(usize::MAX))
        }
        _ => None,
    };
    view
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
