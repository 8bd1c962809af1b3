//! Self-healing: every few seconds each worker makes sure the fleet's streams, bucket
//! and consumer exist, recreating what is gone (an admin's mistake, a wiped NATS store).
//! A part that was recreated, by this worker or another, is told by its creation time:
//! the worker logs an error, says `degraded` for a few seconds, and ends the queued
//! jobs whose message went with the old queue as `queue_lost` instead of leaving them
//! queued for ever.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::connection::Link;
use super::names::Names;
use super::seal::FleetKey;
use super::store::StatusStore;
use super::{ClusterError, keycheck, queue::FleetQueue, setup};
use crate::domain::{BuildClass, FailureCode, JobFailure, JobState};

/// How often a worker looks.
const LOOK_EVERY: Duration = Duration::from_secs(5);

/// When each part was created, as last seen.
#[derive(Clone, PartialEq)]
pub(super) struct Seen {
    pub(super) jobs: String,
    pub(super) logs: String,
    pub(super) status: String,
    pub(super) consumer: String,
}

pub(super) struct Healer {
    js: jetstream::Context,
    names: Names,
    jobs_config: stream::Config,
    logs_config: stream::Config,
    status_config: stream::Config,
    consumer_configs: Vec<(Option<BuildClass>, consumer::pull::Config)>,
    key: Arc<FleetKey>,
    urls: String,
    store: Arc<StatusStore>,
    link: Link,
    seen: Mutex<Seen>,
}

impl Healer {
    /// A healer for the fleet `settings` describe, as it was `found` at start-up.
    pub(super) fn new(
        js: &jetstream::Context,
        names: &Names,
        settings: &super::ClusterSettings,
        found: &Seen,
        store: &Arc<StatusStore>,
        link: &Link,
    ) -> Self {
        Self {
            js: js.clone(),
            names: names.clone(),
            jobs_config: setup::jobs_stream(names, settings),
            logs_config: setup::logs_stream(names, settings),
            status_config: setup::status_stream(names, settings),
            consumer_configs: setup::consumers(names, settings),
            key: Arc::clone(&settings.key),
            urls: settings.urls.clone(),
            store: Arc::clone(store),
            link: link.clone(),
            seen: Mutex::new(found.clone()),
        }
    }

    /// Looks every [`LOOK_EVERY`] until `abandon`.
    pub(super) fn start(self, tasks: &TaskTracker, abandon: CancellationToken) {
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(LOOK_EVERY);
            loop {
                tokio::select! {
                    () = abandon.cancelled() => break,
                    _ = tick.tick() => {}
                }
                if self.link.reachable().is_err() {
                    continue;
                }
                if let Err(e) = self.look().await {
                    tracing::debug!("checking the fleet's streams: {e}");
                }
            }
        });
    }

    async fn look(&self) -> Result<(), ClusterError> {
        let nats = |what: &str, e: &dyn std::fmt::Display| {
            ClusterError::nats(&format!("checking {what}"), e)
        };
        let jobs = self
            .js
            .get_or_create_stream(self.jobs_config.clone())
            .await
            .map_err(|e| nats("the job queue", &e))?;
        let logs = self
            .js
            .get_or_create_stream(self.logs_config.clone())
            .await
            .map_err(|e| nats("the log stream", &e))?;
        let status = self
            .js
            .get_or_create_stream(self.status_config.clone())
            .await
            .map_err(|e| nats("the status bucket", &e))?;
        let consumers = setup::open_consumers(&jobs, &self.names, self.consumer_configs.clone())
            .await
            .map_err(|(what, e)| nats(&what, &e))?;
        let now = Seen {
            jobs: jobs.cached_info().created.to_string(),
            logs: logs.cached_info().created.to_string(),
            status: status.cached_info().created.to_string(),
            consumer: setup::created(&consumers),
        };
        let before = self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if now == before {
            return Ok(());
        }
        let recreated = [
            (before.jobs != now.jobs, self.names.jobs_stream()),
            (before.logs != now.logs, self.names.logs_stream()),
            (before.status != now.status, self.names.status_bucket()),
            (
                before.consumer != now.consumer,
                "consumer of a job class".to_owned(),
            ),
        ];
        for (_, name) in recreated.iter().filter(|(changed, _)| *changed) {
            tracing::error!(
                "the fleet's {name} was gone and has been recreated; jobs it held are lost"
            );
        }
        self.link.repaired();
        if before.status != now.status {
            self.store.bucket_recreated();
            // A new bucket holds no key check: the fleet's key goes in again.
            if let Ok(kv) = self.js.get_key_value(self.names.status_bucket()).await
                && let Err(e) = keycheck::check(&kv, &self.names, &self.key, &self.urls).await
            {
                tracing::error!("the fleet's key check after the bucket came back: {e}");
            }
        }
        if before.jobs != now.jobs {
            self.end_lost_jobs(&jobs).await?;
        }
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = now;
        Ok(())
    }

    /// Ends every queued job whose message is no longer in the queue.
    async fn end_lost_jobs(&self, jobs: &stream::Stream) -> Result<(), ClusterError> {
        for (doc, _) in self.store.all().await? {
            let (Some(seq), JobState::Queued) = (doc.seq, doc.view.state) else {
                continue;
            };
            let still_there = match jobs.get_raw_message(seq).await {
                Ok(message) => FleetQueue::label_of(&message.headers)
                    .is_ok_and(|(id, round)| id == doc.view.id && round == doc.round),
                Err(_) => false,
            };
            if still_there {
                continue;
            }
            let id = doc.view.id.clone();
            let failure = JobFailure::new(
                FailureCode::QueueLost,
                "the fleet's job queue was lost (its stream was deleted or NATS lost its store) while the job waited; submit it again",
            );
            self.store
                .modify(&id, "ending a job whose queue was lost", |current| {
                    let next = current
                        .filter(|c| c.round == doc.round && c.seq == doc.seq)
                        .map(|c| {
                            let mut next = c.clone();
                            next.fail(&failure);
                            next
                        });
                    Ok(((), next))
                })
                .await?;
            tracing::warn!(job_id = %id, "the job's queued message was lost; it ends as queue_lost");
        }
        Ok(())
    }
}
