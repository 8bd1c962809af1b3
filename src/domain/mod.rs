//! What a job is, as values that can only be valid: the loose wire structs a request
//! arrives in ([`wire`]), the field types and rules that parse them ([`fields`],
//! [`s3_target`], [`parse`]), the [`Job`] that comes out, and the states and outcomes
//! a job has on its way. Every other layer takes these types; this one takes none.

pub mod fields;
pub mod job;
pub(crate) mod names;
pub mod outcome;
mod parse;
pub(crate) mod quoting;
pub mod s3_target;
pub(crate) mod schema;
pub mod secret;
pub mod state;
pub mod wire;

pub use fields::FieldError;
pub use job::Job;
pub use outcome::{Artifact, ErrorCode, FailureCode, JobFailure, Outcome};
pub use parse::parse_job;
pub use secret::Secret;
pub use state::{JobState, Progress};

#[cfg(test)]
mod job_tests;
