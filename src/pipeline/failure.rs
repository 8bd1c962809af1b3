//! How a step's error becomes the job's failure, with the code that says whose fault
//! it is (docs/api.md, "Errors").

use std::time::Duration;

use crate::domain::{FailureCode, JobFailure};
use crate::isocreator::BuildFailure;
use crate::jobs::JobRecord;
use crate::upload::UploadError;

/// The worker's own fault.
pub(super) fn internal(message: String) -> JobFailure {
    JobFailure::new(FailureCode::Internal, message)
}

fn timed_out(limit: Duration) -> JobFailure {
    JobFailure::new(
        FailureCode::TimedOut,
        format!(
            "the job ran past its time limit of {} seconds",
            limit.as_secs()
        ),
    )
}

pub(super) fn build_failure(
    failure: BuildFailure,
    limit: Duration,
    record: &JobRecord,
) -> JobFailure {
    match failure {
        BuildFailure::TimedOut(_) => timed_out(limit),
        BuildFailure::Cancelled => record.cancelled(),
        other if other.is_worker_fault() => internal(other.to_string()),
        other => JobFailure::new(FailureCode::BuildFailed, other.to_string()),
    }
}

pub(super) fn upload_failure(
    error: UploadError,
    limit: Duration,
    record: &JobRecord,
) -> JobFailure {
    let job = &record.job;
    // The store's own words may quote the request; mask the job's secrets in them.
    let message = record.log_sink().scrub(&format!(
        "upload to {}/{} failed: {error}",
        job.s3.bucket(),
        job.artifact_key
    ));
    match error {
        UploadError::TimedOut => timed_out(limit),
        UploadError::Cancelled => record.cancelled(),
        UploadError::Read(_) | UploadError::Thread(_) => internal(message),
        UploadError::Store(_)
        | UploadError::Key(_)
        | UploadError::Changed
        | UploadError::Contended => JobFailure::new(FailureCode::UploadFailed, message),
        // Its end is not stored: the run that holds the job now ends it.
        UploadError::Superseded(_) => JobFailure::new(FailureCode::WorkerLost, message),
    }
}
