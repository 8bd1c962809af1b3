//! The `corebuild` command line as a client of a running worker: a thin layer over the
//! HTTP API (docs/api.md), for operators at a terminal and for scripts (`--json`).
//!
//! Results go to stdout; progress (state changes, the upload bar) goes to stderr and
//! only when it is a terminal, so a script that reads stdout gets the result alone.

mod address;
mod api;
mod commands;
mod fleet;
mod human;
mod progress;
mod sse;

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::domain::{JobState, Secret};

/// Where the worker is and how to talk to it.
#[derive(Debug, Clone, Args)]
pub struct Connection {
    /// The worker's base URL (http:// or https://). Unset: the worker on this host, at
    /// the port and address its COREBUILD_PORT, COREBUILD_BIND and COREBUILD_TLS_CERT
    /// give (http://127.0.0.1:3060 when they are unset too).
    #[arg(long, env = "COREBUILD_URL")]
    url: Option<String>,

    /// The token to send to the worker, when it requires one.
    #[arg(long, env = "COREBUILD_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<Secret>,

    /// PEM file of CA certificates to trust for an https:// URL (beside the system's).
    #[arg(long, env = "COREBUILD_CA_FILE")]
    pub(crate) ca_file: Option<PathBuf>,

    /// Seconds to connect and to receive a whole answer; the blocking `submit --wait`
    /// checks meanwhile that the worker still answers within it.
    #[arg(long, env = "COREBUILD_CLIENT_TIMEOUT", default_value = "30", value_name = "SECONDS",
        value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub(crate) timeout: u64,

    /// Seconds a followed log may stay silent: the worker sends a keep-alive every 15 s,
    /// so this is kept above that. Shown only by the commands that follow a log.
    #[arg(long, env = "COREBUILD_CLIENT_IDLE_TIMEOUT", default_value = "60", value_name = "SECONDS", hide = true,
        value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub(crate) idle_timeout: u64,

    /// Print JSON on stdout instead of text: the worker's answer, or the error.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `--json` of the commands that can follow a log.
const FOLLOWING_JSON: &str = "Print JSON on stdout instead of text: the worker's answer, or the \
error; a followed log as one object per line, ending with the job's status";

impl Connection {
    /// The worker's URL: `--url`, else the one this host's worker settings give.
    pub(crate) fn url(&self) -> String {
        self.url
            .clone()
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| address::local_worker_url(|name| std::env::var(name).ok()))
    }
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Show what the worker offers and how loaded it is.
    Capabilities {
        #[command(flatten)]
        conn: Connection,
    },
    /// Submit a job from a JSON file: the job object, or `{"job": {...}}` as the API
    /// takes it.
    #[command(mut_arg("json", |a| a.help(FOLLOWING_JSON)), mut_arg("idle_timeout", |a| a.hide(false)))]
    Submit {
        /// Path of the job file, or `-` for standard input.
        file: String,
        /// Wait for the result (the blocking call) instead of returning at once.
        #[arg(long, conflicts_with = "follow")]
        wait: bool,
        /// Stream the job's log until it ends, with the upload's progress.
        #[arg(long)]
        follow: bool,
        #[command(flatten)]
        conn: Connection,
    },
    /// Show one job.
    Status {
        /// The job's id.
        id: String,
        #[command(flatten)]
        conn: Connection,
    },
    /// List the retained jobs, newest first.
    Jobs {
        /// Only jobs in this state.
        #[arg(long)]
        state: Option<JobState>,
        #[command(flatten)]
        conn: Connection,
    },
    /// Print a job's log.
    #[command(mut_arg("json", |a| a.help(FOLLOWING_JSON)), mut_arg("idle_timeout", |a| a.hide(false)))]
    Logs {
        /// The job's id.
        id: String,
        /// Keep streaming until the job ends.
        #[arg(long)]
        follow: bool,
        /// Put the local time each line was logged in front of it (ignored with --json,
        /// whose lines carry `time`).
        #[arg(long)]
        timestamps: bool,
        #[command(flatten)]
        conn: Connection,
    },
    /// Cancel a queued, running or uploading job.
    Cancel {
        /// The job's id.
        id: String,
        #[command(flatten)]
        conn: Connection,
    },
    /// List the live workers: standalone the worker itself, in a fleet every worker.
    Workers {
        #[command(flatten)]
        conn: Connection,
    },
    /// Pause the worker: its running jobs finish, it starts nothing new until resumed.
    Pause {
        /// Why, shown in the fleet view (at most 200 characters).
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        conn: Connection,
    },
    /// Resume a paused worker.
    Resume {
        #[command(flatten)]
        conn: Connection,
    },
}

impl ClientCommand {
    fn connection(&self) -> &Connection {
        match self {
            Self::Capabilities { conn }
            | Self::Submit { conn, .. }
            | Self::Status { conn, .. }
            | Self::Jobs { conn, .. }
            | Self::Logs { conn, .. }
            | Self::Cancel { conn, .. }
            | Self::Workers { conn }
            | Self::Pause { conn, .. }
            | Self::Resume { conn } => conn,
        }
    }
}

/// A client call that could not be made or was refused.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No answer: the message says what failed and how to point elsewhere.
    #[error("{0}")]
    Unreachable(String),
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

impl ClientError {
    /// The error as JSON, for `--json`: the worker's own error body when it refused,
    /// else an object of the same shape.
    fn to_json(&self) -> Value {
        match self {
            Self::Refused { body, .. } => body.clone(),
            Self::Unreachable(message) => {
                json!({ "success": false, "error": message, "code": "unreachable" })
            }
            Self::Input(message) => {
                json!({ "success": false, "error": message, "code": "invalid_input" })
            }
        }
    }
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok,
    /// The job failed, timed out or was cancelled.
    JobFailed,
    /// The worker could not be reached, or refused the call.
    Refused,
    /// Ctrl-C; the job, if any, goes on.
    Interrupted,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Self::Ok => 0,
            Self::JobFailed => 1,
            Self::Refused => 2,
            Self::Interrupted => 130,
        }
    }
}

/// Runs one client command; errors are reported here (on stdout as JSON with
/// `--json`, else on stderr) and become exit status 2.
pub async fn run(command: ClientCommand) -> Exit {
    let json = command.connection().json;
    match commands::run(command).await {
        Ok(exit) => exit,
        Err(err) => {
            if json {
                println!("{}", err.to_json());
            } else {
                eprintln!("corebuild: {err}");
                if let ClientError::Refused { body, .. } = &err
                    && let Some(logs) = body.get("logs").and_then(Value::as_array)
                {
                    for line in logs.iter().filter_map(Value::as_str) {
                        eprintln!("{line}");
                    }
                }
            }
            Exit::Refused
        }
    }
}
