//! corebuild: the serve.zone build worker for BaseOS images.
//!
//! # Layout
//! - [`cli`]: the command line; `serve` (the default) runs the worker.
//! - [`config`]: every environment variable, parsed once at start-up.
//! - [`machine`]: CPU, memory and disk facts, and the executor size derived from them.
//! - [`startup`]: builds the application (workdir, listener, server) from a config.
//! - [`state`]: what the HTTP handlers share.
//! - [`api`]: routes, the token check, and the one mapping from errors to answers.
//! - [`secret`]: a string that never prints.
//! - [`telemetry`], [`shutdown`]: logging and signal handling for `main`.

pub mod api;
pub mod build;
pub mod cli;
pub mod config;
pub mod jobs;
pub mod machine;
pub mod pipeline;
pub mod secret;
pub mod shutdown;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod time;
pub mod upload;
