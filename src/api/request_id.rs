//! Request ids: the client's `X-Request-Id` when it is a plain token, else a new one.
//! The id is echoed on the answer, is on the request's line of the service log, and on
//! the service log lines of a job the request submitted (in a fleet, on whichever
//! worker runs it), so one id follows a job from Cloudly's call to its build.

use actix_web::http::header::{HeaderName, HeaderValue};

pub(crate) const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest id taken from a client; a longer one is replaced.
const MAX_LEN: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequestId(String);

impl RequestId {
    /// The client's id when it is 1 to 128 characters of letters, digits and
    /// `-_.:/+=~@` (nothing that could break a log line or a header); else a new one.
    pub(crate) fn from_header(value: Option<&HeaderValue>) -> Self {
        value
            .and_then(|v| v.to_str().ok())
            .and_then(Self::parse)
            .unwrap_or_else(Self::generate)
    }

    fn parse(value: &str) -> Option<Self> {
        let plain = |c: char| c.is_ascii_alphanumeric() || "-_.:/+=~@".contains(c);
        (!value.is_empty() && value.len() <= MAX_LEN && value.chars().all(plain))
            .then(|| Self(value.to_owned()))
    }

    fn generate() -> Self {
        Self(nuid::next().to_string())
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn header_value(&self) -> HeaderValue {
        HeaderValue::from_str(&self.0).expect("a request id is a valid header value")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(value: &str) -> RequestId {
        RequestId::from_header(Some(&HeaderValue::from_str(value).unwrap()))
    }

    #[test]
    fn a_plain_id_is_kept_and_anything_else_is_replaced() {
        assert_eq!(
            from("cloudly-7f3a:build/42").as_str(),
            "cloudly-7f3a:build/42"
        );
        for hostile in [
            "",
            "a b",
            "x\"y",
            "{json}",
            "line\\nbreak",
            &"a".repeat(129),
        ] {
            let replaced = from(hostile);
            assert_ne!(replaced.as_str(), hostile);
            assert_eq!(RequestId::parse(replaced.as_str()), Some(replaced.clone()));
        }
        let fresh = RequestId::from_header(None);
        assert!(!fresh.as_str().is_empty());
        assert_ne!(fresh, RequestId::from_header(None), "each new id is new");
    }
}
