//! The one place where failures become HTTP answers.
//!
//! Every error answer has one shape (`{"success": false, "error", "code"}`, docs/api.md
//! "Errors"); handlers return [`ApiError`] and never build an error response
//! themselves. The codes' strings live in [`ErrorCode`]; the status codes live here.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::cluster::ClusterError;
use crate::domain::{ErrorCode, FailureCode, JobFailure};
use crate::jobs::{AdmitError, CancelError, NoJob};

#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// Malformed JSON, a wrong type, a missing or invalid field (the message names it).
    #[error("{0}")]
    InvalidRequest(String),
    #[error("missing or invalid token")]
    Unauthorized,
    /// Protected mode (no token, listening beyond loopback) and a client from elsewhere.
    #[error(
        "protected mode: this worker has no COREBUILD_TOKEN and listens on {bind}, so its job \
         routes answer only clients on its own host. Set COREBUILD_TOKEN (e.g. `openssl rand \
         -hex 32`) on the worker and send it as `Authorization: Bearer <token>`; or, on a \
         trusted private network only, set COREBUILD_PROTECTED_MODE=false"
    )]
    Forbidden { bind: std::net::IpAddr },
    /// No route for the request (the message says which).
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    NoJob(#[from] NoJob),
    #[error("{method} is not allowed here; allowed: {allow}")]
    MethodNotAllowed { method: String, allow: String },
    #[error("the request body did not arrive within {seconds} seconds")]
    BodyTimeout { seconds: u64 },
    #[error("request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: u64 },
    #[error("request body must be application/json")]
    UnsupportedMediaType,
    #[error("{0}")]
    Conflict(String),
    /// Standalone: the job's architecture or image kind is not among this worker's
    /// (the message names the field and the worker's lists).
    #[error("{0}")]
    UnsupportedBuild(String),
    #[error("the job queue is full; retry later")]
    QueueFull,
    #[error("the worker is shutting down; submit to another worker")]
    ShuttingDown,
    /// Cluster mode: the cluster is out of reach, so the worker can neither admit nor
    /// read jobs; the message says what failed.
    #[error("{0}")]
    Unavailable(String),
    /// A job that ran and did not succeed, with its log.
    #[error("{}", failure.message)]
    Job {
        failure: JobFailure,
        logs: Vec<String>,
    },
}

/// Seconds a client should wait before retrying a 503.
const RETRY_AFTER_SECS: &str = "30";

impl ApiError {
    pub(crate) fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidRequest(_) | Self::UnsupportedMediaType => ErrorCode::InvalidRequest,
            Self::Unauthorized => ErrorCode::Unauthorized,
            Self::Forbidden { .. } => ErrorCode::Forbidden,
            Self::NotFound(_) | Self::NoJob(_) => ErrorCode::NotFound,
            Self::MethodNotAllowed { .. } => ErrorCode::MethodNotAllowed,
            Self::BodyTimeout { .. } => ErrorCode::RequestTimeout,
            Self::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::UnsupportedBuild(_) => ErrorCode::UnsupportedBuild,
            Self::QueueFull => ErrorCode::QueueFull,
            Self::ShuttingDown => ErrorCode::ShuttingDown,
            Self::Unavailable(_) => ErrorCode::Unavailable,
            Self::Job { failure, .. } => failure.code.code(),
        }
    }
}

impl From<AdmitError> for ApiError {
    fn from(err: AdmitError) -> Self {
        match err {
            AdmitError::QueueFull => Self::QueueFull,
            AdmitError::ShuttingDown => Self::ShuttingDown,
            e @ AdmitError::Conflict(_) => Self::Conflict(e.to_string()),
            AdmitError::Unsupported(message) => Self::UnsupportedBuild(message),
        }
    }
}

impl From<CancelError> for ApiError {
    fn from(err: CancelError) -> Self {
        match err {
            CancelError::NotFound(e) => Self::NoJob(e),
            e @ CancelError::Finished(_) => Self::Conflict(e.to_string()),
        }
    }
}

impl From<ClusterError> for ApiError {
    fn from(err: ClusterError) -> Self {
        match err {
            ClusterError::NotFound(e) => Self::NoJob(e),
            e @ (ClusterError::Conflict(_) | ClusterError::Finished(_)) => {
                Self::Conflict(e.to_string())
            }
            ClusterError::QueueFull => Self::QueueFull,
            ClusterError::ShuttingDown => Self::ShuttingDown,
            e @ ClusterError::Unavailable(_) => Self::Unavailable(e.to_string()),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorBody<'a> {
    success: bool,
    error: String,
    code: ErrorCode,
    #[serde(skip_serializing_if = "Option::is_none")]
    logs: Option<&'a [String]>,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound(_) | Self::NoJob(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::UnsupportedBuild(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::QueueFull | Self::ShuttingDown | Self::Unavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Job { failure, .. } => match failure.code {
                FailureCode::UploadFailed => StatusCode::BAD_GATEWAY,
                FailureCode::ShuttingDown | FailureCode::QueueTimeout => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                FailureCode::BuildFailed
                | FailureCode::TimedOut
                | FailureCode::Cancelled
                | FailureCode::Internal
                | FailureCode::WorkerLost
                | FailureCode::UnreadableJob
                | FailureCode::QueueLost => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if matches!(self, Self::Unauthorized) {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        if matches!(self, Self::BodyTimeout { .. }) {
            // The rest of the body may still be on its way: end the connection.
            response.force_close();
        }
        if let Self::MethodNotAllowed { allow, .. } = self {
            response.insert_header(("Allow", allow.as_str()));
        }
        if self.status_code() == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header(("Retry-After", RETRY_AFTER_SECS));
        }
        response.json(ErrorBody {
            success: false,
            error: self.to_string(),
            code: self.code(),
            logs: match self {
                Self::Job { logs, .. } => Some(logs),
                _ => None,
            },
        })
    }
}
