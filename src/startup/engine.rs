//! The engine a worker runs its builds on, and cluster mode's settings.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::StartupError;
use crate::cluster::{ClusterSettings, FleetKey};
use crate::config::Config;
use crate::domain::BuildSet;
use crate::isocreator::IsoCreator;
use crate::jobs::{Engine, EngineSettings, Identity};
use crate::metrics::Metrics;
use crate::pipeline::BuildPipeline;
use crate::upload::UploadSettings;

/// The engine, running the build pipeline and reporting to `metrics`.
pub(super) fn start_engine(
    config: &Config,
    iso_creator: IsoCreator,
    workdir: PathBuf,
    executors: usize,
    cluster_mode: bool,
    builds: BuildSet,
    metrics: &Arc<Metrics>,
) -> Arc<Engine> {
    let pipeline = Arc::new(BuildPipeline {
        metrics: Arc::clone(metrics),
        iso_creator,
        workdir,
        time_limit: Duration::from_secs(config.job_timeout_secs.get()),
        upload: UploadSettings {
            part_size: config.upload_part_size.as_u64(),
            concurrency: config.upload_concurrency.get(),
            max_retries: config.upload_max_retries,
            unsigned_payload: config.upload_unsigned_payload,
        },
    });
    let worker_secrets = config
        .required_token()
        .into_iter()
        .chain(config.fleet.secrets())
        .filter(|s| !s.expose().is_empty())
        .cloned()
        .collect();
    let settings = EngineSettings {
        executors,
        // In cluster mode the fleet's stream is the queue; a job is taken only for a
        // free executor, so the engine's own queue never holds more than that.
        queue_capacity: if cluster_mode {
            executors
        } else {
            config.queue_capacity.get()
        },
        log_lines: config.log_lines.get(),
        retention: Duration::from_secs(config.job_retention_secs),
        max_retained: config.max_retained_jobs,
        log_bytes: config.log_bytes.as_u64(),
        worker_secrets,
        builds,
        // In cluster mode the fleet's pruner applies the limit to the fleet's queue.
        queue_timeout: if cluster_mode {
            None
        } else {
            config.queue_timeout()
        },
        pause_holds_queue: !cluster_mode,
    };
    Engine::start(settings, Arc::new(pipeline), Arc::clone(metrics) as _)
}

/// Cluster mode's settings; the fleet key is checked here, before anything connects.
pub(super) fn cluster_settings(
    config: &Config,
    urls: &str,
    executors: usize,
    identity: Identity,
) -> Result<ClusterSettings, StartupError> {
    let fleet = &config.fleet;
    let key = fleet
        .cluster_key
        .as_ref()
        .filter(|k| !k.expose().trim().is_empty())
        .ok_or(StartupError::NoClusterKey)?;
    let key = Arc::new(FleetKey::new(
        key.expose(),
        fleet.cluster_previous_key.as_ref().map(|k| k.expose()),
    )?);
    Ok(ClusterSettings {
        urls: urls.to_owned(),
        ca_file: fleet.nats_ca_file.clone(),
        creds_file: fleet.nats_creds.clone(),
        token: fleet
            .nats_token
            .as_ref()
            .map(|t| t.expose().to_owned())
            .filter(|t| !t.is_empty()),
        key,
        prefix: fleet.nats_prefix.clone(),
        replicas: usize::from(fleet.nats_replicas),
        max_attempts: fleet.max_attempts.get(),
        ack_wait: Duration::from_secs(fleet.nats_ack_wait_secs),
        queue_capacity: config.queue_capacity.get(),
        log_lines: config.log_lines.get(),
        log_bytes: config.log_bytes.as_u64(),
        retention: Duration::from_secs(config.job_retention_secs),
        worker_id: identity.worker_id.clone(),
        identity,
        queue_timeout: config.queue_timeout(),
        executors,
    })
}
