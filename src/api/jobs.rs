//! Status, list and cancel of jobs (contract 3.2, 3.3, 3.5). All need the token.

use actix_web::{HttpResponse, delete, get, web};
use serde::Deserialize;
use serde::Serialize;

use super::auth::Authorized;
use super::error::{ApiError, ErrorBody};
use super::job_status::JobStatus;
use crate::jobs::engine::CancelError;
use crate::jobs::record::JobState;
use crate::state::AppState;

#[utoipa::path(get, path = "/corebuild/v1/jobs/{id}", params(("id" = String, Path, description = "job id")),
    responses((status = 200, body = JobStatus), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[get("/corebuild/v1/jobs/{id}")]
pub async fn status(
    _: Authorized,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let engine = state.engine();
    let record = engine.get(&id).ok_or_else(|| not_found(&id))?;
    Ok(HttpResponse::Ok().json(JobStatus::of(&record, engine)))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    state: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct JobList {
    success: bool,
    jobs: Vec<JobStatus>,
}

#[utoipa::path(get, path = "/corebuild/v1/jobs", params(ListQuery),
    responses((status = 200, body = JobList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
#[get("/corebuild/v1/jobs")]
pub async fn list(
    _: Authorized,
    query: web::Query<ListQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let wanted = query.state.as_deref().map(parse_state).transpose()?;
    let engine = state.engine();
    let jobs = engine
        .list()
        .iter()
        .filter(|r| wanted.is_none_or(|w| r.state() == w))
        .map(|r| JobStatus::of(r, engine))
        .collect();
    Ok(HttpResponse::Ok().json(JobList {
        success: true,
        jobs,
    }))
}

#[utoipa::path(delete, path = "/corebuild/v1/jobs/{id}", params(("id" = String, Path, description = "job id")),
    responses((status = 202, body = JobStatus), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[delete("/corebuild/v1/jobs/{id}")]
pub async fn cancel(
    _: Authorized,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let engine = state.engine();
    match engine.cancel(&id) {
        Ok(record) => Ok(HttpResponse::Accepted().json(JobStatus::of(&record, engine))),
        Err(CancelError::NotFound(id)) => Err(not_found(&id)),
        Err(e @ CancelError::Finished(_)) => Err(ApiError::Conflict(e.to_string())),
    }
}

pub fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("no job {id}"))
}

fn parse_state(value: &str) -> Result<JobState, ApiError> {
    Ok(match value {
        "queued" => JobState::Queued,
        "running" => JobState::Running,
        "uploading" => JobState::Uploading,
        "succeeded" => JobState::Succeeded,
        "failed" => JobState::Failed,
        "cancelled" => JobState::Cancelled,
        _ => {
            return Err(ApiError::InvalidRequest(
                "state: must be queued, running, uploading, succeeded, failed or cancelled"
                    .to_owned(),
            ));
        }
    })
}
