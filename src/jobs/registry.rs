//! Every known job by id: the idempotency rules (docs/api.md, "Submitting the same id
//! twice") and retention.

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;

use super::queue::{JobQueue, PushError};
use super::record::JobRecord;
use super::rules::{self, Admit, Known, Retention};
use crate::domain::Job;
use crate::time::now_ms;

/// How a submission was taken.
pub(crate) enum Admission {
    /// A new build (first or next attempt) is queued.
    Queued(Arc<JobRecord>),
    /// The same job is already queued, running or done: no second build.
    Attached(Arc<JobRecord>),
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum AdmitError {
    #[error("the queue is full")]
    QueueFull,
    #[error("job {0} is already known with different content")]
    Conflict(String),
    #[error("the worker is shutting down")]
    ShuttingDown,
    /// Not one of the architectures and image kinds this worker builds.
    #[error("{0}")]
    Unsupported(String),
}

impl From<PushError> for AdmitError {
    fn from(e: PushError) -> Self {
        match e {
            PushError::Full => Self::QueueFull,
            PushError::Closed => Self::ShuttingDown,
        }
    }
}

pub(crate) struct Registry {
    jobs: DashMap<String, Arc<JobRecord>>,
    /// How long a finished job stays visible. Reads hide a job past it at once; the
    /// pruner only frees the memory later.
    retention: Retention,
}

impl Registry {
    pub(crate) fn new(retention: Duration) -> Self {
        Self {
            jobs: DashMap::new(),
            retention: Retention::new(retention),
        }
    }

    fn expired(&self, record: &JobRecord, now: u64) -> bool {
        self.retention.expired(record.status().finished_at, now)
    }

    /// Carries out [`rules::admit`] under the id's map entry lock, so two identical
    /// submissions racing each other start exactly one build.
    pub(crate) fn admit(
        &self,
        job: Job,
        queue: &JobQueue,
        new_record: impl FnOnce(Job, u32) -> JobRecord,
    ) -> Result<Admission, AdmitError> {
        let entry = self.jobs.entry(job.id.as_str().to_owned());
        let known = match &entry {
            Entry::Occupied(known) => {
                let existing = known.get();
                let status = existing.status();
                Some(Known {
                    state: status.state,
                    attempt: existing.attempt,
                    finished_at: status.finished_at,
                    same_content: existing.job == job,
                })
            }
            Entry::Vacant(_) => None,
        };
        match (rules::admit(known, self.retention, now_ms()), entry) {
            (Admit::Build { attempt }, entry) => {
                let record = Arc::new(new_record(job, attempt));
                queue.push(Arc::clone(&record))?;
                entry.insert(Arc::clone(&record));
                Ok(Admission::Queued(record))
            }
            (Admit::Attach, Entry::Occupied(known)) => {
                Ok(Admission::Attached(Arc::clone(known.get())))
            }
            // (An unknown id is always built, never attached.)
            (Admit::Conflict, _) | (Admit::Attach, Entry::Vacant(_)) => {
                Err(AdmitError::Conflict(job.id.to_string()))
            }
        }
    }

    /// Keeps `record` under its id, in place of any earlier one.
    pub(crate) fn replace(&self, record: Arc<JobRecord>) {
        self.jobs.insert(record.job.id.as_str().to_owned(), record);
    }

    pub(crate) fn get(&self, id: &str) -> Option<Arc<JobRecord>> {
        let record = self.jobs.get(id).map(|r| Arc::clone(r.value()))?;
        (!self.expired(&record, now_ms())).then_some(record)
    }

    /// Every job that is still visible.
    pub(crate) fn all(&self) -> Vec<Arc<JobRecord>> {
        let now = now_ms();
        self.jobs
            .iter()
            .map(|r| Arc::clone(r.value()))
            .filter(|r| !self.expired(r, now))
            .collect()
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// Forgets finished jobs older than `retention`, then the oldest finished ones
    /// beyond `max_finished`. Jobs still queued or running are never dropped.
    pub(crate) fn prune(&self, retention: Duration, max_finished: usize) -> usize {
        let cutoff = Retention::new(retention).cutoff(now_ms());
        let mut finished: Vec<(u64, Arc<JobRecord>)> = self
            .jobs
            .iter()
            .filter_map(|r| r.status().finished_at.map(|t| (t, Arc::clone(r.value()))))
            .collect();
        // Newest first; admission order breaks ties within a millisecond.
        finished.sort_by_key(|(t, r)| std::cmp::Reverse((*t, r.serial)));
        let mut removed = 0;
        for (index, (finished_at, record)) in finished.into_iter().enumerate() {
            if finished_at < cutoff || index >= max_finished {
                // Only if the entry still holds this record (not a newer attempt).
                let gone = self.jobs.remove_if(record.job.id.as_str(), |_, current| {
                    Arc::ptr_eq(current, &record)
                });
                removed += usize::from(gone.is_some());
            }
        }
        removed
    }
}
