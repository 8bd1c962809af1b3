//! Liveness.

use actix_web::{HttpResponse, get};
use serde::Serialize;

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Health {
    ok: bool,
}

/// Liveness: answers as long as the process serves HTTP. Never needs a token.
#[utoipa::path(get, path = "/health", responses((status = 200, body = Health)))]
#[get("/health")]
pub(crate) async fn health() -> HttpResponse {
    HttpResponse::Ok().json(Health { ok: true })
}
