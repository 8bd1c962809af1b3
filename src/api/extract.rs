//! Extractor settings, so that a bad body, query or path answers in the API's one
//! error shape instead of actix's plain-text defaults.

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::{HttpRequest, web};

use super::error::ApiError;

pub(crate) fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(move |err, _req| json_error(err, limit).into())
}

fn json_error(err: JsonPayloadError, limit: usize) -> ApiError {
    let limit = limit as u64;
    match err {
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            ApiError::PayloadTooLarge { limit }
        }
        JsonPayloadError::ContentType => ApiError::UnsupportedMediaType,
        JsonPayloadError::Deserialize(err) => {
            ApiError::InvalidRequest(format!("malformed JSON body: {err}"))
        }
        JsonPayloadError::Payload(actix_web::error::PayloadError::Overflow) => {
            ApiError::PayloadTooLarge { limit }
        }
        other => ApiError::InvalidRequest(format!("could not read the request body: {other}")),
    }
}

pub(crate) fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err: QueryPayloadError, _req: &HttpRequest| {
        ApiError::InvalidRequest(format!("invalid query string: {err}")).into()
    })
}

pub(crate) fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err: PathError, _req: &HttpRequest| {
        ApiError::InvalidRequest(format!("invalid path: {err}")).into()
    })
}

#[cfg(test)]
mod tests {
    //! The plumbing every job endpoint uses, exercised on a probe route through the
    //! same settings and token check the real routes get.
    use actix_web::http::StatusCode;
    use actix_web::{App, HttpRequest, HttpResponse, test, web};
    use serde_json::{Value, json};

    use crate::api::auth::verify;
    use crate::api::{ApiError, configure};
    use crate::domain::Secret;

    async fn probe(req: HttpRequest, body: web::Json<Value>) -> Result<HttpResponse, ApiError> {
        let token = Secret::new("s3cret");
        verify(Some(&token), req.headers(), body["apiToken"].as_str())?;
        Ok(HttpResponse::Ok().json(json!({ "success": true })))
    }

    async fn call(req: test::TestRequest) -> (StatusCode, Value) {
        let app = test::init_service(
            App::new()
                .route("/probe", web::post().to(probe))
                .configure(configure(1024)),
        )
        .await;
        let response = test::call_service(&app, req.uri("/probe").to_request()).await;
        let status = response.status();
        let body: Value = test::read_body_json(response).await;
        (status, body)
    }

    fn post() -> test::TestRequest {
        test::TestRequest::post()
    }

    fn assert_error(body: &Value, code: &str) {
        assert_eq!(body["success"], false, "{body}");
        assert_eq!(body["code"], code, "{body}");
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{body}"
        );
    }

    #[actix_web::test]
    async fn tokens_are_accepted_from_each_carrier() {
        let bearer = post()
            .insert_header(("authorization", "Bearer s3cret"))
            .set_json(json!({}));
        assert_eq!(call(bearer).await.0, StatusCode::OK);
        let header = post()
            .insert_header(("x-corebuild-token", "s3cret"))
            .set_json(json!({}));
        assert_eq!(call(header).await.0, StatusCode::OK);
        let body = post().set_json(json!({ "apiToken": "s3cret" }));
        assert_eq!(call(body).await.0, StatusCode::OK);
    }

    #[actix_web::test]
    async fn a_missing_or_wrong_token_is_401() {
        let (status, body) = call(post().set_json(json!({}))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_error(&body, "unauthorized");
        let (status, body) = call(
            post()
                .insert_header(("authorization", "Bearer wrong"))
                .set_json(json!({ "apiToken": "also-wrong" })),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_error(&body, "unauthorized");
        assert!(!body.to_string().contains("s3cret"));
    }

    #[actix_web::test]
    async fn malformed_json_is_400() {
        let req = post()
            .insert_header(("content-type", "application/json"))
            .set_payload("{\"job\": ");
        let (status, body) = call(req).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_error(&body, "invalid_request");
    }

    #[actix_web::test]
    async fn an_oversized_body_is_413() {
        let big = json!({ "pad": "x".repeat(2048) });
        let (status, body) = call(post().set_json(big)).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_error(&body, "payload_too_large");
    }

    #[actix_web::test]
    async fn a_body_that_is_not_json_is_415() {
        let req = post()
            .insert_header(("content-type", "text/plain"))
            .set_payload("{}");
        let (status, body) = call(req).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_error(&body, "invalid_request");
    }
}
