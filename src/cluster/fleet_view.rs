//! The fleet as operators see it: the live workers (their records in the workers
//! bucket), what the fleet can build now, why a queued job waits, and the per-class
//! figures an autoscaler scales by.

use std::time::Duration;

use super::{Cluster, ClusterError};
use crate::domain::{BuildClass, JobState};
use crate::jobs::{Identity, JobView, WorkerRecord, WorkerState, queue_note};
use crate::metrics::ClassNow;

/// How long a scrape waits for the fleet's backlog.
const GAUGE_WAIT: Duration = Duration::from_secs(2);

impl Cluster {
    /// The fleet's live workers, this one's record as it is now.
    pub(crate) async fn workers(&self, me: &Identity) -> Result<Vec<WorkerRecord>, ClusterError> {
        self.link.reachable()?;
        let mut workers = self.leases.all().await?;
        workers.retain(|w| w.worker_id != me.worker_id);
        workers.push(self.engine.describe(me));
        workers.sort_by(|a, b| a.worker_id.cmp(&b.worker_id));
        Ok(workers)
    }

    /// The fleet's live workers as last read (at most a few seconds old), for
    /// capabilities and metrics, which must not wait on NATS.
    pub(crate) fn fleet(&self) -> Vec<WorkerRecord> {
        self.leases.fleet()
    }

    /// Each job class's backlog and workers now, for the fleet's gauges. A class whose
    /// backlog NATS does not tell in time shows none waiting.
    pub(crate) async fn classes_now(&self, me: &Identity) -> Vec<ClassNow> {
        let backlog = tokio::time::timeout(GAUGE_WAIT, self.queue.backlog())
            .await
            .unwrap_or_default();
        let mut fleet = self.leases.fleet();
        fleet.retain(|w| w.worker_id != me.worker_id);
        fleet.push(self.engine.describe(me));
        BuildClass::all()
            .into_iter()
            .map(|class| {
                let builders: Vec<&WorkerRecord> = fleet
                    .iter()
                    .filter(|w| {
                        w.architectures.contains(&class.architecture)
                            && w.image_kinds.contains(&class.image_kind)
                    })
                    .collect();
                let count = |f: &dyn Fn(&WorkerRecord) -> bool| {
                    builders.iter().filter(|w| f(w)).count() as u64
                };
                ClassNow {
                    class: class.label(),
                    waiting: backlog
                        .iter()
                        .find(|(c, _)| *c == class)
                        .map_or(0, |(_, n)| *n),
                    live: builders.len() as u64,
                    busy: count(&|w| w.busy >= w.executors),
                    paused: count(&|w| w.state == WorkerState::Paused),
                }
            })
            .collect()
    }

    /// Says so in each queued view that no live worker takes now.
    pub(super) fn note_unserved(&self, views: &mut [JobView]) {
        if views.iter().all(|v| v.state != JobState::Queued) {
            return;
        }
        let fleet = self.leases.fleet();
        for view in views.iter_mut().filter(|v| v.state == JobState::Queued) {
            view.queue_note = queue_note(view.architecture, view.image_kind, &fleet);
        }
    }
}
