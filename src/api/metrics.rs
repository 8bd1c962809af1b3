//! Prometheus metrics over HTTP.

use actix_web::{HttpResponse, get, web};

use super::state::AppState;
use crate::metrics::Now;

/// Prometheus text format. Open like health: it holds counts, never job contents.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
#[get("/metrics")]
pub(crate) async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let backend = state.backend();
    let load = backend.load();
    let fleet = backend.fleet_classes(state.identity()).await;
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics().render(&Now {
            running: load.running,
            queued: load.queued,
            log_bytes: backend.log_bytes(),
            certificate_not_after: state.certificate_not_after(),
            fleet,
        }))
}
