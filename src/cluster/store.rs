//! The fleet's status documents: one per job in a key-value bucket, read by every
//! worker and changed only by compare-and-set. This type owns the bucket and the
//! retry that compare-and-set needs; callers say what a document should become, and
//! `jobs::rules` decides that.

use std::sync::Arc;

use async_nats::jetstream::{kv, stream};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::ClusterError;
use super::cache::{Cached, StatusCache};
use super::connection::Link;
use super::doc::StoredJob;
use super::listing;
use super::names::key;
use crate::jobs::NoJob;
use crate::jobs::rules::Retention;

pub(super) struct StatusStore {
    kv: kv::Store,
    /// The bucket's own stream, for its current size.
    stream: stream::Stream,
    link: Link,
    retention: Retention,
    /// This worker's copy of the bucket, for status reads.
    cache: Arc<StatusCache>,
}

/// A document as read, with the revision a compare-and-set must name.
pub(super) type Versioned = (StoredJob, u64);

/// Why a compare-and-set write did not happen.
#[derive(Debug, thiserror::Error)]
pub(super) enum WriteError {
    /// Someone else changed the document since it was read.
    #[error("the job's status changed meanwhile")]
    Changed,
    #[error(transparent)]
    Unavailable(ClusterError),
}

/// What [`StatusStore::modify`] did.
pub(super) struct Modified<T> {
    /// What the decision returned.
    pub(super) value: T,
    /// The document as it was read (its revision), if there was one.
    pub(super) previous: Option<Versioned>,
    /// The document as written, if the decision wrote one.
    pub(super) written: Option<Versioned>,
}

impl<T> Modified<T> {
    /// Whether the decision stands only on a copy's document at `guessed`: it wrote
    /// nothing, so no compare-and-set showed that revision to be current (a failed one
    /// makes `modify_from` read the leader, whose revision differs).
    pub(super) fn unconfirmed(&self, guessed: u64) -> bool {
        self.written.is_none() && self.previous.as_ref().map(|(_, r)| *r) == Some(guessed)
    }
}

impl StatusStore {
    pub(super) fn new(
        kv: kv::Store,
        stream: stream::Stream,
        link: Link,
        retention: Retention,
    ) -> Self {
        Self {
            kv,
            stream,
            link,
            retention,
            cache: Arc::default(),
        }
    }

    /// Keeps this worker's copy of the bucket current until `abandon`.
    pub(super) fn keep_cache(&self, tasks: &TaskTracker, abandon: CancellationToken) {
        let (kv, stream) = (self.kv.clone(), self.stream.clone());
        self.cache
            .keep(kv, stream, self.link.clone(), tasks, abandon);
    }

    /// The bucket was gone and is new: the copy of the old one is dropped.
    pub(super) fn bucket_recreated(&self) {
        self.cache.bucket_recreated();
    }

    /// The job's document for a status read: from this worker's copy when it holds
    /// the job (at least as new as this worker's own writes), else from the leader.
    /// `NotFound` when it is unknown or past retention.
    pub(super) async fn recent(&self, id: &str) -> Result<Arc<StoredJob>, ClusterError> {
        let doc = match self.cache.get(&key(id)) {
            Cached::Doc(doc) if self.link.reachable().is_ok() => Some(doc),
            Cached::Gone if self.link.reachable().is_ok() => None,
            _ => self.load(id).await?.map(|(doc, _)| Arc::new(doc)),
        };
        doc.filter(|doc| !self.expired(doc))
            .ok_or_else(|| ClusterError::NotFound(NoJob(id.to_owned())))
    }

    pub(super) fn retention(&self) -> Retention {
        self.retention
    }

    /// Whether the job is forgotten by now: reads treat it as unknown.
    pub(super) fn expired(&self, doc: &StoredJob) -> bool {
        doc.expired(self.retention)
    }

    /// The document and its revision, past retention too.
    pub(super) async fn read(&self, id: &str) -> Result<Option<Versioned>, ClusterError> {
        self.link.reachable()?;
        let entry = self
            .kv
            .entry(key(id))
            .await
            .map_err(|e| ClusterError::nats("reading the job's status", e))?;
        Ok(entry
            .filter(|e| e.operation == kv::Operation::Put)
            .and_then(|e| StoredJob::from_bytes(&e.value).map(|doc| (doc, e.revision))))
    }

