//! Each worker's copy of the status bucket, kept current by one watch of every key, so a
//! status poll is answered from memory instead of with a round trip to the bucket's
//! leader.
//!
//! What a reader gets (docs/cluster.md "Reading a job's status"): a document at least
//! as new as every one this worker wrote itself, and never older than one it answered
//! before; another worker's change shows once the watch brings it (milliseconds). The
//! copy is used only while it is complete and current: before the watch has caught up,
//! while NATS is out of reach, and for a job it does not hold, a read goes to the
//! leader as before. The blocking answer waits on it for the job's final document
//! (final, so the copy's is the leader's). Cancels and follows never use it; a claim
//! starts from it but counts only once its compare-and-set at the copy's revision went
//! through (see `claim.rs`).
//!
//! Memory stays flat however many finished jobs the bucket retains: the copy keeps
//! every unfinished job but only the [`FINISHED_KEPT`] most recently finished ones; an
//! older one is read from the leader when asked for.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_nats::jetstream::{kv, stream};
use futures::StreamExt;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::connection::Link;
use super::doc::StoredJob;

/// Finished (or deleted) jobs the copy keeps, newest first.
pub(super) const FINISHED_KEPT: usize = 1024;
/// How often the keeper checks that NATS is still answering.
const LOOK_EVERY: Duration = Duration::from_millis(250);

/// What the copy knows of one key.
#[derive(Clone)]
struct Slot {
    revision: u64,
    /// `None`: deleted.
    doc: Option<Arc<StoredJob>>,
}

impl Slot {
    fn settled(&self) -> bool {
        self.doc
            .as_ref()
            .is_none_or(|doc| doc.view.state.is_finished())
    }
}

#[derive(Default)]
struct Copy {
    slots: HashMap<String, Slot>,
    /// Keys in the order they settled (finished or deleted), oldest first; may name a
    /// key twice or one that is no longer settled.
    settled: VecDeque<String>,
    /// Complete and current: reads may use it.
    synced: bool,
}

impl Copy {
    /// Takes `slot` for `key` unless the copy holds a newer revision.
    fn apply(&mut self, key: &str, slot: Slot) {
        if self
            .slots
            .get(key)
            .is_some_and(|held| held.revision >= slot.revision)
        {
            return;
        }
        let settled = slot.settled();
        self.slots.insert(key.to_owned(), slot);
        if settled {
            self.settled.push_back(key.to_owned());
            while self.settled.len() > FINISHED_KEPT {
                let Some(old) = self.settled.pop_front() else {
                    break;
                };
                // Forgotten only if it is still settled and not named again later.
                if self.slots.get(&old).is_some_and(Slot::settled) && !self.settled.contains(&old) {
                    self.slots.remove(&old);
                }
            }
        }
    }
}

/// The copy holds the key as deleted.
pub(super) struct Gone;

/// What the copy says about a key.
pub(super) enum Cached {
    /// The newest document this worker has seen.
    Doc(Arc<StoredJob>),
    /// Deleted.
    Gone,
    /// The copy cannot answer: ask the leader.
    Unknown,
}

#[derive(Default)]
pub(super) struct StatusCache {
    copy: RwLock<Copy>,
    /// Rung when the bucket was recreated: the copy starts again from nothing.
    restart: Notify,
    /// Rung whenever the copy changed: what a waiter on a job's end listens to.
    changed: Notify,
}

impl StatusCache {
    pub(super) fn get(&self, key: &str) -> Cached {
        let copy = self.copy.read().unwrap_or_else(|e| e.into_inner());
        if !copy.synced {
            return Cached::Unknown;
        }
        match copy.slots.get(key) {
            Some(Slot { doc: Some(doc), .. }) => Cached::Doc(Arc::clone(doc)),
            Some(Slot { doc: None, .. }) => Cached::Gone,
            None => Cached::Unknown,
        }
    }

