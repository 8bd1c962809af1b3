//! Cluster mode: a fleet of workers sharing one durable job queue on NATS JetStream:
//! a work-queue stream of sealed jobs with a subject and consumer per job class
//! (`queue`), a bucket of status documents changed only by compare-and-set (`store`;
//! every worker keeps a copy of it for status reads, `cache`),
//! a bucket of worker records (`lease`, read as the fleet view by `fleet_view`), a
//! stream of log batches (`logs`, `follow`) and a cancel subject, all named under one
//! prefix (`names`, set up by `setup`).
//!
//! A job meets the parts in this order: `admission`, `taker` (claim), `mirror` (run
//! and mirror it in this worker's own engine); `cancel` and `pruner` act on any job.
//! `jobs::rules` makes every decision; [`Cluster`] wires the parts (docs/cluster.md).

mod admission;
mod cache;
mod cancel;
mod claim;
mod connection;
mod doc;
mod error;
mod fleet_view;
mod follow;
mod healer;
mod hold;
mod keycheck;
mod lease;
mod listing;
mod log_index;
mod log_page;
mod logs;
mod mirror;
mod names;
mod pruner;
mod queue;
mod running;
mod seal;
mod settings;
mod setup;
mod store;
mod taker;

use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::domain::Job;
use crate::jobs::rules::Retention;
use crate::jobs::{Engine, FollowEvent, JobView, LogPage, SubmittedBy};
use crate::metrics::ClusterMetrics;

pub(crate) use admission::Admitted;
pub(crate) use connection::ClusterState;
pub(crate) use error::ClusterError;
pub use error::ClusterStartError;
pub(crate) use seal::FleetKey;
pub use seal::SealError;
pub(crate) use settings::ClusterSettings;

use admission::Admission;
use cancel::Cancels;
use connection::Link;
use healer::Healer;
use logs::LogStore;
use pruner::Pruner;
use queue::FleetQueue;
use running::Mirror;
use store::StatusStore;
use taker::Taker;

/// This worker's place in the fleet.
pub(crate) struct Cluster {
    link: Link,
    store: Arc<StatusStore>,
    queue: Arc<FleetQueue>,
    logs: Arc<LogStore>,
    admission: Admission,
    cancels: Cancels,
    taker: Arc<Taker>,
    leases: Arc<lease::Leases>,
    /// Runs the jobs this worker takes; its load is this worker's.
    engine: Arc<Engine>,
    /// The cancel listener and the pruner: they run until `abandon`.
    background: TaskTracker,
    /// Ends the retries of publishing a job's end while NATS is out of reach, once the
    /// worker really must exit.
    abandon: CancellationToken,
}

impl Cluster {
    /// Connects, finds or creates the streams, bucket and consumer, and starts taking
    /// jobs for `engine`.
    pub(crate) async fn start(
        settings: ClusterSettings,
        engine: Arc<Engine>,
        metrics: Arc<ClusterMetrics>,
    ) -> Result<Arc<Self>, ClusterStartError> {
        let client = connection::connect(&settings, Arc::clone(&metrics)).await?;
        let link = Link::new(client.clone());
        let js = async_nats::jetstream::new(client);
        let names = names::Names::new(&settings.prefix);
        let streams = setup::open(&js, &names, &settings).await?;
        keycheck::check(&streams.status, &names, &settings.key, &settings.urls).await?;
        let leases = lease::Leases::open(&js, &names, &settings, &engine).await?;
        let store = Arc::new(StatusStore::new(
            streams.status,
            streams.status_stream,
            link.clone(),
            Retention::new(settings.retention),
        ));
        let healer = Healer::new(&js, &names, &settings, &streams.seen, &store, &link);
        let ClusterSettings {
            urls,
            key,
            replicas,
            max_attempts,
            ack_wait,
            log_lines,
            worker_id,
            executors,
            queue_timeout: settings_queue_timeout,
            ..
        } = settings;
        let queue = Arc::new(FleetQueue::new(
            js.clone(),
            streams.jobs,
            streams.consumers,
            streams.unrouted,
            names.clone(),
            Arc::clone(&key),
        ));
        let logs = Arc::new(LogStore::new(
            js,
            streams.logs,
            names.clone(),
            log_lines,
            Arc::clone(&store),
        ));
        let (stop_taking, abandon) = (CancellationToken::new(), CancellationToken::new());
        let active = cancel::Active::default();
        let mirror = Arc::new(Mirror {
            store: Arc::clone(&store),
            queue: Arc::clone(&queue),
            logs: Arc::clone(&logs),
            engine: Arc::clone(&engine),
            metrics: Arc::clone(&metrics),
            active: Arc::clone(&active),
            leases: Arc::clone(&leases),
            worker_id,
            ack_wait,
            abandon: abandon.clone(),
        });
        let taker = Arc::new(Taker {
            queue: Arc::clone(&queue),
            mirror,
            max_attempts,
            executors,
            classes: engine.builds().classes(),
            bells: (engine.builds().classes().into_iter())
                .map(|class| names.doorbell_subject(class))
                .collect(),
            stop_taking: stop_taking.clone(),
            tasks: TaskTracker::new(),
        });
        let cluster = Self {
            admission: Admission {
                store: Arc::clone(&store),
                queue: Arc::clone(&queue),
                key,
                metrics,
                stopping: stop_taking,
            },
            cancels: Cancels {
                store: Arc::clone(&store),
                queue: Arc::clone(&queue),
                link: link.clone(),
                subject: names.cancel_subject(),
                active,
            },
            link,
            store,
            queue,
            logs,
            taker,
            leases: Arc::clone(&leases),
            engine,
            background: TaskTracker::new(),
            abandon,
        };
        let (tasks, abandon) = (&cluster.background, &cluster.abandon);
        let subscription =
            |what: &str, e| ClusterStartError::setup(format!("subscription {what}"), &urls, e);
        let cancels = cluster.cancels.listen(tasks, abandon.clone()).await;
        cancels.map_err(|e| subscription(&names.cancel_subject(), e))?;
        let pings = cluster.link.watch(tasks, abandon.clone()).await;
        pings.map_err(|e| subscription("for round trips", e))?;
        leases.keep(tasks, abandon.clone());
        let doorbell = cluster
            .link
            .client()
            .subscribe(names.doorbell_subjects())
            .await;
        cluster
            .taker
            .start(doorbell.map_err(|e| subscription(&names.doorbell_subjects(), e))?);
        cluster.store.keep_cache(tasks, abandon.clone());
        healer.start(tasks, abandon.clone());
        let (store, logs, queue) = (&cluster.store, &cluster.logs, &cluster.queue);
        Pruner::new(store, logs, queue, leases, settings_queue_timeout)
            .start(tasks, abandon.clone());
        tracing::info!(
            %urls,
            prefix = names.prefix(),
            replicas,
            "cluster mode: taking jobs from the fleet's queue"
        );
        Ok(Arc::new(cluster))
    }

