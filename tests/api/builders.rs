//! What a builder gets and what it may leave: an environment chosen for it (never the
//! worker's token or settings), and no process of it surviving its job, even one that
//! left its process group, or one whose worker was killed with SIGKILL.

use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};

use crate::support::helpers::{fake_isocreator, job, log_lines, spawn_worker};
use crate::support::processes::{assert_all_gone, pids_from};
use crate::support::s3::start_s3;
use crate::support::worker::{corebuild, wait_for_address};

async fn wait_for_file(path: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn alive(pid: Pid) -> bool {
    kill(pid, None).is_ok()
        && std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

#[tokio::test]
async fn a_daemon_that_left_the_process_group_ends_with_its_job() {
    let s3 = start_s3().await;
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pids");
    let app = spawn_worker(&format!("daemon {}", pidfile.display()), &[]).await;
    let response = app.submit(&job("daemon", &s3)).await;
    assert_eq!(response.status(), 200);
    // `setsid` took it out of the group that SIGKILL went to; its mark found it.
    assert_all_gone(&pids_from(&pidfile)).await;
}

#[tokio::test]
async fn the_builder_gets_its_own_environment_and_never_the_workers() {
    let s3 = start_s3().await;
    let workdir = tempfile::tempdir().unwrap();
    let work = workdir.path().join("work");
    let command = fake_isocreator("env");
    let mut child = corebuild(&[
        ("COREBUILD_BIND", "127.0.0.1"),
        ("COREBUILD_PORT", "0"),
        ("COREBUILD_WORKDIR", work.to_str().unwrap()),
        ("COREBUILD_TOKEN", "worker-token-77aa"),
        ("COREBUILD_BUILDER_ENV", "EXTRA_FOR_BUILDER"),
        ("EXTRA_FOR_BUILDER", "passed"),
        ("NOT_FOR_BUILDER", "kept-back"),
        ("ISO_CREATOR_COMMAND", &command),
    ])
    .spawn()
    .unwrap();
    let (address, _output) = wait_for_address(&mut child).await;
    let response = reqwest::Client::new()
        .post(format!("http://{address}/corebuild/v1/jobs/baseos-image"))
        .bearer_auth("worker-token-77aa")
        .json(&json!({ "job": job("env", &s3) }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let env: Vec<&str> = log_lines(&body)
        .into_iter()
        .filter_map(|l| l.strip_prefix("env "))
        .collect();
    let names: Vec<&str> = env.iter().map(|e| e.split('=').next().unwrap()).collect();
    assert!(names.contains(&"EXTRA_FOR_BUILDER"), "{env:?}");
    assert!(!names.contains(&"NOT_FOR_BUILDER"), "{env:?}");
    let worker_settings: Vec<&&str> = names
        .iter()
        .filter(|n| n.starts_with("COREBUILD_") && **n != "COREBUILD_JOB")
        .collect();
    assert!(worker_settings.is_empty(), "{worker_settings:?}");
    let value = |name: &str| {
        env.iter()
            .find_map(|e| e.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} missing: {env:?}"))
    };
    let work = work.canonicalize().unwrap();
    for name in ["HOME", "TMPDIR"] {
        let path = std::path::Path::new(value(name));
        assert!(path.starts_with(&work), "{name} in the workspace: {path:?}");
    }
    assert!(value("COREBUILD_JOB").contains("/env-"), "the job's mark");
    assert!(!value("PATH").is_empty());
    kill(Pid::from_raw(child.id().unwrap() as i32), Signal::SIGTERM).unwrap();
    child.wait().await.unwrap();
}

#[tokio::test]
async fn builders_left_by_a_killed_worker_are_killed_when_it_starts_again() {
    let s3 = start_s3().await;
    let workdir = tempfile::tempdir().unwrap();
    let work = workdir.path().join("work");
    let pidfile = workdir.path().join("pids");
    let command = fake_isocreator(&format!("escape {}", pidfile.display()));
    let env = [
        ("COREBUILD_BIND", "127.0.0.1"),
        ("COREBUILD_PORT", "0"),
        ("COREBUILD_WORKDIR", work.to_str().unwrap()),
        ("ISO_CREATOR_COMMAND", command.as_str()),
    ];
    let mut first = corebuild(&env).spawn().unwrap();
    let (address, _output) = wait_for_address(&mut first).await;
    let submitted = reqwest::Client::new()
        .post(format!("http://{address}/corebuild/v1/jobs/baseos-image"))
        .header("Prefer", "respond-async")
        .json(&json!({ "job": job("orphaned", &s3) }))
        .send()
        .await
        .unwrap();
    assert_eq!(submitted.status(), 202);
    wait_for_file(&pidfile).await;
    let pids = pids_from(&pidfile);
    kill(Pid::from_raw(first.id().unwrap() as i32), Signal::SIGKILL).unwrap();
    first.wait().await.unwrap();
    // The group's child and the daemon outlive a worker killed this way.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let survivors: Vec<Pid> = pids[1..].iter().copied().filter(|p| alive(*p)).collect();
    assert_eq!(survivors.len(), 2, "both are still running: {pids:?}");

    let mut second = corebuild(&env).spawn().unwrap();
    let _ = wait_for_address(&mut second).await;
    assert_all_gone(&pids).await;
    kill(Pid::from_raw(second.id().unwrap() as i32), Signal::SIGTERM).unwrap();
    second.wait().await.unwrap();
}
