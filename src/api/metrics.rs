//! Prometheus metrics over HTTP.

use actix_web::{HttpResponse, get, web};

use super::state::AppState;
use crate::metrics::Now;

/// Prometheus text format. Open like health: it holds counts, never job contents.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
#[get("/metrics")]
pub(crate) async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let engine = state.engine();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics().render(&Now {
            running: engine.running(),
            queued: engine.queued(),
            log_bytes: engine.log_bytes(),
        }))
}
