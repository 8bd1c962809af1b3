//! corebuild: the serve.zone build worker for BaseOS images.
//!
//! # Layout
//! - [`cli`]: the command line; `serve` (the default) runs the worker.
//! - [`client`]: the other subcommands, a client of a running worker.
//! - [`config`]: every environment variable, parsed once at start-up.
//! - [`machine`]: CPU, memory and disk facts, and the executor size derived from them.
//! - [`startup`]: builds the application (workdir, listener, server) from a config.
//! - [`state`]: what the HTTP handlers share.
//! - [`api`]: routes, the token check, and the one mapping from errors to answers.
//! - [`build`]: a job's domain types (parsed from the wire), the isocreator config,
//!   the workspace and the isocreator process runner.
//! - [`jobs`]: the engine: registry, bounded queue, executor pool, per-job logs.
//! - [`upload`]: one pass over the artifact that hashes and uploads it.
//! - [`pipeline`]: one job's steps, the runner the executor pool is given.
//! - [`secret`]: a string that never prints.
//! - [`telemetry`], [`shutdown`]: logging and signal handling for `main`.
//! - [`time`]: epoch milliseconds, the contract's time unit.
//! - [`systemd`]: readiness and stop notices under `Type=notify`.

pub mod api;
pub mod build;
pub mod cli;
pub mod client;
pub mod config;
pub mod jobs;
pub mod machine;
pub mod metrics;
pub mod pipeline;
pub mod secret;
pub mod shutdown;
pub mod startup;
pub mod state;
pub mod systemd;
pub mod telemetry;
pub mod time;
pub mod upload;
