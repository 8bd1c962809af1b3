//! Readiness, apart from liveness: whether this worker should be sent work now. A load
//! balancer checks it; `/health` only says the process serves.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;

use super::state::AppState;
use crate::cluster::ClusterState;

/// Why a worker does not take work now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum NotReady {
    /// SIGTERM came: running jobs finish, new ones are refused.
    Draining,
    /// Cluster mode: NATS is out of reach or not answering, so nothing can be admitted
    /// or read.
    ClusterLost,
    /// `ISO_CREATOR_COMMAND` is not installed: every job would fail.
    BuilderMissing,
    /// `corebuild pause`: running jobs finish, nothing new starts.
    Paused,
}

impl NotReady {
    fn explain(self, state: &AppState) -> String {
        match self {
            Self::Draining => "the worker is shutting down".to_owned(),
            Self::ClusterLost => "NATS is out of reach or not answering".to_owned(),
            Self::BuilderMissing => format!(
                "the builder `{}` (ISO_CREATOR_COMMAND) is not installed",
                state.builder().program()
            ),
            Self::Paused => match state.backend().engine().pause().current() {
                Some(paused) => format!("the worker is paused: {}", paused.reason),
                None => "the worker is paused".to_owned(),
            },
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Readiness {
    ready: bool,
    /// Every reason that holds now; empty when ready.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    reasons: Vec<NotReady>,
    /// The reasons in words, for a person reading a load balancer's log.
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

/// `200` when the worker takes work; `503` with the reasons while it drains, has lost
/// NATS, or cannot find its builder. Never needs a token.
#[utoipa::path(get, path = "/ready", responses(
    (status = 200, description = "the worker takes work", body = Readiness),
    (status = 503, description = "the worker does not take work now; `reasons` says why", body = Readiness)))]
#[get("/ready")]
pub(crate) async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let reasons = reasons(&state);
    if reasons.is_empty() {
        return HttpResponse::Ok().json(Readiness {
            ready: true,
            reasons,
            message: None,
        });
    }
    let message = reasons
        .iter()
        .map(|r| r.explain(&state))
        .collect::<Vec<_>>()
        .join("; ");
    HttpResponse::ServiceUnavailable().json(Readiness {
        ready: false,
        reasons,
        message: Some(message),
    })
}

fn reasons(state: &AppState) -> Vec<NotReady> {
    let backend = state.backend();
    let checks = [
        (!backend.load().accepting, NotReady::Draining),
        (
            matches!(
                backend.cluster_state(),
                Some(ClusterState::Lost | ClusterState::Degraded)
            ),
            NotReady::ClusterLost,
        ),
        (!state.builder().is_installed(), NotReady::BuilderMissing),
        (backend.engine().pause().is_paused(), NotReady::Paused),
    ];
    checks
        .into_iter()
        .filter_map(|(holds, reason)| holds.then_some(reason))
        .collect()
}
