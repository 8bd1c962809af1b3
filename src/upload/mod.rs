//! Streams an artifact to S3-compatible storage and hashes it in the same pass.
//!
//! The file is read once, part by part, into reused buffers ([`pool`]); a reading
//! thread and a hashing thread ([`read`]) run beside the async side, which keeps at most
//! `concurrency` parts in flight. An upload's memory is `concurrency × part size`
//! (64 MiB by default) whatever the file size.
//! Any failure or cancellation aborts the multipart upload, because S3 keeps (and bills)
//! the parts of an upload that is merely dropped.

mod pool;
mod read;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{
    Attribute, AttributeValue, Attributes, ClientOptions, MultipartUpload, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, RetryConfig,
};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use self::pool::PartPool;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::build::fields::ArtifactKey;
use crate::build::s3_target::S3Target;

/// S3 allows at most this many parts in one multipart upload.
const MAX_PARTS: u64 = 10_000;
const MIB: u64 = 1024 * 1024;

#[derive(Debug, Clone)]
pub struct UploadSettings {
    pub part_size: u64,
    pub concurrency: usize,
    /// Retries of one request on transient errors (5xx, timeouts, dropped connections).
    pub max_retries: usize,
    /// Overrides the per-endpoint choice of signing part payloads (see [`store_for`]).
    pub unsigned_payload: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    pub size: u64,
    /// Lowercase hex of the bytes that were sent.
    pub sha256: String,
}

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("reading the artifact: {0}")]
    Read(#[from] std::io::Error),
    #[error("{0}")]
    Store(#[from] object_store::Error),
    #[error("artifact key is not a valid object path: {0}")]
    Key(#[from] object_store::path::Error),
    #[error("the artifact changed while it was uploaded")]
    Changed,
    #[error("the upload was cancelled")]
    Cancelled,
    #[error("the job's time limit passed during the upload")]
    TimedOut,
}

/// Bytes acknowledged by the store so far, and the total.
pub type Progress = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// The part size actually used: the configured one, raised (to whole MiB) for a file so
/// large that it would otherwise need more than 10,000 parts.
pub fn part_size_for(file_size: u64, configured: u64) -> u64 {
    let needed = file_size.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB;
    configured.max(needed)
}

pub fn content_type_attributes(key: &ArtifactKey) -> Attributes {
    Attributes::from_iter([(
        Attribute::ContentType,
        AttributeValue::from(key.content_type()),
    )])
}

/// One store client per job: endpoint, credentials and bucket come with the job.
pub fn store_for(
    target: &S3Target,
    settings: &UploadSettings,
    part_size: u64,
) -> Result<AmazonS3, UploadError> {
    // A request carries at most one part: give it time for a whole part at a slow
    // 1 MiB/s on top of a fixed allowance, so big parts are not cut off mid-flight.
    let request_timeout = Duration::from_secs(60 + part_size / MIB);
    let client = ClientOptions::new()
        .with_connect_timeout(Duration::from_secs(10))
        .with_timeout(request_timeout)
        .with_allow_http(!target.use_tls());
    let retry = RetryConfig {
        max_retries: settings.max_retries,
        retry_timeout: Duration::from_secs(300),
        ..RetryConfig::default()
    };
    Ok(AmazonS3Builder::new()
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
        .with_client_options(client)
        .with_retry(retry)
        .build()?)
}

/// Uploads `file` to `key`, returning its size and SHA-256. `cancel` or `deadline`
/// stop it early; a multipart upload is aborted whenever it does not complete.
pub async fn upload_file(
    target: &S3Target,
    key: &ArtifactKey,
    file: &Path,
    settings: &UploadSettings,
    progress: Progress,
    cancel: &CancellationToken,
    deadline: Instant,
) -> Result<Uploaded, UploadError> {
    let size = tokio::fs::metadata(file).await?.len();
    let part_size = part_size_for(size, settings.part_size);
    let store = store_for(target, settings, part_size)?;
    let path = ObjectPath::parse(key.as_str())?;
    let attributes = content_type_attributes(key);
    progress(0, size);

    if size <= part_size {
        let file = file.to_owned();
        let (data, sha256) = tokio::task::spawn_blocking(move || read_and_hash(&file))
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))??;
        if data.len() as u64 != size {
            return Err(UploadError::Changed);
        }
        let opts = PutOptions {
            attributes,
            ..PutOptions::default()
        };
        let stop = Stop { cancel, deadline };
        tokio::select! {
            result = store.put_opts(&path, PutPayload::from(data), opts) => { result?; }
            // A single PUT leaves no parts behind when dropped: S3 stores an object
            // only once its whole body has arrived.
            err = stop.fired() => return Err(err),
        }
        progress(size, size);
        return Ok(Uploaded { size, sha256 });
    }

    let opts = PutMultipartOptions {
        attributes,
        ..PutMultipartOptions::default()
    };
    let mut upload = store.put_multipart_opts(&path, opts).await?;
    let stop = Stop { cancel, deadline };
    let parts = Parts {
        size,
        part_size,
        concurrency: settings.concurrency,
    };
    let result = send_parts(upload.as_mut(), file.to_owned(), parts, &progress, &stop).await;
    match result {
        Ok(uploaded) => Ok(uploaded),
        Err(err) => {
            if let Err(abort) = upload.abort().await {
                tracing::warn!("aborting the multipart upload failed: {abort}");
            }
            Err(err)
        }
    }
}

