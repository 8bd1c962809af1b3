//! Cluster mode: a fleet of workers sharing one durable job queue on NATS JetStream.
//!
//! - `{prefix}_jobs`: a work-queue stream of sealed jobs (discard-new at capacity,
//!   de-duplicated by job id and round) and one durable pull consumer the fleet shares;
//!   a worker fetches a job only when one of its executors is free.
//! - `{prefix}_status`: a key-value bucket with one status document per job, changed
//!   by compare-and-set (admission, claiming, cancel, progress, the end).
//! - `{prefix}_logs`: a stream of log batches, one subject per job.
//! - `{prefix}.cancel`: announces cancel requests to the worker running the job.
//!
//! The worker's own engine still runs each job; this module claims jobs for it and
//! mirrors their status and logs into NATS. The API reaches it through `api::Backend`.

mod claim;
mod connection;
mod doc;
mod logs;
mod names;
mod seal;
mod status;
mod submit;

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, kv, stream};
use dashmap::DashMap;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::jobs::{Engine, JobRecord};
use crate::metrics::ClusterMetrics;

pub(crate) use connection::ClusterState;
pub(crate) use seal::FleetKey;

/// What cluster mode needs from the configuration.
pub(crate) struct ClusterSettings {
    pub(crate) urls: String,
    pub(crate) ca_file: Option<std::path::PathBuf>,
    pub(crate) creds_file: Option<std::path::PathBuf>,
    pub(crate) token: Option<String>,
    pub(crate) key: FleetKey,
    pub(crate) prefix: String,
    pub(crate) replicas: usize,
    pub(crate) max_attempts: u32,
    pub(crate) ack_wait: Duration,
    pub(crate) queue_capacity: usize,
    pub(crate) log_lines: usize,
    pub(crate) log_bytes: u64,
    pub(crate) retention: Duration,
    pub(crate) worker_id: String,
    pub(crate) executors: usize,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ClusterError {
    #[error("no job {0}")]
    NotFound(String),
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
    fn nats(step: &str, err: impl std::fmt::Display) -> Self {
        Self::Unavailable(format!("{step}: {err}"))
    }
}

/// Why cluster mode could not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClusterStartError {
    #[error("cannot connect to NATS at {urls} (COREBUILD_NATS_URL): {reason}")]
    Connect { urls: String, reason: String },
    #[error("cannot set up JetStream {what} on NATS at {urls}: {reason}")]
    Setup {
        what: String,
        urls: String,
        reason: String,
    },
}

pub(crate) struct Cluster {
    client: async_nats::Client,
    js: jetstream::Context,
    names: names::Names,
    status: kv::Store,
    /// The bucket's own stream, for its current size.
    status_stream: stream::Stream,
    jobs: stream::Stream,
    logs: stream::Stream,
    consumer: consumer::PullConsumer,
    settings: ClusterSettings,
    engine: Arc<Engine>,
    metrics: Arc<ClusterMetrics>,
    /// Jobs this worker runs now, by id: cancel requests find them here.
    active: DashMap<String, Arc<JobRecord>>,
    /// The job taker and every job's mirror task.
    job_tasks: TaskTracker,
    /// The cancel listener and the pruner: they run until `abandon`.
    background: TaskTracker,
    /// Stops taking jobs.
    stop_taking: CancellationToken,
    /// Ends the retries of publishing a job's end while NATS is out of reach, once the
    /// worker really must exit.
    abandon: CancellationToken,
}

