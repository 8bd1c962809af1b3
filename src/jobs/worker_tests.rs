//! What a worker takes: its capabilities, its pause, and the queue-wait limit.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::events::NoEvents;
use super::registry::AdmitError;
use super::tests::{admitted, gated, job, settings};
use super::{Engine, Identity, SubmittedBy, WorkerState};
use crate::domain::job::{Architecture, ImageKind};
use crate::domain::{BuildSet, FailureCode, JobState};

fn me() -> Identity {
    Identity {
        worker_id: "w1".into(),
        url: Some("http://w1:3060".into()),
        started_at: 1,
    }
}

#[tokio::test]
async fn a_job_of_a_class_the_worker_does_not_build_is_refused_naming_the_field() {
    let (runner, _, _, _) = gated();
    let mut arm_only = settings(1, 4);
    arm_only.builds = BuildSet::new(&[Architecture::Arm64], ImageKind::ALL).unwrap();
    let engine = Engine::start(arm_only, runner, Arc::new(NoEvents));
    let Err(AdmitError::Unsupported(message)) = engine.submit(job("amd"), SubmittedBy::default())
    else {
        panic!("an amd64 job was admitted by an arm64 worker");
    };
    assert!(message.starts_with("job.architecture: "), "{message}");
    assert!(
        message.contains("COREBUILD_ARCHITECTURES=arm64"),
        "{message}"
    );
    assert!(engine.get("amd").is_none(), "nothing is registered");
    let record = engine.describe(&me());
    assert_eq!(record.architectures, [Architecture::Arm64]);
    engine
        .shutdown(Duration::ZERO, &CancellationToken::new())
        .await;
}

#[tokio::test]
async fn a_paused_worker_starts_nothing_new_and_finishes_what_it_runs() {
    let (runner, gate, _, order) = gated();
    let engine = Engine::start(settings(1, 4), runner, Arc::new(NoEvents));
    let first = admitted(engine.submit(job("first"), SubmittedBy::default()));
    while engine.running() == 0 {
        tokio::task::yield_now().await;
    }
    engine.pause().pause("kernel update".into());
    let waiting = admitted(engine.submit(job("waiting"), SubmittedBy::default()));
    let record = engine.describe(&me());
    assert_eq!(record.state, WorkerState::Paused);
    assert_eq!(record.jobs, ["first"]);
    assert_eq!(record.paused.unwrap().reason, "kernel update");
    gate.add_permits(2);
    assert!(first.wait().await.is_ok(), "the running job finishes");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(waiting.state(), JobState::Queued, "nothing new starts");
    assert_eq!(*order.lock().unwrap(), ["first"]);
    engine.pause().resume();
    assert!(waiting.wait().await.is_ok(), "a resumed worker takes it");
    engine
        .shutdown(Duration::ZERO, &CancellationToken::new())
        .await;
}

#[tokio::test]
async fn a_job_that_waits_past_the_queue_limit_ends_as_queue_timeout_and_never_runs() {
    let (runner, gate, _, order) = gated();
    let mut limited = settings(1, 4);
    limited.queue_timeout = Some(Duration::from_millis(600));
    let engine = Engine::start(limited, runner, Arc::new(NoEvents));
    engine.pause().pause("maintenance".into());
    let waiting = admitted(engine.submit(job("late"), SubmittedBy::default()));
    let outcome = tokio::time::timeout(Duration::from_secs(5), waiting.wait())
        .await
        .expect("the limit ends the job");
    let failure = outcome.as_ref().clone().unwrap_err();
    assert_eq!(failure.code, FailureCode::QueueTimeout);
    assert!(failure.message.contains("COREBUILD_QUEUE_TIMEOUT_SECS"));
    assert_eq!(waiting.state(), JobState::Failed);
    assert_eq!(engine.queued(), 0);
    engine.pause().resume();
    gate.add_permits(1);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(order.lock().unwrap().is_empty(), "it never ran");
    engine
        .shutdown(Duration::ZERO, &CancellationToken::new())
        .await;
}

#[tokio::test]
async fn in_a_fleet_a_pause_does_not_hold_a_job_already_claimed() {
    let (runner, gate, _, _) = gated();
    let mut fleet = settings(1, 1);
    fleet.pause_holds_queue = false;
    let engine = Engine::start(fleet, runner, Arc::new(NoEvents));
    engine.pause().pause("kernel update".into());
    let claimed = admitted(engine.submit(job("claimed"), SubmittedBy::default()));
    gate.add_permits(1);
    let outcome = tokio::time::timeout(Duration::from_secs(5), claimed.wait())
        .await
        .expect("a claimed job runs although the worker is paused");
    assert!(outcome.is_ok());
    assert_eq!(engine.describe(&me()).state, WorkerState::Paused);
    engine
        .shutdown(Duration::ZERO, &CancellationToken::new())
        .await;
}
