//! The HTTP surface: routes, the token check, extractor settings and the single
//! mapping from errors to answers.

mod auth;
mod backend;
mod body;
mod capabilities;
mod error;
mod extract;
mod health;
mod job_status;
mod jobs;
mod logs;
mod metrics;
pub mod openapi;
mod ready;
mod request_id;
mod request_log;
mod routes;
mod state;
mod submit;
mod workers;

use actix_web::{HttpRequest, HttpResponse, web};

pub(crate) use backend::Backend;
pub(crate) use error::ApiError;
pub(crate) use request_log::log_request;
pub(crate) use state::{AppState, Facts};

/// Registers every route and the settings that keep error answers in one shape.
pub(crate) fn configure(max_body_bytes: usize) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(extract::json_config(max_body_bytes))
            .app_data(extract::query_config())
            .app_data(extract::path_config())
            .service(health::health)
            .service(ready::ready)
            .service(capabilities::capabilities)
            .service(metrics::metrics)
            .service(openapi::openapi_json)
            .service(submit::submit)
            .service(jobs::list)
            .service(jobs::status)
            .service(jobs::cancel)
            .service(logs::logs)
            .service(workers::workers)
            .service(workers::worker)
            .service(workers::pause)
            .service(workers::resume)
            .default_service(web::to(no_route));
    }
}

/// A request no route took: `405` with `Allow` when the path is known but the method
/// is not one of its own, else `404` (docs/api.md, "Routes").
async fn no_route(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let allowed = routes::methods_of(req.path());
    if allowed.is_empty() {
        return Err(ApiError::NotFound(format!(
            "no route for {} {}",
            req.method(),
            req.path()
        )));
    }
    Err(ApiError::MethodNotAllowed {
        method: req.method().to_string(),
        allow: allowed.join(", "),
    })
}
