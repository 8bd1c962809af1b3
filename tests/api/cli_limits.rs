//! The CLI never waits forever and speaks JSON under `--json` even about its own
//! arguments. The workers here are hostile stand-ins on 127.0.0.1: one that accepts
//! connections and never answers, one that opens a log stream and goes silent, one
//! that sends only keep-alives for a while.

use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How a stand-in worker treats each connection.
#[derive(Clone, Copy)]
enum Behaviour {
    /// Reads the request and never answers.
    Silent,
    /// Answers with the head of an event stream, then sends nothing more.
    StreamThenSilent,
    /// Answers with an event stream of keep-alives every 300 ms for 2 s, then the end.
    KeepAlives,
}

/// Starts a stand-in on 127.0.0.1:0; it lives as long as the test's runtime.
async fn stand_in(behaviour: Behaviour) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            tokio::spawn(serve(socket, behaviour));
        }
    });
    url
}

async fn serve(mut socket: TcpStream, behaviour: Behaviour) {
    let mut request = [0u8; 4096];
    let _ = socket.read(&mut request).await;
    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n";
    match behaviour {
        Behaviour::Silent => {}
        Behaviour::StreamThenSilent => {
            let _ = socket.write_all(head.as_bytes()).await;
        }
        Behaviour::KeepAlives => {
            let _ = socket.write_all(head.as_bytes()).await;
            let chunk = |text: &str| format!("{:x}\r\n{text}\r\n", text.len());
            for _ in 0..7 {
                tokio::time::sleep(Duration::from_millis(300)).await;
                let _ = socket.write_all(chunk(": keep-alive\n\n").as_bytes()).await;
            }
            let end = chunk("event: end\ndata: {\"state\":\"succeeded\"}\n\n");
            let _ = socket.write_all(format!("{end}0\r\n\r\n").as_bytes()).await;
        }
    }
    // Hold the connection open until the client gives up.
    let _ = socket.read(&mut request).await;
    tokio::time::sleep(Duration::from_secs(600)).await;
}

async fn cli(url: &str, args: &[&str]) -> (Output, Duration) {
    let started = Instant::now();
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_corebuild"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("COREBUILD_URL", url)
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the CLI gave up by itself")
    .unwrap();
    (output, started.elapsed())
}

fn json_error(output: &Output) -> Value {
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let text = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON object on one line: {text}");
    serde_json::from_str(lines[0]).unwrap()
}

#[tokio::test]
async fn a_worker_that_never_answers_is_given_up_on_after_the_time_limit() {
    let url = stand_in(Behaviour::Silent).await;
    let (output, took) = cli(&url, &["jobs", "--timeout", "1", "--json"]).await;
    let error = json_error(&output);
    assert_eq!(error["code"], "unreachable");
    let message = error["error"].as_str().unwrap();
    assert!(
        message.contains(&url) && message.contains("--timeout"),
        "{message}"
    );
    assert!(took < Duration::from_secs(30), "{took:?}");

    // In text, on stderr; and the default limit applies to every command.
    let (output, _) = cli(&url, &["status", "some-job", "--timeout", "1"]).await;
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&url) && stderr.contains("did not answer within 1 s"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_blocking_submission_to_a_worker_that_stops_answering_ends() {
    let url = stand_in(Behaviour::Silent).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("job.json");
    std::fs::write(&file, r#"{"id": "never-answered"}"#).unwrap();
    let (output, took) = cli(
        &url,
        &[
            "submit",
            file.to_str().unwrap(),
            "--wait",
            "--timeout",
            "1",
            "--json",
        ],
    )
    .await;
    let error = json_error(&output);
    assert_eq!(error["code"], "unreachable", "{error}");
    assert!(error["error"].as_str().unwrap().contains(&url), "{error}");
    assert!(took < Duration::from_secs(30), "{took:?}");
}

#[tokio::test]
async fn a_followed_log_that_goes_silent_ends_after_the_idle_limit() {
    let url = stand_in(Behaviour::StreamThenSilent).await;
    let (output, took) = cli(&url, &["logs", "quiet", "--follow", "--idle-timeout", "1"]).await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&url)
            && stderr.contains("sent nothing for 1 s")
            && stderr.contains("--idle-timeout"),
        "{stderr}"
    );
    assert!(took < Duration::from_secs(30), "{took:?}");
}

#[tokio::test]
async fn keep_alives_reset_the_idle_limit() {
    // 2 s of keep-alives at 300 ms, with an idle limit of 1 s: the stream is alive.
    let url = stand_in(Behaviour::KeepAlives).await;
    let (output, _) = cli(&url, &["logs", "slow", "--follow", "--idle-timeout", "1"]).await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn argument_errors_are_json_under_json() {
    for args in [
        vec!["status", "--json"],
        vec!["jobs", "--state", "bogus", "--json"],
        vec!["frobnicate", "--json"],
        vec!["--json", "logs"],
        vec!["jobs", "--timeout", "0", "--json"],
    ] {
        let (output, _) = cli("http://127.0.0.1:9", &args).await;
        let error = json_error(&output);
        assert_eq!(error["code"], "invalid_arguments", "{args:?}: {error}");
        assert_eq!(error["success"], false);
        assert!(
            !error["error"].as_str().unwrap().contains('\u{1b}'),
            "no terminal colours in JSON: {error}"
        );
        assert!(output.stderr.is_empty(), "{args:?}: stdout only");
    }
    // Without --json, clap's own text on stderr, as before.
    let (output, _) = cli("http://127.0.0.1:9", &["status"]).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    assert!(String::from_utf8_lossy(&output.stderr).contains("<ID>"));
}
