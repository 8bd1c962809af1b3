//! The OpenAPI 3.1 description of the HTTP API, derived from the handlers and the types
//! they answer with, so it cannot drift from what the worker does. What utoipa's
//! attributes cannot say is added in [`document`]: the request schemas with their rules
//! ([`crate::domain::schema`]), the token's security schemes, and the links from a
//! submission to the job's other routes.

use actix_web::{HttpResponse, get, web};
use serde_json::{Value, json};
use utoipa::OpenApi;

use super::state::AppState;
use super::{capabilities, error, health, job_status, jobs, logs, metrics, ready, submit, workers};
use crate::domain::{job, outcome, schema, state, wire};
use crate::joblog;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "corebuild",
        description = "Build worker for serve.zone BaseOS images. Job endpoints need the worker's token (Authorization: Bearer, x-corebuild-token, or the body's apiToken) when one is configured."
    ),
    paths(
        health::health,
        ready::ready,
        capabilities::capabilities,
        metrics::metrics,
        submit::submit,
        jobs::list,
        jobs::status,
        jobs::cancel,
        logs::logs,
        workers::workers,
        workers::worker,
        workers::pause,
        workers::resume,
        openapi_json,
    ),
    components(schemas(
        health::Health,
        ready::Readiness,
        ready::NotReady,
        capabilities::Capabilities,
        wire::Submission,
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
        workers::WorkerList,
        workers::WorkerAnswer,
        workers::PauseRequest,
        crate::jobs::WorkerRecord,
        crate::jobs::WorkerState,
        crate::jobs::Paused,
    ))
)]
pub(crate) struct ApiDoc;

/// The OpenAPI document, as served at `/corebuild/v1/openapi.json` by a worker that
/// does (`auth_required`) or does not check a token.
pub fn document(auth_required: bool) -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the document serializes");
    let schemas = &mut doc["components"]["schemas"];
    for (name, request_schema) in schema::request_schemas() {
        schemas[name] = request_schema;
    }
    if auth_required {
        require_token(&mut doc);
    }
    link_submission(&mut doc);
    describe_log_stream(&mut doc);
    doc
}

/// A followed log's events, as an SSE client parses them: a line is a `message` event
/// whose `id` is its `seq`, and the last is an `end` event whose data is a JSON object
/// with the final `state` and failure `code` (docs/api.md, "Following").
fn describe_log_stream(doc: &mut Value) {
    let content = &mut doc["paths"]["/corebuild/v1/jobs/{id}/logs"]["get"]["responses"]["200"]["content"]
        ["text/event-stream"];
    content["schema"] = json!({
        "type": "object",
        "required": ["data"],
        "properties": {
            "event": { "type": "string", "enum": ["message", "end"] },
            "id": { "type": "string", "pattern": "^[0-9]+$" },
            "data": { "type": "string" },
        },
    });
}

/// The routes under `/corebuild/v1/jobs` and `/corebuild/v1/worker(s)` need the token (docs/api.md,
/// "Authentication"); submissions may carry it as `apiToken` in the body instead.
fn require_token(doc: &mut Value) {
    doc["components"]["securitySchemes"] = json!({
        "bearer": { "type": "http", "scheme": "bearer" },
        "tokenHeader": { "type": "apiKey", "in": "header", "name": "x-corebuild-token" },
    });
    let paths = doc["paths"].as_object_mut().expect("paths");
    for (path, item) in paths.iter_mut() {
        if !path.starts_with("/corebuild/v1/jobs") && !path.starts_with("/corebuild/v1/worker") {
            continue;
        }
        for operation in item.as_object_mut().expect("a path item").values_mut() {
            operation["security"] = json!([{ "bearer": [] }, { "tokenHeader": [] }]);
        }
    }
}

/// Every answer to a submission names a job by the id it was sent with, whether the
/// job succeeded, failed or is still running: link it to the job's routes, so tools
/// can follow a submission with status, logs and cancel.
fn link_submission(doc: &mut Value) {
    let id = json!({ "id": "$request.body#/job/id" });
    let links = json!({
        "GetJobStatus": { "operationId": "status", "parameters": id, "description": "the job's status" },
        "GetJobLogs": { "operationId": "logs", "parameters": id, "description": "the job's log" },
        "CancelJob": { "operationId": "cancel", "parameters": id, "description": "cancels the job" },
    });
    let responses = &mut doc["paths"]["/corebuild/v1/jobs/baseos-image"]["post"]["responses"];
    for status in ["200", "202", "500", "502"] {
        responses[status]["links"] = links.clone();
    }
}

/// This document.
#[utoipa::path(get, path = "/corebuild/v1/openapi.json", responses((status = 200, description = "OpenAPI 3.1 document", body = Object)))]
#[get("/corebuild/v1/openapi.json")]
pub(crate) async fn openapi_json(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(document(state.token().is_some()))
}
