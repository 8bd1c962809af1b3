//! The job request as it arrives on the wire: loose serde structs, every field optional,
//! so that a missing or bad field is reported by [`super::parse`] with its name.

use serde::{Deserialize, Deserializer};

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Job)]
pub struct WireJob {
    pub id: Option<String>,
    pub architecture: Option<String>,
    pub image_kind: Option<String>,
    pub cloudly_url: Option<String>,
    pub provisioning_token: Option<String>,
    pub ubuntu_version: Option<String>,
    pub hostname: Option<String>,
    pub ssh_public_key: Option<String>,
    pub ssh_user: Option<String>,
    pub wifi: Option<WireWifi>,
    pub source_image_url: Option<String>,
    pub s3_descriptor: Option<WireS3Descriptor>,
    pub artifact_key: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Wifi)]
pub struct WireWifi {
    pub ssid: Option<String>,
    pub password: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = S3Descriptor)]
pub struct WireS3Descriptor {
    pub endpoint: Option<String>,
    pub access_key: Option<String>,
    pub access_secret: Option<String>,
    pub bucket_name: Option<String>,
    #[serde(default, deserialize_with = "port_number_or_string")]
    pub port: Option<u16>,
    pub use_ssl: Option<bool>,
    pub region: Option<String>,
}

/// Some clients send the port as a string (`"9000"`); both spellings mean the same.
fn port_number_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Port {
        Number(u16),
        Text(String),
    }
    match Option::<Port>::deserialize(d)? {
        None => Ok(None),
        Some(Port::Number(n)) => Ok(Some(n)),
        Some(Port::Text(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom("expected a port number between 0 and 65535")),
    }
}

/// Deserializes the `job` object; a wrong type names its field (`job.s3Descriptor.port`).
pub fn from_value(value: serde_json::Value) -> Result<WireJob, super::FieldError> {
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
pub struct Submission {
    /// The worker's token, when not sent as a header.
    pub api_token: Option<String>,
    pub job: WireJob,
}
