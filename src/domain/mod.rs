//! What a job is, as values that can only be valid: the loose wire structs a request
//! arrives in ([`wire`]), the field types and rules that parse them ([`fields`],
//! [`s3_target`], [`parse`]), the [`Job`] that comes out, and the states and outcomes
//! a job has on its way. Every other layer takes these types; this one takes none.

pub(crate) mod class;
pub(crate) mod fields;
pub(crate) mod job;
pub(crate) mod names;
pub(crate) mod outcome;
mod parse;
pub(crate) mod quoting;
pub(crate) mod s3_target;
pub(crate) mod schema;
mod secret;
pub(crate) mod state;
pub(crate) mod wire;

// The public surface: parsing a job (what an embedding program or a test needs to
// render its builder config), the secret holder of the configuration, and the states
// the CLI filters by. Everything else is the crate's own.
pub(crate) use class::{BuildClass, BuildSet};
pub use fields::FieldError;
pub use job::Job;
pub(crate) use outcome::{Artifact, ErrorCode, FailureCode, JobFailure, Outcome};
pub use parse::parse_job;
pub use secret::Secret;
pub use state::JobState;
pub(crate) use state::Progress;

#[cfg(test)]
mod job_tests;
