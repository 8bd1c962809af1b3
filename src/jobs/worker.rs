//! This worker as an operator or the fleet sees it: what it builds, how busy it is,
//! whether it takes work. The engine knows all of it but who the worker is
//! ([`Identity`]); in a fleet the record is what each worker keeps in the workers
//! bucket, so the fleet view is the list of live records.

use serde::{Deserialize, Serialize};

use super::engine::Engine;
use super::pause::Paused;
use crate::domain::JobState;
use crate::domain::job::{Architecture, ImageKind};
use crate::time::now_ms;

/// Whether a worker takes new work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum WorkerState {
    /// Takes jobs.
    Active,
    /// `corebuild pause`: finishes what it runs, starts nothing new.
    Paused,
    /// Shutting down: finishes what it runs, then exits.
    Draining,
}

/// Who a worker is, beside what its engine knows.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub(crate) worker_id: String,
    /// Where its API is reached, when known.
    pub(crate) url: Option<String>,
    /// Milliseconds since the epoch.
    pub(crate) started_at: u64,
}

/// One worker of the fleet (standalone: the worker itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WorkerRecord {
    pub(crate) worker_id: String,
    /// Its API, as it advertises it (`COREBUILD_ADVERTISE_URL`).
    #[serde(default)]
    pub(crate) url: Option<String>,
    pub(crate) version: String,
    pub(crate) architectures: Vec<Architecture>,
    pub(crate) image_kinds: Vec<ImageKind>,
    /// Jobs it runs at once.
    pub(crate) executors: usize,
    /// Executors running a job now.
    pub(crate) busy: usize,
    /// Ids of the jobs it runs now.
    pub(crate) jobs: Vec<String>,
    pub(crate) state: WorkerState,
    /// Why and since when it is paused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) paused: Option<Paused>,
    /// Milliseconds since the epoch.
    pub(crate) started_at: u64,
    /// When it last said it was alive (ms since the epoch).
    pub(crate) last_seen_at: u64,
}

impl WorkerRecord {
    /// Whether it builds jobs of this architecture and kind and takes work now.
    pub(crate) fn takes(&self, architecture: Architecture, image_kind: ImageKind) -> bool {
        self.state == WorkerState::Active
            && self.architectures.contains(&architecture)
            && self.image_kinds.contains(&image_kind)
    }
}

impl Engine {
    /// This worker's record now.
    pub(crate) fn describe(&self, me: &Identity) -> WorkerRecord {
        let paused = self.pause().current();
        let state = if !self.accepting() {
            WorkerState::Draining
        } else if paused.is_some() {
            WorkerState::Paused
        } else {
            WorkerState::Active
        };
        let mut jobs: Vec<String> = self
            .list()
            .into_iter()
            .filter(|r| r.state() == JobState::Running)
            .map(|r| r.job.id.to_string())
            .collect();
        jobs.sort();
        WorkerRecord {
            worker_id: me.worker_id.clone(),
            url: me.url.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            architectures: self.builds().architectures().to_vec(),
            image_kinds: self.builds().image_kinds().to_vec(),
            executors: self.executors(),
            busy: self.running(),
            jobs,
            state,
            paused,
            started_at: me.started_at,
            last_seen_at: now_ms(),
        }
    }
}

/// Why no worker of `fleet` takes a queued job of this architecture and kind now, if
/// none does: the job's status says so rather than leaving it waiting silently.
pub(crate) fn queue_note(
    architecture: Architecture,
    image_kind: ImageKind,
    fleet: &[WorkerRecord],
) -> Option<String> {
    let builds = |w: &&WorkerRecord| {
        w.architectures.contains(&architecture) && w.image_kinds.contains(&image_kind)
    };
    if fleet.iter().any(|w| w.takes(architecture, image_kind)) {
        return None;
    }
    let class = format!("{architecture}/{image_kind}");
    let builders = fleet.iter().filter(builds).count();
    Some(if builders == 0 {
        format!(
            "no live worker of the fleet builds {class} now; the job waits for one to join (COREBUILD_QUEUE_TIMEOUT_SECS)"
        )
    } else {
        format!(
            "every live worker that builds {class} is paused or draining; the job waits for one to take work (COREBUILD_QUEUE_TIMEOUT_SECS)"
        )
    })
}