    /// The job's final document once the copy holds it. `Ok(None)` when the copy
    /// cannot say (not synced, or the job is not in it): ask the leader then. Before
    /// the job ends, waits for the copy to change (or [`LOOK_EVERY`], a bound on a
    /// missed change) and looks again.
    pub(super) async fn wait_end(&self, key: &str) -> Result<Option<Arc<StoredJob>>, Gone> {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            // Registered before the look, so a change right after it is not missed.
            changed.as_mut().enable();
            match self.get(key) {
                Cached::Doc(doc) if doc.view.state.is_finished() => return Ok(Some(doc)),
                Cached::Doc(_) => {}
                Cached::Gone => return Err(Gone),
                Cached::Unknown => return Ok(None),
            }
            tokio::select! {
                () = changed => {}
                () = tokio::time::sleep(LOOK_EVERY) => {}
            }
        }
    }

    /// The document the copy holds for `key` and its revision: a guess of the
    /// bucket's state that only a compare-and-set at that revision confirms.
    pub(super) fn versioned(&self, key: &str) -> Option<(Arc<StoredJob>, u64)> {
        let copy = self.copy.read().unwrap_or_else(|e| e.into_inner());
        if !copy.synced {
            return None;
        }
        match copy.slots.get(key) {
            Some(Slot {
                doc: Some(doc),
                revision,
            }) => Some((Arc::clone(doc), *revision)),
            _ => None,
        }
    }

    /// This worker wrote `doc` at `revision`: it reads its own writes at once.
    pub(super) fn wrote(&self, key: &str, doc: &StoredJob, revision: u64) {
        let slot = Slot {
            revision,
            doc: Some(Arc::new(doc.clone())),
        };
        self.copy
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .apply(key, slot);
        self.changed.notify_waiters();
    }

    /// This worker deleted the key (its last revision was `revision`).
    pub(super) fn deleted(&self, key: &str, revision: u64) {
        let slot = Slot {
            revision: revision + 1,
            doc: None,
        };
        self.copy
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .apply(key, slot);
        self.changed.notify_waiters();
    }

    /// The bucket was gone and has been made again: what the copy holds is of the
    /// old one.
    pub(super) fn bucket_recreated(&self) {
        let mut copy = self.copy.write().unwrap_or_else(|e| e.into_inner());
        *copy = Copy::default();
        drop(copy);
        self.restart.notify_one();
        self.changed.notify_waiters();
    }

    fn unsynced(&self) {
        self.copy.write().unwrap_or_else(|e| e.into_inner()).synced = false;
        self.changed.notify_waiters();
    }

    /// Keeps the copy current until `abandon`: a watch of every key from its newest
    /// value on, started again whenever NATS was out of reach or the watch ended.
    pub(super) fn keep(
        self: &Arc<Self>,
        kv: kv::Store,
        stream: stream::Stream,
        link: Link,
        tasks: &TaskTracker,
        abandon: CancellationToken,
    ) {
        let cache = Arc::clone(self);
        tasks.spawn(async move {
            loop {
                cache.unsynced();
                tokio::select! {
                    () = abandon.cancelled() => return,
                    () = cache.follow(&kv, &stream, &link) => {}
                }
                tokio::select! {
                    () = abandon.cancelled() => return,
                    () = tokio::time::sleep(LOOK_EVERY) => {}
                }
            }
        });
    }

    /// One watch, from the newest value of every key, until it fails, NATS stops
    /// answering or the bucket is recreated.
    async fn follow(&self, kv: &kv::Store, stream: &stream::Stream, link: &Link) {
        if link.reachable().is_err() {
            return;
        }
        let watch = kv.watch_with_history(">").await;
        let info = stream.get_info().await;
        let (Ok(mut watch), Ok(info)) = (watch, info) else {
            return;
        };
        // The history is read into a fresh copy, which replaces the old one once it
        // has caught up; an empty bucket has no history to wait for.
        let mut fresh = Some(Copy::default()).filter(|_| info.state.messages > 0);
        if fresh.is_none() {
            self.catch_up(Copy::default());
        }
        let mut look = tokio::time::interval(LOOK_EVERY);
        loop {
            let entry = tokio::select! {
                () = self.restart.notified() => return,
                _ = look.tick() => {
                    if link.reachable().is_err() {
                        return;
                    }
                    continue;
                }
                entry = watch.next() => entry,
            };
            let Some(Ok(entry)) = entry else {
                return;
            };
            let doc = match entry.operation {
                kv::Operation::Put => match StoredJob::from_bytes(&entry.value) {
                    Some(doc) => Some(Arc::new(doc)),
                    // Not a job (the fleet's key check): nothing to keep, but it may be
                    // the history's last entry, which says the copy has caught up.
                    None => {
                        if entry.delta == 0
                            && let Some(copy) = fresh.take()
                        {
                            self.catch_up(copy);
                        }
                        continue;
                    }
                },
                kv::Operation::Delete | kv::Operation::Purge => None,
            };
            let slot = Slot {
                revision: entry.revision,
                doc,
            };
            match &mut fresh {
                Some(copy) => {
                    copy.apply(&entry.key, slot);
                    if entry.delta == 0 {
                        self.catch_up(fresh.take().unwrap_or_default());
                    }
                }
                None => {
                    self.copy
                        .write()
                        .unwrap_or_else(|e| e.into_inner())
                        .apply(&entry.key, slot);
                    self.changed.notify_waiters();
                }
            }
        }
    }

    /// `fresh` holds the bucket as it was a moment ago: it becomes the copy, keeping
    /// what this worker wrote meanwhile.
    fn catch_up(&self, mut fresh: Copy) {
        let mut copy = self.copy.write().unwrap_or_else(|e| e.into_inner());
        let newest = fresh.slots.values().map(|s| s.revision).max().unwrap_or(0);
        for (key, slot) in std::mem::take(&mut copy.slots) {
            // A key the history did not bring was written after it was read.
            if fresh.slots.contains_key(&key) || slot.revision > newest {
                fresh.apply(&key, slot);
            }
        }
        fresh.synced = true;
        *copy = fresh;
        drop(copy);
        self.changed.notify_waiters();
    }
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
