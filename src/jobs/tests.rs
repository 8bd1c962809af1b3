//! The engine with closure runners: no isocreator, no S3, just the queue's rules.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;
use tokio::sync::Semaphore;

use super::events::{JobEvents, NoEvents};
use super::executor::JobRunner;
use super::record::JobRecord;
use super::registry::{Admission, AdmitError};
use super::{Engine, EngineSettings, SubmittedBy};
use crate::domain::{
    Artifact, ErrorCode, FailureCode, Job, JobFailure, JobState, Outcome, parse_job,
};
use crate::joblog::{JobLog, LogBudget, Scrubber};

pub(super) fn job(id: &str) -> Job {
    parse_job(json!({
        "id": id,
        "architecture": "amd64",
        "imageKind": "ubuntu-iso",
        "cloudlyUrl": "https://cloudly.example.com",
        "provisioningToken": "tok-1",
        "s3Descriptor": {
            "endpoint": "127.0.0.1:9", "accessKey": "key-1", "accessSecret": "secret-1",
            "bucketName": "bucket-1"
        }
    }))
    .unwrap()
}

pub(super) fn settings(executors: usize, queue_capacity: usize) -> EngineSettings {
    EngineSettings {
        executors,
        queue_capacity,
        log_lines: 100,
        retention: Duration::from_secs(3600),
        max_retained: 100,
        log_bytes: u64::MAX,
        worker_secrets: Vec::new(),
        builds: crate::domain::BuildSet::everything(),
        queue_timeout: None,
        pause_holds_queue: true,
    }
}

fn artifact(record: &JobRecord) -> Outcome {
    Ok(Artifact {
        bucket_name: "b".into(),
        key: record.job.artifact_key.to_string(),
        filename: "f".into(),
        content_type: "application/octet-stream".into(),
        size: 1,
        sha256: "00".into(),
        created_at: 0,
    })
}

pub(super) fn admitted(admission: Result<Admission, AdmitError>) -> Arc<JobRecord> {
    match admission {
        Ok(Admission::Queued(r) | Admission::Attached(r)) => r,
        Err(e) => panic!("not admitted: {e}"),
    }
}

/// Ids in the order their jobs started.
pub(super) type StartOrder = Arc<std::sync::Mutex<Vec<String>>>;

