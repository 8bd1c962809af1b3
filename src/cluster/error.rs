//! What goes wrong in cluster mode: a request's errors (mapped to HTTP in `api::error`)
//! and the reasons cluster mode cannot start.

use crate::jobs::NoJob;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ClusterError {
    #[error(transparent)]
    NotFound(#[from] NoJob),
    #[error("job {0} is already known with different content")]
    Conflict(String),
    #[error("job {0} has already finished")]
    Finished(String),
    #[error("the fleet's job queue is full")]
    QueueFull,
    #[error("the worker is shutting down")]
    ShuttingDown,
    /// NATS could not be reached or did not answer; the message says which step.
    #[error("the cluster is unavailable: {0}")]
    Unavailable(String),
}

impl ClusterError {
    pub(super) fn nats(step: &str, err: impl std::fmt::Display) -> Self {
        Self::Unavailable(format!("{step}: {err}"))
    }
}

/// Why cluster mode could not start.
#[derive(Debug, thiserror::Error)]
pub enum ClusterStartError {
    #[error("cannot connect to NATS at {urls} (COREBUILD_NATS_URL): {reason}")]
    Connect { urls: String, reason: String },
    #[error("cannot set up JetStream {what} on NATS at {urls}: {reason}")]
    Setup {
        what: String,
        urls: String,
        reason: String,
    },
    #[error(
        "COREBUILD_CLUSTER_KEY (with COREBUILD_CLUSTER_PREVIOUS_KEY, if set) does not open the \
         key check of the fleet `{prefix}`: every worker of a fleet needs its key (during a \
         rotation: the new key, with the old one as COREBUILD_CLUSTER_PREVIOUS_KEY)"
    )]
    WrongKey { prefix: String },
    #[error(
        "{setting}={ours} on this worker, but the fleet `{prefix}` was set up with {fleet}: \
         every worker of a fleet needs the same value. Set {setting}={fleet}, or change the \
         fleet first (docs/cluster.md, \"Changing a fleet's settings\")"
    )]
    Drift {
        setting: &'static str,
        ours: String,
        fleet: String,
        prefix: String,
    },
}

impl ClusterStartError {
    /// `what` could not be set up on the NATS at `urls`.
    pub(super) fn setup(what: String, urls: &str, err: impl std::fmt::Display) -> Self {
        Self::Setup {
            what,
            urls: urls.to_owned(),
            reason: err.to_string(),
        }
    }
}
