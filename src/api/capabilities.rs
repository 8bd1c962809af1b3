//! What this worker can build and how loaded it is, for Cloudly's scheduling.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;

use super::state::AppState;
use crate::cluster::ClusterState;
use crate::domain::job::{Architecture, BuildType, ImageKind};
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
    supported_architectures: &'static [Architecture],
    supported_image_kinds: &'static [ImageKind],
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

/// Never needs a token: schedulers probe workers before they hold a job for them.
#[utoipa::path(get, path = "/corebuild/v1/capabilities", responses((status = 200, body = Capabilities)))]
#[get("/corebuild/v1/capabilities")]
pub(crate) async fn capabilities(state: web::Data<AppState>) -> HttpResponse {
    let machine = state.machine();
    // An unreadable filesystem reports no free space rather than failing the probe.
    let disk_free_gb = disk_free_gb(state.workdir()).unwrap_or(0);
    let load = state.backend().load();
    HttpResponse::Ok().json(Capabilities {
        worker_id: state.worker_id(),
        supported_build_types: BuildType::ALL,
        supported_architectures: Architecture::ALL,
        supported_image_kinds: ImageKind::ALL,
        cpu_cores: machine.cpu_cores,
        memory_gb: machine.memory_gb,
        workdir: state.workdir().display().to_string(),
        version: env!("CARGO_PKG_VERSION"),
        max_concurrent_jobs: state.executor_size().get(),
        queue_capacity: state.queue_capacity().get(),
        running_jobs: load.running,
        queued_jobs: load.queued,
        accepting_jobs: load.accepting,
        cluster: state.backend().cluster_state(),
        auth_required: state.token().is_some(),
        disk_free_gb,
        builder_installed: state.builder().is_installed(),
        features: FEATURES,
    })
}
