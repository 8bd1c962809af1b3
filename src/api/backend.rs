//! The one seam between the handlers and the jobs: the worker's own engine
//! (standalone) or the fleet's queue on NATS (cluster mode). Handlers call these
//! methods and never learn which one answers.

use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use futures::StreamExt;
use futures::stream::BoxStream;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::error::ApiError;
use crate::cluster::{Cluster, ClusterState};
use crate::domain::{Job, Outcome};
use crate::jobs::{
    Admission, AdmitError, CancelError, Engine, FollowEvent, JobRecord, JobView, LogPage,
};

#[derive(Clone)]
pub(crate) enum Backend {
    Local(Arc<Engine>),
    Cluster {
        cluster: Arc<Cluster>,
        /// Runs the jobs this worker takes from the fleet.
        engine: Arc<Engine>,
    },
}

/// A submission the backend took.
pub(crate) struct Submitted {
    pub(crate) view: JobView,
    /// The same job was already known: no second build.
    pub(crate) attached: bool,
    waiter: Waiter,
}

enum Waiter {
    Local(Arc<JobRecord>),
    Cluster(Arc<Cluster>),
}

/// The worker's load, for capabilities and metrics.
pub(crate) struct Load {
    pub(crate) running: usize,
    pub(crate) queued: usize,
    pub(crate) accepting: bool,
}

impl Backend {
    fn engine(&self) -> &Arc<Engine> {
        match self {
            Self::Local(engine) | Self::Cluster { engine, .. } => engine,
        }
    }

    pub(crate) async fn submit(
        &self,
        job: Job,
        raw: Value,
        api_token: Option<&str>,
    ) -> Result<Submitted, ApiError> {
        match self {
            Self::Local(engine) => {
                let (record, attached) = match engine.submit(job, api_token) {
                    Ok(Admission::Queued(record)) => (record, false),
                    Ok(Admission::Attached(record)) => (record, true),
                    Err(AdmitError::QueueFull) => return Err(ApiError::QueueFull),
                    Err(AdmitError::ShuttingDown) => return Err(ApiError::ShuttingDown),
                    Err(e @ AdmitError::Conflict(_)) => {
                        return Err(ApiError::Conflict(e.to_string()));
                    }
                };
                Ok(Submitted {
                    view: JobView::of(&record, engine.queue_position(&record)),
                    attached,
                    waiter: Waiter::Local(record),
                })
            }
            Self::Cluster { cluster, .. } => {
                let admitted = cluster.submit(&job, raw, api_token).await?;
                Ok(Submitted {
                    view: admitted.view,
                    attached: admitted.attached,
                    waiter: Waiter::Cluster(Arc::clone(cluster)),
                })
            }
        }
    }

    /// Waits for a submitted job's end: its outcome and its log's texts.
    pub(crate) async fn wait(
        &self,
        submitted: &Submitted,
    ) -> Result<(Outcome, Vec<String>), ApiError> {
        match &submitted.waiter {
            Waiter::Local(record) => {
                let outcome = record.wait().await;
                Ok((outcome.as_ref().clone(), record.log.texts()))
            }
            Waiter::Cluster(cluster) => {
                let id = &submitted.view.id;
                let view = cluster.wait(id).await?;
                let logs = cluster.log_texts(id).await?;
                let outcome = view.outcome().expect("wait returns a finished job");
                Ok((outcome, logs))
            }
        }
    }

    pub(crate) async fn status(&self, id: &str) -> Result<JobView, ApiError> {
        match self {
            Self::Local(engine) => {
                let record = engine.get(id).ok_or_else(|| not_found(id))?;
                Ok(JobView::of(&record, engine.queue_position(&record)))
            }
            Self::Cluster { cluster, .. } => Ok(cluster.view(id).await?),
        }
    }

    /// Every retained job, newest first.
    pub(crate) async fn list(&self) -> Result<Vec<JobView>, ApiError> {
        match self {
            Self::Local(engine) => Ok(engine
                .list()
                .iter()
                .map(|r| JobView::of(r, engine.queue_position(r)))
                .collect()),
            Self::Cluster { cluster, .. } => Ok(cluster.list().await?),
        }
    }

    pub(crate) async fn cancel(&self, id: &str) -> Result<JobView, ApiError> {
        match self {
            Self::Local(engine) => match engine.cancel(id) {
                Ok(record) => Ok(JobView::of(&record, engine.queue_position(&record))),
                Err(e @ CancelError::NotFound(_)) => Err(ApiError::NotFound(e.to_string())),
                Err(e @ CancelError::Finished(_)) => Err(ApiError::Conflict(e.to_string())),
            },
            Self::Cluster { cluster, .. } => Ok(cluster.cancel(id).await?),
        }
    }

    pub(crate) async fn log_page(
        &self,
        id: &str,
        since: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<LogPage, ApiError> {
        match self {
            Self::Local(engine) => {
                let record = engine.get(id).ok_or_else(|| not_found(id))?;
                Ok(crate::jobs::page(&record, since, limit, max_bytes))
            }
            Self::Cluster { cluster, .. } => {
                Ok(cluster.log_page(id, since, limit, max_bytes).await?)
            }
        }
    }

    pub(crate) async fn follow(
        &self,
        id: &str,
        since: u64,
        max_bytes: usize,
        keep_alive: Duration,
    ) -> Result<BoxStream<'static, FollowEvent>, ApiError> {
        match self {
            Self::Local(engine) => {
                let record = engine.get(id).ok_or_else(|| not_found(id))?;
                Ok(boxed(crate::jobs::follow(
                    record, since, max_bytes, keep_alive,
                )))
            }
            Self::Cluster { cluster, .. } => {
                Ok(boxed(cluster.follow(id, since, keep_alive).await?))
            }
        }
    }

    pub(crate) fn load(&self) -> Load {
        let engine = self.engine();
        Load {
            running: engine.running(),
            queued: engine.queued(),
            accepting: engine.accepting(),
        }
    }

    /// Bytes of log text retained now, and the limit.
    pub(crate) fn log_bytes(&self) -> (u64, u64) {
        self.engine().log_bytes()
    }

    /// Cluster mode: whether NATS is reachable now.
    pub(crate) fn cluster_state(&self) -> Option<ClusterState> {
        match self {
            Self::Local(_) => None,
            Self::Cluster { cluster, .. } => Some(cluster.state()),
        }
    }

    /// Stops taking jobs and drains (see `Engine::shutdown`; in cluster mode jobs cut
    /// off at the end go back to the fleet).
    pub(crate) async fn shutdown(&self, grace: Duration, force: &CancellationToken) {
        match self {
            Self::Local(engine) => engine.shutdown(grace, force).await,
            Self::Cluster { cluster, .. } => cluster.shutdown(grace, force).await,
        }
    }
}

fn boxed(
    stream: impl Stream<Item = FollowEvent> + Send + 'static,
) -> BoxStream<'static, FollowEvent> {
    stream.boxed()
}

pub(crate) fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("no job {id}"))
}
