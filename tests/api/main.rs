//! HTTP-level tests: one module per capability, sharing `helpers`.

mod binary;
mod capabilities;
mod config;
mod health;
mod helpers;
mod isocreator_config;
mod jobs;
mod s3;
