//! Where an artifact goes: the job's `s3Descriptor`, resolved to one endpoint URL.

use super::fields::{FieldError, required, text};
use super::secret::Secret;
use super::wire::WireS3Descriptor;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct S3Target {
    /// `scheme://host:port`, with the scheme and port already decided.
    endpoint: String,
    use_tls: bool,
    access_key: String,
    access_secret: Secret,
    bucket: String,
    region: String,
}

impl S3Target {
    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub(crate) fn use_tls(&self) -> bool {
        self.use_tls
    }

    pub(crate) fn access_key(&self) -> &str {
        &self.access_key
    }

    pub(crate) fn access_secret(&self) -> &Secret {
        &self.access_secret
    }

    pub(crate) fn bucket(&self) -> &str {
        &self.bucket
    }

    pub(crate) fn region(&self) -> &str {
        &self.region
    }

    /// `endpoint` may be a bare host, `host:port` or an `http(s)://` URL; a scheme or
    /// port inside it must agree with `useSsl` and `port` when those are given too.
    pub(crate) fn parse(wire: WireS3Descriptor) -> Result<Self, FieldError> {
        let raw = required(&format!("{F}.endpoint"), wire.endpoint)?;
        let access_key = required(&format!("{F}.accessKey"), wire.access_key)?;
        let access_secret =
            Secret::new(required(&format!("{F}.accessSecret"), wire.access_secret)?);
        let bucket = required(&format!("{F}.bucketName"), wire.bucket_name)?;
        let region = text(&format!("{F}.region"), wire.region)?
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| "us-east-1".to_owned());
        let (endpoint, use_tls) = resolve_endpoint(&raw, wire.use_ssl, wire.port)?;
        Ok(Self {
            endpoint,
            use_tls,
            access_key,
            access_secret,
            bucket: parse_bucket(&format!("{F}.bucketName"), bucket)?,
            region,
        })
    }
}

const F: &str = "job.s3Descriptor";

/// The endpoint as `scheme://host:port`, and whether it uses TLS.
fn resolve_endpoint(
    raw: &str,
    use_ssl: Option<bool>,
    port: Option<u16>,
) -> Result<(String, bool), FieldError> {
    let endpoint_field = format!("{F}.endpoint");
    let bad_endpoint = || {
        FieldError::new(
            &endpoint_field,
            "must be a host, host:port, or an http(s):// URL without a path",
        )
    };
    let (scheme, url) = match raw.split_once("://") {
        Some((scheme, _)) => (Some(scheme.to_ascii_lowercase()), url::Url::parse(raw)),
        None => (None, url::Url::parse(&format!("http://{raw}"))),
    };
    let url = url.map_err(|_| bad_endpoint())?;
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(bad_endpoint)?;
    let no_extras = url.username().is_empty()
        && url.password().is_none()
        && url.query().is_none()
        && url.fragment().is_none()
        && matches!(url.path(), "" | "/");
    if !no_extras {
        return Err(bad_endpoint());
    }
    let use_tls = match (scheme.as_deref(), use_ssl) {
        (Some("https"), None | Some(true)) => true,
        (Some("http"), None | Some(false)) => false,
        (Some("https" | "http"), Some(_)) => {
            return Err(FieldError::new(
                format!("{F}.useSsl"),
                "contradicts the scheme of the endpoint URL",
            ));
        }
        (Some(_), _) => {
            return Err(FieldError::new(
                endpoint_field,
                "scheme must be http or https",
            ));
        }
        (None, use_ssl) => use_ssl.unwrap_or(true),
    };
    // The URL parser drops a port that is the scheme's default (`http://h:80`), and a
    // host without a scheme is parsed as http; a port that was written still counts.
    let written_port = url.port().or_else(|| {
        let authority = raw.split_once("://").map_or(raw, |(_, rest)| rest);
        let authority = authority.strip_suffix('/').unwrap_or(authority);
        let (_, digits) = authority.rsplit_once(':')?;
        digits.parse::<u16>().ok()
    });
    let port = resolve_port(written_port, port, use_tls)?;
    let scheme = if use_tls { "https" } else { "http" };
    Ok((format!("{scheme}://{host}:{port}"), use_tls))
}

/// The port in the endpoint and the `port` field must agree; else the scheme's default.
fn resolve_port(in_url: Option<u16>, field: Option<u16>, use_tls: bool) -> Result<u16, FieldError> {
    let port = match (in_url, field) {
        (Some(a), Some(b)) if a != b => {
            return Err(FieldError::new(
                format!("{F}.port"),
                "differs from the port in the endpoint",
            ));
        }
        (Some(p), _) | (None, Some(p)) => p,
        (None, None) if use_tls => 443,
        (None, None) => 80,
    };
    if port == 0 {
        return Err(FieldError::new(format!("{F}.port"), "must be 1 to 65535"));
    }
    Ok(port)
}

/// Path-style requests put the bucket in the URL path: keep it to safe characters.
fn parse_bucket(field: &str, bucket: String) -> Result<String, FieldError> {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if bucket.len() > 255 || !bucket.chars().all(ok) {
        return Err(FieldError::new(
            field,
            "must be at most 255 of A-Z, a-z, 0-9, '.', '_' and '-'",
        ));
    }
    Ok(bucket)
}