    /// This worker's engine, which runs the jobs it takes from the fleet.
    pub(crate) fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Whether the worker is connected to NATS now.
    pub(crate) fn state(&self) -> ClusterState {
        self.link.state()
    }

    pub(crate) async fn submit(
        &self,
        job: &Job,
        raw: Value,
        by: SubmittedBy<'_>,
    ) -> Result<Admitted, ClusterError> {
        let mut admitted = self.admission.submit(job, raw, by).await?;
        self.note_unserved(std::slice::from_mut(&mut admitted.view));
        Ok(admitted)
    }

    pub(crate) async fn view(&self, id: &str) -> Result<JobView, ClusterError> {
        let doc = self.store.recent(id).await?;
        let mut view = self.queue.with_position(&doc).await;
        self.note_unserved(std::slice::from_mut(&mut view));
        Ok(view)
    }

    /// Every job of the fleet still retained, newest first.
    pub(crate) async fn list(&self) -> Result<Vec<JobView>, ClusterError> {
        let docs = self.store.all().await?;
        let retained = docs
            .iter()
            .map(|(doc, _)| doc)
            .filter(|doc| !self.store.expired(doc));
        let mut views = self.queue.with_positions(retained).await;
        self.note_unserved(&mut views);
        views.sort_by_key(|v| std::cmp::Reverse(v.created_at));
        Ok(views)
    }

    pub(crate) async fn cancel(&self, id: &str) -> Result<JobView, ClusterError> {
        self.cancels.cancel(id).await
    }

    /// Waits until the job has finished; returns its final view and the texts of
    /// its kept log lines, for the blocking answer.
    pub(crate) async fn wait(&self, id: &str) -> Result<(JobView, Vec<String>), ClusterError> {
        let doc = self.store.wait_end(id).await?;
        let texts = self.logs.texts(id, &doc).await?;
        Ok((doc.view, texts))
    }

    pub(crate) async fn log_page(
        &self,
        id: &str,
        since: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<LogPage, ClusterError> {
        self.logs.page(id, since, limit, max_bytes).await
    }

    pub(crate) async fn follow(
        &self,
        id: &str,
        since: u64,
        max_bytes: usize,
        keep_alive: Duration,
    ) -> Result<impl Stream<Item = FollowEvent> + Send + 'static, ClusterError> {
        follow::follow(&self.logs, &self.store, id, since, max_bytes, keep_alive).await
    }

    /// Stops taking jobs, lets the engine drain (running jobs cut off at the end go
    /// back to the fleet's queue), and waits for every job's end to be published.
    pub(crate) async fn shutdown(&self, grace: Duration, force: &CancellationToken) {
        self.taker.stop_taking.cancel();
        self.engine.shutdown(grace, force).await;
        // The engine has drained: the jobs' ends are being published now. Give them a
        // little time even while NATS is out of reach, then let go.
        let publish = async {
            self.taker.tasks.close();
            self.taker.tasks.wait().await;
        };
        tokio::pin!(publish);
        tokio::select! {
            () = &mut publish => {}
            () = tokio::time::sleep(FINAL_PUBLISH) => {
                tracing::warn!("NATS did not take every job's end in time; the fleet redelivers those jobs");
                self.abandon.cancel();
                publish.await;
            }
        }
        self.abandon.cancel();
        self.background.close();
        self.background.wait().await;
        // Whatever is still buffered goes out if NATS is there; an unreachable NATS does
        // not hold up the exit.
        let _ = tokio::time::timeout(FLUSH_LIMIT, self.link.client().flush()).await;
    }
}

/// How long shutdown waits for the jobs' ends to reach NATS.
const FINAL_PUBLISH: Duration = Duration::from_secs(10);
/// How long the last flush of the connection may take.
const FLUSH_LIMIT: Duration = Duration::from_secs(2);
