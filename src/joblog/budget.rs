//! One byte budget for the text of every retained job log together.
//!
//! Per-job line limits alone let a few jobs with long lines hold gigabytes. When the
//! budget is exceeded, the oldest lines go first from the oldest finished jobs, then,
//! only if that is not enough, from the oldest running ones. Readers see evicted lines
//! as a `firstSeq` that moved on.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// A log the budget can take text back from. The budget knows logs only through this,
/// so it does not depend on the ring that depends on it.
pub(crate) trait Evictable: Send + Sync {
    /// Whether the log's job has finished (its lines go first).
    fn is_sealed(&self) -> bool;
    /// Drops the oldest lines until at least `bytes` are freed or none are left;
    /// returns the bytes freed.
    fn drop_oldest(&self, bytes: u64) -> u64;
}

pub(crate) struct LogBudget {
    limit: u64,
    used: AtomicU64,
    /// Every live log, oldest job first.
    logs: Mutex<VecDeque<Weak<dyn Evictable>>>,
}

impl LogBudget {
    pub(crate) fn new(limit: u64) -> Arc<Self> {
        Arc::new(Self {
            limit,
            used: AtomicU64::new(0),
            logs: Mutex::new(VecDeque::new()),
        })
    }

    pub(crate) fn limit(&self) -> u64 {
        self.limit
    }

    /// Bytes of log text retained now.
    pub(crate) fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    pub(crate) fn register(&self, log: Weak<dyn Evictable>) {
        self.lock().push_back(log);
    }

    pub(super) fn release(&self, bytes: u64) {
        self.used.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// Counts `added` bytes of new text and `freed` bytes of text a log let go of, in
    /// one step; evicts old lines when that goes over the limit. The caller holds no
    /// log's lock.
    pub(super) fn charge(&self, added: u64, freed: u64) {
        let used = if added >= freed {
            self.used.fetch_add(added - freed, Ordering::Relaxed) + (added - freed)
        } else {
            self.used.fetch_sub(freed - added, Ordering::Relaxed) - (freed - added)
        };
        if used > self.limit {
            self.evict();
        }
    }

    /// Frees text down to 90% of the limit, so that eviction does not run on every
    /// line once the budget is full.
    fn evict(&self) {
        let target = self.limit - self.limit / 10;
        let logs: Vec<Arc<dyn Evictable>> = {
            let mut logs = self.lock();
            logs.retain(|log| log.strong_count() > 0);
            logs.iter().filter_map(Weak::upgrade).collect()
        };
        let (finished, running): (Vec<_>, Vec<_>) = logs.iter().partition(|l| l.is_sealed());
        for log in finished.into_iter().chain(running) {
            let used = self.used();
            if used <= target {
                return;
            }
            let freed = log.drop_oldest(used - target);
            self.release(freed);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Weak<dyn Evictable>>> {
        self.logs.lock().unwrap_or_else(|e| e.into_inner())
    }
}
