//! Prometheus metrics over HTTP.

use actix_web::{HttpResponse, get, web};

use super::state::AppState;
use crate::machine::disk_space;
use crate::metrics::{Now, WorkerNow};
use crate::time::now_ms;

/// Prometheus text format. Open like health: it holds counts, never job contents.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
#[get("/metrics")]
pub(crate) async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let backend = state.backend();
    let load = backend.load();
    let fleet = backend.fleet_classes(state.identity()).await;
    let engine = backend.engine();
    let worker = WorkerNow {
        executors: state.executor_size().get(),
        queue_capacity: state.queue_capacity().get(),
        paused: engine.pause().is_paused(),
        accepting: load.accepting,
        workdir_space: disk_space(state.workdir()).ok(),
        longest_silence_secs: engine.longest_silence(now_ms()),
    };
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics().render(&Now {
            running: load.running,
            queued: load.queued,
            log_bytes: backend.log_bytes(),
            certificate_not_after: state.certificate_not_after(),
            fleet,
            worker,
        }))
}