impl Cluster {
    /// Connects, sets up the streams, bucket and consumer (or finds them), and starts
    /// taking jobs for `engine`.
    pub(crate) async fn start(
        settings: ClusterSettings,
        engine: Arc<Engine>,
        metrics: Arc<ClusterMetrics>,
    ) -> Result<Arc<Self>, ClusterStartError> {
        let client = connection::connect(&settings, Arc::clone(&metrics)).await?;
        let js = jetstream::new(client.clone());
        let names = names::Names::new(&settings.prefix);
        let urls = settings.urls.clone();
        let setup = |what: String, err: &dyn std::fmt::Display| ClusterStartError::Setup {
            what,
            urls: urls.clone(),
            reason: err.to_string(),
        };
        let jobs = js
            .get_or_create_stream(stream::Config {
                name: names.jobs_stream(),
                subjects: vec![names.jobs_subject()],
                retention: stream::RetentionPolicy::WorkQueue,
                discard: stream::DiscardPolicy::New,
                max_messages: i64::try_from(settings.queue_capacity).unwrap_or(i64::MAX),
                duplicate_window: Duration::from_secs(120),
                num_replicas: settings.replicas,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| setup(format!("stream {}", names.jobs_stream()), &e))?;
        let logs = js
            .get_or_create_stream(stream::Config {
                name: names.logs_stream(),
                subjects: vec![names.logs_subjects()],
                // Every batch has at least one line, so this many batches hold at least
                // the newest COREBUILD_LOG_LINES lines.
                max_messages_per_subject: i64::try_from(settings.log_lines).unwrap_or(i64::MAX),
                max_bytes: i64::try_from(settings.log_bytes).unwrap_or(i64::MAX),
                discard: stream::DiscardPolicy::Old,
                num_replicas: settings.replicas,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| setup(format!("stream {}", names.logs_stream()), &e))?;
        // The bucket's stream is made by hand, as the key-value convention lays it
        // out: the client's own `create_key_value` first asks for account details in a
        // form nats-server 2.9 does not answer. Reads go through the stream's leader
        // (no direct gets): a replica that lags would answer with an older document,
        // and claiming and cancelling decide on what they read.
        let bucket = names.status_bucket();
        let status_stream = js
            .get_or_create_stream(stream::Config {
                name: format!("KV_{bucket}"),
                subjects: vec![format!("$KV.{bucket}.>")],
                max_messages_per_subject: 1,
                allow_rollup: true,
                deny_delete: true,
                allow_direct: false,
                discard: stream::DiscardPolicy::New,
                num_replicas: settings.replicas,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| setup(format!("bucket {bucket}"), &e))?;
        let status = js
            .get_key_value(&bucket)
            .await
            .map_err(|e| setup(format!("bucket {bucket}"), &e))?;
        let consumer = jobs
            .get_or_create_consumer(
                &names.consumer(),
                consumer::pull::Config {
                    durable_name: Some(names.consumer()),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait: settings.ack_wait,
                    // Attempts are counted in the status document, where a job that
                    // ran out of them ends visibly as `worker_lost`; a JetStream limit
                    // would leave the message parked in the stream instead.
                    max_deliver: -1,
                    max_ack_pending: -1,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| setup(format!("consumer {}", names.consumer()), &e))?;
        let cluster = Arc::new(Self {
            client,
            js,
            names,
            status,
            status_stream,
            jobs,
            logs,
            consumer,
            settings,
            engine,
            metrics,
            active: DashMap::new(),
            job_tasks: TaskTracker::new(),
            background: TaskTracker::new(),
            stop_taking: CancellationToken::new(),
            abandon: CancellationToken::new(),
        });
        cluster.start_cancel_listener().await.map_err(|e| {
            setup(
                format!("subscription {}", cluster.names.cancel_subject()),
                &e,
            )
        })?;
        claim::start(&cluster);
        status::start_pruner(&cluster);
        tracing::info!(
            urls = %cluster.settings.urls,
            prefix = cluster.names.prefix(),
            replicas = cluster.settings.replicas,
            "cluster mode: taking jobs from the fleet's queue"
        );
        Ok(cluster)
    }

    /// Whether the worker is connected to NATS now.
    pub(crate) fn state(&self) -> ClusterState {
        ClusterState::of(&self.client)
    }

    /// Fails at once while NATS is out of reach, instead of after a request's time-out.
    fn reachable(&self) -> Result<(), ClusterError> {
        match self.state() {
            ClusterState::Connected => Ok(()),
            ClusterState::Lost => Err(ClusterError::Unavailable(
                "this worker has lost its NATS connection; it reconnects by itself, retry or ask another worker"
                    .to_owned(),
            )),
        }
    }

    /// Cancel requests from any worker, for the jobs this one runs.
    async fn start_cancel_listener(self: &Arc<Self>) -> Result<(), async_nats::SubscribeError> {
        use futures::StreamExt;
        let mut requests = self.client.subscribe(self.names.cancel_subject()).await?;
        let cluster = Arc::clone(self);
        self.background.spawn(async move {
            loop {
                let message = tokio::select! {
                    () = cluster.abandon.cancelled() => break,
                    message = requests.next() => match message {
                        Some(message) => message,
                        None => break,
                    },
                };
                let id = String::from_utf8_lossy(&message.payload).into_owned();
                if let Some(record) = cluster.active.get(&id) {
                    tracing::info!(job_id = %id, "cancel request from the fleet");
                    record.cancel_for("the job was cancelled");
                }
            }
        });
        Ok(())
    }

    /// Stops taking jobs, lets the engine drain (running jobs cut off at the end go
    /// back to the fleet's queue), and waits for every job's end to be published.
    pub(crate) async fn shutdown(&self, grace: Duration, force: &CancellationToken) {
        self.stop_taking.cancel();
        self.engine.shutdown(grace, force).await;
        // The engine has drained: the jobs' ends are being published now. Give them a
        // little time even while NATS is out of reach, then let go.
        let publish = async {
            self.job_tasks.close();
            self.job_tasks.wait().await;
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
        let _ = tokio::time::timeout(FLUSH_LIMIT, self.client.flush()).await;
    }
}

/// How long shutdown waits for the jobs' ends to reach NATS.
const FINAL_PUBLISH: Duration = Duration::from_secs(10);
/// How long the last flush of the connection may take.
const FLUSH_LIMIT: Duration = Duration::from_secs(2);
