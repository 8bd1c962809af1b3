//! The fleet's streams, bucket and consumer: their configurations as plain values
//! (unit-tested here, compared with a fleet's own by whoever needs to), and finding or
//! creating them at start-up.

use std::time::Duration;

use async_nats::jetstream::{self, consumer, kv, stream};

use super::healer::Seen;
use super::names::Names;
use super::{ClusterSettings, ClusterStartError};
use crate::domain::BuildClass;

/// How long JetStream remembers a queued job's message id, so a repeated publish of
/// one admission is stored once.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// The work-queue stream of sealed jobs: discard-new at the queue's capacity, so a
/// full fleet refuses a submission instead of dropping a queued job.
pub(super) fn jobs_stream(names: &Names, settings: &ClusterSettings) -> stream::Config {
    stream::Config {
        name: names.jobs_stream(),
        subjects: names.jobs_subjects(),
        retention: stream::RetentionPolicy::WorkQueue,
        discard: stream::DiscardPolicy::New,
        max_messages: i64::try_from(settings.queue_capacity).unwrap_or(i64::MAX),
        duplicate_window: DUPLICATE_WINDOW,
        num_replicas: settings.replicas,
        storage: stream::StorageType::File,
        ..Default::default()
    }
}

/// The stream of log batches, one subject per job. Every batch has at least one line,
/// so this many batches hold at least the newest COREBUILD_LOG_LINES lines.
pub(super) fn logs_stream(names: &Names, settings: &ClusterSettings) -> stream::Config {
    stream::Config {
        name: names.logs_stream(),
        subjects: vec![names.logs_subjects()],
        max_messages_per_subject: i64::try_from(settings.log_lines).unwrap_or(i64::MAX),
        max_bytes: i64::try_from(settings.log_bytes).unwrap_or(i64::MAX),
        discard: stream::DiscardPolicy::Old,
        num_replicas: settings.replicas,
        storage: stream::StorageType::File,
        ..Default::default()
    }
}

/// The status bucket's stream, made by hand as the key-value convention lays it out:
/// the client's own `create_key_value` first asks for account details in a form
/// nats-server 2.9 does not answer. Reads go through the stream's leader (no direct
/// gets): a replica that lags would answer with an older document, and claiming and
/// cancelling decide on what they read.
pub(super) fn status_stream(names: &Names, settings: &ClusterSettings) -> stream::Config {
    let bucket = names.status_bucket();
    stream::Config {
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
    }
}

/// The durable pull consumer of one class (`None`: of the unrouted subject), shared by
/// the workers that take it. Their filters are disjoint, as a work-queue stream wants.
pub(super) fn class_consumer(
    names: &Names,
    settings: &ClusterSettings,
    class: Option<BuildClass>,
) -> consumer::pull::Config {
    let (name, filter) = match class {
        Some(class) => (names.consumer(class), names.jobs_subject(class)),
        None => (names.unrouted_consumer(), names.unrouted_subject()),
    };
    consumer::pull::Config {
        durable_name: Some(name),
        filter_subject: filter,
        ack_policy: consumer::AckPolicy::Explicit,
        ack_wait: settings.ack_wait,
        // Attempts are counted in the status document, where a job that ran out of
        // them ends visibly as `worker_lost`; a JetStream limit would leave the
        // message parked in the stream instead.
        max_deliver: -1,
        max_ack_pending: -1,
        ..Default::default()
    }
}

/// The settings that shape the fleet, as the fleet's streams and consumer hold them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Shape {
    pub(super) queue_capacity: i64,
    pub(super) ack_wait: Duration,
    pub(super) replicas: usize,
    pub(super) log_lines: i64,
    pub(super) log_bytes: i64,
}

impl Shape {
    /// What this worker's settings would make.
    pub(super) fn wanted(names: &Names, settings: &ClusterSettings) -> Self {
        let (jobs, logs) = (jobs_stream(names, settings), logs_stream(names, settings));
        Self {
            queue_capacity: jobs.max_messages,
            ack_wait: class_consumer(names, settings, None).ack_wait,
            replicas: jobs.num_replicas,
            log_lines: logs.max_messages_per_subject,
            log_bytes: logs.max_bytes,
        }
    }

    /// The first setting in which `fleet` differs from `self`: its variable, this
    /// worker's value and the fleet's.
    pub(super) fn differs_from(&self, fleet: &Shape) -> Option<(&'static str, String, String)> {
        let pairs = [
            (
                "COREBUILD_QUEUE_CAPACITY",
                self.queue_capacity.to_string(),
                fleet.queue_capacity.to_string(),
            ),
            (
                "COREBUILD_NATS_ACK_WAIT_SECS",
                self.ack_wait.as_secs().to_string(),
                fleet.ack_wait.as_secs().to_string(),
            ),
            (
                "COREBUILD_NATS_REPLICAS",
                self.replicas.to_string(),
                fleet.replicas.to_string(),
            ),
            (
                "COREBUILD_LOG_LINES",
                self.log_lines.to_string(),
                fleet.log_lines.to_string(),
            ),
            (
                "COREBUILD_LOG_BYTES",
                self.log_bytes.to_string(),
                fleet.log_bytes.to_string(),
            ),
        ];
        pairs.into_iter().find(|(_, ours, theirs)| ours != theirs)
    }
}

