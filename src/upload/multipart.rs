//! A multipart upload: parts read and hashed on blocking threads ([`super::read`]),
//! sent with at most `concurrency` requests in flight, completed once every byte is
//! acknowledged, and aborted on any failure so no parts stay behind in the bucket.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use object_store::multipart::{MultipartStore, PartId};
use object_store::{PutMultipartOptions, PutPayload};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

use super::fence::{self, Fence};
use super::pool::PartPool;
use super::store::Object;
use super::{Progress, Stop, UploadError, Uploaded, read};

#[derive(Clone, Copy)]
pub(super) struct Parts {
    pub(super) size: u64,
    pub(super) part_size: u64,
    pub(super) concurrency: usize,
}

/// How long the parts in flight get to finish, and then the abort, once the upload
/// was cancelled or ran out of time: short, so a cancel takes effect at once even
/// against an endpoint that has gone silent.
const AFTER_STOP: Duration = Duration::from_secs(1);
/// How long an abort after a failure may take. It is best effort: a store that does
/// not answer it keeps the parts until its lifecycle rule for incomplete multipart
/// uploads removes them.
const ABORT_LIMIT: Duration = Duration::from_secs(10);

pub(super) async fn upload(
    object: Object<'_>,
    file: &Path,
    parts: Parts,
    progress: &Progress,
    stop: Stop<'_>,
    fence: Option<&dyn Fence>,
) -> Result<Uploaded, UploadError> {
    let opts = PutMultipartOptions {
        attributes: object.attributes.clone(),
        ..PutMultipartOptions::default()
    };
    let create = object.store.create_multipart_opts(object.path, opts);
    tokio::pin!(create);
    let id = tokio::select! {
        created = &mut create => created?,
        err = stop.fired() => {
            // The store may have made the upload already: give the answer a moment,
            // and abort what it made; a silent store gets no more than that.
            if let Ok(Ok(made)) = tokio::time::timeout(AFTER_STOP, create).await {
                let _ = tokio::time::timeout(AFTER_STOP, object.store.abort_multipart(object.path, &made)).await;
            }
            return Err(err);
        }
    };
    let result: Result<Uploaded, UploadError> = async {
        let (part_ids, uploaded) =
            send_parts(object, &id, file.to_owned(), parts, progress, stop).await?;
        complete(object, &id, part_ids, fence, stop).await?;
        Ok(uploaded)
    }
    .await;
    if let Err(err) = &result {
        let limit = if err.is_stop() {
            AFTER_STOP
        } else {
            ABORT_LIMIT
        };
        match tokio::time::timeout(limit, object.store.abort_multipart(object.path, &id)).await {
            Ok(Ok(())) => {}
            Ok(Err(abort)) => tracing::warn!("aborting the multipart upload failed: {abort}"),
            Err(_) => tracing::warn!(
                limit_secs = limit.as_secs_f64(),
                "the store did not answer the abort of the multipart upload in time"
            ),
        }
    }
    result
}

/// Completes the upload: plainly, or under the fence, create-only ([`fence`]).
async fn complete(
    object: Object<'_>,
    id: &str,
    part_ids: Vec<PartId>,
    fence: Option<&dyn Fence>,
    stop: Stop<'_>,
) -> Result<(), UploadError> {
    let id = id.to_owned();
    let completing = async {
        let Some(fence) = fence else {
            crate::faults::point("before_complete");
            object
                .store
                .complete_multipart(object.path, &id, part_ids)
                .await?;
            return Ok(());
        };
        let create_only = object.client.with_header("if-none-match", "*")?;
        let expected = fence::multipart_etag(&part_ids);
        let write = || {
            let (store, path, id, part_ids) = (
                Arc::clone(&create_only),
                object.path.clone(),
                id.clone(),
                part_ids.clone(),
            );
            async move {
                store
                    .complete_multipart(&path, &id, part_ids)
                    .await
                    .map(drop)
            }
        };
        fence::fenced(
            object,
            fence,
            |etag| expected.as_deref() == Some(etag),
            write,
        )
        .await
    };
    tokio::select! {
        completed = completing => completed,
        err = stop.fired() => Err(err),
    }
}

async fn send_parts(
    object: Object<'_>,
    id: &str,
    file: PathBuf,
    parts: Parts,
    progress: &Progress,
    stop: Stop<'_>,
) -> Result<(Vec<PartId>, Uploaded), UploadError> {
    let mut feeder = Feeder::start(file, parts)?;
    let mut in_flight = JoinSet::new();
    let target = PartTarget {
        store: Arc::clone(object.store),
        path: object.path.clone(),
        id: id.to_owned(),
    };
    let sent = send_all(
        &target,
        &mut feeder.parts,
        &mut in_flight,
        parts,
        progress,
        stop,
    )
    .await;
    let (done, part_ids) = match sent {
        Ok(sent) => sent,
        Err(err) => {
            feeder.stop();
            drain(&mut in_flight, stop, err.is_stop()).await;
            let _ = feeder.join().await;
            return Err(err);
        }
    };
    let (read, sha256) = feeder.join().await?;
    if read != parts.size || done != parts.size {
        return Err(UploadError::Changed);
    }
    let uploaded = Uploaded {
        size: parts.size,
        sha256,
    };
    Ok((part_ids, uploaded))
}

