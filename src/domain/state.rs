//! A job's place in its life (docs/api.md, "Job status and list").

use serde::{Deserialize, Serialize};

use super::names::wire_enum;

wire_enum! {
    pub enum JobState {
        Queued = "queued",
        Running = "running",
        Uploading = "uploading",
        Succeeded = "succeeded",
        Failed = "failed",
        Cancelled = "cancelled",
    }
}

impl JobState {
    pub(crate) fn is_finished(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }

    /// Running or uploading: a worker holds the job.
    pub(crate) fn is_active(self) -> bool {
        matches!(self, Self::Running | Self::Uploading)
    }
}

/// Upload progress, while a job is `uploading`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Progress {
    /// Always `uploading`, the one phase that reports progress so far.
    pub(crate) phase: JobState,
    /// Bytes of parts the store has acknowledged.
    pub(crate) bytes_done: u64,
    pub(crate) bytes_total: u64,
}
