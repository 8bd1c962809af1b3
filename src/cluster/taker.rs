//! Taking jobs from the fleet's queue: a job is fetched only while an executor is
//! free, then claimed by compare-and-set on its status document as
//! `jobs::rules::claim` decides, and handed to a [`Run`] that runs and mirrors it.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind};
use futures::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::claim::Taken;
use super::mirror::Run;
use super::queue::{FleetQueue, OpenError};
use super::running::{Mirror, RETRY_AFTER};
use crate::domain::{BuildClass, FailureCode, JobFailure};
use crate::jobs::rules;

/// How often an idle worker looks at its classes' consumers without a doorbell.
const IDLE_POLL: Duration = Duration::from_secs(1);

/// What taking the fleet's jobs on this worker needs.
pub(super) struct Taker {
    pub(super) queue: Arc<FleetQueue>,
    /// Runs what is taken; its store, logs and metrics serve the claim too.
    pub(super) mirror: Arc<Mirror>,
    pub(super) max_attempts: u32,
    pub(super) executors: usize,
    /// The classes of jobs this worker builds.
    pub(super) classes: Vec<BuildClass>,
    /// Each class's doorbell subject, in the same order.
    pub(super) bells: Vec<String>,
    /// Stops taking jobs.
    pub(super) stop_taking: CancellationToken,
    /// The taking loop and every job's run.
    pub(super) tasks: TaskTracker,
}

impl Taker {
    /// Takes jobs of this worker's classes until `stop_taking`, one per free executor
    /// and nothing while paused. The classes are looked at in turn, starting after
    /// the one last served, so a deep backlog of one class never starves another.
    /// Idle, the worker looks again when `doorbell` rings (a job was queued) or after
    /// [`IDLE_POLL`] (a job handed back by another worker rings no bell).
    pub(super) fn start(self: &Arc<Self>, mut doorbell: async_nats::Subscriber) {
        let free = Arc::new(Semaphore::new(self.executors));
        let taker = Arc::clone(self);
        self.tasks.spawn(async move {
            let pause = taker.mirror.engine.pause();
            let stop = &taker.stop_taking;
            let mut next_class = 0;
            loop {
                tokio::select! {
                    biased;
                    () = stop.cancelled() => break,
                    () = pause.resumed() => {}
                }
                let permit = tokio::select! {
                    () = stop.cancelled() => break,
                    permit = Arc::clone(&free).acquire_owned() => permit.expect("the semaphore is never closed"),
                };
                let message = tokio::select! {
                    () = stop.cancelled() => break,
                    message = taker.queue.fetch_one(&taker.classes, next_class, (&taker.tasks, stop)) => message,
                };
                match message {
                    Ok(Some((class, message))) => {
                        next_class = (class + 1) % taker.classes.len();
                        if pause.is_paused() {
                            // Paused while it was being fetched: another worker takes it.
                            let _ = message.ack_with(AckKind::Nak(None)).await;
                            continue;
                        }
                        let job = Arc::clone(&taker);
                        taker
                            .tasks
                            .spawn(async move { job.take(message, permit).await });
                    }
                    Ok(None) => {
                        drop(permit);
                        tokio::select! {
                            () = stop.cancelled() => break,
                            Some(bell) = doorbell.next() => {
                                tracing::debug!(subject = %bell.subject, "the doorbell rang");
                                // The class whose job was queued is looked at first.
                                if let Some(rung) = taker.bells.iter().position(|b| *b == bell.subject.as_str()) {
                                    next_class = rung;
                                }
                            }
                            () = tokio::time::sleep(IDLE_POLL) => {}
                            () = pause.paused() => {}
                        }
                    }
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
        let span = tracing::info_span!(
            "job",
            job_id = %opened.id,
            round = opened.round,
            request_id = opened.envelope.request_id.as_deref()
        );
        if !self.builds(&opened.envelope.job) {
            // Only a job queued before classes (or by a misconfigured worker) comes
            // here: one that builds it takes it.
            tracing::info!(parent: &span, "this worker does not build the job's class; leaving it to others");
            let delay = self.mirror.ack_wait.min(Duration::from_secs(5));
            let _ = message.ack_with(AckKind::Nak(Some(delay))).await;
            return;
        }
        crate::faults::point("before_claim");
        async move {
            tracing::debug!(delivered, "fetched the job's message");
            match self.claim(&opened.id, opened.round).await {
                Ok(Taken::Run(claimed)) => {
                    tracing::debug!("claimed the job");
                    crate::faults::point("after_claim");
                    let run = Run::new(&self.mirror, *claimed, message);
                    run.run(opened.envelope, permit).await;
                    // The fleet view shows the job gone from this worker at once.
                    self.mirror.leases.touch();
                }
                Ok(Taken::Drop) => {
                    // Stale (a later round, cancelled, or already finished): drop it.
                    let _ = message.double_ack().await;
                }
                Ok(Taken::Leave) => {
                    // A live run holds the job: this copy of its message is left as
                    // it is, neither acknowledged nor handed back.
                    tracing::info!(
                        "the job is held by a live run; leaving this copy of its message"
                    );
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

    /// Whether the job as sent is of a class this worker builds.
    fn builds(&self, job: &serde_json::Value) -> bool {
        let field = |name: &str| job.get(name).and_then(serde_json::Value::as_str);
        let class = field("architecture")
            .zip(field("imageKind"))
            .and_then(|(a, k)| BuildClass::from_label(&format!("{a}/{k}")));
        // A job that does not parse fails in the run, with the parse error in its log.
        class.is_none_or(|class| self.classes.contains(&class))
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
}
