//! Builds that fail, each with its code, status, message and log, and nothing left over.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::helpers::{TestApp, job, log_lines, spawn_app_with, spawn_worker};
use crate::support::processes::{assert_all_gone, pids_from};
use crate::support::s3::start_s3;

async fn failing(app: &TestApp, id: &str) -> (u16, Value) {
    let s3 = start_s3().await;
    let response = app.submit(&job(id, &s3)).await;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["success"], false, "{body}");
    assert!(
        app.workspaces().is_empty(),
        "workspace left: {:?}",
        app.workspaces()
    );
    assert!(
        !s3.exists(&format!("corebuild/baseos/{id}/baseos.iso"))
            .await
    );
    (status, body)
}

#[tokio::test]
async fn a_non_zero_exit_is_build_failed_with_the_status_and_logs() {
    let app = spawn_worker("exit 3", &[]).await;
    let (status, body) = failing(&app, "exit-3").await;
    assert_eq!(status, 500);
    assert_eq!(body["code"], "build_failed");
    assert_eq!(body["error"], "isocreator exited with status 3");
    let logs = log_lines(&body);
    assert_eq!(logs[0], "Starting isocreator for amd64 ubuntu-iso");
    assert!(logs.contains(&"about to fail"), "{logs:?}");
    assert!(
        logs.contains(&"something went wrong"),
        "stderr is logged too: {logs:?}"
    );
}

#[tokio::test]
async fn death_by_signal_names_the_signal() {
    let app = spawn_worker("signal", &[]).await;
    let (status, body) = failing(&app, "killed").await;
    assert_eq!(status, 500);
    assert_eq!(body["code"], "build_failed");
    assert!(
        body["error"].as_str().unwrap().contains("signal SIGKILL"),
        "{body}"
    );
}

#[tokio::test]
async fn no_artifact_or_an_empty_one_is_build_failed() {
    for mode in ["no-artifact", "empty-artifact"] {
        let app = spawn_worker(mode, &[]).await;
        let (status, body) = failing(&app, mode).await;
        assert_eq!(status, 500);
        assert_eq!(body["code"], "build_failed");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("wrote no artifact"),
            "{mode}: {body}"
        );
    }
}

#[tokio::test]
async fn a_missing_command_is_build_failed_saying_so() {
    let app = spawn_app_with(&["--iso-creator-command", "/nonexistent/isocreator --flag"]).await;
    let (status, body) = failing(&app, "missing").await;
    assert_eq!(status, 500);
    assert_eq!(body["code"], "build_failed");
    assert_eq!(
        body["error"],
        "isocreator command not found: /nonexistent/isocreator"
    );
}

#[tokio::test]
async fn a_job_past_its_time_limit_is_timed_out_and_its_processes_are_gone() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pids");
    let mode = format!("hang {}", pidfile.display());
    let app = spawn_worker(&mode, &["--job-timeout-secs", "2"]).await;
    let started = Instant::now();
    let (status, body) = failing(&app, "hangs").await;
    assert_eq!(status, 500);
    assert_eq!(body["code"], "timed_out");
    assert_eq!(
        body["error"],
        "the job ran past its time limit of 2 seconds"
    );
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "SIGTERM was enough"
    );
    let pids = pids_from(&pidfile);
    assert_eq!(pids.len(), 2, "isocreator and its child");
    assert_all_gone(&pids).await;
}

#[tokio::test]
async fn a_process_that_ignores_sigterm_gets_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pids");
    let mode = format!("stubborn {}", pidfile.display());
    let app = spawn_worker(&mode, &["--job-timeout-secs", "1"]).await;
    let started = Instant::now();
    let (status, body) = failing(&app, "stubborn").await;
    assert_eq!(status, 500);
    assert_eq!(body["code"], "timed_out");
    assert!(
        started.elapsed() >= Duration::from_secs(10),
        "waited the SIGTERM grace"
    );
    let logs = body["logs"].to_string();
    assert!(logs.contains("sending SIGKILL"), "{logs}");
    assert_all_gone(&pids_from(&pidfile)).await;
}

#[tokio::test]
async fn a_flood_of_output_is_kept_to_the_last_lines_in_order() {
    let s3 = start_s3().await;
    let app = spawn_worker("flood 20000", &["--log-lines", "500"]).await;
    let response = app.submit(&job("flood", &s3)).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let logs = body["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 500, "the ring keeps COREBUILD_LOG_LINES lines");
    assert!(
        logs.last()
            .unwrap()
            .as_str()
            .unwrap()
            .starts_with("Uploaded 4096 bytes")
    );
    let out: Vec<u64> = logs
        .iter()
        .filter_map(|l| l.as_str().unwrap().strip_prefix("out line "))
        .map(|n| n.parse().unwrap())
        .collect();
    assert!(
        out.windows(2).all(|w| w[1] == w[0] + 1),
        "stdout lines in order, none lost"
    );
}

#[tokio::test]
async fn an_over_long_line_is_cut_and_marked() {
    let s3 = start_s3().await;
    let app = spawn_worker("long-line 100000", &[]).await;
    let body: Value = app.submit(&job("long", &s3)).await.json().await.unwrap();
    let long = body["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .find(|l| l.starts_with("xxxx"))
        .unwrap();
    assert!(long.ends_with("…[truncated]"));
    assert_eq!(long.len(), 16 * 1024 + "…[truncated]".len());
}

#[tokio::test]
async fn a_workdir_that_is_gone_is_internal_error_not_build_failed() {
    let app = spawn_worker("success 1000", &[]).await;
    // The folder vanished under the worker (an operator's `rm -rf`, a lost mount), and
    // something else now sits at its path: no workspace can be made there.
    let workdir = app.workdir.path().join("work");
    std::fs::remove_dir_all(&workdir).unwrap();
    std::fs::write(&workdir, b"not a folder").unwrap();
    let s3 = start_s3().await;
    let response = app.submit(&job("no-workdir", &s3)).await;
    assert_eq!(response.status(), 500);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "internal_error", "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("could not create the workspace:"),
        "{body}"
    );
    let status = app.status("no-workdir").await;
    assert_eq!(status["state"], "failed");
    assert_eq!(status["error"]["code"], "internal_error");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"corebuild_jobs_finished_total{outcome="internal"} 1"#),
        "{metrics}"
    );
    assert!(!s3.exists("corebuild/baseos/no-workdir/baseos.iso").await);
}
