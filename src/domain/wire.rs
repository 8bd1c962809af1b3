//! The job request as it arrives on the wire: loose serde structs, every field optional,
//! so that a missing or bad field is reported by [`super::parse`] with its name.

use serde::{Deserialize, Deserializer};

/// The OpenAPI schemas of these structs are in [`super::schema`], which carries the
/// rules the parser applies; the impls below only name them.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireJob {
    pub(crate) id: Option<String>,
    pub(crate) architecture: Option<String>,
    pub(crate) image_kind: Option<String>,
    pub(crate) cloudly_url: Option<String>,
    pub(crate) provisioning_token: Option<String>,
    pub(crate) ubuntu_version: Option<String>,
    pub(crate) hostname: Option<String>,
    pub(crate) ssh_public_key: Option<String>,
    pub(crate) ssh_user: Option<String>,
    pub(crate) wifi: Option<WireWifi>,
    pub(crate) source_image_url: Option<String>,
    pub(crate) s3_descriptor: Option<WireS3Descriptor>,
    pub(crate) artifact_key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireWifi {
    pub(crate) ssid: Option<String>,
    pub(crate) password: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireS3Descriptor {
    pub(crate) endpoint: Option<String>,
    pub(crate) access_key: Option<String>,
    pub(crate) access_secret: Option<String>,
    pub(crate) bucket_name: Option<String>,
    #[serde(default, deserialize_with = "port_number_or_string")]
    pub(crate) port: Option<u16>,
    pub(crate) use_ssl: Option<bool>,
    pub(crate) region: Option<String>,
}

impl utoipa::PartialSchema for WireJob {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::RefOr::Ref(utoipa::openapi::Ref::from_schema_name("Job"))
    }
}

impl utoipa::ToSchema for WireJob {
    fn name() -> std::borrow::Cow<'static, str> {
        "Job".into()
    }
}

/// Some clients send the port as a string (`"9000"`); both spellings mean the same, and
/// so do `9000` and `9000.0` (JSON has one number type).
fn port_number_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    let expected = || serde::de::Error::custom("expected a port number between 0 and 65535");
    let number =
        |n: f64| (n.fract() == 0.0 && (0.0..=f64::from(u16::MAX)).contains(&n)).then_some(n as u16);
    match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .or_else(|| n.as_f64().and_then(number))
            .map(Some)
            .ok_or_else(expected),
        Some(serde_json::Value::String(s)) => s.trim().parse().map(Some).map_err(|_| expected()),
        Some(_) => Err(expected()),
    }
}

/// Deserializes the `job` object; a wrong type names its field (`job.s3Descriptor.port`).
pub(crate) fn from_value(value: &serde_json::Value) -> Result<WireJob, super::FieldError> {
    if !value.is_object() {
        return Err(super::FieldError::new("job", "must be an object"));
    }
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let field = if path == "." {
            "job".to_owned()
        } else {
            format!("job.{path}")
        };
        super::FieldError::new(field, without_quoted_values(&err.inner().to_string()))
    })
}

/// serde quotes the offending string in its messages; that string may be a secret sent
/// in the wrong place, so it is left out.
fn without_quoted_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find("string \"") {
        out.push_str(&rest[..start + "string".len()]);
        let after = &rest[start + "string \"".len()..];
        rest = after.find('"').map_or("", |end| &after[end + 1..]);
    }
    out.push_str(rest);
    out
}

/// The submission body as a whole, for the API description. The handler reads it in
/// two steps instead (the token first, then the job), so that nothing about the job is
/// looked at before the caller is known.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[expect(
    dead_code,
    reason = "a description for the OpenAPI document; never built"
)]
pub(crate) struct Submission {
    /// The worker's token, when not sent as a header.
    pub(crate) api_token: Option<String>,
    pub(crate) job: WireJob,
}
