//! The one place where failures become HTTP answers.
//!
//! Every error answer has the contract's shape (`{"success": false, "error", "code"}`);
//! handlers return [`ApiError`] and never build an error response themselves.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed JSON, a wrong type, a missing or invalid field (the message names it).
    #[error("{0}")]
    InvalidRequest(String),
    #[error("missing or invalid token")]
    Unauthorized,
    #[error("{0}")]
    NotFound(String),
    #[error("request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: u64 },
    #[error("request body must be application/json")]
    UnsupportedMediaType,
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) | Self::UnsupportedMediaType => "invalid_request",
            Self::Unauthorized => "unauthorized",
            Self::NotFound(_) => "not_found",
            Self::PayloadTooLarge { .. } => "payload_too_large",
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    success: bool,
    error: String,
    code: &'a str,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if matches!(self, Self::Unauthorized) {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        response.json(ErrorBody {
            success: false,
            error: self.to_string(),
            code: self.code(),
        })
    }
}
