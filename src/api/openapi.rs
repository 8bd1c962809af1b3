//! The OpenAPI 3.1 description of the HTTP API, derived from the handlers and the types
//! they answer with, so it cannot drift from what the worker does.

use actix_web::{HttpResponse, get};
use utoipa::OpenApi;

use super::{capabilities, error, health, job_status, jobs, logs, metrics, submit};
use crate::domain::{job, outcome, state, wire};
use crate::joblog;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "corebuild",
        description = "Build worker for serve.zone BaseOS images. Job endpoints need the worker's token (Authorization: Bearer, x-corebuild-token, or the body's apiToken) when one is configured."
    ),
    paths(
        health::health,
        capabilities::capabilities,
        metrics::metrics,
        submit::submit,
        jobs::list,
        jobs::status,
        jobs::cancel,
        logs::logs,
        openapi_json,
    ),
    components(schemas(
        health::Health,
        capabilities::Capabilities,
        wire::Submission,
        wire::WireJob,
        wire::WireWifi,
        wire::WireS3Descriptor,
        submit::Success,
        submit::Submitted,
        outcome::Artifact,
        outcome::ErrorCode,
        state::Progress,
        state::JobState,
        job::Architecture,
        job::ImageKind,
        job::BuildType,
        job_status::JobStatus,
        job_status::ErrorView,
        jobs::JobList,
        logs::LogPage,
        joblog::LogLine,
        joblog::Stream,
        error::ErrorBody,
    ))
)]
pub(crate) struct ApiDoc;

/// The OpenAPI document of this worker, as served at `/corebuild/v1/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// This document.
#[utoipa::path(get, path = "/corebuild/v1/openapi.json", responses((status = 200, description = "OpenAPI 3.1 document", body = Object)))]
#[get("/corebuild/v1/openapi.json")]
pub(crate) async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(document())
}