    /// The job's document and revision as this worker's copy holds them, without a
    /// round trip; `None` when the copy cannot say. Possibly stale: only for a
    /// compare-and-set, which fails when the bucket holds a newer revision.
    pub(super) fn cached(&self, id: &str) -> Option<Versioned> {
        self.link.reachable().ok()?;
        self.cache
            .versioned(&key(id))
            .map(|(doc, revision)| (StoredJob::clone(&doc), revision))
    }

    /// The job's document and its revision, unless it is unknown or past retention.
    pub(super) async fn load(&self, id: &str) -> Result<Option<Versioned>, ClusterError> {
        Ok(self.read(id).await?.filter(|(doc, _)| !self.expired(doc)))
    }

    /// The job's document and its revision, or `NotFound` when it is unknown or past
    /// retention.
    pub(super) async fn known(&self, id: &str) -> Result<Versioned, ClusterError> {
        self.load(id)
            .await?
            .ok_or_else(|| ClusterError::NotFound(NoJob(id.to_owned())))
    }

    /// Reads the job's document (past retention too), lets `decide` say what it
    /// becomes, and writes that by compare-and-set; a concurrent change makes it read
    /// and decide again. `decide` returns its answer and the document to write, or
    /// `None` to leave the bucket as it is.
    pub(super) async fn modify<T>(
        &self,
        id: &str,
        step: &'static str,
        decide: impl FnMut(Option<&StoredJob>) -> Result<(T, Option<StoredJob>), ClusterError>,
    ) -> Result<Modified<T>, ClusterError> {
        let read = self.read(id).await?;
        self.modify_from(id, step, read, decide).await
    }

    /// [`modify`](Self::modify) starting from this worker's copy of the document
    /// instead of a read, which saves the round trip when the copy is current; the
    /// compare-and-set shows that it was. A decision to write nothing could come from a
    /// copy that is behind, so it is made again on the leader's document.
    pub(super) async fn modify_from_copy<T>(
        &self,
        id: &str,
        step: &'static str,
        mut decide: impl FnMut(Option<&StoredJob>) -> Result<(T, Option<StoredJob>), ClusterError>,
    ) -> Result<Modified<T>, ClusterError> {
        if let Some(guess) = self.cached(id) {
            let guessed = guess.1;
            let modified = self.modify_from(id, step, Some(guess), &mut decide).await?;
            if !modified.unconfirmed(guessed) {
                return Ok(modified);
            }
        }
        self.modify(id, step, decide).await
    }

