//! A job's entry in the status bucket: what every worker of the fleet reads to answer
//! status, list, logs and cancel, and what admission and claiming change with
//! compare-and-set. It holds no secret: the job itself travels sealed.

use serde::{Deserialize, Serialize};

use crate::domain::{BuildClass, FailureCode, JobFailure};
use crate::jobs::rules::{self, Event, Retention};
use crate::jobs::{FailureView, JobView};
use crate::time::now_ms;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StoredJob {
    pub(crate) view: JobView,
    /// Keyed hash of the submitted job, to tell a retry from a different job.
    pub(crate) fingerprint: String,
    /// Which submission of the id this is (1, then one more per resubmission after a
    /// failure); the sealed message names the round it belongs to.
    pub(crate) round: u32,
    /// Runs started for this round: counted against COREBUILD_MAX_ATTEMPTS.
    pub(crate) runs: u32,
    /// Stream sequence of the round's message, once published.
    pub(crate) seq: Option<u64>,
    /// Set by a cancel request while the job runs; its worker ends it.
    #[serde(default)]
    pub(crate) cancel_requested: bool,
    /// The run that holds the job (the latest claim), kept once it ended: the job's
    /// log is this run's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) run: Option<RunHold>,
}

/// One claim of a job: which worker process holds it, and where its log starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RunHold {
    /// Unique per claim: log batches carry it, and a run holds the job only while the
    /// document names it.
    pub(crate) id: String,
    /// The worker process (not the worker id, which a restarted process keeps) whose
    /// lease the run lives by.
    pub(crate) instance: String,
    /// The run's first log `seq`: after every line of the runs before it.
    pub(crate) log_from: u64,
    /// Where the run's log lies in the log stream: `[first line seq, stream sequence]`
    /// of some of its batches, oldest first, so a page starts reading at the batch
    /// that holds its cursor instead of at the log's beginning. A hint only: readers
    /// check what they read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) log_index: Vec<(u64, u64)>,
}

impl StoredJob {
    /// The job's class: which workers may take it.
    pub(crate) fn class(&self) -> BuildClass {
        BuildClass {
            architecture: self.view.architecture,
            image_kind: self.view.image_kind,
        }
    }

    pub(crate) fn to_bytes(&self) -> bytes::Bytes {
        serde_json::to_vec(self)
            .expect("a status document serializes")
            .into()
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }

    /// Whether the job is forgotten by now ([`Retention::expired`]).
    pub(crate) fn expired(&self, retention: Retention) -> bool {
        retention.expired(self.view.finished_at, now_ms())
    }

    /// Ends the job with `failure`; a finished job stays as it is.
    pub(crate) fn fail(&mut self, failure: &JobFailure) {
        let view = &mut self.view;
        let Some(state) = rules::next(view.state, Event::Fail(failure.code)) else {
            return;
        };
        view.state = state;
        view.finished_at = Some(now_ms());
        view.last_activity_at = now_ms();
        view.progress = None;
        view.queue_position = None;
        view.error = Some(FailureView::of(failure));
    }

    /// Whether `run` holds the job: the document names it and the job has not ended.
    pub(crate) fn held_by(&self, run: &str) -> bool {
        !self.view.state.is_finished() && self.run.as_ref().is_some_and(|r| r.id == run)
    }

    /// Back to the queue, for another worker (a drain cut the job off here).
    pub(crate) fn requeue(&mut self) {
        let view = &mut self.view;
        let Some(state) = rules::next(view.state, Event::Requeue) else {
            return;
        };
        view.state = state;
        view.progress = None;
        view.worker_id = None;
        view.last_activity_at = now_ms();
    }

    pub(crate) fn cancelled_while_queued() -> JobFailure {
        JobFailure::new(FailureCode::Cancelled, "the job was cancelled")
    }
}
