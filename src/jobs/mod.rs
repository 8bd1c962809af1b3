//! The job engine: registry, bounded queue, executor pool and per-job logs. It runs
//! whatever [`executor::JobRunner`] it is given and knows nothing of isocreator or S3.

pub mod engine;
pub mod executor;
pub mod log;
pub mod queue;
pub mod record;
pub mod registry;
pub mod scrub;

pub use engine::{Engine, EngineSettings};

#[cfg(test)]
mod tests;
