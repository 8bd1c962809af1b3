//! `POST /corebuild/v1/jobs/baseos-image`: parse at the edge, check the token, hand the
//! job to the engine; then wait for its outcome, or with `Prefer: respond-async` answer
//! at once with its status. The caller going away does not stop the job.

use actix_web::{HttpMessage, HttpRequest, HttpResponse, post, web};
use serde::Serialize;
use serde_json::Value;

use super::auth;
use super::body::SubmissionBody;
use super::error::{ApiError, ErrorBody};
use super::job_status::JobStatus;
use super::request_id::RequestId;
use super::state::AppState;
use crate::domain::wire::Submission;
use crate::domain::{Artifact, parse_job};
use crate::jobs::SubmittedBy;

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Success<'a> {
    success: bool,
    artifact: &'a Artifact,
    logs: Vec<String>,
}

/// A successful submission's answer: the blocking call's result, or (with
/// `Prefer: respond-async`) the job's status.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub(crate) enum Submitted<'a> {
    Finished(Success<'a>),
    Status(Box<JobStatus>),
}

#[utoipa::path(post, path = "/corebuild/v1/jobs/baseos-image", request_body = Submission,
    params(("Prefer" = Option<String>, Header, description = "respond-async: answer at once with the job status")),
    responses((status = 200, description = "the finished job; or, asynchronously, the status of the known job it attached to", body = Submitted),
        (status = 202, description = "accepted (async)", body = JobStatus),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 408, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, description = "standalone: the worker does not build the job's architecture or image kind (`unsupported_build`)", body = ErrorBody),
        (status = 500, body = ErrorBody),
        (status = 502, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[post("/corebuild/v1/jobs/baseos-image")]
pub(crate) async fn submit(
    req: HttpRequest,
    body: SubmissionBody,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut body = body.0;
    let Some(fields) = body.as_object_mut() else {
        return Err(ApiError::InvalidRequest(
            "the body must be a JSON object".to_owned(),
        ));
    };
    // The token is checked before anything about the job is looked at or answered.
    let api_token = body_token(fields)?;
    auth::verify(state.token(), req.headers(), api_token.as_deref())?;
    let job = fields
        .remove("job")
        .ok_or_else(|| ApiError::InvalidRequest("job: is required".to_owned()))?;
    let raw = job.clone();
    let job = parse_job(job).map_err(|e| ApiError::InvalidRequest(e.to_string()))?;

    let backend = state.backend();
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|id| id.as_str().to_owned());
    let submitted = backend
        .submit(
            job,
            raw,
            SubmittedBy {
                api_token: api_token.as_deref(),
                request_id: request_id.as_deref(),
                waits: !prefers_async(&req),
            },
        )
        .await?;
    if prefers_async(&req) {
        let id = submitted.view.id.clone();
        let status = JobStatus::from(submitted.view);
        let mut response = if submitted.attached {
            HttpResponse::Ok()
        } else {
            HttpResponse::Accepted()
        };
        return Ok(response
            .insert_header(("Location", format!("/corebuild/v1/jobs/{id}")))
            .insert_header(("Preference-Applied", "respond-async"))
            .json(Submitted::Status(Box::new(status))));
    }
    let (outcome, logs) = backend.wait(&submitted).await?;
    match outcome {
        Ok(artifact) => Ok(HttpResponse::Ok().json(Submitted::Finished(Success {
            success: true,
            artifact: &artifact,
            logs,
        }))),
        Err(failure) => Err(ApiError::Job { failure, logs }),
    }
}

/// The body's `apiToken`, when one was sent.
fn body_token(fields: &serde_json::Map<String, Value>) -> Result<Option<String>, ApiError> {
    match fields.get("apiToken") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(token)) => Ok(Some(token.clone())),
        Some(_) => Err(ApiError::InvalidRequest(
            "apiToken: must be a string".to_owned(),
        )),
    }
}

/// RFC 7240: `Prefer: respond-async`, possibly among other preferences.
fn prefers_async(req: &HttpRequest) -> bool {
    req.headers().get_all("prefer").any(|value| {
        value.to_str().is_ok_and(|v| {
            v.split(',').any(|pref| {
                pref.split(';')
                    .next()
                    .is_some_and(|p| p.trim().eq_ignore_ascii_case("respond-async"))
            })
        })
    })
}
