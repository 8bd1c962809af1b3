//! Cluster mode: the fleet answers for every job, whichever worker runs it; this
//! worker's engine runs the jobs it takes and tells its own load.

use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::{JobBackend, Load, Submitted};
use crate::api::ApiError;
use crate::cluster::{Cluster, ClusterState};
use crate::domain::{Job, Outcome};
use crate::jobs::{Engine, FollowEvent, Identity, JobView, LogPage, SubmittedBy, WorkerRecord};
use crate::metrics::ClassNow;

impl JobBackend for Cluster {
    fn submit<'a>(
        &'a self,
        job: Job,
        raw: Value,
        by: SubmittedBy<'a>,
    ) -> BoxFuture<'a, Result<Submitted, ApiError>> {
        Box::pin(async move {
            let admitted = Cluster::submit(self, &job, raw, by).await?;
            Ok(Submitted {
                view: admitted.view,
                attached: admitted.attached,
                record: None,
            })
        })
    }

    fn wait<'a>(
        &'a self,
        submitted: &'a Submitted,
    ) -> BoxFuture<'a, Result<(Outcome, Vec<String>), ApiError>> {
        Box::pin(async move {
            let id = &submitted.view.id;
            let (view, logs) = Cluster::wait(self, id).await?;
            let outcome = view.outcome().expect("wait returns a finished job");
            Ok((outcome, logs))
        })
    }

    fn status<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<JobView, ApiError>> {
        Box::pin(async move { Ok(self.view(id).await?) })
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<JobView>, ApiError>> {
        Box::pin(async move { Ok(Cluster::list(self).await?) })
    }

    fn cancel<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<JobView, ApiError>> {
        Box::pin(async move { Ok(Cluster::cancel(self, id).await?) })
    }

    fn log_page<'a>(
        &'a self,
        id: &'a str,
        since: u64,
        limit: usize,
        max_bytes: usize,
    ) -> BoxFuture<'a, Result<LogPage, ApiError>> {
        Box::pin(async move { Ok(Cluster::log_page(self, id, since, limit, max_bytes).await?) })
    }

    fn follow<'a>(
        &'a self,
        id: &'a str,
        since: u64,
        max_bytes: usize,
        keep_alive: Duration,
    ) -> BoxFuture<'a, Result<BoxStream<'static, FollowEvent>, ApiError>> {
        Box::pin(async move {
            let events = Cluster::follow(self, id, since, max_bytes, keep_alive).await?;
            Ok(events.boxed())
        })
    }

    fn load(&self) -> Load {
        self.engine().load()
    }

    fn log_bytes(&self) -> (u64, u64) {
        JobBackend::log_bytes(self.engine().as_ref())
    }

    fn engine(&self) -> &Engine {
        Cluster::engine(self)
    }

    fn workers<'a>(
        &'a self,
        me: &'a Identity,
    ) -> BoxFuture<'a, Result<Vec<WorkerRecord>, ApiError>> {
        Box::pin(async move { Ok(Cluster::workers(self, me).await?) })
    }

    fn fleet_classes<'a>(&'a self, me: &'a Identity) -> BoxFuture<'a, Option<Vec<ClassNow>>> {
        Box::pin(async move { Some(self.classes_now(me).await) })
    }

    fn fleet(&self) -> Option<Vec<WorkerRecord>> {
        Some(Cluster::fleet(self))
    }

    fn cluster_state(&self) -> Option<ClusterState> {
        Some(self.state())
    }

    fn shutdown<'a>(&'a self, grace: Duration, force: &'a CancellationToken) -> BoxFuture<'a, ()> {
        Box::pin(Cluster::shutdown(self, grace, force))
    }
}
