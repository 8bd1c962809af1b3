//! One claimed job's run on this worker: the engine runs it, and this mirrors it into
//! the fleet (status at each change and every few seconds, log batches, in-progress
//! acks) until its end is stored and its message acknowledged, or hands it back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, AckKind};
use tokio::sync::OwnedSemaphorePermit;

use super::ClusterError;
use super::doc::StoredJob;
use super::hold::Hold;
use super::log_index::LogIndex;
use super::queue::Envelope;
use super::running::{Claimed, Mirror, RETRY_AFTER};
use super::store::WriteError;
use crate::domain::{FailureCode, JobFailure, JobState, parse_job};
use crate::jobs::{FleetRun, JobRecord, JobView};

/// How often a running job's status and log reach NATS.
const MIRROR_EVERY: Duration = Duration::from_millis(500);
/// Status documents of a running job change at most this often (state changes and
/// the end go out at once).
const STATUS_EVERY: Duration = Duration::from_secs(1);
/// A running job's document is written at least this often, changed or not.
const CHECK_EVERY: Duration = Duration::from_secs(5);
/// A run that starts this soon after its claim does not confirm its hold first.
const CONFIRM_AFTER: Duration = Duration::from_millis(500);
/// Lines in one log batch, at most, and about this much text: small enough that a
/// page reading one batch for a few lines costs little (`log_page`).
const BATCH_LINES: usize = 200;
const BATCH_BYTES: usize = 1024 * 1024;

pub(super) struct Run {
    mirror: Arc<Mirror>,
    claim: Claimed,
    message: jetstream::Message,
    /// The job's log lines before this seq are in NATS.
    published: u64,
    /// Where its batches are, for readers' pages.
    index: LogIndex,
}

impl Run {
    pub(super) fn new(mirror: &Arc<Mirror>, claim: Claimed, message: jetstream::Message) -> Self {
        Self {
            mirror: Arc::clone(mirror),
            published: claim.run.log_from,
            index: LogIndex::new(mirror.logs.keep()),
            claim,
            message,
        }
    }

    /// Runs the job in the engine and mirrors it until its end is stored.
    pub(super) async fn run(mut self, envelope: Envelope, permit: OwnedSemaphorePermit) {
        let job = match parse_job(envelope.job) {
            Ok(job) => job,
            Err(e) => {
                let failure = JobFailure::new(
                    FailureCode::Internal,
                    format!("the queued job does not parse on this worker: {e}"),
                );
                let mut doc = self.claim.doc.clone();
                doc.fail(&failure);
                self.store_end(doc.view).await;
                let _ = self.message.double_ack().await;
                return;
            }
        };
        // Checked again right before anything runs: this worker may have been stopped
        // since the claim, and another may hold the job by now. Not within a moment of
        // the claim: no other run can take the job over before this one's lease (at
        // least twice the ack wait) has run out, and a stopped process finds the
        // moment long gone on its monotonic clock.
        let hold = Arc::new(self.hold());
        if self.claim.at.elapsed() >= CONFIRM_AFTER
            && let Err(reason) = hold.confirm().await
        {
            tracing::warn!("not running the job: {reason}");
            return;
        }
        let engine = &self.mirror.engine;
        let run = FleetRun {
            fence: hold,
            log_from: self.claim.run.log_from,
            queued_since: (self.claim.doc.runs == 1).then_some(self.claim.doc.view.created_at),
            request_id: envelope.request_id.clone(),
        };
        let token = envelope.api_token.as_deref();
        let record = match engine.run_claimed(job, self.claim.attempt, token, run) {
            Ok(record) => record,
            Err(e) => {
                tracing::info!("not running the job here: {e}");
                self.hand_back().await;
                return;
            }
        };
        tracing::debug!("handed the job to the engine");
        let id = self.claim.id.clone();
        self.mirror.active.insert(id.clone(), Arc::clone(&record));
        // The fleet view shows the job on this worker at once.
        tokio::task::yield_now().await;
        self.mirror.leases.touch();
        self.mirror(&record).await;
        let outcome = record.wait().await;
        // The executor is free once the job has ended here; storing its end and the
        // ack (which can take long, e.g. when the queue was lost) need none.
        drop(permit);
        let handed_back = record.was_cut_off()
            || matches!(outcome.as_ref(), Err(f) if f.code == FailureCode::ShuttingDown);
        if self.claim.superseded {
            tracing::warn!("this run was superseded; its end is not stored");
        } else if handed_back {
            self.hand_back().await;
        } else {
            self.flush_log(&record).await;
            let view = self.view_of(&record);
            crate::faults::point("before_store_end");
            if self.store_end(view).await {
                self.ack().await;
            }
        }
        self.mirror.active.remove(&id);
    }

