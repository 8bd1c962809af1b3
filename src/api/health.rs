use actix_web::{HttpResponse, get};
use serde_json::json;

/// Liveness: answers as long as the process serves HTTP. Never needs a token.
#[get("/health")]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "ok": true }))
}
