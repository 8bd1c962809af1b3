//! Taking jobs from the fleet's queue: a job is fetched only while an executor is
//! free, then claimed by compare-and-set on its status document as
//! `jobs::rules::claim` decides, and handed to a [`Run`] that runs and mirrors it.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::ClusterError;
use super::mirror::Run;
use super::queue::{FleetQueue, OpenError};
use super::running::{Claimed, Mirror, RETRY_AFTER};
use crate::domain::{FailureCode, JobFailure};
use crate::jobs::rules::{self, Claim, Delivered};
use crate::time::now_ms;

/// What taking the fleet's jobs on this worker needs.
pub(super) struct Taker {
    pub(super) queue: Arc<FleetQueue>,
    /// Runs what is taken; its store, logs and metrics serve the claim too.
    pub(super) mirror: Arc<Mirror>,
    pub(super) max_attempts: u32,
    pub(super) executors: usize,
    /// Stops taking jobs.
    pub(super) stop_taking: CancellationToken,
    /// The taking loop and every job's run.
    pub(super) tasks: TaskTracker,
}

impl Taker {
    /// Takes jobs until `stop_taking`: one fetch per free executor.
    pub(super) fn start(self: &Arc<Self>) {
        let free = Arc::new(Semaphore::new(self.executors));
        let taker = Arc::clone(self);
        self.tasks.spawn(async move {
            loop {
                let permit = tokio::select! {
                    () = taker.stop_taking.cancelled() => break,
                    permit = Arc::clone(&free).acquire_owned() => permit.expect("the semaphore is never closed"),
                };
                let message = tokio::select! {
                    () = taker.stop_taking.cancelled() => break,
                    message = taker.queue.fetch_one() => message,
                };
                match message {
                    Ok(Some(message)) => {
                        let job = Arc::clone(&taker);
                        taker
                            .tasks
                            .spawn(async move { job.take(message, permit).await });
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

    async fn take(self: Arc<Self>, message: jetstream::Message, permit: OwnedSemaphorePermit) {
        let delivered = message.info().map(|i| i.delivered).unwrap_or(1);
        if delivered > 1 {
            self.mirror.metrics.redelivered();
        }
        let opened = match self.queue.open(&message) {
            Ok(opened) => opened,
            Err(reason) => return self.unopened(message, delivered, reason).await,
        };
        let span = tracing::info_span!("job", job_id = %opened.id, round = opened.round);
        async move {
            match self.claim(&opened.id, opened.round).await {
                Ok(Some(claimed)) => {
                    let run = Run::new(&self.mirror, claimed, message);
                    run.run(opened.envelope, permit).await;
                }
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

    /// A message this worker cannot open. Another worker may (a key rotation under
    /// way), so it goes back to the queue; once nobody could for a while, the job ends
    /// `unreadable_job` and its message leaves the queue, freeing its place.
    async fn unopened(&self, message: jetstream::Message, delivered: i64, reason: OpenError) {
        if !rules::give_up_opening(u64::try_from(delivered).unwrap_or(0)) {
            tracing::error!(
                "a queued job cannot be opened here ({reason}); leaving it to other workers"
            );
            let delay = self.mirror.ack_wait.min(Duration::from_secs(10));
            let _ = message.ack_with(AckKind::Nak(Some(delay))).await;
            return;
        }
        tracing::error!(
            deliveries = delivered,
            "no worker could open a queued job ({reason}); it ends as unreadable_job"
        );
        if let Ok((id, round)) = FleetQueue::label(&message) {
            let failure = JobFailure::new(
                FailureCode::UnreadableJob,
                format!(
                    "no worker of the fleet could open the queued job ({reason}); check that every worker has the same COREBUILD_CLUSTER_KEY, then submit it again"
                ),
            );
            let ended = self
                .mirror
                .store
                .modify(&id, "ending an unreadable job", |doc| {
                    let next = doc.filter(|d| d.round == round).map(|doc| {
                        let mut next = doc.clone();
                        next.fail(&failure);
                        next
                    });
                    Ok(((), next))
                })
                .await;
            if let Err(e) = ended {
                tracing::warn!(job_id = %id, "the unreadable job's end was not stored: {e}");
            }
        }
        let _ = message.double_ack().await;
    }

    /// Marks the job as running here. `None` when there is nothing to run: the round
    /// is stale, the job was cancelled or finished, or its attempts are used up (then
    /// it ends as `worker_lost`).
    async fn claim(&self, id: &str, round: u32) -> Result<Option<Claimed>, ClusterError> {
        let store = &self.mirror.store;
        let modified = store
            .modify(id, "claiming the job", |doc| {
                let Some(doc) = doc.filter(|doc| !store.expired(doc)) else {
                    return Ok((None, None));
                };
                let delivered = Delivered {
                    state: doc.view.state,
                    current_round: doc.round == round,
                    attempt: doc.view.attempt,
                    runs: doc.runs,
                };
                let mut next = doc.clone();
                match rules::claim(delivered, self.max_attempts) {
                    Claim::Stale => Ok((None, None)),
                    Claim::WorkerLost { runs } => {
                        next.fail(&JobFailure::new(
                            FailureCode::WorkerLost,
                            format!(
                                "the job's worker was lost on each of its {runs} attempts (COREBUILD_MAX_ATTEMPTS)"
                            ),
                        ));
                        Ok((None, Some(next)))
                    }
                    Claim::Run {
                        attempt,
                        state,
                        lost,
                    } => {
                        let now = now_ms();
                        next.runs += 1;
                        next.view.attempt = attempt;
                        next.view.state = state;
                        next.view.worker_id = Some(self.mirror.worker_id.clone());
                        next.view.started_at = Some(now);
                        next.view.last_activity_at = now;
                        next.view.progress = None;
                        next.view.log_lines = 0;
                        next.view.queue_position = None;
                        Ok((Some((attempt, lost)), Some(next)))
                    }
                }
            })
            .await?;
        let ended = modified.written.is_some();
        let (Some((attempt, lost)), Some((doc, revision))) = (modified.value, modified.written)
        else {
            if ended {
                tracing::warn!(
                    "the job's worker was lost on each of its attempts; it ends as worker_lost"
                );
            }
            return Ok(None);
        };
        if lost && let Some((previous, _)) = &modified.previous {
            tracing::warn!(
                lost_worker = previous.view.worker_id.as_deref().unwrap_or("?"),
                attempt = previous.view.attempt,
                "the job's worker was lost"
            );
        }
        // The new run's log starts afresh, as a new attempt's does.
        self.mirror.logs.purge(id).await;
        self.mirror.metrics.started(&self.mirror.worker_id);
        Ok(Some(Claimed {
            superseded: false,
            id: id.to_owned(),
            round,
            attempt,
            revision,
            doc,
        }))
    }
}
