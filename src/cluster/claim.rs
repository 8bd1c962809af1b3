//! Taking jobs from the fleet's queue and running them here: a job is fetched only
//! when an executor is free, claimed by compare-and-set on its status document, run by
//! the worker's own engine, and mirrored (status, log batches, in-progress acks) until
//! its end is stored and its message acknowledged.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, AckKind, kv};
use futures::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::Instrument;

use super::doc::StoredJob;
use super::names::key;
use super::submit::{Envelope, JOB_HEADER, ROUND_HEADER};
use super::{Cluster, ClusterError};
use crate::domain::{FailureCode, JobFailure, JobState, parse_job};
use crate::jobs::rules::{self, Claim, Delivered};
use crate::jobs::{JobRecord, JobView};
use crate::time::now_ms;

/// How long one fetch waits for a job before asking again.
const FETCH_WAIT: Duration = Duration::from_secs(5);
/// How often a running job's status and log reach NATS.
const MIRROR_EVERY: Duration = Duration::from_millis(500);
/// Status documents of a running job change at most this often (state changes and
/// the end go out at once).
const STATUS_EVERY: Duration = Duration::from_secs(1);
/// A running job's document is written at least this often, changed or not.
const CHECK_EVERY: Duration = Duration::from_secs(5);
/// Lines in one log batch, at most, and about this much text.
const BATCH_LINES: usize = 1000;
const BATCH_BYTES: usize = 1024 * 1024;
/// Pause after NATS failed a step, before trying again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

pub(super) fn start(cluster: &Arc<Cluster>) {
    let free = Arc::new(Semaphore::new(cluster.settings.executors));
    let taker = Arc::clone(cluster);
    cluster.job_tasks.spawn(async move {
        loop {
            let permit = tokio::select! {
                () = taker.stop_taking.cancelled() => break,
                permit = Arc::clone(&free).acquire_owned() => permit.expect("the semaphore is never closed"),
            };
            let message = tokio::select! {
                () = taker.stop_taking.cancelled() => break,
                message = taker.fetch_one() => message,
            };
            match message {
                Ok(Some(message)) => {
                    let cluster = Arc::clone(&taker);
                    taker
                        .job_tasks
                        .spawn(async move { cluster.take(message, permit).await });
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!("taking a job from the fleet's queue: {e}");
                    tokio::time::sleep(RETRY_AFTER).await;
                }
            }
        }
    });
}

/// Where a claimed job stands with respect to its status document.
struct Claimed {
    /// Another worker took the job over while this one was cut off: this run's end
    /// is not stored and its message not acknowledged.
    superseded: bool,
    id: String,
    round: u32,
    attempt: u32,
    revision: u64,
    doc: StoredJob,
}

impl Cluster {
    /// One job from the queue, or none after [`FETCH_WAIT`].
    async fn fetch_one(&self) -> Result<Option<jetstream::Message>, ClusterError> {
        let mut batch = self
            .consumer
            .fetch()
            .max_messages(1)
            .expires(FETCH_WAIT)
            .messages()
            .await
            .map_err(|e| ClusterError::nats("fetching a job", e))?;
        match batch.next().await {
            Some(Ok(message)) => Ok(Some(message)),
            Some(Err(e)) => Err(ClusterError::nats("fetching a job", e)),
            None => Ok(None),
        }
    }

    async fn take(self: Arc<Self>, message: jetstream::Message, permit: OwnedSemaphorePermit) {
        let delivered = message.info().map(|i| i.delivered).unwrap_or(1);
        if delivered > 1 {
            self.metrics.redelivered();
        }
        let envelope = match self.open(&message) {
            Ok(envelope) => envelope,
            Err(reason) => {
                tracing::error!("a queued job cannot be opened: {reason}");
                // Another worker may hold the key (during a rotation).
                let _ = message
                    .ack_with(AckKind::Nak(Some(Duration::from_secs(10))))
                    .await;
                return;
            }
        };
        let (id, round, envelope) = envelope;
        let span = tracing::info_span!("job", job_id = %id, round);
        async move {
            match self.claim(&id, round).await {
                Ok(Some(claim)) => self.run(claim, envelope, message, permit).await,
                Ok(None) => {
                    // Stale (a later round, cancelled, or already finished): drop it.
                    let _ = message.double_ack().await;
                }
                Err(e) => {
                    tracing::warn!("cannot claim the job: {e}");
                    let _ = message.ack_with(AckKind::Nak(Some(RETRY_AFTER))).await;
                }
            }
        }
        .instrument(span)
        .await;
    }

