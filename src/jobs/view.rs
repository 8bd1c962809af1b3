//! A job as readers see it: one snapshot of its status, the same whichever engine
//! holds the job. The API answers from it, and in cluster mode it is what the status
//! bucket stores, so it holds no secret.

use serde::{Deserialize, Serialize};

use super::record::JobRecord;
use crate::domain::job::{Architecture, ImageKind};
use crate::domain::{Artifact, ErrorCode, FailureCode, JobFailure, JobState, Outcome, Progress};
use crate::joblog::LogLine;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JobView {
    pub(crate) id: String,
    pub(crate) architecture: Architecture,
    pub(crate) image_kind: ImageKind,
    pub(crate) state: JobState,
    pub(crate) queue_position: Option<usize>,
    pub(crate) attempt: u32,
    pub(crate) created_at: u64,
    pub(crate) started_at: Option<u64>,
    pub(crate) finished_at: Option<u64>,
    pub(crate) progress: Option<Progress>,
    pub(crate) last_activity_at: u64,
    pub(crate) artifact: Option<Artifact>,
    pub(crate) error: Option<FailureView>,
    /// Lines the job has logged so far (the next line's sequence number).
    pub(crate) log_lines: u64,
    /// Cluster mode: the worker running or last running the job.
    pub(crate) worker_id: Option<String>,
    /// Cluster mode, while queued: why no worker takes it now (never stored).
    #[serde(default, skip_serializing)]
    pub(crate) queue_note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FailureView {
    pub(crate) code: ErrorCode,
    pub(crate) message: String,
}

impl JobView {
    /// The record's status now; `queue_position` as the engine's queue says.
    pub(crate) fn of(record: &JobRecord, queue_position: Option<usize>) -> Self {
        let status = record.status();
        let (artifact, error) = match record.outcome().as_deref() {
            Some(Ok(artifact)) => (Some(artifact.clone()), None),
            Some(Err(failure)) => (None, Some(FailureView::of(failure))),
            None => (None, None),
        };
        Self {
            id: record.job.id.to_string(),
            architecture: record.job.architecture,
            image_kind: record.job.image.kind(),
            state: status.state,
            queue_position: queue_position.filter(|_| status.state == JobState::Queued),
            attempt: record.attempt,
            created_at: record.created_at,
            started_at: status.started_at,
            finished_at: status.finished_at,
            progress: status.progress,
            last_activity_at: status.last_activity_at.max(record.log.last_line_at()),
            artifact,
            error,
            log_lines: record.log.next_seq(),
            worker_id: None,
            queue_note: None,
        }
    }

    /// The outcome of a finished job.
    pub(crate) fn outcome(&self) -> Option<Outcome> {
        if !self.state.is_finished() {
            return None;
        }
        match (&self.artifact, &self.error) {
            (Some(artifact), _) => Some(Ok(artifact.clone())),
            (None, Some(error)) => {
                let code = FailureCode::from_code(error.code).unwrap_or(FailureCode::Internal);
                Some(Err(JobFailure::new(code, error.message.clone())))
            }
            (None, None) => Some(Err(JobFailure::new(
                FailureCode::Internal,
                "the job ended without a recorded outcome",
            ))),
        }
    }

    /// The code a follower's end event carries.
    pub(crate) fn end_code(&self) -> Option<ErrorCode> {
        self.error.as_ref().map(|e| e.code)
    }
}

impl FailureView {
    pub(crate) fn of(failure: &JobFailure) -> Self {
        Self {
            code: failure.code.code(),
            message: failure.message.clone(),
        }
    }
}

/// What a log follower is sent, in order; `End` is the last.
#[derive(Debug, Clone)]
pub(crate) enum FollowEvent {
    Lines(Vec<LogLine>),
    /// Nothing new for a while: a comment keeps proxies from closing the stream.
    KeepAlive,
    End {
        state: JobState,
        code: Option<ErrorCode>,
    },
}

/// A page of a job's log.
#[derive(Debug, Clone)]
pub(crate) struct LogPage {
    pub(crate) state: JobState,
    pub(crate) first_seq: u64,
    pub(crate) next_seq: u64,
    /// The job has finished and the page ends with its last line.
    pub(crate) done: bool,
    pub(crate) lines: Vec<LogLine>,
}
