//! A job's status (docs/api.md, "Job status and list"), as answered by status, list,
//! async submit and cancel.

use serde::Serialize;

use crate::domain::job::{Architecture, BuildType, ImageKind};
use crate::domain::{Artifact, ErrorCode, JobState, Progress};
use crate::jobs::JobView;

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
    /// Cluster mode only: the worker that runs the job, or ran it last.
    #[serde(skip_serializing_if = "Option::is_none")]
    worker_id: Option<String>,
    /// Cluster mode, while queued: why no worker takes the job now (no live worker
    /// builds its class, or only paused ones do).
    #[serde(skip_serializing_if = "Option::is_none")]
    queue_note: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorView {
    code: ErrorCode,
    message: String,
}

impl From<JobView> for JobStatus {
    fn from(view: JobView) -> Self {
        Self {
            success: true,
            id: view.id,
            build_type: BuildType::BaseosImage,
            architecture: view.architecture,
            image_kind: view.image_kind,
            state: view.state,
            queue_position: view.queue_position,
            attempt: view.attempt,
            created_at: view.created_at,
            started_at: view.started_at,
            finished_at: view.finished_at,
            progress: view.progress,
            last_activity_at: view.last_activity_at,
            artifact: view.artifact,
            error: view.error.map(|e| ErrorView {
                code: e.code,
                message: e.message,
            }),
            log_lines: view.log_lines,
            worker_id: view.worker_id,
            queue_note: view.queue_note,
        }
    }
}
