//! The one seam between the handlers and the jobs: [`JobBackend`], implemented by the
//! worker's own engine (standalone, `local`) and by the fleet (cluster mode, `fleet`).
//! Handlers hold a [`Backend`] and never learn which one answers; each side maps its
//! own errors through `api::error`.

mod fleet;
mod local;

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::error::ApiError;
use crate::cluster::ClusterState;
use crate::domain::{Job, Outcome};
use crate::jobs::{
    Engine, FollowEvent, Identity, JobRecord, JobView, LogPage, SubmittedBy, WorkerRecord,
};
use crate::metrics::ClassNow;

/// The jobs as the handlers see them.
pub(crate) type Backend = Arc<dyn JobBackend>;

/// A submission the backend took.
pub(crate) struct Submitted {
    pub(crate) view: JobView,
    /// The same job was already known: no second build.
    pub(crate) attached: bool,
    /// Standalone: the very record a blocking caller waits on (a later attempt of the
    /// same id replaces it in the registry).
    record: Option<Arc<JobRecord>>,
}

/// The worker's load, for capabilities and metrics.
pub(crate) struct Load {
    pub(crate) running: usize,
    pub(crate) queued: usize,
    pub(crate) accepting: bool,
}

/// What the API asks of the jobs. Futures are boxed so one `dyn` backend serves both
/// modes.
pub(crate) trait JobBackend: Send + Sync {
    /// Admits `job`; `raw` is the job as sent, which a fleet queues (sealed).
    fn submit<'a>(
        &'a self,
        job: Job,
        raw: Value,
        by: SubmittedBy<'a>,
    ) -> BoxFuture<'a, Result<Submitted, ApiError>>;

    /// Waits for a submitted job's end: its outcome and its log's texts.
    fn wait<'a>(
        &'a self,
        submitted: &'a Submitted,
    ) -> BoxFuture<'a, Result<(Outcome, Vec<String>), ApiError>>;

    fn status<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<JobView, ApiError>>;

    /// Every retained job, newest first.
    fn list(&self) -> BoxFuture<'_, Result<Vec<JobView>, ApiError>>;

    fn cancel<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<JobView, ApiError>>;

    fn log_page<'a>(
        &'a self,
        id: &'a str,
        since: u64,
        limit: usize,
        max_bytes: usize,
    ) -> BoxFuture<'a, Result<LogPage, ApiError>>;

    /// The job's log from line `since` until its end; `max_bytes` bounds one batch of
    /// lines, `keep_alive` the longest silence.
    fn follow<'a>(
        &'a self,
        id: &'a str,
        since: u64,
        max_bytes: usize,
        keep_alive: Duration,
    ) -> BoxFuture<'a, Result<BoxStream<'static, FollowEvent>, ApiError>>;

    fn load(&self) -> Load;

    /// Bytes of log text retained now, and the limit.
    fn log_bytes(&self) -> (u64, u64);

    /// This worker's engine: its pause, what it builds, its own record.
    fn engine(&self) -> &Engine;

    /// Every worker of the fleet that is alive now (standalone: this one), by id.
    fn workers<'a>(
        &'a self,
        me: &'a Identity,
    ) -> BoxFuture<'a, Result<Vec<WorkerRecord>, ApiError>>;

    /// Cluster mode: the fleet's live workers as last read (a few seconds old at most).
    fn fleet(&self) -> Option<Vec<WorkerRecord>> {
        None
    }

    /// Cluster mode: each job class's backlog and workers, for the fleet's gauges.
    fn fleet_classes<'a>(&'a self, _me: &'a Identity) -> BoxFuture<'a, Option<Vec<ClassNow>>> {
        Box::pin(async { None })
    }

    /// Cluster mode: whether NATS is reachable now.
    fn cluster_state(&self) -> Option<ClusterState> {
        None
    }

    /// Stops taking jobs and drains (see `Engine::shutdown`; in cluster mode jobs cut
    /// off at the end go back to the fleet).
    fn shutdown<'a>(&'a self, grace: Duration, force: &'a CancellationToken) -> BoxFuture<'a, ()>;
}
