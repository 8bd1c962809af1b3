//! How a job ends: its artifact, or a failure with a code. These are results of the
//! job, which the API reports; they are never errors of a request.

use serde::Serialize;

use super::names::wire_enum;

wire_enum! {
    /// The `code` of every error answer and of a failed job's `error` (docs/api.md,
    /// "Errors"). Status codes for them are chosen in one place, `api::error`.
    pub(crate) enum ErrorCode {
        InvalidRequest = "invalid_request",
        Unauthorized = "unauthorized",
        /// Protected mode: a worker without a token answers job routes only to
        /// clients on its own host.
        Forbidden = "forbidden",
        NotFound = "not_found",
        MethodNotAllowed = "method_not_allowed",
        RequestTimeout = "request_timeout",
        PayloadTooLarge = "payload_too_large",
        Conflict = "conflict",
        QueueFull = "queue_full",
        ShuttingDown = "shutting_down",
        BuildFailed = "build_failed",
        TimedOut = "timed_out",
        UploadFailed = "upload_failed",
        Cancelled = "cancelled",
        InternalError = "internal_error",
        /// Cluster mode: the cluster cannot be reached, so nothing can be admitted.
        Unavailable = "unavailable",
        /// Cluster mode: the job's worker was lost more often than its attempts allow.
        WorkerLost = "worker_lost",
        /// Cluster mode: no worker of the fleet could open the queued job (its key).
        UnreadableJob = "unreadable_job",
        /// Cluster mode: the fleet's queue was lost while the job waited in it.
        QueueLost = "queue_lost",
        /// The job waited in a queue longer than COREBUILD_QUEUE_TIMEOUT_SECS.
        QueueTimeout = "queue_timeout",
        /// Standalone: this worker does not build the job's architecture or image kind.
        UnsupportedBuild = "unsupported_build",
    }
}

/// Why a job did not succeed. The build's own failure (`BuildFailed`) is kept apart
/// from the worker's (`Internal`): an operator fixes the first in the job or the
/// builder, the second on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailureCode {
    /// isocreator could not run, failed, or wrote no artifact.
    BuildFailed,
    TimedOut,
    /// The object store refused or failed the upload.
    UploadFailed,
    Cancelled,
    /// The job was still queued when the worker began to shut down.
    ShuttingDown,
    /// The worker's own fault: workspace or config I/O, a full disk, reading the
    /// artifact, a panic inside the job, a helper thread that died.
    Internal,
    /// Cluster mode: every attempt ended with its worker gone (killed, cut off).
    WorkerLost,
    /// Cluster mode: no worker could open the sealed job (a fleet key it was not sealed
    /// with); it never ran.
    UnreadableJob,
    /// Cluster mode: the job's queued message went with a lost queue; it never ran.
    QueueLost,
    /// It waited in a queue past COREBUILD_QUEUE_TIMEOUT_SECS (in a fleet: no worker
    /// that builds its class took it in time); it never ran.
    QueueTimeout,
}

impl FailureCode {
    pub(crate) const ALL: &'static [Self] = &[
        Self::BuildFailed,
        Self::TimedOut,
        Self::UploadFailed,
        Self::Cancelled,
        Self::ShuttingDown,
        Self::Internal,
        Self::WorkerLost,
        Self::UnreadableJob,
        Self::QueueLost,
        Self::QueueTimeout,
    ];

    /// The wire code answers carry for this failure.
    pub(crate) const fn code(self) -> ErrorCode {
        match self {
            Self::BuildFailed => ErrorCode::BuildFailed,
            Self::TimedOut => ErrorCode::TimedOut,
            Self::UploadFailed => ErrorCode::UploadFailed,
            Self::Cancelled => ErrorCode::Cancelled,
            Self::ShuttingDown => ErrorCode::ShuttingDown,
            Self::Internal => ErrorCode::InternalError,
            Self::WorkerLost => ErrorCode::WorkerLost,
            Self::UnreadableJob => ErrorCode::UnreadableJob,
            Self::QueueLost => ErrorCode::QueueLost,
            Self::QueueTimeout => ErrorCode::QueueTimeout,
        }
    }

    /// The failure a wire code stands for, if it is a job failure at all.
    pub(crate) fn from_code(code: ErrorCode) -> Option<Self> {
        Self::ALL.iter().copied().find(|f| f.code() == code)
    }

    /// Whether the job ends `cancelled` rather than `failed`.
    pub(crate) fn is_cancellation(self) -> bool {
        matches!(self, Self::Cancelled | Self::ShuttingDown)
    }
}

impl Serialize for FailureCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.code().serialize(s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JobFailure {
    pub(crate) code: FailureCode,
    pub(crate) message: String,
}

impl JobFailure {
    pub(crate) fn new(code: FailureCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Artifact {
    pub(crate) bucket_name: String,
    pub(crate) key: String,
    pub(crate) filename: String,
    pub(crate) content_type: String,
    pub(crate) size: u64,
    /// Lowercase hex SHA-256 of the bytes that were uploaded.
    pub(crate) sha256: String,
    pub(crate) created_at: u64,
}

/// A finished job's result: the build's own success or failure, never a worker error.
pub(crate) type Outcome = Result<Artifact, JobFailure>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failure_has_its_own_code_and_comes_back_from_it() {
        for failure in FailureCode::ALL {
            assert_eq!(FailureCode::from_code(failure.code()), Some(*failure));
        }
        assert_eq!(FailureCode::from_code(ErrorCode::Conflict), None);
        assert_eq!(FailureCode::Internal.code().as_str(), "internal_error");
    }
}
