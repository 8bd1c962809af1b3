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
mod tests {
    use super::*;
    use crate::domain::JobState;

    fn doc(state: JobState) -> Arc<StoredJob> {
        let view = serde_json::json!({
            "id": "job-1", "architecture": "amd64", "imageKind": "ubuntu-iso",
            "state": state, "attempt": 1, "createdAt": 1, "lastActivityAt": 1, "logLines": 0,
        });
        let doc = serde_json::json!({
            "view": view, "fingerprint": "f", "round": 1, "runs": 0, "seq": null,
        });
        Arc::new(serde_json::from_value(doc).unwrap())
    }

    fn slot(revision: u64, state: Option<JobState>) -> Slot {
        Slot {
            revision,
            doc: state.map(doc),
        }
    }

    #[test]
    fn an_older_revision_never_replaces_a_newer_one() {
        let mut copy = Copy::default();
        copy.apply("a", slot(5, Some(JobState::Running)));
        copy.apply("a", slot(4, Some(JobState::Queued)));
        assert_eq!(copy.slots["a"].revision, 5);
        copy.apply("a", slot(6, None));
        assert!(copy.slots["a"].doc.is_none(), "a delete is kept as such");
    }

    #[test]
    fn finished_jobs_beyond_the_bound_are_forgotten_oldest_first_and_running_ones_never() {
        let mut copy = Copy::default();
        copy.apply("running", slot(1, Some(JobState::Running)));
        for n in 0..FINISHED_KEPT + 10 {
            copy.apply(
                &format!("done-{n}"),
                slot(2 + n as u64, Some(JobState::Succeeded)),
            );
        }
        assert!(copy.slots.contains_key("running"));
        assert_eq!(copy.slots.len(), FINISHED_KEPT + 1);
        assert!(!copy.slots.contains_key("done-0"));
        assert!(
            copy.slots
                .contains_key(&format!("done-{}", FINISHED_KEPT + 9))
        );
    }

    #[test]
    fn a_job_that_settles_again_is_not_forgotten_for_its_older_mention() {
        let mut copy = Copy::default();
        copy.apply("again", slot(1, Some(JobState::Failed)));
        copy.apply("again", slot(2, Some(JobState::Queued)));
        copy.apply("again", slot(3, Some(JobState::Failed)));
        for n in 0..FINISHED_KEPT - 1 {
            copy.apply(
                &format!("done-{n}"),
                slot(10 + n as u64, Some(JobState::Succeeded)),
            );
        }
        assert!(
            copy.slots.contains_key("again"),
            "its newer mention is within the bound"
        );
    }

    #[test]
    fn the_copy_answers_only_once_synced_and_keeps_own_writes_through_a_catch_up() {
        let cache = StatusCache::default();
        cache.wrote("mine", &doc(JobState::Running), 9);
        assert!(
            matches!(cache.get("mine"), Cached::Unknown),
            "not synced yet"
        );
        let mut fresh = Copy::default();
        fresh.apply("other", slot(3, Some(JobState::Queued)));
        cache.catch_up(fresh);
        assert!(
            matches!(cache.get("mine"), Cached::Doc(_)),
            "written after the history"
        );
        assert!(matches!(cache.get("other"), Cached::Doc(_)));
        assert!(matches!(cache.get("never"), Cached::Unknown));
        cache.deleted("other", 3);
        assert!(matches!(cache.get("other"), Cached::Gone));
        cache.bucket_recreated();
        assert!(matches!(cache.get("mine"), Cached::Unknown));
    }
}
