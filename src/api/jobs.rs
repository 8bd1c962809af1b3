//! Status, list and cancel of jobs (docs/api.md, "Job status and list" and
//! "Cancelling"). All need the token.

use actix_web::{HttpResponse, delete, get, web};
use serde::Deserialize;
use serde::Serialize;

use super::auth::Authorized;
use super::error::{ApiError, ErrorBody};
use super::job_status::JobStatus;
use super::state::AppState;
use crate::domain::JobState;

#[utoipa::path(get, path = "/corebuild/v1/jobs/{id}", params(("id" = String, Path, description = "job id")),
    responses((status = 200, body = JobStatus), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, description = "cluster mode: NATS is out of reach", body = ErrorBody)))]
#[get("/corebuild/v1/jobs/{id}")]
pub(crate) async fn status(
    _: Authorized,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let view = state.backend().status(&id).await?;
    Ok(HttpResponse::Ok().json(JobStatus::from(view)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Only jobs in this state.
    #[param(value_type = Option<JobState>)]
    state: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct JobList {
    success: bool,
    jobs: Vec<JobStatus>,
}

#[utoipa::path(get, path = "/corebuild/v1/jobs", params(ListQuery),
    responses((status = 200, body = JobList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 503, description = "cluster mode: NATS is out of reach", body = ErrorBody)))]
#[get("/corebuild/v1/jobs")]
pub(crate) async fn list(
    _: Authorized,
    query: web::Query<ListQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let wanted = query.state.as_deref().map(parse_state).transpose()?;
    let jobs = state
        .backend()
        .list()
        .await?
        .into_iter()
        .filter(|view| wanted.is_none_or(|w| view.state == w))
        .map(JobStatus::from)
        .collect();
    Ok(HttpResponse::Ok().json(JobList {
        success: true,
        jobs,
    }))
}

#[utoipa::path(delete, path = "/corebuild/v1/jobs/{id}", params(("id" = String, Path, description = "job id")),
    responses((status = 202, body = JobStatus), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 503, description = "cluster mode: NATS is out of reach", body = ErrorBody)))]
#[delete("/corebuild/v1/jobs/{id}")]
pub(crate) async fn cancel(
    _: Authorized,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let view = state.backend().cancel(&id).await?;
    Ok(HttpResponse::Accepted().json(JobStatus::from(view)))
}

fn parse_state(value: &str) -> Result<JobState, ApiError> {
    value
        .parse()
        .map_err(|message| ApiError::InvalidRequest(format!("state: {message}")))
}
