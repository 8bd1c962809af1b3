//! HTTP-level tests: one module per capability, sharing `helpers`.

mod binary;
mod capabilities;
mod config;
mod health;
mod helpers;
mod isocreator_config;
mod job_failures;
mod jobs;
mod moto;
mod s3;
mod upload_failures;
