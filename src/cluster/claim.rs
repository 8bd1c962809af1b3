//! Claiming a fetched job: one view of its status document serves the holder's lease
//! check and the compare-and-set that marks it running here, as `jobs::rules::claim`
//! decides; a claim whose answer was lost is read back before it counts as failed.
//!
//! The view is first this worker's copy of the bucket (`cache.rs`), which most of the
//! time holds the job as admission left it: then the compare-and-set is the claim's
//! only round trip. The copy may be behind, so what it says counts only when the
//! compare-and-set at its revision goes through; a decision that writes nothing (drop
//! the message, leave it) is taken again from a read of the bucket's leader.

use super::ClusterError;
use super::doc::{RunHold, StoredJob};
use super::running::{Claimed, RETRY_AFTER};
use super::taker::Taker;
use crate::domain::{FailureCode, JobFailure};
use crate::jobs::rules::{self, Claim, Delivered, Holder};
use crate::time::now_ms;

impl Taker {
    /// Marks the job as running here, as `jobs::rules::claim` decides.
    pub(super) async fn claim(&self, id: &str, round: u32) -> Result<Taken, ClusterError> {
        if let Some(guess) = self.mirror.store.cached(id)
            && let Some(taken) = self.claim_from(id, round, Some(guess), false).await?
        {
            return Ok(taken);
        }
        let read = self.mirror.store.read(id).await?;
        let taken = self.claim_from(id, round, read, true).await?;
        Ok(taken.expect("a decision on the leader's document stands"))
    }

    /// The claim decided on `read`. `None` when `read` is not `confirmed` (it is the
    /// copy's) and the decision wrote nothing: only a write at its revision shows that
    /// it was current.
    async fn claim_from(
        &self,
        id: &str,
        round: u32,
        read: Option<(StoredJob, u64)>,
        confirmed: bool,
    ) -> Result<Option<Taken>, ClusterError> {
        let store = &self.mirror.store;
        let mine = self.mirror.leases.instance().to_owned();
        let guessed = read
            .as_ref()
            .map(|(_, revision)| *revision)
            .filter(|_| !confirmed);
        let lease = self.holders_lease(read.as_ref(), &mine).await?;
        // A job that never ran has no log to continue (should it have run meanwhile,
        // its new run starts after the lines its document counts).
        let log_end = match &read {
            Some((doc, _)) if doc.runs > 0 => self
                .mirror
                .logs
                .log_end(id)
                .await?
                .map_or(0, |newest| newest.next),
            _ => 0,
        };
        let active = self.mirror.active.contains_key(id);
        let run_id = nuid::next().to_string();
        let decide = |doc: Option<&StoredJob>| {
            let Some(doc) = doc.filter(|doc| !store.expired(doc)) else {
                return Ok((Decision::Drop, None));
            };
            let holder = match &doc.run {
                None => Holder::Nobody,
                Some(run) if run.instance == mine => Holder::Me { active },
                // A holder other than the one whose lease was read counts as live:
                // the message comes back later, and is decided on then.
                Some(run) => Holder::Other {
                    live: lease
                        .as_ref()
                        .is_none_or(|(instance, live)| *instance != run.instance || *live),
                },
            };
            let delivered = Delivered {
                state: doc.view.state,
                current_round: doc.round == round,
                attempt: doc.view.attempt,
                runs: doc.runs,
                holder,
            };
            let mut next = doc.clone();
            let (attempt, lost) = match rules::claim(delivered, self.max_attempts) {
                Claim::Stale => return Ok((Decision::Drop, None)),
                Claim::Leased | Claim::Mine => return Ok((Decision::Leave, None)),
                Claim::WorkerLost { runs } => {
                    // Its log ends with what its last run published.
                    next.view.log_lines = log_end.max(doc.view.log_lines);
                    next.fail(&JobFailure::new(
                        FailureCode::WorkerLost,
                        format!(
                            "the job's worker was lost on each of its {runs} attempts (COREBUILD_MAX_ATTEMPTS)"
                        ),
                    ));
                    return Ok((Decision::Lost, Some(next)));
                }
                Claim::Adopt { attempt } => (attempt, false),
                Claim::Run {
                    attempt,
                    state,
                    lost,
                } => {
                    next.runs += 1;
                    next.view.state = state;
                    (attempt, lost)
                }
            };
            // The first run of a round starts its log at 0; a later one after every
            // line of the runs before it, so `seq` never goes back in a round.
            let log_from = if doc.runs == 0 {
                0
            } else {
                log_end.max(doc.view.log_lines)
            };
            let now = now_ms();
            next.view.attempt = attempt;
            next.view.worker_id = Some(self.mirror.worker_id.clone());
            next.view.started_at = Some(now);
            next.view.last_activity_at = now;
            next.view.progress = None;
            next.view.log_lines = log_from;
            next.view.queue_position = None;
            next.run = Some(RunHold {
                id: run_id.clone(),
                instance: mine.clone(),
                log_from,
                log_index: Vec::new(),
            });
            Ok((Decision::Run { lost }, Some(next)))
        };
        let modified = match store
            .modify_from(id, "claiming the job", read, decide)
            .await
        {
            Ok(modified) => modified,
            // The claim may have gone through with only its answer lost.
            Err(e) => {
                return self
                    .claim_went_through(id, round, &run_id, e)
                    .await
                    .map(Some);
            }
        };
        if guessed.is_some_and(|guessed| modified.unconfirmed(guessed)) {
            return Ok(None);
        }
        let lost = match modified.value {
            Decision::Drop => return Ok(Some(Taken::Drop)),
            Decision::Leave => return Ok(Some(Taken::Leave)),
            Decision::Lost => {
                tracing::warn!(
                    "the job's worker was lost on each of its attempts; it ends as worker_lost"
                );
                return Ok(Some(Taken::Drop));
            }
            Decision::Run { lost } => lost,
        };
        let (Some((doc, revision)), previous) = (modified.written, modified.previous) else {
            return Ok(Some(Taken::Drop));
        };
        if lost && let Some((previous, _)) = &previous {
            tracing::warn!(
                lost_worker = previous.view.worker_id.as_deref().unwrap_or("?"),
                attempt = previous.view.attempt,
                "the job's worker was lost (its lease expired); taking the job over"
            );
        }
        Ok(Some(Taken::Run(Box::new(
            self.started(id, round, doc, revision).await,
        ))))
    }

