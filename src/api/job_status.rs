//! A job's status (docs/api.md, "Job status and list"), as answered by status, list,
//! async submit and cancel.

use std::sync::Arc;

use serde::Serialize;

use crate::domain::job::{Architecture, BuildType, ImageKind};
use crate::domain::{Artifact, ErrorCode, JobState, Progress};
use crate::jobs::{Engine, JobRecord};

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JobStatus {
    success: bool,
    id: String,
    build_type: BuildType,
    architecture: Architecture,
    image_kind: ImageKind,
    state: JobState,
    queue_position: Option<usize>,
    attempt: u32,
    created_at: u64,
    started_at: Option<u64>,
    finished_at: Option<u64>,
    progress: Option<Progress>,
    last_activity_at: u64,
    artifact: Option<Artifact>,
    error: Option<ErrorView>,
    /// Lines the job has logged so far (the next line's sequence number).
    log_lines: u64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorView {
    code: ErrorCode,
    message: String,
}

impl JobStatus {
    pub(crate) fn of(record: &Arc<JobRecord>, engine: &Engine) -> Self {
        let status = record.status();
        let outcome = record.outcome();
        let (artifact, error) = match outcome.as_deref() {
            Some(Ok(artifact)) => (Some(artifact.clone()), None),
            Some(Err(failure)) => (
                None,
                Some(ErrorView {
                    code: failure.code.code(),
                    message: failure.message.clone(),
                }),
            ),
            None => (None, None),
        };
        let queue_position = if status.state == JobState::Queued {
            engine.queue_position(record)
        } else {
            None
        };
        Self {
            success: true,
            id: record.job.id.to_string(),
            build_type: BuildType::BaseosImage,
            architecture: record.job.architecture,
            image_kind: record.job.image.kind(),
            state: status.state,
            queue_position,
            attempt: record.attempt,
            created_at: record.created_at,
            started_at: status.started_at,
            finished_at: status.finished_at,
            progress: status.progress,
            last_activity_at: status.last_activity_at.max(record.log.last_line_at()),
            artifact,
            error,
            log_lines: record.log.next_seq(),
        }
    }
}
