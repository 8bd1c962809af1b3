//! Clients that send their request body a byte at a time, a thousand at once: the
//! worker keeps answering and building, cuts each one off after its body time limit,
//! and refuses a wrong header token before reading any body.

use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::helpers::{fake_isocreator, job};
use crate::support::s3::start_s3;
use crate::support::worker::{corebuild_under, wait_for_address};

const TRICKLERS: usize = 1100;

/// Opens a connection and sends a submission's head announcing a body it then sends
/// one byte a second, until `until`. Returns what the worker answered, if anything.
async fn trickle(address: String, until: Instant, token: Option<&'static str>) -> String {
    let Ok(mut stream) = TcpStream::connect(&address).await else {
        return "connect failed".to_owned();
    };
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let head = format!(
        "POST /corebuild/v1/jobs/baseos-image HTTP/1.1\r\nHost: {address}\r\n{auth}Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
    );
    if stream.write_all(head.as_bytes()).await.is_err() {
        return "write failed".to_owned();
    }
    let mut answer = vec![0u8; 4096];
    loop {
        tokio::select! {
            read = stream.read(&mut answer) => {
                let n = read.unwrap_or(0);
                return String::from_utf8_lossy(&answer[..n]).into_owned();
            }
            () = tokio::time::sleep(Duration::from_secs(1)) => {
                if Instant::now() >= until || stream.write_all(b" ").await.is_err() {
                    return String::new();
                }
            }
        }
    }
}

#[tokio::test]
async fn a_thousand_slow_bodies_do_not_stop_the_worker() {
    let s3 = start_s3().await;
    let workdir = tempfile::tempdir().unwrap();
    let work = workdir.path().join("work");
    let command = fake_isocreator("success 1000");
    // The usual soft limit of open files (1024), with room above it to raise it to.
    let mut child = corebuild_under(
        &["prlimit", "--nofile=1024:4096", "--"],
        &[
            ("COREBUILD_BIND", "127.0.0.1"),
            ("COREBUILD_PORT", "0"),
            ("COREBUILD_WORKDIR", work.to_str().unwrap()),
            ("ISO_CREATOR_COMMAND", &command),
            ("COREBUILD_BODY_TIMEOUT_SECS", "6"),
        ],
    )
    .spawn()
    .unwrap();
    let (address, log) = wait_for_address(&mut child).await;
    let until = Instant::now() + Duration::from_secs(12);
    let mut tricklers = tokio::task::JoinSet::new();
    for _ in 0..TRICKLERS {
        tricklers.spawn(trickle(address.clone(), until, None));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    let client = reqwest::Client::new();
    let mut slowest = Duration::ZERO;
    for _ in 0..10 {
        let asked = Instant::now();
        let health = client
            .get(format!("http://{address}/health"))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .expect("health answers under load");
        assert_eq!(health.status(), 200);
        slowest = slowest.max(asked.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        slowest < Duration::from_millis(100),
        "slowest /health {slowest:?}"
    );

    let submitted = client
        .post(format!("http://{address}/corebuild/v1/jobs/baseos-image"))
        .json(&json!({ "job": job("under-load", &s3) }))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap();
    assert_eq!(submitted.status(), 200, "a job still builds");

    // Each slow body is cut off after its time limit, with a 408 in the error shape.
    let mut timed_out = 0;
    while let Some(answer) = tricklers.join_next().await {
        let answer = answer.unwrap();
        if answer.starts_with("HTTP/1.1 408") && answer.contains("\"code\":\"request_timeout\"") {
            timed_out += 1;
        }
    }
    assert_eq!(timed_out, TRICKLERS, "every slow body got its 408");

    kill(Pid::from_raw(child.id().unwrap() as i32), Signal::SIGTERM).unwrap();
    child.wait().await.unwrap();
    let log = log.await.unwrap();
    assert!(!log.contains("Too many open files"), "{log}");
}

#[tokio::test]
async fn a_wrong_header_token_is_refused_before_the_body_is_read() {
    let workdir = tempfile::tempdir().unwrap();
    let work = workdir.path().join("work");
    let mut child = corebuild_under(
        &[],
        &[
            ("COREBUILD_BIND", "127.0.0.1"),
            ("COREBUILD_PORT", "0"),
            ("COREBUILD_WORKDIR", work.to_str().unwrap()),
            ("COREBUILD_TOKEN", "right-token"),
        ],
    )
    .spawn()
    .unwrap();
    let (address, _log) = wait_for_address(&mut child).await;
    let asked = Instant::now();
    let answer = trickle(
        address,
        Instant::now() + Duration::from_secs(20),
        Some("wrong-token"),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "not after the 30 s body limit: {:?}",
        asked.elapsed()
    );
    kill(Pid::from_raw(child.id().unwrap() as i32), Signal::SIGTERM).unwrap();
    child.wait().await.unwrap();
}
