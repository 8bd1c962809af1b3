//! An S3 endpoint that accepts connections and never answers: every request to it is
//! raced against cancel, the job's deadline and shutdown, so none of them waits for
//! the store's time-outs.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::support::helpers::{TestApp, fake_isocreator, spawn_worker};
use crate::support::worker::{corebuild, wait_for_address};

/// Accepts every connection and holds it, silent, until dropped.
struct SilentEndpoint {
    address: SocketAddr,
    stop: CancellationToken,
}

impl Drop for SilentEndpoint {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn silent_endpoint() -> SilentEndpoint {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let stopped = stop.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            tokio::select! {
                () = stopped.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok((socket, _)) if held.len() < 64 => held.push(socket),
                    _ => {}
                },
            }
        }
    });
    SilentEndpoint { address, stop }
}

fn job_to(id: &str, endpoint: &SilentEndpoint) -> Value {
    json!({
        "id": id,
        "architecture": "amd64",
        "imageKind": "ubuntu-iso",
        "cloudlyUrl": "https://cloudly.example.com",
        "provisioningToken": "token",
        "s3Descriptor": {
            "endpoint": endpoint.address.to_string(), "useSsl": false,
            "accessKey": "key", "accessSecret": "secret", "bucketName": "bucket"
        }
    })
}

/// Six MB in 5 MiB parts: a multipart upload, whose first request (create) stalls.
const MULTIPART: &[&str] = &["--upload-part-size", "5MiB"];

async fn uploading(app: &TestApp, id: &str, endpoint: &SilentEndpoint) {
    assert_eq!(app.submit_async(&job_to(id, endpoint)).await.status(), 202);
    app.wait_for_state(id, "uploading").await;
    // Well into the stalled request.
    tokio::time::sleep(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn cancel_ends_an_upload_to_a_silent_store_at_once() {
    let endpoint = silent_endpoint().await;
    let app = spawn_worker("success 6000000", MULTIPART).await;
    uploading(&app, "stalled-cancel", &endpoint).await;
    let asked = Instant::now();
    assert_eq!(app.cancel("stalled-cancel").await.status(), 202);
    let status = app.wait_for_state("stalled-cancel", "cancelled").await;
    assert_eq!(status["error"]["code"], "cancelled");
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "cancelled after {:?}",
        asked.elapsed()
    );
    assert!(app.workspaces().is_empty());
}

#[tokio::test]
async fn the_deadline_ends_an_upload_to_a_silent_store_as_timed_out() {
    let endpoint = silent_endpoint().await;
    for (id, size) in [("stalled-multipart", "6000000"), ("stalled-put", "1000")] {
        let mut extra = MULTIPART.to_vec();
        extra.extend(["--job-timeout-secs", "2"]);
        let app = spawn_worker(&format!("success {size}"), &extra).await;
        let started = Instant::now();
        let response = app.submit(&job_to(id, &endpoint)).await;
        assert_eq!(response.status(), 500, "{id}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "timed_out", "{id}: {body}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{id} ended after {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn shutdown_past_its_grace_ends_an_upload_to_a_silent_store() {
    let endpoint = silent_endpoint().await;
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let command = fake_isocreator("success 6000000");
    let mut child = corebuild(&[
        ("COREBUILD_BIND", "127.0.0.1"),
        ("COREBUILD_PORT", "0"),
        ("COREBUILD_WORKDIR", work.to_str().unwrap()),
        ("ISO_CREATOR_COMMAND", &command),
        ("COREBUILD_UPLOAD_PART_SIZE", "5MiB"),
        ("COREBUILD_SHUTDOWN_GRACE_SECS", "1"),
    ])
    .spawn()
    .unwrap();
    let (address, _log) = wait_for_address(&mut child).await;
    let client = reqwest::Client::new();
    let submitted = client
        .post(format!("http://{address}/corebuild/v1/jobs/baseos-image"))
        .header("Prefer", "respond-async")
        .json(&json!({ "job": job_to("stalled-drain", &endpoint) }))
        .send()
        .await
        .unwrap();
    assert_eq!(submitted.status(), 202);
    let status_url = format!("http://{address}/corebuild/v1/jobs/stalled-drain");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status: Value = client
            .get(&status_url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if status["state"] == "uploading" {
            break;
        }
        assert!(Instant::now() < deadline, "never uploaded: {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let signalled = Instant::now();
    kill(Pid::from_raw(child.id().unwrap() as i32), Signal::SIGTERM).unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("the worker exited")
        .unwrap();
    assert_eq!(exit.code(), Some(0));
    assert!(
        signalled.elapsed() < Duration::from_secs(8),
        "1 s of grace, then the upload is cut: {:?}",
        signalled.elapsed()
    );
    assert!(crate::support::helpers::workspaces_in(&work).is_empty());
}