    /// The lease of the process that holds the job, when that is another process.
    async fn holders_lease(
        &self,
        read: Option<&(StoredJob, u64)>,
        mine: &str,
    ) -> Result<Option<(String, bool)>, ClusterError> {
        let Some((doc, _)) = read else {
            return Ok(None);
        };
        let (Some(run), Some(worker)) = (&doc.run, &doc.view.worker_id) else {
            return Ok(None);
        };
        if run.instance == mine || !doc.view.state.is_active() {
            return Ok(None);
        }
        let live = self.mirror.leases.live(worker, &run.instance).await?;
        Ok(Some((run.instance.clone(), live)))
    }

    /// After a claim whose answer was lost: reads the job back; when it names this
    /// claim's run, the claim went through and the job runs here.
    async fn claim_went_through(
        &self,
        id: &str,
        round: u32,
        run_id: &str,
        error: ClusterError,
    ) -> Result<Taken, ClusterError> {
        for _ in 0..3 {
            match self.mirror.store.load(id).await {
                Ok(Some((doc, revision))) if doc.held_by(run_id) => {
                    tracing::info!("the claim went through although its answer was lost");
                    return Ok(Taken::Run(Box::new(
                        self.started(id, round, doc, revision).await,
                    )));
                }
                Ok(_) => return Err(error),
                Err(_) => tokio::time::sleep(RETRY_AFTER).await,
            }
        }
        Err(error)
    }

    /// A claimed run's start: the runs before it leave their log lines.
    async fn started(&self, id: &str, round: u32, doc: StoredJob, revision: u64) -> Claimed {
        let at = std::time::Instant::now();
        // The first run of a job's first round has no lines before it to forget.
        if doc.runs > 1 || doc.round > 1 {
            self.mirror.logs.purge(id).await;
        }
        self.mirror.metrics.started(&self.mirror.worker_id);
        let run = doc.run.clone().expect("a claimed job names its run");
        Claimed {
            superseded: false,
            id: id.to_owned(),
            round,
            attempt: doc.view.attempt,
            run,
            revision,
            doc,
            at,
        }
    }
}

/// What the claim decided, as the taker acts on it.
enum Decision {
    Drop,
    Leave,
    Lost,
    Run { lost: bool },
}

/// What becomes of a job's message.
pub(super) enum Taken {
    Run(Box<Claimed>),
    /// Acknowledged and dropped: nothing to run.
    Drop,
    /// Left unacknowledged: a live run holds the job.
    Leave,
}
