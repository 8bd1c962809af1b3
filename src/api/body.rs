//! The submission's body, read only after a token in the headers has been checked and
//! within a time limit: a client that sends its body a byte at a time holds a
//! connection and a file descriptor, and a thousand of them must not starve the worker.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use serde_json::Value;

use super::auth;
use super::error::ApiError;
use super::state::AppState;

/// The submission's body as JSON.
pub(crate) struct SubmissionBody(pub(crate) Value);

impl FromRequest for SubmissionBody {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        // Protected mode, and a token sent as a header, decide on their own, before
        // the body is read.
        let early = match &state {
            Some(state) => auth::protect(state, req).and_then(|()| {
                if auth::header_token_sent(req.headers()) {
                    auth::verify(state.token(), req.headers(), None)
                } else {
                    Ok(())
                }
            }),
            None => Ok(()),
        };
        let limit = state.map_or(Duration::from_secs(30), |s| s.body_timeout());
        let json = web::Json::<Value>::from_request(req, payload);
        Box::pin(async move {
            early?;
            match tokio::time::timeout(limit, json).await {
                Ok(json) => Ok(Self(json?.into_inner())),
                Err(_) => Err(ApiError::BodyTimeout {
                    seconds: limit.as_secs(),
                }
                .into()),
            }
        })
    }
}
