//! The job rulebook: every decision about a job's lifecycle, for a worker alone and for
//! a fleet alike (docs/api.md, "Job states" and "Submitting the same id twice").
//!
//! Pure: no I/O, no clock (callers pass `now`), no async. The in-memory registry and
//! records (`jobs`) and the fleet's status documents (`cluster`) carry out what it
//! decides; neither decides a transition of its own. "What happens to a job submitted
//! again after it failed?" is [`admit`].

use std::time::Duration;

use crate::domain::{FailureCode, JobState};

/// How long a finished job stays known, in the milliseconds job times are kept in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Retention(u64);

impl Retention {
    pub(crate) fn new(retention: Duration) -> Self {
        Self(u64::try_from(retention.as_millis()).unwrap_or(u64::MAX))
    }

    /// Whether a job that finished at `finished_at` is forgotten at `now`: reads hide
    /// it, and its id may be submitted as a new job.
    pub(crate) fn expired(self, finished_at: Option<u64>, now: u64) -> bool {
        finished_at.is_some_and(|t| now.saturating_sub(t) > self.0)
    }

    /// Jobs that finished before this time are expired at `now`.
    pub(crate) fn cutoff(self, now: u64) -> u64 {
        now.saturating_sub(self.0)
    }
}

/// What is known of a job id at the moment it is submitted again.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Known {
    pub(crate) state: JobState,
    pub(crate) attempt: u32,
    pub(crate) finished_at: Option<u64>,
    /// Whether the submission carries the same job as the known one.
    pub(crate) same_content: bool,
}

/// What a submission does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// A new build, queued as `attempt`: a new round of the id.
    Build { attempt: u32 },
    /// The same job is queued, running or done: the caller gets that one; no second build.
    Attach,
    /// The id is known with other content, and that job has not failed.
    Conflict,
}

/// The idempotency rule: an unknown or forgotten id is a first build; a failed or
/// cancelled job is built again as its next attempt; the same job otherwise attaches;
/// other content under a live id is a conflict.
pub(crate) fn admit(known: Option<Known>, retention: Retention, now: u64) -> Admit {
    let Some(known) = known else {
        return Admit::Build { attempt: 1 };
    };
    if retention.expired(known.finished_at, now) {
        Admit::Build { attempt: 1 }
    } else if matches!(known.state, JobState::Failed | JobState::Cancelled) {
        Admit::Build {
            attempt: known.attempt + 1,
        }
    } else if known.same_content {
        Admit::Attach
    } else {
        Admit::Conflict
    }
}

/// Something that happens to a job in its round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    /// An executor starts it.
    Start,
    /// Its artifact is being uploaded.
    Upload,
    Succeed,
    /// It ends without an artifact (cancelled, shut down, failed).
    Fail(FailureCode),
    /// Cluster mode: a running job goes back to the fleet's queue (a drain cut it off).
    Requeue,
}

/// The state after `event`, or `None` when the event does not apply in `state`. A
/// finished job stays finished: only a new round ([`admit`]) builds its id again.
pub(crate) fn next(state: JobState, event: Event) -> Option<JobState> {
    use JobState::{Cancelled, Failed, Queued, Running, Succeeded, Uploading};
    match (state, event) {
        (Succeeded | Failed | Cancelled, _) => None,
        (Queued, Event::Start) => Some(Running),
        (Running | Uploading, Event::Upload) => Some(Uploading),
        (Running | Uploading, Event::Succeed) => Some(Succeeded),
        (_, Event::Fail(code)) if code.is_cancellation() => Some(Cancelled),
        (_, Event::Fail(_)) => Some(Failed),
        (Running | Uploading, Event::Requeue) => Some(Queued),
        _ => None,
    }
}

/// What a cancel request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cancel {
    /// Still queued: it ends `cancelled` at once and never runs.
    Now,
    /// Running or uploading: its worker is told to stop it; it ends `cancelled` then.
    Stop,
    /// Already finished: nothing to cancel (a conflict).
    Finished,
}

pub(crate) fn cancel(state: JobState) -> Cancel {
    match state {
        JobState::Queued => Cancel::Now,
        JobState::Running | JobState::Uploading => Cancel::Stop,
        JobState::Succeeded | JobState::Failed | JobState::Cancelled => Cancel::Finished,
    }
}

/// Deliveries of a queued job that no worker could open before it is given up on: a
/// worker without the key it was sealed with leaves it to the others (a key rotation
/// may be under way), but not for ever.
const UNREADABLE_AFTER: u64 = 5;

/// Whether a queued job nobody could open in `deliveries` tries ends `unreadable_job`.
pub(crate) fn give_up_opening(deliveries: u64) -> bool {
    deliveries >= UNREADABLE_AFTER
}

/// Who holds a fleet job that is marked running, as the worker that received its
/// message sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Holder {
    /// No run holds it (queued, or a document from before runs were recorded).
    Nobody,
    /// This very worker process: `active` when it runs the job now.
    Me { active: bool },
    /// Another worker process, whose lease is `live` or has expired.
    Other { live: bool },
}

/// A fleet's job as a worker finds it when the job's queue message reaches it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Delivered {
    pub(crate) state: JobState,
    /// Whether the message is of the job's current round.
    pub(crate) current_round: bool,
    pub(crate) attempt: u32,
    /// Runs this round has started so far (each one on a worker that was then lost,
    /// when the job is not queued).
    pub(crate) runs: u32,
    pub(crate) holder: Holder,
}

/// What a worker does with a fleet job's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Claim {
    /// Nothing to run: an older round, or the job has finished (cancelled, say).
    Stale,
    /// Another worker runs it and its lease is live: this is a stale copy of the
    /// message (it reached a worker that was paused, say). Leave it alone; it comes
    /// back after the ack wait should that worker really be gone by then.
    Leased,
    /// This worker runs it already: a stale copy of its own message.
    Mine,
    /// This worker's claim went through although it did not learn so (its answer was
    /// lost): run it as the attempt it claimed, counting no new run.
    Adopt { attempt: u32 },
    /// Every run of the round lost its worker: the job ends `worker_lost`.
    WorkerLost { runs: u32 },
    /// Run it here as `attempt`, in `state` (running); `lost` when it was running on
    /// a worker now lost.
    Run {
        attempt: u32,
        state: JobState,
        lost: bool,
    },
}

/// Claiming in a fleet: a queued job runs as its attempt; a job still marked running
/// is taken over (as the next attempt) only once its worker's lease has expired, until
/// `max_attempts` runs of the round have been started.
pub(crate) fn claim(job: Delivered, max_attempts: u32) -> Claim {
    if !job.current_round || job.state.is_finished() {
        return Claim::Stale;
    }
    if job.state != JobState::Queued {
        match job.holder {
            Holder::Me { active: true } => return Claim::Mine,
            Holder::Me { active: false } => {
                return Claim::Adopt {
                    attempt: job.attempt,
                };
            }
            Holder::Other { live: true } => return Claim::Leased,
            Holder::Other { live: false } | Holder::Nobody => {}
        }
    }
    if job.runs >= max_attempts {
        return Claim::WorkerLost { runs: job.runs };
    }
    let attempt = if job.runs == 0 {
        job.attempt
    } else {
        job.attempt + 1
    };
    Claim::Run {
        attempt,
        state: JobState::Running,
        lost: job.state != JobState::Queued,
    }
}

#[cfg(test)]
mod tests;