/// What ends an upload early: a cancel request or the job's deadline.
struct Stop<'a> {
    cancel: &'a CancellationToken,
    deadline: Instant,
}

impl Stop<'_> {
    async fn fired(&self) -> UploadError {
        tokio::select! {
            () = self.cancel.cancelled() => UploadError::Cancelled,
            () = tokio::time::sleep_until(self.deadline) => UploadError::TimedOut,
        }
    }
}

#[derive(Clone, Copy)]
struct Parts {
    size: u64,
    part_size: u64,
    concurrency: usize,
}

async fn send_parts(
    upload: &mut dyn MultipartUpload,
    file: PathBuf,
    parts: Parts,
    progress: &Progress,
    stop: &Stop<'_>,
) -> Result<Uploaded, UploadError> {
    let Parts {
        size,
        part_size,
        concurrency,
    } = parts;
    // Every part lives in one of these buffers from the moment it is read until it is
    // both hashed and sent, so `concurrency` buffers are the upload's whole memory.
    // Reading the next part waits for a free one, which keeps up to `concurrency` parts
    // on the wire while the network is the bottleneck (the next part is read in the
    // milliseconds after a request ends), and the reader no more than a few parts ahead
    // of the hasher when it is the bottleneck.
    let buffers = concurrency.min(usize::try_from(size.div_ceil(part_size)).unwrap_or(usize::MAX));
    let pool = PartPool::new(
        usize::try_from(part_size).map_err(std::io::Error::other)?,
        buffers,
    )?;
    // The reader may run one part ahead of the hasher, no more: reading is faster than
    // SHA-256, and parts queued for hashing would only hold buffers (memory) without
    // making anything finish sooner.
    let (hash_tx, hash_rx) = std::sync::mpsc::sync_channel::<Bytes>(1);
    let (parts_tx, mut parts_rx) = mpsc::channel::<Bytes>(1);
    let hasher = tokio::task::spawn_blocking(move || read::hash_parts(hash_rx));
    let reader = {
        let pool = Arc::clone(&pool);
        tokio::task::spawn_blocking(move || read::read_parts(&file, &pool, hash_tx, parts_tx))
    };
    let mut in_flight: JoinSet<Result<u64, object_store::Error>> = JoinSet::new();
    let mut done = 0u64;
    let mut input_open = true;
    let sent: Result<(), UploadError> = loop {
        tokio::select! {
            biased;
            // Only while work remains; once all is sent, `else` ends the loop.
            err = stop.fired(), if input_open || !in_flight.is_empty() => break Err(err),
            Some(joined) = in_flight.join_next(), if !in_flight.is_empty() => match joined {
                Ok(Ok(sent)) => {
                    done += sent;
                    progress(done, size);
                }
                Ok(Err(err)) => break Err(err.into()),
                Err(err) => break Err(std::io::Error::other(err.to_string()).into()),
            },
            part = parts_rx.recv(), if input_open && in_flight.len() < concurrency => match part {
                Some(part) => {
                    let len = part.len() as u64;
                    let request = upload.put_part(PutPayload::from(part));
                    in_flight.spawn(async move { request.await.map(|()| len) });
                }
                None => input_open = false,
            },
            else => break Ok(()),
        }
    };
    if let Err(err) = sent {
        // The reader stops at its next part (or wakes from waiting for a buffer).
        pool.close();
        drop(parts_rx);
        // A part whose request is under way can still land after an abort, and S3
        // would keep it. Let those requests end (they are bounded by their time-out)
        // before the caller aborts the upload.
        while in_flight.join_next().await.is_some() {}
        let _ = reader.await;
        let _ = hasher.await;
        return Err(err);
    }
    // Both threads are joined before either result is looked at, so neither outlives
    // the upload, even when reading failed.
    let (read, sha256) = (reader.await, hasher.await);
    let joined = |e: tokio::task::JoinError| std::io::Error::other(e.to_string());
    let read = read.map_err(joined)??;
    let sha256 = sha256.map_err(joined)?;
    if read != size || done != size {
        return Err(UploadError::Changed);
    }
    upload.complete().await?;
    Ok(Uploaded { size, sha256 })
}

fn read_and_hash(file: &Path) -> std::io::Result<(Bytes, String)> {
    let data = std::fs::read(file)?;
    let sha256 = hex::encode(Sha256::digest(&data));
    Ok((Bytes::from(data), sha256))
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
