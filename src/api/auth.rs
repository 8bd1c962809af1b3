//! The shared-token check of the job endpoints (docs/api.md, "Authentication").

use std::future::{Ready, ready};
use std::net::IpAddr;

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
        let Some(state) = req.app_data::<web::Data<AppState>>() else {
            return ready(Ok(Authorized));
        };
        let checked = protect(state, req).and_then(|()| verify(state.token(), req.headers(), None));
        ready(checked.map(|()| Authorized))
    }
}

/// Protected mode: with no token on an address reachable from elsewhere, a job route
/// answers only clients on this host. The socket's peer decides, never a header.
pub(crate) fn protect(state: &AppState, req: &HttpRequest) -> Result<(), ApiError> {
    let Some(bind) = state.loopback_only() else {
        return Ok(());
    };
    match req.peer_addr() {
        Some(peer) if is_local(peer.ip()) => Ok(()),
        _ => Err(ApiError::Forbidden { bind }),
    }
}

/// Loopback, also as an IPv4-mapped IPv6 address (`::ffff:127.0.0.1`), which is how a
/// worker listening on `::` sees a client of 127.0.0.1.
fn is_local(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// Whether the request carries a token in a header (`Authorization` or
/// `x-corebuild-token`); such a token decides alone, before any body is read.
pub(crate) fn header_token_sent(headers: &HeaderMap) -> bool {
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token);
    bearer.is_some() || headers.contains_key("x-corebuild-token")
}

/// Passes when no token is configured, or when a token sent in a header
/// (`Authorization: Bearer`, `x-corebuild-token`) equals it; without a header token,
/// when the body's `apiToken` does.
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
    let body_token = body_token.filter(|_| !header_token_sent(headers));
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
    fn loopback_counts_in_every_spelling() {
        for local in ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"] {
            assert!(is_local(local.parse().unwrap()), "{local}");
        }
        for remote in [
            "10.0.0.1",
            "192.0.2.7",
            "::ffff:192.0.2.7",
            "2001:db8::1",
            "0.0.0.0",
        ] {
            assert!(!is_local(remote.parse().unwrap()), "{remote}");
        }
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
        // A token in a header decides alone: a right body token does not mend it.
        assert!(ok(&[("x-corebuild-token", "nope")], Some("s3cret")).is_err());
        assert!(ok(&[("x-corebuild-token", "s3cret")], Some("nope")).is_ok());
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
