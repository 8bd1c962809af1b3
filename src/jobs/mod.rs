//! The job engine: registry, bounded queue, executor pool and per-job logs.

pub mod log;
pub mod scrub;
