//! HTTP-level tests: one module per capability; what they share is in `support`.

// The helper modules share their items with `pub`; nothing here is a public API.
#![allow(unreachable_pub)]

mod async_jobs;
mod binary;
mod build_classes;
mod builders;
mod cancel;
mod capabilities;
mod cli;
mod cli_human;
mod cli_limits;
mod cluster;
mod cluster_failures;
mod config;
mod dashboards;
mod fleet_fencing;
mod fleet_healing;
mod fleet_joining;
mod fleet_logs;
mod fleet_routing;
mod health;
mod isocreator_config;
mod job_failures;
mod jobs;
mod logs;
mod metrics;
mod openapi;
mod packaging;
mod pause;
mod protected_mode;
mod queue;
mod readiness;
mod reload;
mod retention;
mod secrets;
mod service_log;
mod shutdown;
mod slow_clients;
mod stalled_store;
mod submit_requests;
mod support;
mod systemd;
mod tls;
mod upload_failures;
mod workdir_lock;
mod xorriso;
