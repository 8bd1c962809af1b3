//! The shared-token check of the job endpoints (docs/api.md, "Authentication").

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::header::{AUTHORIZATION, HeaderMap};
use actix_web::{FromRequest, HttpRequest, web};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::state::AppState;
use crate::domain::Secret;

/// Header-only token check, for endpoints without a body (status, logs, cancel, list).
/// Submissions call [`verify`] themselves, since their body may carry the token.
pub(crate) struct Authorized;

impl FromRequest for Authorized {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let required = req
            .app_data::<web::Data<AppState>>()
            .and_then(|state| state.token().cloned());
        ready(verify(required.as_ref(), req.headers(), None).map(|()| Authorized))
    }
}

/// Passes when no token is configured, or when any of `Authorization: Bearer`,
/// `x-corebuild-token` or the body's `apiToken` equals it.
pub(crate) fn verify(
    required: Option<&Secret>,
    headers: &HeaderMap,
    body_token: Option<&str>,
) -> Result<(), ApiError> {
    let Some(required) = required else {
        return Ok(());
    };
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token);
    let header = headers
        .get("x-corebuild-token")
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    let presented = [bearer, header, body_token];
    // Evaluate every candidate, so timing does not tell which one was tried.
    let matched = presented
        .into_iter()
        .flatten()
        .fold(false, |ok, candidate| {
            ok | token_eq(candidate, required.expose())
        });
    if matched {
        Ok(())
    } else {
        Err(ApiError::Unauthorized)
    }
}

/// The token of `Bearer <token>`; the scheme's name is case-insensitive (RFC 9110,
/// section 11.1), and spaces around the token do not count.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Compares digests in constant time: equal length, so not even the token's length leaks.
fn token_eq(candidate: &str, expected: &str) -> bool {
    let a = Sha256::digest(candidate.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    a.ct_eq(&b).into()
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        map
    }

    #[test]
    fn no_configured_token_lets_everything_through() {
        assert!(verify(None, &headers(&[]), None).is_ok());
    }

    #[test]
    fn each_carrier_is_accepted() {
        let token = Secret::new("s3cret");
        let ok = |h: &[(&'static str, &'static str)], body| verify(Some(&token), &headers(h), body);
        assert!(ok(&[("authorization", "Bearer s3cret")], None).is_ok());
        assert!(ok(&[("authorization", "bearer s3cret")], None).is_ok());
        assert!(ok(&[("authorization", "BEARER  s3cret ")], None).is_ok());
        assert!(ok(&[("x-corebuild-token", "s3cret")], None).is_ok());
        assert!(ok(&[], Some("s3cret")).is_ok());
        // A wrong header does not spoil a right body token.
        assert!(ok(&[("x-corebuild-token", "nope")], Some("s3cret")).is_ok());
    }

    #[test]
    fn missing_or_wrong_tokens_are_refused() {
        let token = Secret::new("s3cret");
        let check = |h: &[(&'static str, &'static str)], body| {
            verify(Some(&token), &headers(h), body).is_err()
        };
        assert!(check(&[], None));
        assert!(check(&[("authorization", "Bearer s3cre")], None));
        assert!(check(&[("authorization", "Basic s3cret")], None));
        assert!(check(&[("authorization", "s3cret")], None));
        assert!(check(&[("x-corebuild-token", "S3CRET")], None));
        assert!(check(&[], Some("")));
    }
}
