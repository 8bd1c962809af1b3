//! The `corebuild` client subcommands, run as the real binary against a worker.

use std::process::Output;

use serde_json::{Value, json};

use crate::support::helpers::{TestApp, job, spawn_worker};
use crate::support::s3::start_s3;

const TOKEN: &str = "cli-token-5e6f";

/// Runs `corebuild ARGS --url <app> --token TOKEN` with a clean environment.
async fn cli(app: &TestApp, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_corebuild"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("COREBUILD_URL", format!("http://{}", app.address))
        .env("COREBUILD_TOKEN", TOKEN)
        .args(args)
        .output()
        .await
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn job_file(dir: &tempfile::TempDir, name: &str, job: &Value) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, serde_json::to_vec(job).unwrap()).unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn capabilities_in_both_forms() {
    let app = spawn_worker(
        "success 10",
        &["--token", TOKEN, "--worker-id", "cli-worker"],
    )
    .await;
    let human = cli(&app, &["capabilities"]).await;
    assert!(human.status.success());
    assert!(
        stdout(&human).contains("worker      cli-worker"),
        "{}",
        stdout(&human)
    );
    let json = cli(&app, &["capabilities", "--json"]).await;
    let caps: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(caps["workerId"], "cli-worker");
}

#[tokio::test]
async fn submit_wait_status_jobs_and_logs() {
    let s3 = start_s3().await;
    let app = spawn_worker("success 2048", &["--token", TOKEN]).await;
    let dir = tempfile::tempdir().unwrap();
    // A bare job object and the `{"job": …}` form are both accepted.
    let file = job_file(&dir, "job.json", &job("cli-1", &s3));
    let waited = cli(&app, &["submit", &file, "--wait", "--json"]).await;
    assert!(
        waited.status.success(),
        "{}",
        String::from_utf8_lossy(&waited.stderr)
    );
    let result: Value = serde_json::from_slice(&waited.stdout).unwrap();
    assert_eq!(result["artifact"]["size"], 2048);

    let status = cli(&app, &["status", "cli-1"]).await;
    assert!(status.status.success());
    let text = stdout(&status);
    assert!(
        text.contains("job cli-1 (amd64 ubuntu-iso, attempt 1): succeeded"),
        "{text}"
    );
    assert!(
        text.contains(result["artifact"]["sha256"].as_str().unwrap()),
        "{text}"
    );

    let wrapped = job_file(&dir, "wrapped.json", &json!({ "job": job("cli-2", &s3) }));
    let queued = cli(&app, &["submit", &wrapped]).await;
    assert!(queued.status.success());
    assert!(
        stdout(&queued).starts_with("job cli-2 "),
        "{}",
        stdout(&queued)
    );
    app.wait_for_state("cli-2", "succeeded").await;

    let jobs = stdout(&cli(&app, &["jobs", "--state", "succeeded"]).await);
    let ids: Vec<&str> = jobs
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(ids, ["cli-2", "cli-1"]);

    let logs = stdout(&cli(&app, &["logs", "cli-1"]).await);
    assert_eq!(
        logs.lines().next(),
        Some("Starting isocreator for amd64 ubuntu-iso")
    );

    // With --timestamps each line follows the local time it was logged, to the
    // millisecond; read at once or followed, the lines are the same.
    let stamped = stdout(&cli(&app, &["logs", "cli-1", "--timestamps"]).await);
    let followed = stdout(&cli(&app, &["logs", "cli-1", "--timestamps", "--follow"]).await);
    assert_eq!(stamped, followed);
    assert_eq!(stamped.lines().count(), logs.lines().count(), "{stamped}");
    for (line, text) in stamped.lines().zip(logs.lines()) {
        let (at, rest) = line.split_at(23);
        assert!(
            chrono::NaiveDateTime::parse_from_str(at, "%Y-%m-%d %H:%M:%S%.3f").is_ok(),
            "{line}"
        );
        assert_eq!(rest, format!("  {text}"));
    }
}

#[tokio::test]
async fn submit_follow_streams_the_log_and_exits_by_outcome() {
    let s3 = start_s3().await;
    let app = spawn_worker("exit 5", &["--token", TOKEN]).await;
    let dir = tempfile::tempdir().unwrap();
    let file = job_file(&dir, "job.json", &job("cli-fail", &s3));
    let followed = cli(&app, &["submit", &file, "--follow"]).await;
    assert_eq!(followed.status.code(), Some(1), "a failed job exits 1");
    let text = stdout(&followed);
    assert!(
        text.starts_with("Starting isocreator for amd64 ubuntu-iso\n"),
        "{text}"
    );
    assert!(text.contains("about to fail"), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("error ")
            && l.ends_with("build_failed: isocreator exited with status 5")),
        "{text}"
    );

    let waited = cli(&app, &["submit", &file, "--wait"]).await;
    assert_eq!(waited.status.code(), Some(1));
}

#[tokio::test]
async fn cancel_and_refusals() {
    let s3 = start_s3().await;
    let app = spawn_worker("sleep 30", &["--token", TOKEN]).await;
    app.submit_async(&job("cli-cancel", &s3)).await;
    app.wait_for_state("cli-cancel", "running").await;
    let cancelled = cli(&app, &["cancel", "cli-cancel"]).await;
    assert!(cancelled.status.success());
    assert!(stdout(&cancelled).starts_with("cancel requested; job cli-cancel is "));
    let logs = cli(&app, &["logs", "cli-cancel", "--follow"]).await;
    assert_eq!(logs.status.code(), Some(1), "followed to a cancelled end");

    let missing = cli(&app, &["status", "nope"]).await;
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("404: no job nope (not_found)"));
    let wrong_token = tokio::process::Command::new(env!("CARGO_BIN_EXE_corebuild"))
        .args([
            "jobs",
            "--url",
            &format!("http://{}", app.address),
            "--token",
            "wrong",
        ])
        .output()
        .await
        .unwrap();
    assert_eq!(wrong_token.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&wrong_token.stderr).contains("unauthorized"));
}

/// The CLI on the host, with the unit's environment file loaded and no COREBUILD_URL.
async fn cli_with_worker_env(env: &[(&str, String)], args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_corebuild"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .args(args)
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn without_a_url_the_cli_finds_the_worker_its_port_and_bind_settings_describe() {
    let app = spawn_worker("success", &["--token", TOKEN]).await;
    let port = app.address.port().to_string();
    // As `set -a; . /etc/corebuild/corebuild.env` gives them: the worker's own settings.
    let env = [
        ("COREBUILD_PORT", port.clone()),
        ("COREBUILD_BIND", "0.0.0.0".to_owned()),
        ("COREBUILD_TOKEN", TOKEN.to_owned()),
    ];
    // `jobs` needs the token: the worker answered, and to this token.
    let output = cli_with_worker_env(&env, &["jobs", "--json"]).await;
    assert!(output.status.success(), "{output:?}");
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(answer.is_object() || answer.is_array(), "{answer}");

    // A port where nothing listens: the error names the URL it tried, built from it.
    let closed = crate::support::nats::free_port().to_string();
    let env = [("COREBUILD_PORT", closed.clone())];
    let output = cli_with_worker_env(&env, &["status", "x"]).await;
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("http://127.0.0.1:{closed}")),
        "{stderr}"
    );
}
