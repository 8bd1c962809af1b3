//! The `corebuild` command line as a client of a running worker: a thin layer over
//! the HTTP API, for operators at a terminal and for scripts (`--json`).

mod commands;
mod sse;

use clap::{Args, Subcommand};
use serde_json::Value;

use crate::domain::{JobState, Secret};

pub use commands::run;

/// Where the worker is and how to talk to it.
#[derive(Debug, Clone, Args)]
pub struct Connection {
    /// The worker's base URL.
    #[arg(long, env = "COREBUILD_URL", default_value = "http://127.0.0.1:3060")]
    pub url: String,

    /// The worker's token, when it has one.
    #[arg(long, env = "COREBUILD_TOKEN", hide_env_values = true)]
    pub token: Option<Secret>,

    /// Print the worker's JSON answers instead of a summary.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Show what the worker offers and how loaded it is.
    Capabilities {
        #[command(flatten)]
        conn: Connection,
    },
    /// Submit a job from a JSON file: the job object, or `{"job": {...}}`.
    Submit {
        #[command(flatten)]
        conn: Connection,
        /// Path of the job file, or `-` for standard input.
        file: String,
        /// Wait for the result (the blocking call) instead of returning at once.
        #[arg(long, conflicts_with = "follow")]
        wait: bool,
        /// Stream the job's log until it ends, with the upload's progress.
        #[arg(long)]
        follow: bool,
    },
    /// Show one job.
    Status {
        id: String,
        #[command(flatten)]
        conn: Connection,
    },
    /// List the retained jobs, newest first.
    Jobs {
        #[command(flatten)]
        conn: Connection,
        /// Only jobs in this state.
        #[arg(long)]
        state: Option<JobState>,
    },
    /// Print a job's log.
    Logs {
        id: String,
        #[command(flatten)]
        conn: Connection,
        /// Keep streaming until the job ends.
        #[arg(long)]
        follow: bool,
    },
    /// Cancel a queued, running or uploading job.
    Cancel {
        id: String,
        #[command(flatten)]
        conn: Connection,
    },
}

/// A client call that could not be made or was refused.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the worker: {0}")]
    Http(#[from] reqwest::Error),
    #[error("{0}")]
    Input(String),
    #[error("{status}: {message} ({code})")]
    Refused {
        status: u16,
        code: String,
        message: String,
        body: Value,
    },
}

/// How the command ended, as its exit status.
pub enum Exit {
    Ok,
    /// The job failed, timed out or was cancelled.
    JobFailed,
}
