//! The CLI as a newcomer meets it: help that fits each command, messages that say what
//! failed, readable output, JSON for every answer under `--json`, progress on a
//! terminal that never tears a line, and a service log without colour codes in a file.

use std::process::Output;
use std::time::Duration;

use serde_json::Value;

use crate::support::helpers::{TestApp, job, spawn_worker};
use crate::support::s3::start_s3;
use crate::support::worker::corebuild;

async fn run(env: &[(&str, &str)], args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_corebuild"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .args(args)
        .output()
        .await
        .unwrap()
}

async fn against(app: &TestApp, args: &[&str]) -> Output {
    let url = format!("http://{}", app.address);
    run(&[("COREBUILD_URL", url.as_str())], args).await
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn each_command_has_its_own_options() {
    let top = text(&run(&[], &["--help"]).await.stdout);
    assert!(
        !top.contains("--port"),
        "no worker setting at the top: {top}"
    );
    assert!(top.contains("--url") && top.contains("--ca-file"), "{top}");
    let serve = text(&run(&[], &["serve", "--help"]).await.stdout);
    assert!(
        serve.contains("--port") && serve.contains("COREBUILD_PORT"),
        "{serve}"
    );
    let status = text(&run(&[], &["status", "--help"]).await.stdout);
    assert!(status.contains("The job's id"), "{status}");
    assert!(status.contains("The token to send"), "{status}");
    assert!(!status.contains("--port"), "{status}");
    // A bad worker setting in the environment is no business of a client command.
    let client = run(
        &[
            ("COREBUILD_PORT", "not-a-port"),
            ("COREBUILD_URL", "http://127.0.0.1:9"),
        ],
        &["status", "x"],
    )
    .await;
    let stderr = text(&client.stderr);
    assert!(!stderr.contains("COREBUILD_PORT"), "{stderr}");
    assert!(stderr.contains("connection refused"), "{stderr}");
}

#[tokio::test]
async fn an_unreachable_worker_is_described_and_json_stays_json() {
    let no_scheme = run(&[], &["jobs", "--url", "127.0.0.1:3061"]).await;
    assert_eq!(no_scheme.status.code(), Some(2));
    let message = text(&no_scheme.stderr);
    assert!(message.contains("no http:// or https://"), "{message}");
    assert!(message.contains("--url"), "{message}");
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let refused = run(&[], &["jobs", "--url", &url]).await;
    let message = text(&refused.stderr);
    assert!(message.contains("connection refused"), "{message}");
    assert!(message.contains("COREBUILD_URL"), "{message}");
    let as_json = run(&[], &["jobs", "--url", &url, "--json"]).await;
    assert_eq!(as_json.status.code(), Some(2));
    let error: Value = serde_json::from_slice(&as_json.stdout).unwrap();
    assert_eq!(error["success"], false);
    assert_eq!(error["code"], "unreachable");
}

#[tokio::test]
async fn the_workers_refusal_is_printed_as_json_under_json() {
    let app = spawn_worker("success 10", &[]).await;
    let missing = against(&app, &["status", "nope", "--json"]).await;
    assert_eq!(missing.status.code(), Some(2));
    let error: Value = serde_json::from_slice(&missing.stdout).unwrap();
    assert_eq!(error["code"], "not_found");
    assert!(missing.stderr.is_empty(), "{}", text(&missing.stderr));
}

#[tokio::test]
async fn status_and_jobs_read_as_text() {
    let s3 = start_s3().await;
    let app = spawn_worker("sleep 30", &["--max-concurrency", "1"]).await;
    for id in ["first-job", "b"] {
        app.submit_async(&job(id, &s3)).await;
    }
    app.wait_for_state("first-job", "running").await;
    let queued = text(&against(&app, &["status", "b"]).await.stdout);
    assert!(queued.contains("queued, next in the queue"), "{queued}");
    assert!(
        queued.contains("created        20"),
        "a local time: {queued}"
    );
    assert!(queued.contains(" s ago)"), "{queued}");
    assert!(
        !queued.contains("last activity"),
        "a queued job shows none: {queued}"
    );

    // A running job: its last activity and how long it has run, every value in one
    // column.
    let running = text(&against(&app, &["status", "first-job"]).await.stdout);
    let fields: Vec<&str> = running.lines().skip(1).collect();
    for label in ["created", "started", "last activity", "ran"] {
        assert!(
            fields.iter().any(|l| l.starts_with(label)),
            "{label}: {running}"
        );
    }
    let value_at = |line: &str| {
        line.find("  ")
            .map(|i| i + line[i..].len() - line[i..].trim_start().len())
    };
    let first = value_at(fields[0]);
    assert!(
        fields.iter().all(|l| value_at(l) == first),
        "values start in one column: {running}"
    );
    assert!(running.contains("so far"), "{running}");

    let jobs = text(&against(&app, &["jobs"]).await.stdout);
    let lines: Vec<&str> = jobs.lines().collect();
    assert_eq!(lines.len(), 3, "{jobs}");
    let column = |line: &str, word: &str| line.find(word).unwrap();
    for (header, queued, running) in [
        ("STATE", "queued", "running"),
        ("ARCH", "amd64", "amd64"),
        ("KIND", "ubuntu-iso", "ubuntu-iso"),
    ] {
        let at = column(lines[0], header);
        assert_eq!(column(lines[1], queued), at, "{jobs}");
        assert_eq!(column(lines[2], running), at, "{jobs}");
    }
    let duration_at = column(lines[0], "DURATION");
    assert_eq!(&lines[1][duration_at..], "-", "not started: {jobs}");
    assert!(lines[2][duration_at..].ends_with("so far"), "{jobs}");
    assert!(!jobs.contains("(ms)"), "{jobs}");
    assert!(lines[1].contains(" s ago)"), "{jobs}");
    for id in ["first-job", "b"] {
        app.cancel(id).await;
    }
}

#[tokio::test]
async fn following_as_json_gives_line_objects_then_the_status() {
    let s3 = start_s3().await;
    let app = spawn_worker("exit 4", &[]).await;
    app.submit_async(&job("json-follow", &s3)).await;
    let followed = against(&app, &["logs", "json-follow", "--follow", "--json"]).await;
    assert_eq!(followed.status.code(), Some(1), "the job failed");
    let lines: Vec<Value> = text(&followed.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (status, log) = lines.split_last().unwrap();
    assert_eq!(status["state"], "failed");
    assert_eq!(status["error"]["code"], "build_failed");
    for (seq, line) in log.iter().enumerate() {
        assert_eq!(line["seq"], seq as u64, "{line}");
        assert!(
            line["time"].is_u64() && line["stream"].is_string(),
            "{line}"
        );
    }
    // The same objects as `logs --json`.
    let plain = against(&app, &["logs", "json-follow", "--json"]).await;
    let again: Vec<Value> = text(&plain.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(again, log);
}

#[tokio::test]
async fn on_a_terminal_the_progress_never_shares_a_line_with_the_log() {
    let s3 = start_s3().await;
    s3.delay_upload_parts(300);
    let app = spawn_worker(
        "success 20000000",
        &["--upload-part-size", "5MiB", "--upload-concurrency", "1"],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("job.json");
    std::fs::write(&file, serde_json::to_vec(&job("on-a-tty", &s3)).unwrap()).unwrap();
    // `script` gives the CLI a terminal, as a person at a shell would have.
    let command = format!(
        "{} submit {} --follow --url http://{}",
        env!("CARGO_BIN_EXE_corebuild"),
        file.display(),
        app.address
    );
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .env("TERM", "xterm")
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    // What a person would see line by line: escape sequences and redraws removed.
    let raw = text(&output.stdout);
    let screen: Vec<String> = raw
        .split('\n')
        .map(|line| {
            let last = line
                .rsplit('\r')
                .find(|part| !part.trim().is_empty())
                .unwrap_or("");
            strip_escapes(last)
        })
        .collect();
    let uploaded = screen
        .iter()
        .find(|l| l.contains("Uploaded "))
        .unwrap_or_else(|| panic!("{screen:#?}"));
    assert!(
        uploaded.starts_with("Uploaded "),
        "a line of its own: {uploaded:?}"
    );
    assert!(
        raw.contains("upload: "),
        "the upload's phase was shown: {raw:?}"
    );
}

fn strip_escapes(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-byte.
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out.trim_end().to_owned()
}

#[tokio::test]
async fn the_service_log_has_no_colour_codes_when_it_is_not_a_terminal() {
    let workdir = tempfile::tempdir().unwrap();
    let work = workdir.path().join("work");
    let child = corebuild(&[
        ("COREBUILD_BIND", "127.0.0.1"),
        ("COREBUILD_PORT", "0"),
        ("COREBUILD_WORKDIR", work.to_str().unwrap()),
        ("COREBUILD_LOG_FORMAT", "text"),
    ])
    .spawn()
    .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id().unwrap() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let output = child.wait_with_output().await.unwrap();
    let log = text(&output.stdout);
    assert!(log.contains("corebuild listening"), "{log}");
    assert!(!log.contains('\u{1b}'), "{log:?}");
}
