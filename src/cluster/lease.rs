//! Leases: each worker process keeps a record in the fleet's workers bucket, written
//! again every sixth of the lease and dropped by NATS itself once the lease passes
//! unrenewed (the bucket's maximum age). A job marked running is taken over only when
//! the lease of the process that runs it is gone: a worker that was paused, or cut off
//! from NATS, for longer than the lease loses its jobs; one that merely received a
//! stale copy of a job's message does not take it from a live worker.
//!
//! The lease lives on NATS's clock alone (the record's age), so clocks that differ
//! between hosts do not matter. It is the process's, not the worker id's: a worker
//! restarted under the same id holds none of its predecessor's jobs.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, kv, stream};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::listing;
use super::names::{Names, key};
use super::{ClusterError, ClusterSettings, ClusterStartError};
use crate::jobs::{Engine, Identity, WorkerRecord};
use crate::time::now_ms;

/// How long a lease lasts unrenewed: twice the fleet's ack wait. A worker silent for
/// longer than the ack wait has its job's message delivered to another worker, which
/// leaves it while the lease lives: a worker back within the lease carries on, and only
/// one silent for longer loses its jobs.
pub(super) fn lease_for(settings: &ClusterSettings) -> Duration {
    settings.ack_wait.max(Duration::from_secs(1)) * 2
}

/// How often a lease is renewed: as often as a running job's message is acknowledged
/// as in progress, so a pause that costs a worker its lease surely costs it the
/// message too.
fn renew_every(lease: Duration) -> Duration {
    lease / 6
}

/// The workers bucket's stream, made by hand like the status bucket's: one record per
/// worker, gone `lease` after its last renewal, read from the stream's leader.
pub(super) fn workers_stream(names: &Names, settings: &ClusterSettings) -> stream::Config {
    let bucket = names.workers_bucket();
    stream::Config {
        name: format!("KV_{bucket}"),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: 1,
        max_age: lease_for(settings),
        allow_rollup: true,
        allow_direct: false,
        discard: stream::DiscardPolicy::Old,
        num_replicas: settings.replicas,
        storage: stream::StorageType::File,
        ..Default::default()
    }
}

/// A worker's record: its lease, and what the fleet view shows of it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    instance: String,
    renewed_at: u64,
    /// Absent in the records of workers older than the fleet view.
    #[serde(default)]
    worker: Option<WorkerRecord>,
}

pub(super) struct Leases {
    js: jetstream::Context,
    kv: kv::Store,
    config: stream::Config,
    worker_id: String,
    /// This process: unique per start.
    instance: String,
    lease: Duration,
    /// What the record says of this worker; the engine knows it.
    engine: Arc<Engine>,
    identity: Identity,
    /// Rings to write the record at once (a job started or ended).
    refresh: Notify,
    /// The fleet as last read by the renewal loop.
    fleet: Mutex<Vec<WorkerRecord>>,
}

impl Leases {
    /// Finds or creates the workers bucket and takes this process's lease.
    pub(super) async fn open(
        js: &jetstream::Context,
        names: &Names,
        settings: &ClusterSettings,
        engine: &Arc<Engine>,
    ) -> Result<Arc<Self>, ClusterStartError> {
        let bucket = names.workers_bucket();
        let setup = |e: &dyn std::fmt::Display| {
            ClusterStartError::setup(format!("bucket {bucket}"), &settings.urls, e)
        };
        let config = workers_stream(names, settings);
        let stream = js
            .get_or_create_stream(config.clone())
            .await
            .map_err(|e| setup(&e))?;
        // The fleet's ack wait was changed in place: the leases follow it.
        if stream.cached_info().config.max_age != config.max_age {
            js.update_stream(config.clone())
                .await
                .map_err(|e| setup(&e))?;
        }
        let kv = js.get_key_value(&bucket).await.map_err(|e| setup(&e))?;
        let leases = Arc::new(Self {
            js: js.clone(),
            kv,
            config,
            worker_id: settings.worker_id.clone(),
            instance: nuid::next().to_string(),
            lease: lease_for(settings),
            engine: Arc::clone(engine),
            identity: settings.identity.clone(),
            refresh: Notify::new(),
            fleet: Mutex::new(Vec::new()),
        });
        leases.renew().await.map_err(|e| setup(&e))?;
        Ok(leases)
    }

    pub(super) fn instance(&self) -> &str {
        &self.instance
    }