    /// The job id, round and envelope of a queued message.
    fn open(&self, message: &jetstream::Message) -> Result<(String, u32, Envelope), String> {
        let header = |name| {
            message
                .headers
                .as_ref()
                .and_then(|h| h.get(name))
                .map(|v| v.as_str().to_owned())
        };
        let id = header(JOB_HEADER).ok_or("the message names no job")?;
        let round: u32 = header(ROUND_HEADER)
            .and_then(|r| r.parse().ok())
            .ok_or("the message names no round")?;
        let plain = self
            .settings
            .key
            .open(&self.names.seal_context(&id, round), &message.payload)
            .map_err(|e| e.to_string())?;
        let envelope: Envelope = serde_json::from_slice(&plain)
            .map_err(|e| format!("the sealed job is not JSON: {e}"))?;
        Ok((id, round, envelope))
    }

    /// Marks the job as running here. `None` when there is nothing to run: the round
    /// is stale, the job was cancelled or finished, or its attempts are used up (then
    /// it ends as `worker_lost`).
    async fn claim(&self, id: &str, round: u32) -> Result<Option<Claimed>, ClusterError> {
        loop {
            let Some((mut doc, revision)) = self.load(id).await? else {
                return Ok(None);
            };
            let delivered = Delivered {
                state: doc.view.state,
                current_round: doc.round == round,
                attempt: doc.view.attempt,
                runs: doc.runs,
            };
            let attempt = match rules::claim(delivered, self.settings.max_attempts) {
                Claim::Stale => return Ok(None),
                Claim::WorkerLost { runs } => {
                    doc.fail(&JobFailure::new(
                        FailureCode::WorkerLost,
                        format!(
                            "the job's worker was lost on each of its {runs} attempts (COREBUILD_MAX_ATTEMPTS)"
                        ),
                    ));
                    match self.status.update(key(id), doc.to_bytes(), revision).await {
                        Ok(_) => return Ok(None),
                        Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => continue,
                        Err(e) => return Err(ClusterError::nats("ending the job", e)),
                    }
                }
                Claim::Run { attempt, lost } => {
                    if lost {
                        tracing::warn!(
                            lost_worker = doc.view.worker_id.as_deref().unwrap_or("?"),
                            attempt = doc.view.attempt,
                            "the job's worker was lost"
                        );
                    }
                    attempt
                }
            };
            let now = now_ms();
            doc.runs += 1;
            doc.view.attempt = attempt;
            doc.view.state = JobState::Running;
            doc.view.worker_id = Some(self.settings.worker_id.clone());
            doc.view.started_at = Some(now);
            doc.view.last_activity_at = now;
            doc.view.progress = None;
            doc.view.log_lines = 0;
            doc.view.queue_position = None;
            match self.status.update(key(id), doc.to_bytes(), revision).await {
                Ok(revision) => {
                    // The new run's log starts afresh, as a new attempt's does.
                    self.purge_log(id).await;
                    self.metrics.started(&self.settings.worker_id);
                    return Ok(Some(Claimed {
                        superseded: false,
                        id: id.to_owned(),
                        round,
                        attempt,
                        revision,
                        doc,
                    }));
                }
                Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => continue,
                Err(e) => return Err(ClusterError::nats("claiming the job", e)),
            }
        }
    }

