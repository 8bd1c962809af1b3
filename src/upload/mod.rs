//! Streams an artifact to S3-compatible storage and hashes it in the same pass.
//!
//! The file is read once, part by part, into reused buffers ([`pool`]); a reading
//! thread and a hashing thread ([`read`]) run beside the async side ([`multipart`]),
//! which keeps at most `concurrency` parts in flight. An upload's memory is
//! `concurrency × part size` (64 MiB by default) whatever the file size. A file of at
//! most one part goes up in one PUT ([`single`]).
//! Any failure or cancellation aborts the multipart upload, because S3 keeps (and bills)
//! the parts of an upload that is merely dropped. In a fleet the object's last write
//! is fenced ([`fence`]): it lands only while the run still holds its job.

mod fence;
mod hash;
mod multipart;
mod pool;
mod read;
mod single;
mod store;

use std::path::Path;
use std::sync::Arc;

use object_store::path::Path as ObjectPath;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::domain::fields::ArtifactKey;
use crate::domain::s3_target::S3Target;

pub(crate) use self::fence::Fence;

#[derive(Debug, Clone)]
pub(crate) struct UploadSettings {
    pub(crate) part_size: u64,
    pub(crate) concurrency: usize,
    /// Retries of one request on transient errors (5xx, timeouts, dropped connections).
    pub(crate) max_retries: usize,
    /// Overrides the per-endpoint choice of signing part payloads (see [`store`]).
    pub(crate) unsigned_payload: Option<bool>,
}

/// What is uploaded, and where to.
#[derive(Clone, Copy)]
pub(crate) struct UploadTarget<'a> {
    pub(crate) store: &'a S3Target,
    pub(crate) key: &'a ArtifactKey,
    pub(crate) file: &'a Path,
    /// The file's size, as the caller found it; a file that changes while it is read
    /// fails the upload (`Changed`).
    pub(crate) size: u64,
    /// In a fleet: the run's hold on the job, checked before the object is written,
    /// which is then written only where no newer run's object is ([`fence`]).
    pub(crate) fence: Option<&'a dyn Fence>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Uploaded {
    pub(crate) size: u64,
    /// Lowercase hex of the bytes that were sent.
    pub(crate) sha256: String,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum UploadError {
    /// The artifact could not be read: a fault of the host, not of the store.
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
    /// Another run of the job holds it now: this one must not write its object.
    #[error("the upload was not completed: {0}")]
    Superseded(String),
    /// The fenced write kept losing to other writers of the key.
    #[error("other writers kept changing the object while it was written")]
    Contended,
    /// A reading or hashing thread died: the worker's fault.
    #[error("an upload thread failed: {0}")]
    Thread(String),
}

impl UploadError {
    /// The upload was stopped from outside (cancel, deadline), not failed.
    pub(crate) fn is_stop(&self) -> bool {
        matches!(self, Self::Cancelled | Self::TimedOut)
    }
}

impl From<tokio::task::JoinError> for UploadError {
    fn from(err: tokio::task::JoinError) -> Self {
        Self::Thread(err.to_string())
    }
}

/// Bytes acknowledged by the store so far, and the total.
pub(crate) type Progress = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// What ends an upload early: a cancel request or the job's deadline.
#[derive(Clone, Copy)]
pub(crate) struct Stop<'a> {
    pub(crate) cancel: &'a CancellationToken,
    pub(crate) deadline: Instant,
}

impl Stop<'_> {
    async fn fired(&self) -> UploadError {
        tokio::select! {
            () = self.cancel.cancelled() => UploadError::Cancelled,
            () = tokio::time::sleep_until(self.deadline) => UploadError::TimedOut,
        }
    }
}

/// Uploads the target's file to its key, returning its size and SHA-256. `stop` ends
/// it early; a multipart upload is aborted whenever it does not complete.
pub(crate) async fn upload_file(
    target: UploadTarget<'_>,
    settings: &UploadSettings,
    progress: Progress,
    stop: Stop<'_>,
) -> Result<Uploaded, UploadError> {
    let size = target.size;
    let part_size = store::part_size_for(size, settings.part_size);
    let client = store::store_for(target.store, settings, part_size)?;
    let path = ObjectPath::parse(target.key.as_str())?;
    let attributes = store::content_type_attributes(target.key);
    progress(0, size);
    let object = store::Object {
        store: &client.store,
        client: &client,
        path: &path,
        attributes: &attributes,
    };
    if size <= part_size {
        let uploaded = single::put_file(object, target.file, size, stop, target.fence).await?;
        progress(size, size);
        return Ok(uploaded);
    }
    let parts = multipart::Parts {
        size,
        part_size,
        concurrency: settings.concurrency,
    };
    multipart::upload(object, target.file, parts, &progress, stop, target.fence).await
}