    /// Writes this process's record again; recreates the bucket should it be gone.
    /// Returns what the fleet view now shows of this worker.
    async fn renew(&self) -> Result<WorkerRecord, ClusterError> {
        let renewed_at = now_ms();
        let worker = self.engine.describe(&self.identity);
        let record = Record {
            instance: self.instance.clone(),
            renewed_at,
            worker: Some(worker.clone()),
        };
        let value = serde_json::to_vec(&record).expect("a lease serializes");
        let put = || self.kv.put(key(&self.worker_id), value.clone().into());
        if put().await.is_err() {
            self.js
                .get_or_create_stream(self.config.clone())
                .await
                .map_err(|e| ClusterError::nats("recreating the workers bucket", e))?;
            put()
                .await
                .map_err(|e| ClusterError::nats("renewing this worker's lease", e))?;
        }
        Ok(WorkerRecord {
            last_seen_at: renewed_at,
            ..worker
        })
    }

    /// Puts this worker's own new record into the fleet as last read.
    fn replace_own(&self, mine: WorkerRecord) {
        let mut fleet = self.fleet.lock().unwrap_or_else(|e| e.into_inner());
        match fleet.iter_mut().find(|w| w.worker_id == mine.worker_id) {
            Some(entry) => *entry = mine,
            None => fleet.push(mine),
        }
    }

    /// Whether the process `instance` of worker `worker` holds a live lease.
    pub(super) async fn live(&self, worker: &str, instance: &str) -> Result<bool, ClusterError> {
        let entry = self
            .kv
            .entry(key(worker))
            .await
            .map_err(|e| ClusterError::nats("reading a worker's lease", e))?;
        Ok(entry.is_some_and(|entry| {
            entry.operation == kv::Operation::Put
                && serde_json::from_slice::<Record>(&entry.value)
                    .is_ok_and(|record| record.instance == instance)
        }))
    }

    /// The fleet's workers as the renewal loop last read them.
    pub(super) fn fleet(&self) -> Vec<WorkerRecord> {
        self.fleet.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Writes the record now rather than at the next renewal: what it says changed.
    pub(super) fn touch(&self) {
        self.refresh.notify_one();
    }

    /// Every live worker of the fleet (records of workers older than the fleet view
    /// left out), by id.
    pub(super) async fn all(&self) -> Result<Vec<WorkerRecord>, ClusterError> {
        let stream = self
            .js
            .get_stream(&self.config.name)
            .await
            .map_err(|e| ClusterError::nats("reading the workers bucket", e))?;
        let entries = listing::latest(&self.kv, &stream, "listing the fleet's workers").await?;
        let mut workers: Vec<WorkerRecord> = entries
            .iter()
            .filter_map(|e| serde_json::from_slice::<Record>(&e.value).ok())
            .filter_map(|record| {
                let mut worker = record.worker?;
                worker.last_seen_at = record.renewed_at;
                Some(worker)
            })
            .collect();
        workers.sort_by(|a, b| a.worker_id.cmp(&b.worker_id));
        Ok(workers)
    }

    /// Renews the lease every sixth of it, and whenever the record changes, until
    /// `abandon`; then gives it up, so the fleet need not wait out the lease of a
    /// worker that stopped cleanly. The fleet is read again at each renewal by the
    /// clock; a change of this worker's own (a job started or ended, at every job)
    /// only writes its record, which would otherwise cost NATS a whole read of the
    /// bucket per job.
    pub(super) fn keep(self: &Arc<Self>, tasks: &TaskTracker, abandon: CancellationToken) {
        let leases = Arc::clone(self);
        let mut paused = self.engine.pause().watch();
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(renew_every(leases.lease));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let whole = tokio::select! {
                    () = abandon.cancelled() => break,
                    _ = tick.tick() => true,
                    () = leases.refresh.notified() => false,
                    // The pause lives as long as the engine: this never fails.
                    _ = paused.changed() => true,
                };
                match leases.renew().await {
                    Ok(mine) => leases.replace_own(mine),
                    Err(e) => tracing::warn!("this worker's lease was not renewed: {e}"),
                }
                if whole {
                    match leases.all().await {
                        Ok(fleet) => {
                            *leases.fleet.lock().unwrap_or_else(|e| e.into_inner()) = fleet;
                        }
                        Err(e) => tracing::debug!("reading the fleet's workers: {e}"),
                    }
                }
            }
            if let Err(e) = leases.kv.delete(key(&leases.worker_id)).await {
                tracing::debug!("giving up this worker's lease: {e}");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_is_the_fleets_ack_wait_and_nats_ends_it() {
        let settings = crate::cluster::setup::tests::settings();
        let config = workers_stream(&Names::new("fleet"), &settings);
        assert_eq!(config.name, "KV_fleet_workers");
        assert_eq!(config.subjects, ["$KV.fleet_workers.>"]);
        assert_eq!(config.max_age, settings.ack_wait * 2);
        assert!(renew_every(config.max_age) <= settings.ack_wait / 3);
        assert_eq!(config.max_messages_per_subject, 1);
        assert!(!config.allow_direct, "no reads from a lagging replica");
    }
}