/// What the fleet keeps in JetStream, found or created.
pub(super) struct Streams {
    /// When each part was created, for the healer to tell a recreated one.
    pub(super) seen: Seen,
    pub(super) jobs: stream::Stream,
    pub(super) logs: stream::Stream,
    pub(super) status_stream: stream::Stream,
    pub(super) status: kv::Store,
    /// Each class's consumer, in [`BuildClass::all`]'s order.
    pub(super) consumers: Vec<(BuildClass, consumer::PullConsumer)>,
    pub(super) unrouted: consumer::PullConsumer,
}

/// Every consumer of the queue: each class's, then the unrouted subject's.
pub(super) fn consumers(
    names: &Names,
    settings: &ClusterSettings,
) -> Vec<(Option<BuildClass>, consumer::pull::Config)> {
    BuildClass::all()
        .into_iter()
        .map(Some)
        .chain([None])
        .map(|class| (class, class_consumer(names, settings, class)))
        .collect()
}

/// Finds or creates every consumer of the queue, after removing the single
/// unfiltered consumer of a fleet set up before jobs had classes.
pub(super) async fn open_consumers(
    jobs: &stream::Stream,
    names: &Names,
    configs: Vec<(Option<BuildClass>, consumer::pull::Config)>,
) -> Result<Vec<(Option<BuildClass>, consumer::PullConsumer)>, (String, String)> {
    let old = names.unfiltered_consumer();
    if jobs.consumer_info(&old).await.is_ok() {
        tracing::warn!(
            consumer = %old,
            "removing the fleet's single consumer from before job classes; workers older than this one can no longer take jobs"
        );
        jobs.delete_consumer(&old)
            .await
            .map_err(|e| (format!("consumer {old}"), e.to_string()))?;
    }
    let mut found = Vec::new();
    for (class, config) in configs {
        let name = config.durable_name.clone().unwrap_or_default();
        let consumer = jobs
            .get_or_create_consumer(&name, config)
            .await
            .map_err(|e| (format!("consumer {name}"), e.to_string()))?;
        found.push((class, consumer));
    }
    Ok(found)
}

/// When the consumers were created, as one value the healer compares.
pub(super) fn created(consumers: &[(Option<BuildClass>, consumer::PullConsumer)]) -> String {
    consumers
        .iter()
        .map(|(_, c)| c.cached_info().created.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// A queue stream from before job classes takes their subjects as well.
pub(super) async fn add_subjects(
    js: &jetstream::Context,
    jobs: &mut stream::Stream,
    names: &Names,
) -> Result<(), String> {
    let mut config = jobs.cached_info().config.clone();
    let wanted = names.jobs_subjects();
    if wanted.iter().all(|s| config.subjects.contains(s)) {
        return Ok(());
    }
    config.subjects = wanted;
    js.update_stream(config).await.map_err(|e| e.to_string())?;
    *jobs = js
        .get_stream(names.jobs_stream())
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

pub(super) async fn open(
    js: &jetstream::Context,
    names: &Names,
    settings: &ClusterSettings,
) -> Result<Streams, ClusterStartError> {
    let setup = |what: String, err: &dyn std::fmt::Display| ClusterStartError::Setup {
        what,
        urls: settings.urls.clone(),
        reason: err.to_string(),
    };
    let mut jobs = js
        .get_or_create_stream(jobs_stream(names, settings))
        .await
        .map_err(|e| setup(format!("stream {}", names.jobs_stream()), &e))?;
    add_subjects(js, &mut jobs, names)
        .await
        .map_err(|e| setup(format!("stream {}", names.jobs_stream()), &e))?;
    let logs = js
        .get_or_create_stream(logs_stream(names, settings))
        .await
        .map_err(|e| setup(format!("stream {}", names.logs_stream()), &e))?;
    let bucket = names.status_bucket();
    let status_stream = js
        .get_or_create_stream(status_stream(names, settings))
        .await
        .map_err(|e| setup(format!("bucket {bucket}"), &e))?;
    let status = js
        .get_key_value(&bucket)
        .await
        .map_err(|e| setup(format!("bucket {bucket}"), &e))?;
    let mut consumers = open_consumers(&jobs, names, consumers(names, settings))
        .await
        .map_err(|(what, e)| setup(what, &e))?;
    let consumers_created = created(&consumers);
    let (_, unrouted) = consumers
        .pop()
        .expect("the unrouted subject has a consumer");
    let consumers: Vec<_> = consumers
        .into_iter()
        .map(|(class, c)| (class.expect("each class has a consumer"), c))
        .collect();
    // A fleet found, not made, may have been set up otherwise: say so and stop, rather
    // than run with an ack wait or limits other workers do not share.
    let fleet = Shape {
        queue_capacity: jobs.cached_info().config.max_messages,
        ack_wait: unrouted.cached_info().config.ack_wait,
        replicas: jobs.cached_info().config.num_replicas,
        log_lines: logs.cached_info().config.max_messages_per_subject,
        log_bytes: logs.cached_info().config.max_bytes,
    };
    if let Some((setting, ours, fleet)) = Shape::wanted(names, settings).differs_from(&fleet) {
        return Err(ClusterStartError::Drift {
            setting,
            ours,
            fleet,
            prefix: names.prefix().to_owned(),
        });
    }
    Ok(Streams {
        seen: Seen {
            jobs: jobs.cached_info().created.to_string(),
            logs: logs.cached_info().created.to_string(),
            status: status_stream.cached_info().created.to_string(),
            consumer: consumers_created,
        },
        jobs,
        logs,
        status_stream,
        status,
        consumers,
        unrouted,
    })
}

#[cfg(test)]
#[path = "setup_tests.rs"]
pub(super) mod tests;
