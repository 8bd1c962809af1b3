//! Liveness.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;

use super::state::AppState;
use crate::cluster::ClusterState;

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Health {
    ok: bool,
    /// Cluster mode only: whether the worker reaches NATS now. A worker that lost it
    /// is still alive: it runs its jobs and reconnects by itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster: Option<ClusterState>,
}

/// Liveness: answers as long as the process serves HTTP. Never needs a token.
#[utoipa::path(get, path = "/health", responses((status = 200, body = Health)))]
#[get("/health")]
pub(crate) async fn health(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(Health {
        ok: true,
        cluster: state.backend().cluster_state(),
    })
}
