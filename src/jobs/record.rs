//! One submitted job: its request, live status, log, cancel switch and final outcome.

use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::log::JobLog;
use crate::build::Job;
use crate::time::now_ms;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Running,
    Uploading,
    Succeeded,
    Failed,
    Cancelled,
}

impl JobState {
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

/// Why a job did not succeed; the code is the contract's error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureCode {
    BuildFailed,
    TimedOut,
    UploadFailed,
    Cancelled,
    ShuttingDown,
}

#[derive(Debug, Clone, Serialize)]
pub struct JobFailure {
    pub code: FailureCode,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
    pub bucket_name: String,
    pub key: String,
    pub filename: String,
    pub content_type: String,
    pub size: u64,
    pub sha256: String,
    pub created_at: u64,
}

/// A finished job's result: the build's own success or failure, never a worker error.
pub type Outcome = Result<Artifact, JobFailure>;

#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    pub phase: &'static str,
    pub bytes_done: u64,
    pub bytes_total: u64,
}

/// What changes while the job runs; read as one consistent snapshot.
#[derive(Debug, Clone)]
pub struct Status {
    pub state: JobState,
    pub started_at: Option<u64>,
    pub finished_at: Option<u64>,
    pub progress: Option<Progress>,
    pub last_activity_at: u64,
}

pub struct JobRecord {
    /// Order of admission; breaks ties between jobs created in the same millisecond.
    pub serial: u64,
    pub job: Job,
    pub attempt: u32,
    pub created_at: u64,
    pub log: Arc<JobLog>,
    /// Fired to stop this job: by a cancel request or by shutdown. Use [`Self::cancel_for`].
    pub cancel: CancellationToken,
    cancel_reason: std::sync::OnceLock<String>,
    status: Mutex<Status>,
    outcome: watch::Sender<Option<Arc<Outcome>>>,
}

impl JobRecord {
    pub fn new(job: Job, attempt: u32, log: JobLog) -> Self {
        static SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let now = now_ms();
        Self {
            serial: SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            job,
            attempt,
            created_at: now,
            log: Arc::new(log),
            cancel: CancellationToken::new(),
            cancel_reason: std::sync::OnceLock::new(),
            status: Mutex::new(Status {
                state: JobState::Queued,
                started_at: None,
                finished_at: None,
                progress: None,
                last_activity_at: now,
            }),
            outcome: watch::channel(None).0,
        }
    }

    /// Stops the job; the first reason given is the one its failure message names.
    pub fn cancel_for(&self, reason: &str) {
        let _ = self.cancel_reason.set(reason.to_owned());
        self.cancel.cancel();
    }

    /// Why the job was cancelled, for its failure message.
    pub fn cancel_message(&self) -> String {
        self.cancel_reason
            .get()
            .cloned()
            .unwrap_or_else(|| "the job was cancelled".to_owned())
    }

    pub fn status(&self) -> Status {
        self.status.lock().expect("status lock").clone()
    }

    pub fn state(&self) -> JobState {
        self.status.lock().expect("status lock").state
    }

    pub fn set_running(&self) {
        let mut s = self.status.lock().expect("status lock");
        s.state = JobState::Running;
        s.started_at = Some(now_ms());
        s.last_activity_at = now_ms();
    }

    pub fn set_progress(&self, bytes_done: u64, bytes_total: u64) {
        let mut s = self.status.lock().expect("status lock");
        s.state = JobState::Uploading;
        s.progress = Some(Progress {
            phase: "uploading",
            bytes_done,
            bytes_total,
        });
        s.last_activity_at = now_ms();
    }

    /// Records the outcome once and wakes every waiter; later calls are ignored.
    pub fn finish(&self, outcome: Outcome) {
        let mut s = self.status.lock().expect("status lock");
        if s.state.is_finished() {
            return;
        }
        s.state = match &outcome {
            Ok(_) => JobState::Succeeded,
            Err(f) if matches!(f.code, FailureCode::Cancelled | FailureCode::ShuttingDown) => {
                JobState::Cancelled
            }
            Err(_) => JobState::Failed,
        };
        s.finished_at = Some(now_ms());
        s.progress = None;
        drop(s);
        self.outcome.send_replace(Some(Arc::new(outcome)));
    }

    pub fn outcome(&self) -> Option<Arc<Outcome>> {
        self.outcome.borrow().clone()
    }

    /// Waits until the job has finished and returns its outcome.
    pub async fn wait(&self) -> Arc<Outcome> {
        let mut rx = self.outcome.subscribe();
        let outcome = rx
            .wait_for(Option::is_some)
            .await
            .expect("the record owns the sender");
        outcome.clone().expect("waited for Some")
    }
}
