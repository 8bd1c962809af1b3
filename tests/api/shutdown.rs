//! Graceful shutdown: stop accepting, end waiting jobs, give running ones the grace
//! time, then cancel; in-process and as the real binary under signals.

use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};

use crate::support::helpers::{fake_isocreator, job, spawn_worker};
use crate::support::processes::{assert_all_gone, pids_from};
use crate::support::s3::start_s3;
use crate::support::worker::{corebuild, wait_for_address};

#[tokio::test]
async fn the_drain_finishes_running_jobs_ends_queued_ones_and_refuses_new_ones() {
    let s3 = start_s3().await;
    let mut app = spawn_worker("sleep 1.5", &["--max-concurrency", "1"]).await;
    let running = app.submit_in_background(job("finishing", &s3));
    app.wait_for_state("finishing", "running").await;
    let queued = app.submit_in_background(job("never-starts", &s3));
    app.wait_for_state("never-starts", "queued").await;

    app.stop.cancel();
    let queued = queued.await.unwrap();
    assert_eq!(queued.status(), 503);
    assert!(queued.headers().get("retry-after").is_some());
    let body: Value = queued.json().await.unwrap();
    assert_eq!(body["code"], "shutting_down");

    // While draining, the worker still answers, but takes no new job.
    let caps: Value = app.capabilities().await;
    assert_eq!(caps["acceptingJobs"], false);
    let refused = app.submit(&job("too-late", &s3)).await;
    assert_eq!(refused.status(), 503);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "shutting_down");
    let status = app.status("never-starts").await;
    assert_eq!(status["state"], "cancelled");
    assert_eq!(status["error"]["code"], "shutting_down");

    let finished = running.await.unwrap();
    assert_eq!(finished.status(), 200, "the running job had time to finish");
    app.stop_and_wait().await;
    assert!(app.workspaces().is_empty());
}

#[tokio::test]
async fn a_job_past_the_grace_time_is_cancelled() {
    let s3 = start_s3().await;
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pids");
    let mut app = spawn_worker(
        &format!("hang {}", pidfile.display()),
        &["--shutdown-grace-secs", "1"],
    )
    .await;
    let caller = app.submit_in_background(job("cut-off", &s3));
    app.wait_for_state("cut-off", "running").await;
    while !pidfile.exists() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = Instant::now();
    app.stop_and_wait().await;
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the grace time was given"
    );
    let answer = caller.await.unwrap();
    assert_eq!(answer.status(), 500);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["code"], "cancelled");
    assert!(
        body["error"].as_str().unwrap().contains("shut down"),
        "{body}"
    );
    assert_all_gone(&pids_from(&pidfile)).await;
    assert!(app.workspaces().is_empty());
}

struct Worker {
    child: tokio::process::Child,
    address: String,
    work: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

async fn start_binary(mode: &str, grace: &str) -> Worker {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let command = fake_isocreator(mode);
    let mut child = corebuild(&[
        ("COREBUILD_BIND", "127.0.0.1"),
        ("COREBUILD_PORT", "0"),
        ("COREBUILD_WORKDIR", work.to_str().unwrap()),
        ("ISO_CREATOR_COMMAND", &command),
        ("COREBUILD_SHUTDOWN_GRACE_SECS", grace),
    ])
    .spawn()
    .unwrap();
    let (address, _log) = wait_for_address(&mut child).await;
    Worker {
        child,
        address,
        work,
        _dir: dir,
    }
}

impl Worker {
    fn submit(&self, job: Value) -> tokio::task::JoinHandle<reqwest::Response> {
        let url = format!("http://{}/corebuild/v1/jobs/baseos-image", self.address);
        tokio::spawn(async move {
            reqwest::Client::new()
                .post(url)
                .json(&json!({ "job": job }))
                .send()
                .await
                .unwrap()
        })
    }

    async fn wait_running(&self, id: &str) {
        let url = format!("http://{}/corebuild/v1/jobs/{id}", self.address);
        for _ in 0..500 {
            if let Ok(response) = reqwest::get(&url).await
                && response.status() == 200
                && response.json::<Value>().await.unwrap()["state"] == "running"
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{id} never ran");
    }

    fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.child.id().unwrap() as i32), signal).unwrap();
    }

    async fn exit_code(&mut self) -> Option<i32> {
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("the worker stopped")
            .unwrap()
            .code()
    }

    fn workspaces(&self) -> usize {
        crate::support::helpers::workspaces_in(&self.work).len()
    }
}

#[tokio::test]
async fn sigterm_lets_a_running_job_finish_then_exits_zero() {
    let s3 = start_s3().await;
    let mut worker = start_binary("sleep 2", "600").await;
    let caller = worker.submit(job("in-grace", &s3));
    worker.wait_running("in-grace").await;
    worker.signal(Signal::SIGTERM);
    let answer = caller.await.unwrap();
    assert_eq!(answer.status(), 200, "the job finished during the drain");
    assert_eq!(worker.exit_code().await, Some(0));
    assert!(s3.exists("corebuild/baseos/in-grace/baseos.iso").await);
    assert_eq!(worker.workspaces(), 0);
}

#[tokio::test]
async fn sigterm_cuts_a_hanging_job_off_at_the_grace_limit() {
    let s3 = start_s3().await;
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pids");
    let mut worker = start_binary(&format!("hang {}", pidfile.display()), "1").await;
    let caller = worker.submit(job("hangs", &s3));
    worker.wait_running("hangs").await;
    while !pidfile.exists() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = Instant::now();
    worker.signal(Signal::SIGTERM);
    let answer = caller.await.unwrap();
    assert_eq!(answer.status(), 500);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["code"], "cancelled");
    assert_eq!(worker.exit_code().await, Some(0));
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_all_gone(&pids_from(&pidfile)).await;
    assert_eq!(worker.workspaces(), 0);
}

#[tokio::test]
async fn a_second_signal_cancels_at_once() {
    let s3 = start_s3().await;
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pids");
    let mut worker = start_binary(&format!("hang {}", pidfile.display()), "600").await;
    let caller = worker.submit(job("impatient", &s3));
    worker.wait_running("impatient").await;
    while !pidfile.exists() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    worker.signal(Signal::SIGTERM);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    worker.signal(Signal::SIGINT);
    assert_eq!(worker.exit_code().await, Some(0));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "no 600 s grace after the second signal"
    );
    assert_eq!(caller.await.unwrap().status(), 500);
    assert_all_gone(&pids_from(&pidfile)).await;
    assert_eq!(worker.workspaces(), 0);
}
