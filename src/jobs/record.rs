//! One submitted job: its request, live status, log, cancel switch and final outcome.

use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::rules::{self, Event};
use crate::domain::{FailureCode, Job, JobFailure, JobState, Outcome, Progress};
use crate::joblog::{JobLog, LogSink};
use crate::time::now_ms;
use crate::upload::Fence;

/// What changes while the job runs; read as one consistent snapshot.
#[derive(Debug, Clone)]
pub(crate) struct Status {
    pub(crate) state: JobState,
    pub(crate) started_at: Option<u64>,
    pub(crate) finished_at: Option<u64>,
    pub(crate) progress: Option<Progress>,
    pub(crate) last_activity_at: u64,
}

pub(crate) struct JobRecord {
    /// Order of admission; breaks ties between jobs created in the same millisecond.
    pub(crate) serial: u64,
    pub(crate) job: Job,
    pub(crate) attempt: u32,
    pub(crate) created_at: u64,
    /// When it began to wait for its start, for the queue-wait histogram; none for a
    /// fleet job's later runs, whose wait is not a queue's.
    pub(crate) queued_since: Option<u64>,
    /// The id of the request that submitted it, for the job's service log lines.
    pub(crate) request_id: Option<String>,
    pub(crate) log: Arc<JobLog>,
    /// Fired to stop this job: by a cancel request or by shutdown. Use [`Self::cancel_for`].
    pub(crate) cancel: CancellationToken,
    cancel_reason: std::sync::OnceLock<String>,
    /// Set when the end of a drain cut the job off: in cluster mode it goes back to the
    /// fleet's queue instead of ending.
    cut_by_shutdown: std::sync::atomic::AtomicBool,
    status: Mutex<Status>,
    outcome: watch::Sender<Option<Arc<Outcome>>>,
    /// In a fleet: the run's hold on the job, which its upload is fenced with.
    fence: std::sync::OnceLock<Arc<dyn Fence>>,
}

impl JobRecord {
    pub(crate) fn new(job: Job, attempt: u32, log: Arc<JobLog>) -> Self {
        static SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let now = now_ms();
        Self {
            serial: SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            job,
            attempt,
            created_at: now,
            queued_since: Some(now),
            request_id: None,
            log,
            cancel: CancellationToken::new(),
            cancel_reason: std::sync::OnceLock::new(),
            cut_by_shutdown: std::sync::atomic::AtomicBool::new(false),
            status: Mutex::new(Status {
                state: JobState::Queued,
                started_at: None,
                finished_at: None,
                progress: None,
                last_activity_at: now,
            }),
            outcome: watch::channel(None).0,
            fence: std::sync::OnceLock::new(),
        }
    }

    /// Fences this run's upload with its hold on the fleet's job.
    pub(crate) fn fence_with(&self, fence: Arc<dyn Fence>) {
        let _ = self.fence.set(fence);
    }

    /// The run's hold on the job in a fleet; none for a worker alone.
    pub(crate) fn fence(&self) -> Option<&dyn Fence> {
        self.fence.get().map(|f| &**f)
    }

    /// Stops the job; the first reason given is the one its failure message names.
    pub(crate) fn cancel_for(&self, reason: &str) {
        let _ = self.cancel_reason.set(reason.to_owned());
        self.cancel.cancel();
    }

    /// Stops the job because the worker's drain is over.
    pub(crate) fn cut_off(&self, reason: &str) {
        self.cut_by_shutdown
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.cancel_for(reason);
    }

    /// Whether the worker's shutdown, not a cancel request, stopped this job.
    pub(crate) fn was_cut_off(&self) -> bool {
        self.cut_by_shutdown
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Why the job was cancelled, for its failure message.
    pub(crate) fn cancel_message(&self) -> String {
        self.cancel_reason
            .get()
            .cloned()
            .unwrap_or_else(|| "the job was cancelled".to_owned())
    }

    /// The failure a cancelled job ends with.
    pub(crate) fn cancelled(&self) -> JobFailure {
        JobFailure::new(FailureCode::Cancelled, self.cancel_message())
    }

    /// A writer's handle on this job's log, for the steps that run it.
    pub(crate) fn log_sink(&self) -> LogSink {
        LogSink::new(Arc::clone(&self.log))
    }

    pub(crate) fn status(&self) -> Status {
        self.status.lock().expect("status lock").clone()
    }

    pub(crate) fn state(&self) -> JobState {
        self.status.lock().expect("status lock").state
    }

    pub(crate) fn set_running(&self) {
        let mut s = self.status.lock().expect("status lock");
        let Some(state) = rules::next(s.state, Event::Start) else {
            return;
        };
        s.state = state;
        s.started_at = Some(now_ms());
        s.last_activity_at = now_ms();
    }

    pub(crate) fn set_progress(&self, bytes_done: u64, bytes_total: u64) {
        let mut s = self.status.lock().expect("status lock");
        let Some(state) = rules::next(s.state, Event::Upload) else {
            return;
        };
        s.state = state;
        s.progress = Some(Progress {
            phase: JobState::Uploading,
            bytes_done,
            bytes_total,
        });
        s.last_activity_at = now_ms();
    }

    /// Records the outcome once and wakes every waiter; later calls are ignored.
    pub(crate) fn finish(&self, outcome: Outcome) {
        let mut s = self.status.lock().expect("status lock");
        let event = match &outcome {
            Ok(_) => Event::Succeed,
            Err(f) => Event::Fail(f.code),
        };
        let Some(state) = rules::next(s.state, event) else {
            return;
        };
        s.state = state;
        s.finished_at = Some(now_ms());
        s.progress = None;
        drop(s);
        self.log.seal();
        self.outcome.send_replace(Some(Arc::new(outcome)));
    }

    pub(crate) fn outcome(&self) -> Option<Arc<Outcome>> {
        self.outcome.borrow().clone()
    }

    /// Waits until the job has finished and returns its outcome.
    pub(crate) async fn wait(&self) -> Arc<Outcome> {
        let mut rx = self.outcome.subscribe();
        let outcome = rx
            .wait_for(Option::is_some)
            .await
            .expect("the record owns the sender");
        outcome.clone().expect("waited for Some")
    }
}