    /// Until the job ends: its log and status into NATS, in-progress acks so the
    /// fleet knows this worker still holds it, and cancel marks out of it.
    async fn mirror(&mut self, record: &Arc<JobRecord>) {
        let mut tick = tokio::time::interval(MIRROR_EVERY);
        let progress_every = self.mirror.ack_wait / 3;
        let (mut last_ack, mut last_put) = (Instant::now(), Instant::now());
        let mut last_state = JobState::Running;
        loop {
            tokio::select! {
                _ = record.wait() => return,
                _ = tick.tick() => {}
            }
            if self.claim.superseded {
                // Told once; nothing of this run reaches the fleet any more.
                continue;
            }
            if last_ack.elapsed() >= progress_every
                && self.message.ack_with(AckKind::Progress).await.is_ok()
            {
                last_ack = Instant::now();
            }
            self.flush_log(record).await;
            let view = self.view_of(record);
            let changed = view.state != last_state;
            let due = last_put.elapsed() >= STATUS_EVERY;
            // Even a job whose status does not change is written now and then: the
            // write is what finds a cancel mark (should its announcement be lost) or
            // a takeover by another worker.
            let check = last_put.elapsed() >= CHECK_EVERY;
            if !check && (view == self.claim.doc.view || !(changed || due)) {
                continue;
            }
            let doc = self.doc_with(view);
            match self
                .mirror
                .store
                .update(&self.claim.id, &doc, self.claim.revision)
                .await
            {
                Ok(revision) => {
                    self.claim.revision = revision;
                    self.claim.doc = doc;
                    last_put = Instant::now();
                    last_state = self.claim.doc.view.state;
                }
                Err(WriteError::Changed) => self.reread(record).await,
                Err(WriteError::Unavailable(e)) => {
                    tracing::debug!("status not stored, retrying: {e}");
                }
            }
        }
    }

    /// Someone else changed the document: a cancel mark, or another worker took the
    /// job over (this one counted as lost).
    async fn reread(&mut self, record: &JobRecord) {
        let Ok(Some((doc, revision))) = self.newer().await else {
            return;
        };
        if revision <= self.claim.revision {
            // Older than what this worker wrote: not the change that refused the
            // update. Try again on the next tick.
            return;
        }
        if !self.still_ours(&doc) {
            tracing::warn!("another worker took the job over; stopping this run");
            self.claim.superseded = true;
            record.cancel_for("another worker took the job over");
            return;
        }
        if doc.cancel_requested && !record.cancel.is_cancelled() {
            tracing::info!("the job was cancelled from the fleet");
            record.cancel_for("the job was cancelled");
        }
        self.claim.doc.cancel_requested = doc.cancel_requested;
        self.claim.revision = revision;
    }

    /// The document after a compare-and-set at the run's revision failed. Most often
    /// this worker wrote last itself (its upload's fence confirmed the hold): then its
    /// copy has the newer revision and no read is needed. Whatever a newer revision
    /// says is safe to act on: one that no longer names this run never will again, and
    /// one that does is checked by the next compare-and-set.
    async fn newer(&self) -> Result<Option<(StoredJob, u64)>, ClusterError> {
        match self.mirror.store.cached(&self.claim.id) {
            Some(copy) if copy.1 > self.claim.revision => Ok(Some(copy)),
            _ => self.mirror.store.load(&self.claim.id).await,
        }
    }

    /// Whether this run still holds the job: the document names its claim and the
    /// job has not ended (a final state is final, whoever wrote it).
    fn still_ours(&self, doc: &StoredJob) -> bool {
        doc.round == self.claim.round && doc.held_by(&self.claim.run.id)
    }

    fn hold(&self) -> Hold {
        Hold {
            store: Arc::clone(&self.mirror.store),
            id: self.claim.id.clone(),
            run: self.claim.run.id.clone(),
            abandon: self.mirror.abandon.clone(),
        }
    }

    /// The record's status as the fleet sees it.
    fn view_of(&self, record: &JobRecord) -> JobView {
        let mut view = JobView::of(record, None);
        view.created_at = self.claim.doc.view.created_at;
        view.worker_id = Some(self.mirror.worker_id.clone());
        view
    }

