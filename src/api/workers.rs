//! The fleet view and pausing (docs/api.md, "Workers"): which workers are alive, what
//! each builds and runs; pausing and resuming this one. All need the token.

use actix_web::{HttpResponse, get, post, web};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::auth::Authorized;
use super::error::{ApiError, ErrorBody};
use super::state::AppState;
use crate::jobs::WorkerRecord;

/// Longest pause reason, in characters.
const MAX_REASON: usize = 200;
/// Largest pause request body.
const MAX_BODY: usize = 4096;
/// The reason of a pause asked for without one.
const DEFAULT_REASON: &str = "paused by an operator";

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct WorkerList {
    success: bool,
    workers: Vec<WorkerRecord>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct WorkerAnswer {
    success: bool,
    worker: WorkerRecord,
}

/// The body of a pause request; it may be left out.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PauseRequest {
    /// Why, for the fleet view (at most 200 characters, no control characters).
    #[schema(max_length = 200)]
    reason: Option<String>,
}

#[utoipa::path(get, path = "/corebuild/v1/workers",
    responses((status = 200, body = WorkerList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 503, description = "cluster mode: NATS is out of reach", body = ErrorBody)))]
#[get("/corebuild/v1/workers")]
pub(crate) async fn workers(
    _: Authorized,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let workers = state.backend().workers(state.identity()).await?;
    Ok(HttpResponse::Ok().json(WorkerList {
        success: true,
        workers,
    }))
}

#[utoipa::path(get, path = "/corebuild/v1/worker",
    responses((status = 200, body = WorkerAnswer), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
#[get("/corebuild/v1/worker")]
pub(crate) async fn worker(_: Authorized, state: web::Data<AppState>) -> HttpResponse {
    answer(&state)
}

/// Pauses this worker: it finishes what it runs and starts nothing new until resumed.
#[utoipa::path(post, path = "/corebuild/v1/worker/pause", request_body(content = Option<PauseRequest>),
    responses((status = 200, body = WorkerAnswer), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 413, body = ErrorBody)))]
#[post("/corebuild/v1/worker/pause")]
pub(crate) async fn pause(
    _: Authorized,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let reason = reason(&read_small(body).await?)?;
    let paused = state.backend().engine().pause().pause(reason);
    tracing::warn!(reason = %paused.reason, "worker paused: running jobs finish, nothing new starts");
    Ok(answer(&state))
}

/// Resumes this worker; resuming one that is not paused changes nothing.
#[utoipa::path(post, path = "/corebuild/v1/worker/resume",
    responses((status = 200, body = WorkerAnswer), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
#[post("/corebuild/v1/worker/resume")]
pub(crate) async fn resume(_: Authorized, state: web::Data<AppState>) -> HttpResponse {
    if state.backend().engine().pause().resume() {
        tracing::warn!("worker resumed: taking jobs again");
    }
    answer(&state)
}

fn answer(state: &AppState) -> HttpResponse {
    HttpResponse::Ok().json(WorkerAnswer {
        success: true,
        worker: state.backend().engine().describe(state.identity()),
    })
}

/// A body of at most [`MAX_BODY`] bytes.
async fn read_small(mut payload: web::Payload) -> Result<Vec<u8>, ApiError> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::InvalidRequest(format!("could not read the request body: {e}"))
        })?;
        if body.len() + chunk.len() > MAX_BODY {
            return Err(ApiError::PayloadTooLarge {
                limit: MAX_BODY as u64,
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The reason of a pause request: an empty body, `null`, `{}` or `{"reason": null}`
/// get the default one.
fn reason(body: &[u8]) -> Result<String, ApiError> {
    let invalid = |message: &str| ApiError::InvalidRequest(message.to_owned());
    let request: PauseRequest = if body.iter().all(u8::is_ascii_whitespace) {
        PauseRequest::default()
    } else {
        serde_json::from_slice::<Option<PauseRequest>>(body)
            .map_err(|e| {
                ApiError::InvalidRequest(format!(
                    "the body must be a JSON object with an optional `reason` string: {e}"
                ))
            })?
            .unwrap_or_default()
    };
    let Some(reason) = request.reason else {
        return Ok(DEFAULT_REASON.to_owned());
    };
    let reason = reason.trim();
    if reason.chars().count() > MAX_REASON {
        return Err(invalid("reason: must be at most 200 characters"));
    }
    if reason.chars().any(char::is_control) {
        return Err(invalid("reason: must not contain control characters"));
    }
    if reason.is_empty() {
        return Ok(DEFAULT_REASON.to_owned());
    }
    Ok(reason.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_is_optional_bounded_and_printable() {
        assert_eq!(reason(b"").unwrap(), DEFAULT_REASON);
        assert_eq!(reason(b"{}").unwrap(), DEFAULT_REASON);
        assert_eq!(reason(b"null").unwrap(), DEFAULT_REASON);
        assert_eq!(
            reason(br#"{"reason": " kernel update "}"#).unwrap(),
            "kernel update"
        );
        assert!(reason(br#"{"reason": "a\nb"}"#).is_err());
        assert!(reason(br#"{"reason": 5}"#).is_err());
        assert!(reason(br#"{"why": "x"}"#).is_err());
        assert!(reason(format!(r#"{{"reason": "{}"}}"#, "x".repeat(201)).as_bytes()).is_err());
    }
}
