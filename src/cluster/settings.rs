//! What cluster mode needs from the configuration, resolved once at start-up.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::seal::FleetKey;
use crate::jobs::Identity;

pub(crate) struct ClusterSettings {
    pub(crate) urls: String,
    pub(crate) ca_file: Option<PathBuf>,
    pub(crate) creds_file: Option<PathBuf>,
    pub(crate) token: Option<String>,
    pub(crate) key: Arc<FleetKey>,
    pub(crate) prefix: String,
    pub(crate) replicas: usize,
    pub(crate) max_attempts: u32,
    pub(crate) ack_wait: Duration,
    pub(crate) queue_capacity: usize,
    pub(crate) log_lines: usize,
    pub(crate) log_bytes: u64,
    pub(crate) retention: Duration,
    pub(crate) worker_id: String,
    /// Who this worker is, for its record in the fleet view.
    pub(crate) identity: Identity,
    /// How long a job may wait in the fleet's queue (`queue_timeout`).
    pub(crate) queue_timeout: Option<Duration>,
    pub(crate) executors: usize,
}
