//! HTTP-level tests: one module per capability, sharing `helpers`.

// The helper modules share their items with `pub`; nothing here is a public API.
#![allow(unreachable_pub)]

mod async_jobs;
mod binary;
mod builders;
mod cancel;
mod capabilities;
mod cli;
mod cli_human;
mod cli_limits;
mod cluster;
mod cluster_failures;
mod config;
mod contract;
mod health;
mod helpers;
mod isocreator_config;
mod job_failures;
mod jobs;
mod logs;
mod metrics;
mod moto;
mod nats;
mod openapi;
mod processes;
mod protected_mode;
mod queue;
mod readiness;
mod reload;
mod retention;
mod s3;
mod secrets;
mod serve;
mod shutdown;
mod slow_clients;
mod stalled_store;
mod submit_requests;
mod systemd;
mod tls;
mod upload_failures;
mod workdir_lock;
mod xorriso;