/// A runner whose jobs wait until the test releases them, counting how many run at once.
pub(super) fn gated() -> (
    Arc<dyn JobRunner>,
    Arc<Semaphore>,
    Arc<AtomicUsize>,
    StartOrder,
) {
    let gate = Arc::new(Semaphore::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let now = Arc::new(AtomicUsize::new(0));
    let runner = {
        let (gate, peak, order) = (Arc::clone(&gate), Arc::clone(&peak), Arc::clone(&order));
        move |record: Arc<JobRecord>| {
            let (gate, peak, order, now) = (
                Arc::clone(&gate),
                Arc::clone(&peak),
                Arc::clone(&order),
                Arc::clone(&now),
            );
            async move {
                order.lock().unwrap().push(record.job.id.to_string());
                let running = now.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(running, Ordering::SeqCst);
                gate.acquire().await.unwrap().forget();
                now.fetch_sub(1, Ordering::SeqCst);
                artifact(&record)
            }
        }
    };
    (Arc::new(runner), gate, peak, order)
}

#[tokio::test]
async fn jobs_run_in_fifo_order() {
    let (runner, gate, _, order) = gated();
    let engine = Engine::start(settings(1, 10), runner, Arc::new(NoEvents));
    let records: Vec<_> = (0..6)
        .map(|i| admitted(engine.submit(job(&format!("j{i}")), SubmittedBy::default())))
        .collect();
    gate.add_permits(6);
    for r in &records {
        assert!(r.wait().await.is_ok());
    }
    assert_eq!(*order.lock().unwrap(), ["j0", "j1", "j2", "j3", "j4", "j5"]);
    assert_eq!(records[0].state(), JobState::Succeeded);
    engine
        .shutdown(Duration::ZERO, &tokio_util::sync::CancellationToken::new())
        .await;
}

#[tokio::test]
async fn never_more_jobs_run_than_the_pool_holds() {
    let (runner, gate, peak, _) = gated();
    let engine = Engine::start(settings(2, 10), runner, Arc::new(NoEvents));
    let records: Vec<_> = (0..6)
        .map(|i| admitted(engine.submit(job(&format!("p{i}")), SubmittedBy::default())))
        .collect();
    while engine.running() < 2 {
        tokio::task::yield_now().await;
    }
    assert_eq!(engine.queued(), 4);
    gate.add_permits(6);
    for r in &records {
        assert!(r.wait().await.is_ok());
    }
    assert_eq!(peak.load(Ordering::SeqCst), 2);
    engine
        .shutdown(Duration::ZERO, &tokio_util::sync::CancellationToken::new())
        .await;
}

#[tokio::test]
async fn the_queue_bound_does_not_count_running_jobs() {
    let (runner, gate, _, _) = gated();
    let events = Arc::new(Counted::default());
    let engine = Engine::start(settings(1, 2), runner, events.clone());
    let running = admitted(engine.submit(job("run"), SubmittedBy::default()));
    while engine.running() == 0 {
        tokio::task::yield_now().await;
    }
    admitted(engine.submit(job("wait-1"), SubmittedBy::default()));
    admitted(engine.submit(job("wait-2"), SubmittedBy::default()));
    assert!(matches!(
        engine.submit(job("wait-3"), SubmittedBy::default()),
        Err(AdmitError::QueueFull)
    ));
    assert_eq!((engine.running(), engine.queued()), (1, 2));
    assert!(
        engine.get("wait-3").is_none(),
        "a refused job is not registered"
    );
    assert_eq!(*events.rejected.lock().unwrap(), [ErrorCode::QueueFull]);
    assert_eq!(events.admitted.load(Ordering::SeqCst), 3);
    gate.add_permits(3);
    running.wait().await;
    engine
        .shutdown(Duration::ZERO, &tokio_util::sync::CancellationToken::new())
        .await;
}

#[tokio::test]
async fn a_panicking_job_fails_and_the_worker_goes_on() {
    let runner = |record: Arc<JobRecord>| async move {
        if record.job.id.as_str() == "boom" {
            panic!("runner bug");
        }
        artifact(&record)
    };
    let engine = Engine::start(settings(1, 4), Arc::new(runner), Arc::new(NoEvents));
    let boom = admitted(engine.submit(job("boom"), SubmittedBy::default()));
    let fine = admitted(engine.submit(job("fine"), SubmittedBy::default()));
    let failure = boom.wait().await.as_ref().clone().unwrap_err();
    assert_eq!(failure.code, FailureCode::Internal);
    assert!(fine.wait().await.is_ok());
    engine
        .shutdown(Duration::ZERO, &tokio_util::sync::CancellationToken::new())
        .await;
}

#[tokio::test]
async fn shutdown_ends_queued_jobs_and_cancels_running_ones() {
    let runner = |record: Arc<JobRecord>| async move {
        record.cancel.cancelled().await;
        Err(JobFailure {
            code: FailureCode::Cancelled,
            message: "stopped".into(),
        })
    };
    let engine = Engine::start(settings(1, 4), Arc::new(runner), Arc::new(NoEvents));
    let running = admitted(engine.submit(job("running"), SubmittedBy::default()));
    while engine.running() == 0 {
        tokio::task::yield_now().await;
    }
    let queued = admitted(engine.submit(job("queued"), SubmittedBy::default()));
    engine
        .shutdown(Duration::ZERO, &tokio_util::sync::CancellationToken::new())
        .await;
    assert_eq!(
        queued.wait().await.as_ref().clone().unwrap_err().code,
        FailureCode::ShuttingDown
    );
    assert_eq!(
        running.wait().await.as_ref().clone().unwrap_err().code,
        FailureCode::Cancelled
    );
    assert_eq!(running.state(), JobState::Cancelled);
}

#[tokio::test]
async fn retention_forgets_old_and_surplus_finished_jobs() {
    let runner = |record: Arc<JobRecord>| async move { artifact(&record) };
    let mut s = settings(1, 10);
    s.max_retained = 2;
    let engine = Engine::start(s, Arc::new(runner), Arc::new(NoEvents));
    for i in 0..5 {
        admitted(engine.submit(job(&format!("r{i}")), SubmittedBy::default()))
            .wait()
            .await;
    }
    // Pruning runs after each job; shutdown waits for the executor to get there.
    engine
        .shutdown(Duration::ZERO, &tokio_util::sync::CancellationToken::new())
        .await;
    let kept: Vec<bool> = (0..5)
        .map(|i| engine.get(&format!("r{i}")).is_some())
        .collect();
    assert_eq!(kept, [false, false, false, true, true]);

    let registry = super::registry::Registry::new(Duration::from_secs(3600));
    let queue = super::queue::JobQueue::new(4);
    let record = admitted(registry.admit(job("old"), &queue, |j, a| {
        JobRecord::new(
            j,
            a,
            JobLog::new(10, Scrubber::new([]), &LogBudget::new(u64::MAX)),
        )
    }));
    record.finish(Err(JobFailure {
        code: FailureCode::BuildFailed,
        message: "x".into(),
    }));
    assert_eq!(
        registry.prune(Duration::from_secs(3600), 10),
        0,
        "young enough"
    );
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(
        registry.prune(Duration::ZERO, 10),
        1,
        "past the retention time"
    );
    assert!(registry.is_empty());
}

#[tokio::test]
async fn the_runner_writes_the_first_log_line_at_admission() {
    struct Announcing;
    impl JobRunner for Announcing {
        fn admitted(&self, job: &Job, log: &crate::joblog::LogSink) {
            log.note(&format!("about to build {}", job.id));
        }
        fn run(&self, record: Arc<JobRecord>) -> super::BoxFuture<Outcome> {
            Box::pin(async move { artifact(&record) })
        }
    }
    let engine = Engine::start(settings(1, 4), Arc::new(Announcing), Arc::new(NoEvents));
    let record = admitted(engine.submit(job("first"), SubmittedBy::default()));
    assert_eq!(record.log.texts()[0], "about to build first");
    record.wait().await;
    engine
        .shutdown(Duration::ZERO, &tokio_util::sync::CancellationToken::new())
        .await;
}

#[tokio::test]
async fn every_finished_job_is_reported_once_with_its_run_time() {
    let runner = |record: Arc<JobRecord>| async move {
        if record.job.id.as_str() == "bad" {
            return Err(JobFailure::new(FailureCode::BuildFailed, "no"));
        }
        artifact(&record)
    };
    let events = Arc::new(Counted::default());
    let engine = Engine::start(settings(1, 4), Arc::new(runner), events.clone());
    admitted(engine.submit(job("good"), SubmittedBy::default()))
        .wait()
        .await;
    admitted(engine.submit(job("bad"), SubmittedBy::default()))
        .wait()
        .await;
    engine
        .shutdown(Duration::ZERO, &tokio_util::sync::CancellationToken::new())
        .await;
    let finished = events.finished.lock().unwrap().clone();
    assert_eq!(finished.len(), 2, "{finished:?}");
    assert_eq!(finished[0], (None, true));
    assert_eq!(finished[1], (Some(FailureCode::BuildFailed), true));
}

/// Records what the engine reports.
#[derive(Default)]
struct Counted {
    admitted: AtomicUsize,
    rejected: std::sync::Mutex<Vec<ErrorCode>>,
    /// The failure (None for success) and whether a run time came with it.
    finished: std::sync::Mutex<Vec<(Option<FailureCode>, bool)>>,
}

impl JobEvents for Counted {
    fn admitted(&self) {
        self.admitted.fetch_add(1, Ordering::SeqCst);
    }
    fn rejected(&self, reason: ErrorCode) {
        self.rejected.lock().unwrap().push(reason);
    }
    fn finished(&self, outcome: &Outcome, ran: Option<Duration>) {
        let failure = outcome.as_ref().err().map(|f| f.code);
        self.finished.lock().unwrap().push((failure, ran.is_some()));
    }
}
