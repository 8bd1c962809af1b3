//! Standalone: the worker's own engine answers for its jobs.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::{JobBackend, Load, Submitted};
use crate::api::ApiError;
use crate::domain::{Job, Outcome};
use crate::jobs::{
    Admission, Engine, FollowEvent, Identity, JobRecord, JobView, LogPage, NoJob, SubmittedBy,
    WorkerRecord,
};

/// The job's record, or 404.
fn found(engine: &Engine, id: &str) -> Result<Arc<JobRecord>, ApiError> {
    engine.get(id).ok_or_else(|| NoJob(id.to_owned()).into())
}

fn view_of(engine: &Engine, record: &Arc<JobRecord>) -> JobView {
    JobView::of(record, engine.queue_position(record))
}

impl JobBackend for Engine {
    fn submit<'a>(
        &'a self,
        job: Job,
        _raw: Value,
        by: SubmittedBy<'a>,
    ) -> BoxFuture<'a, Result<Submitted, ApiError>> {
        Box::pin(async move {
            let (record, attached) = match Engine::submit(self, job, by)? {
                Admission::Queued(record) => (record, false),
                Admission::Attached(record) => (record, true),
            };
            Ok(Submitted {
                view: view_of(self, &record),
                attached,
                record: Some(record),
            })
        })
    }

    fn wait<'a>(
        &'a self,
        submitted: &'a Submitted,
    ) -> BoxFuture<'a, Result<(Outcome, Vec<String>), ApiError>> {
        Box::pin(async move {
            let record = match &submitted.record {
                Some(record) => Arc::clone(record),
                None => found(self, &submitted.view.id)?,
            };
            let outcome = record.wait().await;
            Ok((outcome.as_ref().clone(), record.log.texts()))
        })
    }

    fn status<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<JobView, ApiError>> {
        Box::pin(async move { Ok(view_of(self, &found(self, id)?)) })
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<JobView>, ApiError>> {
        Box::pin(async move {
            Ok(Engine::list(self)
                .iter()
                .map(|r| view_of(self, r))
                .collect())
        })
    }

    fn cancel<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<JobView, ApiError>> {
        Box::pin(async move { Ok(view_of(self, &Engine::cancel(self, id)?)) })
    }

    fn log_page<'a>(
        &'a self,
        id: &'a str,
        since: u64,
        limit: usize,
        max_bytes: usize,
    ) -> BoxFuture<'a, Result<LogPage, ApiError>> {
        Box::pin(async move {
            let record = found(self, id)?;
            Ok(crate::jobs::page(&record, since, limit, max_bytes))
        })
    }

    fn follow<'a>(
        &'a self,
        id: &'a str,
        since: u64,
        max_bytes: usize,
        keep_alive: Duration,
    ) -> BoxFuture<'a, Result<BoxStream<'static, FollowEvent>, ApiError>> {
        Box::pin(async move {
            let record = found(self, id)?;
            Ok(crate::jobs::follow(record, since, max_bytes, keep_alive).boxed())
        })
    }

    fn load(&self) -> Load {
        Load {
            running: self.running(),
            queued: self.queued(),
            accepting: self.accepting(),
        }
    }

    fn log_bytes(&self) -> (u64, u64) {
        Engine::log_bytes(self)
    }

    fn engine(&self) -> &Engine {
        self
    }

    fn workers<'a>(
        &'a self,
        me: &'a Identity,
    ) -> BoxFuture<'a, Result<Vec<WorkerRecord>, ApiError>> {
        Box::pin(async move { Ok(vec![self.describe(me)]) })
    }

    fn shutdown<'a>(&'a self, grace: Duration, force: &'a CancellationToken) -> BoxFuture<'a, ()> {
        Box::pin(Engine::shutdown(self, grace, force))
    }
}
