//! Cluster mode's series: the worker's link to NATS and its share of the fleet's runs,
//! and the fleet's per-class gauges every worker of it exports.

use std::sync::Arc;

use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts};

use super::{Metrics, registered};

/// The fleet's gauges per job class.
pub(super) struct FleetGauges {
    pub(super) waiting: IntGaugeVec,
    pub(super) workers: IntGaugeVec,
}

impl Metrics {
    pub(super) fn register_fleet(&self) -> FleetGauges {
        let waiting = registered(
            &self.registry,
            IntGaugeVec::new(
                Opts::new(
                    "fleet_jobs_waiting",
                    "Jobs of a class in the fleet's queue that no worker has taken yet.",
                ),
                &["class"],
            ),
        );
        let workers = registered(
            &self.registry,
            IntGaugeVec::new(
                Opts::new(
                    "fleet_workers",
                    "Live workers of the fleet that build a class: all (live), those with no free executor (busy), the paused ones (paused).",
                ),
                &["class", "state"],
            ),
        );
        FleetGauges { waiting, workers }
    }
}

/// Cluster mode's own series, registered beside the others only in cluster mode.
pub(crate) struct ClusterMetrics {
    base: Arc<Metrics>,
    connected: IntGauge,
    started: IntCounterVec,
    redeliveries: IntCounter,
    handed_back: IntCounter,
}

impl ClusterMetrics {
    pub(crate) fn register(base: &Arc<Metrics>) -> Arc<Self> {
        let connected = registered(
            &base.registry,
            IntGauge::new(
                "cluster_connected",
                "1 while the worker is connected to NATS, 0 while the connection is lost.",
            ),
        );
        let started = registered(
            &base.registry,
            IntCounterVec::new(
                Opts::new(
                    "cluster_jobs_started_total",
                    "Runs of fleet jobs this worker started, by worker id.",
                ),
                &["worker_id"],
            ),
        );
        let redeliveries = registered(
            &base.registry,
            IntCounter::new(
                "cluster_redeliveries_total",
                "Jobs this worker was handed again after their earlier worker was lost or let go of them.",
            ),
        );
        let handed_back = registered(
            &base.registry,
            IntCounter::new(
                "cluster_handed_back_total",
                "Jobs this worker handed back to the fleet's queue when its drain ended.",
            ),
        );
        Arc::new(Self {
            base: Arc::clone(base),
            connected,
            started,
            redeliveries,
            handed_back,
        })
    }

    /// The job series every mode counts.
    pub(crate) fn events(&self) -> &Metrics {
        &self.base
    }

    pub(crate) fn connected(&self, connected: bool) {
        self.connected.set(i64::from(connected));
    }

    pub(crate) fn started(&self, worker_id: &str) {
        self.started.with_label_values(&[worker_id]).inc();
    }

    pub(crate) fn redelivered(&self) {
        self.redeliveries.inc();
    }

    pub(crate) fn handed_back(&self) {
        self.handed_back.inc();
    }
}