    /// Runs a claimed job in the engine and mirrors it until its end is stored.
    async fn run(
        &self,
        mut claim: Claimed,
        envelope: Envelope,
        message: jetstream::Message,
        permit: OwnedSemaphorePermit,
    ) {
        let job = match parse_job(envelope.job) {
            Ok(job) => job,
            Err(e) => {
                let failure = JobFailure::new(
                    FailureCode::Internal,
                    format!("the queued job does not parse on this worker: {e}"),
                );
                self.finish(&mut claim, &failure).await;
                let _ = message.double_ack().await;
                return;
            }
        };
        let record =
            match self
                .engine
                .run_claimed(job, claim.attempt, envelope.api_token.as_deref())
            {
                Ok(record) => record,
                Err(e) => {
                    tracing::info!("not running the job here: {e}");
                    self.hand_back(&mut claim, &message).await;
                    return;
                }
            };
        self.active.insert(claim.id.clone(), Arc::clone(&record));
        let mut published = 0;
        self.mirror(&mut claim, &record, &message, &mut published)
            .await;
        let outcome = record.wait().await;
        let handed_back = record.was_cut_off()
            || matches!(outcome.as_ref(), Err(f) if f.code == FailureCode::ShuttingDown);
        if claim.superseded {
            tracing::warn!("this run was superseded; its end is not stored");
        } else if handed_back {
            self.hand_back(&mut claim, &message).await;
        } else {
            self.flush_log(&claim.id, &record, &mut published).await;
            let view = self.view_of(&claim, &record);
            if self.store_end(&mut claim, view).await {
                self.ack(&message).await;
            }
        }
        self.active.remove(&claim.id);
        drop(permit);
    }

