//! What this worker can build and how loaded it is, for Cloudly's scheduling.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;

use super::state::AppState;
use crate::cluster::ClusterState;
use crate::domain::BuildClass;
use crate::domain::job::{Architecture, BuildType, ImageKind};
use crate::jobs::{Paused, WorkerRecord, WorkerState};
use crate::machine::disk_free_gb;

/// The optional parts of the API this worker offers (docs/api.md, "Health and
/// capabilities").
const FEATURES: &[&str] = &[
    "async-jobs",
    "log-tail",
    "cancel",
    "idempotent-submit",
    "upload-progress",
];

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Capabilities<'a> {
    // The original service's seven fields, unchanged in name and meaning.
    worker_id: &'a str,
    supported_build_types: &'static [BuildType],
    /// This worker's own (`COREBUILD_ARCHITECTURES`).
    supported_architectures: Vec<Architecture>,
    /// This worker's own (`COREBUILD_IMAGE_KINDS`).
    supported_image_kinds: Vec<ImageKind>,
    cpu_cores: u32,
    memory_gb: u64,
    workdir: String,
    // Additions: load, capacity and which optional parts of the API are offered.
    version: &'static str,
    max_concurrent_jobs: usize,
    queue_capacity: usize,
    running_jobs: usize,
    queued_jobs: usize,
    accepting_jobs: bool,
    /// `active`, `paused` (`corebuild pause`: nothing new starts) or `draining`.
    state: WorkerState,
    /// Why and since when the worker is paused.
    #[serde(skip_serializing_if = "Option::is_none")]
    paused: Option<Paused>,
    /// Cluster mode only: what the fleet's active workers build now, together.
    #[serde(skip_serializing_if = "Option::is_none")]
    fleet: Option<FleetCapabilities>,
    /// Whether the job routes need the worker's token.
    auth_required: bool,
    disk_free_gb: u64,
    /// Whether the image builder (`ISO_CREATOR_COMMAND`) is installed: without it every
    /// job fails.
    builder_installed: bool,
    features: &'static [&'static str],
    /// Cluster mode only: whether the worker reaches NATS now.
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster: Option<ClusterState>,
}

/// What a fleet can build now: the union over its live, active workers.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FleetCapabilities {
    supported_architectures: Vec<Architecture>,
    supported_image_kinds: Vec<ImageKind>,
    /// The classes (`amd64/ubuntu-iso`) some active worker takes.
    supported_classes: Vec<String>,
    live_workers: usize,
    active_workers: usize,
}

impl FleetCapabilities {
    fn of(workers: &[WorkerRecord]) -> Self {
        let active: Vec<&WorkerRecord> = workers
            .iter()
            .filter(|w| w.state == WorkerState::Active)
            .collect();
        let classes: Vec<BuildClass> = BuildClass::all()
            .into_iter()
            .filter(|c| active.iter().any(|w| w.takes(c.architecture, c.image_kind)))
            .collect();
        let mut architectures: Vec<Architecture> = Architecture::ALL
            .iter()
            .copied()
            .filter(|a| classes.iter().any(|c| c.architecture == *a))
            .collect();
        architectures.dedup();
        let image_kinds = ImageKind::ALL
            .iter()
            .copied()
            .filter(|k| classes.iter().any(|c| c.image_kind == *k))
            .collect();
        Self {
            supported_architectures: architectures,
            supported_image_kinds: image_kinds,
            supported_classes: classes.iter().map(|c| c.label()).collect(),
            live_workers: workers.len(),
            active_workers: active.len(),
        }
    }
}

/// Never needs a token: schedulers probe workers before they hold a job for them.
#[utoipa::path(get, path = "/corebuild/v1/capabilities", responses((status = 200, body = Capabilities)))]
#[get("/corebuild/v1/capabilities")]
pub(crate) async fn capabilities(state: web::Data<AppState>) -> HttpResponse {
    let machine = state.machine();
    // An unreadable filesystem reports no free space rather than failing the probe.
    let disk_free_gb = disk_free_gb(state.workdir()).unwrap_or(0);
    let load = state.backend().load();
    let engine = state.backend().engine();
    let me = engine.describe(state.identity());
    let fleet = state.backend().fleet().map(|mut fleet| {
        // This worker's own record as it is now, not as last written.
        fleet.retain(|w| w.worker_id != me.worker_id);
        fleet.push(me.clone());
        FleetCapabilities::of(&fleet)
    });
    HttpResponse::Ok().json(Capabilities {
        worker_id: state.worker_id(),
        supported_build_types: BuildType::ALL,
        supported_architectures: me.architectures,
        supported_image_kinds: me.image_kinds,
        cpu_cores: machine.cpu_cores,
        memory_gb: machine.memory_gb,
        workdir: state.workdir().display().to_string(),
        version: env!("CARGO_PKG_VERSION"),
        max_concurrent_jobs: state.executor_size().get(),
        queue_capacity: state.queue_capacity().get(),
        running_jobs: load.running,
        queued_jobs: load.queued,
        accepting_jobs: load.accepting,
        state: me.state,
        paused: me.paused,
        fleet,
        cluster: state.backend().cluster_state(),
        auth_required: state.token().is_some(),
        disk_free_gb,
        builder_installed: state.builder().is_installed(),
        features: FEATURES,
    })
}
