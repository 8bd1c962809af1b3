//! The job engine: registry, bounded queue, executor pool and retention. It runs
//! whatever [`JobRunner`] it is given and knows nothing of isocreator or S3; what it
//! reports goes out through [`JobEvents`].

mod engine;
mod events;
mod executor;
mod follow;
mod pause;
mod queue;
mod record;
mod registry;
pub(crate) mod rules;
mod submission;
mod view;
mod worker;

pub(crate) use engine::{CancelError, Engine, EngineSettings, FleetRun};
pub(crate) use events::JobEvents;
pub(crate) use executor::{BoxFuture, JobRunner};
pub(crate) use follow::{follow, page};
pub(crate) use pause::Paused;
pub(crate) use record::JobRecord;
pub(crate) use registry::{Admission, AdmitError};
pub(crate) use submission::SubmittedBy;
pub(crate) use view::{FailureView, FollowEvent, JobView, LogPage};
pub(crate) use worker::{Identity, WorkerRecord, WorkerState, queue_note};

/// A job id that is not known (or is past its retention), in either mode.
#[derive(Debug, thiserror::Error)]
#[error("no job {0}")]
pub(crate) struct NoJob(pub(crate) String);

#[cfg(test)]
mod tests;
#[cfg(test)]
mod worker_tests;