    /// Until the job ends: its log and status into NATS, in-progress acks so the
    /// fleet knows this worker still holds it, and cancel marks out of it.
    async fn mirror(
        &self,
        claim: &mut Claimed,
        record: &Arc<JobRecord>,
        message: &jetstream::Message,
        published: &mut u64,
    ) {
        let mut tick = tokio::time::interval(MIRROR_EVERY);
        let progress_every = self.settings.ack_wait / 3;
        let (mut last_ack, mut last_put) = (Instant::now(), Instant::now());
        let mut last_state = JobState::Running;
        loop {
            tokio::select! {
                _ = record.wait() => return,
                _ = tick.tick() => {}
            }
            if last_ack.elapsed() >= progress_every
                && message.ack_with(AckKind::Progress).await.is_ok()
            {
                last_ack = Instant::now();
            }
            self.flush_log(&claim.id, record, published).await;
            let view = self.view_of(claim, record);
            let changed = view.state != last_state;
            let due = last_put.elapsed() >= STATUS_EVERY;
            // Even a job whose status does not change is written now and then: the
            // write is what finds a cancel mark (should its announcement be lost) or
            // a takeover by another worker.
            let check = last_put.elapsed() >= CHECK_EVERY;
            if !check && (view == claim.doc.view || !(changed || due)) {
                continue;
            }
            let mut doc = claim.doc.clone();
            doc.view = view;
            match self
                .status
                .update(key(&claim.id), doc.to_bytes(), claim.revision)
                .await
            {
                Ok(revision) => {
                    claim.revision = revision;
                    claim.doc = doc;
                    last_put = Instant::now();
                    last_state = claim.doc.view.state;
                }
                Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                    self.reread(claim, record).await;
                }
                Err(e) => tracing::debug!("status not stored, retrying: {e}"),
            }
        }
    }

    /// Someone else changed the document: a cancel mark, or another worker took the
    /// job over (this one counted as lost).
    async fn reread(&self, claim: &mut Claimed, record: &JobRecord) {
        let Ok(Some((doc, revision))) = self.load(&claim.id).await else {
            return;
        };
        if revision <= claim.revision {
            // Older than what this worker wrote: not the change that refused the
            // update. Try again on the next tick.
            return;
        }
        if !self.still_ours(claim, &doc) {
            tracing::warn!("another worker took the job over; stopping this run");
            claim.superseded = true;
            record.cancel_for("another worker took the job over");
            return;
        }
        if doc.cancel_requested && !record.cancel.is_cancelled() {
            tracing::info!("the job was cancelled from the fleet");
            record.cancel_for("the job was cancelled");
        }
        claim.doc.cancel_requested = doc.cancel_requested;
        claim.revision = revision;
    }

    fn still_ours(&self, claim: &Claimed, doc: &StoredJob) -> bool {
        doc.round == claim.round
            && doc.view.attempt == claim.attempt
            && doc.view.worker_id.as_deref() == Some(self.settings.worker_id.as_str())
    }

    /// The record's status as the fleet sees it.
    fn view_of(&self, claim: &Claimed, record: &JobRecord) -> JobView {
        let mut view = JobView::of(record, None);
        view.created_at = claim.doc.view.created_at;
        view.worker_id = Some(self.settings.worker_id.clone());
        view
    }

    /// Publishes the lines logged since `published`.
    async fn flush_log(&self, id: &str, record: &JobRecord, published: &mut u64) {
        loop {
            let slice = record.log.slice(*published, BATCH_LINES, BATCH_BYTES);
            if slice.lines.is_empty() {
                return;
            }
            if let Err(e) = self.publish_lines(id, &slice.lines).await {
                tracing::debug!("log lines not stored, retrying: {e}");
                if self.abandon.is_cancelled() {
                    return;
                }
                tokio::time::sleep(RETRY_AFTER).await;
                continue;
            }
            *published = slice.next_seq;
        }
    }

    /// Stores the job's final view, retrying while NATS is out of reach. False when
    /// the job is no longer this worker's to end.
    async fn store_end(&self, claim: &mut Claimed, view: JobView) -> bool {
        loop {
            let mut doc = claim.doc.clone();
            doc.view = view.clone();
            doc.cancel_requested = false;
            match self
                .status
                .update(key(&claim.id), doc.to_bytes(), claim.revision)
                .await
            {
                Ok(_) => return true,
                Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                    match self.load(&claim.id).await {
                        Ok(Some((_, revision))) if revision <= claim.revision => {
                            tokio::time::sleep(RETRY_AFTER).await;
                        }
                        Ok(Some((current, revision))) if self.still_ours(claim, &current) => {
                            claim.doc = current;
                            claim.revision = revision;
                        }
                        Ok(_) => {
                            claim.superseded = true;
                            tracing::warn!(
                                "the job was taken over while this worker was cut off; its result here is dropped"
                            );
                            return false;
                        }
                        Err(e) => {
                            tracing::debug!("reading the job back: {e}");
                            tokio::time::sleep(RETRY_AFTER).await;
                        }
                    }
                }
                Err(e) => {
                    if self.abandon.is_cancelled() {
                        tracing::warn!("the job's end was not stored before exit: {e}");
                        return false;
                    }
                    tracing::debug!("the job's end not stored yet: {e}");
                    tokio::time::sleep(RETRY_AFTER).await;
                }
            }
        }
    }

    /// Ends a job that never ran here (its message is acknowledged).
    async fn finish(&self, claim: &mut Claimed, failure: &JobFailure) {
        let mut doc = claim.doc.clone();
        doc.fail(failure);
        self.store_end(claim, doc.view).await;
    }

    /// Puts the job back in the queue for another worker: a drain cut it off.
    async fn hand_back(&self, claim: &mut Claimed, message: &jetstream::Message) {
        let mut doc = claim.doc.clone();
        doc.requeue();
        match self
            .status
            .update(key(&claim.id), doc.to_bytes(), claim.revision)
            .await
        {
            Ok(_) => tracing::info!("handed the job back to the fleet"),
            Err(e) => {
                tracing::warn!("could not mark the job queued ({e}); it returns after the ack wait")
            }
        }
        self.metrics.handed_back();
        let _ = message.ack_with(AckKind::Nak(None)).await;
    }

    /// Acknowledges the job's message: the fleet is done with it.
    async fn ack(&self, message: &jetstream::Message) {
        for _ in 0..5 {
            match message.double_ack().await {
                Ok(()) => return,
                Err(e) => {
                    tracing::debug!("ack not confirmed: {e}");
                    tokio::time::sleep(RETRY_AFTER).await;
                }
            }
        }
        tracing::warn!(
            "the job's ack was not confirmed; if it comes back, its finished status ends it"
        );
    }
}
