//! What running the fleet's jobs on this worker needs, shared by the taker that claims
//! them and the [`Run`](super::mirror::Run) that mirrors each one.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::cancel::Active;
use super::doc::{RunHold, StoredJob};
use super::lease::Leases;
use super::logs::LogStore;
use super::queue::FleetQueue;
use super::store::StatusStore;
use crate::jobs::Engine;
use crate::metrics::ClusterMetrics;

/// Pause after NATS failed a step, before trying again.
pub(super) const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Where a claimed job stands with respect to its status document.
pub(super) struct Claimed {
    /// Another worker took the job over while this one was cut off: this run's end
    /// is not stored and its message not acknowledged.
    pub(super) superseded: bool,
    pub(super) id: String,
    pub(super) round: u32,
    pub(super) attempt: u32,
    /// The claim, as the job's document names it while this run holds the job.
    pub(super) run: RunHold,
    pub(super) revision: u64,
    pub(super) doc: StoredJob,
    /// When the claim was written (a monotonic clock, which also counts the time the
    /// process was stopped).
    pub(super) at: std::time::Instant,
}

/// What running and mirroring the fleet's jobs on this worker needs.
pub(super) struct Mirror {
    pub(super) store: Arc<StatusStore>,
    /// Asked whether a run's message is still in the queue before it is acknowledged.
    pub(super) queue: Arc<FleetQueue>,
    pub(super) logs: Arc<LogStore>,
    pub(super) engine: Arc<Engine>,
    pub(super) metrics: Arc<ClusterMetrics>,
    pub(super) active: Active,
    /// This process's lease, which its runs live by.
    pub(super) leases: Arc<Leases>,
    pub(super) worker_id: String,
    /// A running job's message is acknowledged as in progress well within this.
    pub(super) ack_wait: Duration,
    /// Ends the retries of storing a job's end once the worker really must exit.
    pub(super) abandon: CancellationToken,
}
