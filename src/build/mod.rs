//! One build: the request's domain types, the isocreator config, the workspace and
//! running isocreator.

pub mod fields;
pub mod isocreator_config;
pub mod job;
mod lines;
pub mod runner;
pub mod s3_target;
pub mod wire;
pub mod workspace;

pub use fields::FieldError;
pub use job::Job;

/// The only door in: the request's `job` object to a [`Job`], or the first broken rule.
pub fn parse_job(value: serde_json::Value) -> Result<Job, FieldError> {
    Job::try_from(wire::from_value(value)?)
}

#[cfg(test)]
mod job_tests;
