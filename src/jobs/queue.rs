//! One bounded FIFO of jobs waiting for an executor. It holds records only; it knows
//! nothing of how a job runs.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::record::JobRecord;

pub struct JobQueue {
    waiting: Mutex<VecDeque<Arc<JobRecord>>>,
    capacity: usize,
    /// Wakes one idle executor per pushed job.
    ready: Notify,
}

#[derive(Debug, thiserror::Error)]
#[error("the queue is full")]
pub struct QueueFull;

impl JobQueue {
    pub fn new(capacity: usize) -> Self {
        Self {
            waiting: Mutex::new(VecDeque::with_capacity(capacity)),
            capacity,
            ready: Notify::new(),
        }
    }

    pub fn push(&self, record: Arc<JobRecord>) -> Result<(), QueueFull> {
        let mut waiting = self.waiting.lock().expect("queue lock");
        if waiting.len() >= self.capacity {
            return Err(QueueFull);
        }
        waiting.push_back(record);
        drop(waiting);
        self.ready.notify_one();
        Ok(())
    }

    pub fn pop(&self) -> Option<Arc<JobRecord>> {
        self.waiting.lock().expect("queue lock").pop_front()
    }

    /// Waits for a job. The wake-up is armed before the queue is checked, so a push
    /// between the check and the wait is never missed.
    pub async fn next(&self) -> Arc<JobRecord> {
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
    pub fn remove(&self, record: &Arc<JobRecord>) -> bool {
        let mut waiting = self.waiting.lock().expect("queue lock");
        let before = waiting.len();
        waiting.retain(|r| !Arc::ptr_eq(r, record));
        before != waiting.len()
    }

    /// 0-based place in line, or None when not waiting.
    pub fn position(&self, record: &Arc<JobRecord>) -> Option<usize> {
        let waiting = self.waiting.lock().expect("queue lock");
        waiting.iter().position(|r| Arc::ptr_eq(r, record))
    }

    pub fn drain(&self) -> Vec<Arc<JobRecord>> {
        self.waiting.lock().expect("queue lock").drain(..).collect()
    }

    pub fn len(&self) -> usize {
        self.waiting.lock().expect("queue lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