    /// [`modify`](Self::modify) starting from `read`, the document as the caller has
    /// just read it (`load`), which saves a round trip.
    pub(super) async fn modify_from<T>(
        &self,
        id: &str,
        step: &'static str,
        mut read: Option<Versioned>,
        mut decide: impl FnMut(Option<&StoredJob>) -> Result<(T, Option<StoredJob>), ClusterError>,
    ) -> Result<Modified<T>, ClusterError> {
        // Fails at once while NATS is out of reach or not answering, as a read would.
        self.link.reachable()?;
        loop {
            let previous = read.take();
            let (value, next) = decide(previous.as_ref().map(|(doc, _)| doc))?;
            let Some(next) = next else {
                return Ok(Modified {
                    value,
                    previous,
                    written: None,
                });
            };
            let written = match &previous {
                None => match self.kv.create(key(id), next.to_bytes()).await {
                    Ok(revision) => {
                        self.cache.wrote(&key(id), &next, revision);
                        revision
                    }
                    Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                        read = self.read(id).await?;
                        continue;
                    }
                    Err(e) => return Err(ClusterError::nats(step, e)),
                },
                Some((_, revision)) => match self.update(id, &next, *revision).await {
                    Ok(revision) => revision,
                    Err(WriteError::Changed) => {
                        read = self.read(id).await?;
                        continue;
                    }
                    Err(WriteError::Unavailable(e)) => return Err(e),
                },
            };
            return Ok(Modified {
                value,
                previous,
                written: Some((next, written)),
            });
        }
    }

    /// Writes `doc` if the document is still at `revision`; returns the new revision.
    pub(super) async fn update(
        &self,
        id: &str,
        doc: &StoredJob,
        revision: u64,
    ) -> Result<u64, WriteError> {
        match self.kv.update(key(id), doc.to_bytes(), revision).await {
            Ok(revision) => {
                self.cache.wrote(&key(id), doc, revision);
                Ok(revision)
            }
            Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                Err(WriteError::Changed)
            }
            Err(e) => Err(WriteError::Unavailable(ClusterError::nats(
                "storing the job's status",
                e,
            ))),
        }
    }

    /// Removes the document if it is still at `revision`.
    pub(super) async fn delete(&self, id: &str, revision: u64) -> Result<(), ClusterError> {
        self.kv
            .delete_expect_revision(key(id), Some(revision))
            .await
            .map_err(|e| ClusterError::nats("removing the job's status", e))?;
        self.cache.deleted(&key(id), revision);
        Ok(())
    }

    /// Every document in the bucket, past retention too, read through one watch of
    /// the newest value per key (one consumer, not one request per job).
    pub(super) async fn all(&self) -> Result<Vec<Versioned>, ClusterError> {
        self.link.reachable()?;
        let entries = listing::latest(&self.kv, &self.stream, "listing jobs").await?;
        Ok(entries
            .iter()
            .filter_map(|e| StoredJob::from_bytes(&e.value).map(|doc| (doc, e.revision)))
            .collect())
    }

    /// Every change of the job's document from now on, starting with the current one.
    pub(super) async fn watch(&self, id: &str) -> Result<kv::Watch, ClusterError> {
        self.link.reachable()?;
        self.kv
            .watch_with_history(key(id))
            .await
            .map_err(|e| ClusterError::nats("watching the job", e))
    }

    /// Waits until the job has finished and returns its final document: from this
    /// worker's copy while it holds the job and NATS is in reach (no consumer per
    /// waiting request), else through a watch of the job's key.
    pub(super) async fn wait_end(&self, id: &str) -> Result<StoredJob, ClusterError> {
        // The copy stops answering (`None`) when its keeper finds NATS out of reach.
        if self.link.reachable().is_ok() {
            let ended = self.cache.wait_end(&key(id)).await;
            match ended {
                Ok(Some(doc)) => return Ok(StoredJob::clone(&doc)),
                Ok(None) => {}
                Err(_) => return Err(ClusterError::NotFound(NoJob(id.to_owned()))),
            }
        }
        let mut watch = self.watch(id).await?;
        while let Some(entry) = watch.next().await {
            let entry = entry.map_err(|e| ClusterError::nats("watching the job", e))?;
            if entry.operation != kv::Operation::Put {
                return Err(ClusterError::NotFound(NoJob(id.to_owned())));
            }
            if let Some(doc) = StoredJob::from_bytes(&entry.value)
                && doc.view.state.is_finished()
            {
                return Ok(doc);
            }
        }
        Err(ClusterError::Unavailable(
            "the watch on the job ended".to_owned(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> StoredJob {
        serde_json::from_value(serde_json::json!({
            "view": {
                "id": "job-1", "architecture": "amd64", "imageKind": "ubuntu-iso",
                "state": "queued", "attempt": 1, "createdAt": 1, "lastActivityAt": 1,
                "logLines": 0,
            },
            "fingerprint": "f", "round": 1, "runs": 0, "seq": null,
        }))
        .unwrap()
    }

    fn modified(previous: Option<u64>, written: Option<u64>) -> Modified<()> {
        Modified {
            value: (),
            previous: previous.map(|r| (doc(), r)),
            written: written.map(|r| (doc(), r)),
        }
    }

    #[test]
    fn only_a_write_or_the_leaders_document_confirms_a_decision_made_on_the_copy() {
        // Decided on the copy's revision 7 and wrote nothing: the copy may be behind.
        assert!(modified(Some(7), None).unconfirmed(7));
        // Wrote at 7: the compare-and-set showed 7 was current.
        assert!(!modified(Some(7), Some(8)).unconfirmed(7));
        // The compare-and-set at 7 failed, so the decision was made again on the
        // leader's document (9, or none: deleted).
        assert!(!modified(Some(9), None).unconfirmed(7));
        assert!(!modified(None, None).unconfirmed(7));
    }
}