    /// The claimed document with `view` and where the log's batches are.
    fn doc_with(&self, view: JobView) -> StoredJob {
        let mut doc = self.claim.doc.clone();
        doc.view = view;
        if let Some(run) = &mut doc.run {
            run.log_index = self.index.entries().to_vec();
        }
        doc
    }

    /// Publishes the lines logged since the last batch.
    async fn flush_log(&mut self, record: &JobRecord) {
        loop {
            if self.claim.superseded {
                return;
            }
            let slice = record.log.slice(self.published, BATCH_LINES, BATCH_BYTES);
            if slice.lines.is_empty() {
                return;
            }
            let stored = self
                .mirror
                .logs
                .publish(&self.claim.id, &self.claim.run.id, &slice.lines)
                .await;
            match stored {
                Ok(stream_seq) => {
                    let first = slice.lines.first().map_or(self.published, |l| l.seq);
                    self.index.record(first, stream_seq, slice.next_seq);
                }
                Err(e) => {
                    tracing::debug!("log lines not stored, retrying: {e}");
                    if self.mirror.abandon.is_cancelled() {
                        return;
                    }
                    tokio::time::sleep(RETRY_AFTER).await;
                    continue;
                }
            }
            self.published = slice.next_seq;
        }
    }

    /// Stores the job's final view, retrying while NATS is out of reach. False when
    /// the job is no longer this worker's to end.
    async fn store_end(&mut self, view: JobView) -> bool {
        let store = Arc::clone(&self.mirror.store);
        loop {
            let mut doc = self.doc_with(view.clone());
            doc.cancel_requested = false;
            match store
                .update(&self.claim.id, &doc, self.claim.revision)
                .await
            {
                Ok(_) => return true,
                Err(WriteError::Changed) => match self.newer().await {
                    Ok(Some((_, revision))) if revision <= self.claim.revision => {
                        tokio::time::sleep(RETRY_AFTER).await;
                    }
                    Ok(Some((current, revision))) if self.still_ours(&current) => {
                        self.claim.doc = current;
                        self.claim.revision = revision;
                    }
                    Ok(_) => {
                        self.claim.superseded = true;
                        tracing::warn!(
                            "the job was taken over while this worker was cut off; its result here is dropped"
                        );
                        return false;
                    }
                    Err(e) => {
                        tracing::debug!("reading the job back: {e}");
                        tokio::time::sleep(RETRY_AFTER).await;
                    }
                },
                Err(WriteError::Unavailable(e)) => {
                    if self.mirror.abandon.is_cancelled() {
                        tracing::warn!("the job's end was not stored before exit: {e}");
                        return false;
                    }
                    tracing::debug!("the job's end not stored yet: {e}");
                    tokio::time::sleep(RETRY_AFTER).await;
                }
            }
        }
    }

    /// Puts the job back in the queue for another worker: a drain cut it off.
    async fn hand_back(&self) {
        let mut doc = self.claim.doc.clone();
        doc.requeue();
        match self
            .mirror
            .store
            .update(&self.claim.id, &doc, self.claim.revision)
            .await
        {
            Ok(_) => tracing::info!("handed the job back to the fleet"),
            Err(e) => {
                tracing::warn!("could not mark the job queued ({e}); it returns after the ack wait")
            }
        }
        self.mirror.metrics.handed_back();
        if self.message_is_queued().await {
            let _ = self.message.ack_with(AckKind::Nak(None)).await;
        }
    }

    /// Whether the run's message is still in the queue. An ack names only the stream,
    /// consumer and sequence: after the queue was lost and made again, the same
    /// sequence is another job's message, which an ack of this run's would remove.
    async fn message_is_queued(&self) -> bool {
        match self.mirror.queue.still_holds(&self.message).await {
            Ok(true) => true,
            Ok(false) => {
                tracing::warn!(
                    "the job's message is no longer in the queue (the queue was lost); nothing to acknowledge"
                );
                false
            }
            // Unknown: acknowledging a message that is there is what matters most.
            Err(_) => true,
        }
    }

    /// Acknowledges the job's message: the fleet is done with it.
    async fn ack(&self) {
        if !self.message_is_queued().await {
            return;
        }
        for _ in 0..5 {
            match self.message.double_ack().await {
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
