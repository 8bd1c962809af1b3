//! One bounded FIFO of jobs waiting for an executor. It holds records only; it knows
//! nothing of how a job runs.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::record::JobRecord;

pub(crate) struct JobQueue {
    waiting: Mutex<Waiting>,
    capacity: usize,
    /// Wakes one idle executor per pushed job.
    ready: Notify,
}

struct Waiting {
    jobs: VecDeque<Arc<JobRecord>>,
    /// Set by shutdown; checked under the same lock as a push, so no job slips in
    /// after the queue was drained.
    closed: bool,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum PushError {
    #[error("the queue is full")]
    Full,
    #[error("the queue is closed")]
    Closed,
}

impl JobQueue {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            waiting: Mutex::new(Waiting {
                jobs: VecDeque::with_capacity(capacity),
                closed: false,
            }),
            capacity,
            ready: Notify::new(),
        }
    }

    pub(crate) fn push(&self, record: Arc<JobRecord>) -> Result<(), PushError> {
        let mut waiting = self.waiting.lock().expect("queue lock");
        if waiting.closed {
            return Err(PushError::Closed);
        }
        if waiting.jobs.len() >= self.capacity {
            return Err(PushError::Full);
        }
        waiting.jobs.push_back(record);
        drop(waiting);
        self.ready.notify_one();
        Ok(())
    }

    pub(crate) fn pop(&self) -> Option<Arc<JobRecord>> {
        self.waiting.lock().expect("queue lock").jobs.pop_front()
    }

    /// Waits for a job. The wake-up is armed before the queue is checked, so a push
    /// between the check and the wait is never missed.
    pub(crate) async fn next(&self) -> Arc<JobRecord> {
        loop {
            let notified = self.ready.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(record) = self.pop() {
                return record;
            }
            notified.await;
        }
    }

    /// Takes a job out of the queue (cancel, shutdown); false if it was not waiting.
    pub(crate) fn remove(&self, record: &Arc<JobRecord>) -> bool {
        let mut waiting = self.waiting.lock().expect("queue lock");
        let before = waiting.jobs.len();
        waiting.jobs.retain(|r| !Arc::ptr_eq(r, record));
        before != waiting.jobs.len()
    }

    /// 0-based place in line, or None when not waiting.
    pub(crate) fn position(&self, record: &Arc<JobRecord>) -> Option<usize> {
        let waiting = self.waiting.lock().expect("queue lock");
        waiting.jobs.iter().position(|r| Arc::ptr_eq(r, record))
    }

    /// Takes out every job admitted before `deadline` (ms since the epoch).
    pub(crate) fn take_waiting_since(&self, deadline: u64) -> Vec<Arc<JobRecord>> {
        let mut waiting = self.waiting.lock().expect("queue lock");
        let (overdue, kept) = waiting
            .jobs
            .drain(..)
            .partition(|r| r.created_at < deadline);
        waiting.jobs = kept;
        overdue.into()
    }

    /// Refuses every later push and hands back the jobs that were waiting.
    pub(crate) fn close(&self) -> Vec<Arc<JobRecord>> {
        let mut waiting = self.waiting.lock().expect("queue lock");
        waiting.closed = true;
        waiting.jobs.drain(..).collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.waiting.lock().expect("queue lock").jobs.len()
    }
}
