//! What the engine holds, read without changing it: a job, the list, the counts and
//! figures that status answers, metrics and the fleet view show.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::Engine;
use crate::domain::JobState;
use crate::jobs::record::JobRecord;

impl Engine {
    pub(crate) fn get(&self, id: &str) -> Option<Arc<JobRecord>> {
        self.registry.get(id)
    }

    /// Bytes of log text retained now, and the limit.
    pub(crate) fn log_bytes(&self) -> (u64, u64) {
        (self.log_budget.used(), self.log_budget.limit())
    }

    /// Jobs run at once.
    pub(crate) fn executors(&self) -> usize {
        self.settings.executors
    }

    pub(crate) fn running(&self) -> usize {
        self.executor.running()
    }

    pub(crate) fn queued(&self) -> usize {
        self.queue.len()
    }

    /// False once shutdown has begun.
    pub(crate) fn accepting(&self) -> bool {
        self.accepting.load(Ordering::SeqCst)
    }

    /// 0-based place in the queue while the job waits.
    pub(crate) fn queue_position(&self, record: &Arc<JobRecord>) -> Option<usize> {
        self.queue.position(record)
    }

    /// Seconds since the quietest running job last logged a line or moved its upload
    /// (`now` in ms since the epoch); `None` while nothing runs.
    pub(crate) fn longest_silence(&self, now: u64) -> Option<u64> {
        self.registry
            .all()
            .iter()
            .filter_map(|record| {
                let status = record.status();
                matches!(status.state, JobState::Running | JobState::Uploading).then(|| {
                    let last = status.last_activity_at.max(record.log.last_line_at());
                    now.saturating_sub(last) / 1000
                })
            })
            .max()
    }

    /// Every retained job, newest first.
    pub(crate) fn list(&self) -> Vec<Arc<JobRecord>> {
        let mut jobs = self.registry.all();
        jobs.sort_by_key(|r| std::cmp::Reverse(r.serial));
        jobs
    }
}
