//! The object store client of one job, and the names and sizes it is used with.

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{Attribute, AttributeValue, Attributes, ClientOptions, RetryConfig};
use reqwest::header::{HeaderMap, HeaderValue};

use super::{UploadError, UploadSettings};
use crate::domain::fields::ArtifactKey;
use crate::domain::s3_target::S3Target;

/// S3 allows at most this many parts in one multipart upload.
const MAX_PARTS: u64 = 10_000;
pub(super) const MIB: u64 = 1024 * 1024;

/// The object being written: a store, its path there and the attributes it gets.
#[derive(Clone, Copy)]
pub(super) struct Object<'a> {
    pub(super) store: &'a Arc<AmazonS3>,
    /// Makes clients of the same store for conditional requests.
    pub(super) client: &'a Client,
    pub(super) path: &'a ObjectPath,
    pub(super) attributes: &'a Attributes,
}

/// The part size actually used: the configured one, raised (to whole MiB) for a file so
/// large that it would otherwise need more than 10,000 parts.
pub(super) fn part_size_for(file_size: u64, configured: u64) -> u64 {
    let needed = file_size.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB;
    configured.max(needed)
}

pub(super) fn content_type_attributes(key: &ArtifactKey) -> Attributes {
    Attributes::from_iter([(
        Attribute::ContentType,
        AttributeValue::from(key.content_type()),
    )])
}

/// A job's store: its client, and how to make more of them.
pub(super) struct Client {
    pub(super) store: Arc<AmazonS3>,
    builder: AmazonS3Builder,
    options: ClientOptions,
}

impl Client {
    /// The same store, with `header` on every request (signed with it): object_store
    /// takes no conditions on a delete or a multipart completion, so a client whose
    /// every request carries the condition makes them.
    pub(super) fn with_header(
        &self,
        header: &'static str,
        value: &str,
    ) -> Result<Arc<AmazonS3>, object_store::Error> {
        let value = HeaderValue::from_str(value).map_err(|e| object_store::Error::Generic {
            store: "S3",
            source: Box::new(e),
        })?;
        let headers =
            HeaderMap::from_iter([(reqwest::header::HeaderName::from_static(header), value)]);
        let options = self.options.clone().with_default_headers(headers);
        Ok(Arc::new(
            self.builder.clone().with_client_options(options).build()?,
        ))
    }
}

/// One store client per job: endpoint, credentials and bucket come with the job.
pub(super) fn store_for(
    target: &S3Target,
    settings: &UploadSettings,
    part_size: u64,
) -> Result<Client, UploadError> {
    // A request carries at most one part: give it time for a whole part at a slow
    // 1 MiB/s on top of a fixed allowance, so big parts are not cut off mid-flight.
    let request_timeout = Duration::from_secs(60 + part_size / MIB);
    // A silent endpoint fails in bounded time: connecting may take 10 s, one request
    // the time above, and all retries of a request together 120 s. (The HTTP client's
    // read timeout runs from the start of a request, so for a part it would have to
    // be as long as the request's own limit; it adds nothing.) Cancel, the job's
    // deadline and shutdown cut any of it short: every request is raced against them.
    let client = ClientOptions::new()
        .with_connect_timeout(Duration::from_secs(10))
        .with_timeout(request_timeout)
        .with_allow_http(!target.use_tls());
    let retry = RetryConfig {
        max_retries: settings.max_retries,
        retry_timeout: Duration::from_secs(120),
        ..RetryConfig::default()
    };
    let builder = AmazonS3Builder::new()
        .with_endpoint(target.endpoint())
        .with_region(target.region())
        .with_bucket_name(target.bucket())
        .with_access_key_id(target.access_key())
        .with_secret_access_key(target.access_secret().expose())
        .with_virtual_hosted_style_request(false)
        .with_allow_http(!target.use_tls())
        // Over TLS the body is protected in transit; signing it would cost a second
        // SHA-256 pass over every byte. Over plain HTTP the signature is the only check
        // of the body, so it is signed unless the operator says otherwise.
        .with_unsigned_payload(settings.unsigned_payload.unwrap_or(target.use_tls()))
        .with_retry(retry);
    Ok(Client {
        store: Arc::new(
            builder
                .clone()
                .with_client_options(client.clone())
                .build()?,
        ),
        builder,
        options: client,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_part_size_grows_only_past_ten_thousand_parts() {
        let configured = 16 * MIB;
        assert_eq!(part_size_for(2 * 1024 * MIB, configured), configured);
        assert_eq!(part_size_for(10_000 * 16 * MIB, configured), configured);
        let huge = 10_000 * 16 * MIB + 1;
        let raised = part_size_for(huge, configured);
        assert_eq!(raised, 17 * MIB);
        assert!(huge.div_ceil(raised) <= MAX_PARTS);
    }
}
