//! One log line per HTTP request. Only method, path, status, duration and request id:
//! headers and bodies carry tokens and secrets, and the query string is left out with
//! them.

use std::time::Instant;

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, web};

use super::request_id::{HEADER, RequestId};
use super::state::AppState;

pub(crate) async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.path().to_owned();
    let request_id = RequestId::from_header(req.headers().get(HEADER));
    req.extensions_mut().insert(request_id.clone());
    let mut result = next.call(req).await;
    // Whole microseconds, so the field prints as 0.046, not 0.046220000000000004.
    let duration_ms = started.elapsed().as_micros() as f64 / 1000.0;
    let id = request_id.as_str();
    match &mut result {
        Ok(response) => {
            response
                .headers_mut()
                .insert(HEADER, request_id.header_value());
            count(response.request(), response.status().as_u16());
            tracing::info!(
                %method,
                path,
                status = response.status().as_u16(),
                duration_ms,
                request_id = id,
                "http request"
            )
        }
        Err(err) => tracing::warn!(
            %method,
            path,
            status = err.as_response_error().status_code().as_u16(),
            duration_ms,
            request_id = id,
            "http request"
        ),
    }
    result
}

/// Counted by route pattern (`/corebuild/v1/jobs/{id}`), never by the path itself, so
/// job ids do not multiply the series.
fn count(req: &HttpRequest, status: u16) {
    if let Some(state) = req.app_data::<web::Data<AppState>>() {
        let route = req
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        state
            .metrics()
            .http_request(req.method().as_str(), &route, status);
    }
}