/// Where the parts go: owned, so each part's request can run as a task of its own.
struct PartTarget {
    store: Arc<object_store::aws::AmazonS3>,
    path: object_store::path::Path,
    id: String,
}

type PartRequests = JoinSet<Result<(usize, PartId, u64), object_store::Error>>;

/// Lets the part requests under way end before the upload is aborted: a part that is
/// still sending could land after the abort, and S3 would keep it. They are bounded by
/// their time-outs; once the upload was stopped (or when it is stopped now) they get
/// [`AFTER_STOP`] more and are then dropped, which closes their connections.
async fn drain(in_flight: &mut PartRequests, stop: Stop<'_>, stopped: bool) {
    let all_done = async { while in_flight.join_next().await.is_some() {} };
    if stopped {
        let _ = tokio::time::timeout(AFTER_STOP, all_done).await;
    } else {
        tokio::select! {
            () = all_done => {}
            _ = stop.fired() => {}
        }
    }
    in_flight.abort_all();
    while in_flight.join_next().await.is_some() {}
}

/// Sends parts as the reader hands them over, at most `concurrency` at once, until all
/// are acknowledged. Returns the bytes the store acknowledged and the parts, in order.
async fn send_all(
    target: &PartTarget,
    parts_rx: &mut mpsc::Receiver<Bytes>,
    in_flight: &mut PartRequests,
    parts: Parts,
    progress: &Progress,
    stop: Stop<'_>,
) -> Result<(u64, Vec<PartId>), UploadError> {
    let mut done = 0u64;
    let mut input_open = true;
    let mut part_ids: Vec<Option<PartId>> = Vec::new();
    loop {
        tokio::select! {
            biased;
            // Only while work remains; once all is sent, `else` ends the loop.
            err = stop.fired(), if input_open || !in_flight.is_empty() => return Err(err),
            Some(joined) = in_flight.join_next(), if !in_flight.is_empty() => {
                let (index, part_id, len) = joined??;
                part_ids[index] = Some(part_id);
                done += len;
                progress(done, parts.size);
            }
            part = parts_rx.recv(), if input_open && in_flight.len() < parts.concurrency => match part {
                Some(part) => {
                    let len = part.len() as u64;
                    let index = part_ids.len();
                    part_ids.push(None);
                    let (store, path, id) = (Arc::clone(&target.store), target.path.clone(), target.id.clone());
                    in_flight.spawn(async move {
                        let part_id = store.put_part(&path, &id, index, PutPayload::from(part)).await?;
                        Ok((index, part_id, len))
                    });
                }
                None => input_open = false,
            },
            else => break,
        }
    }
    let part_ids = part_ids
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .ok_or(UploadError::Changed)?;
    Ok((done, part_ids))
}

/// The blocking side of one upload: the part buffers, the reading and hashing threads,
/// and the channel the reader hands parts to the sender on.
struct Feeder {
    pool: Arc<PartPool>,
    parts: mpsc::Receiver<Bytes>,
    reader: JoinHandle<std::io::Result<u64>>,
    hasher: JoinHandle<String>,
}

impl Feeder {
    fn start(file: PathBuf, parts: Parts) -> Result<Self, UploadError> {
        let Parts {
            size,
            part_size,
            concurrency,
        } = parts;
        // Every part lives in one of these buffers from the moment it is read until it
        // is both hashed and sent, so `concurrency` buffers are the upload's whole
        // memory. Reading the next part waits for a free one, which keeps up to
        // `concurrency` parts on the wire while the network is the bottleneck (the next
        // part is read in the milliseconds after a request ends), and the reader no more
        // than a few parts ahead of the hasher when it is the bottleneck.
        let buffers =
            concurrency.min(usize::try_from(size.div_ceil(part_size)).unwrap_or(usize::MAX));
        let pool = PartPool::new(
            usize::try_from(part_size).map_err(std::io::Error::other)?,
            buffers,
        )?;
        // The reader may run one part ahead of the hasher, no more: reading is faster
        // than SHA-256, and parts queued for hashing would only hold buffers (memory)
        // without making anything finish sooner.
        let (hash_tx, hash_rx) = std::sync::mpsc::sync_channel::<Bytes>(1);
        let (parts_tx, parts_rx) = mpsc::channel::<Bytes>(1);
        let hasher = tokio::task::spawn_blocking(move || read::hash_parts(hash_rx));
        let reader = {
            let pool = Arc::clone(&pool);
            tokio::task::spawn_blocking(move || read::read_parts(&file, &pool, hash_tx, parts_tx))
        };
        Ok(Self {
            pool,
            parts: parts_rx,
            reader,
            hasher,
        })
    }

    /// Makes the reader stop at its next part, or wake from waiting for a buffer.
    fn stop(&mut self) {
        self.pool.close();
        self.parts.close();
    }

    /// Joins both threads before either result is looked at, so neither outlives the
    /// upload, even when reading failed. Returns the bytes read and their SHA-256.
    async fn join(self) -> Result<(u64, String), UploadError> {
        let (read, sha256) = (self.reader.await, self.hasher.await);
        Ok((read??, sha256?))
    }
}
