//! Uploads the store refuses or fails: 502 `upload_failed` with the store's reason, and
//! no incomplete multipart upload left in the bucket.

use serde_json::{Value, json};

use crate::support::helpers::{job, spawn_worker};
use crate::support::moto::start_moto;
use crate::support::s3::{S3Server, SECRET_KEY, start_s3};

async fn upload_failed(s3: &S3Server, request: Value, extra: &[&str], size: &str) -> Value {
    let mode = format!("success {size}");
    let mut args = vec!["--upload-max-retries", "0"];
    args.extend_from_slice(extra);
    let app = spawn_worker(&mode, &args).await;
    let response = app.submit(&request).await;
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["success"], false);
    assert_eq!(body["code"], "upload_failed");
    assert!(
        body["logs"].is_array(),
        "the build had started: logs are there"
    );
    assert!(app.workspaces().is_empty());
    assert!(
        s3.incomplete_uploads().is_empty(),
        "left: {:?}",
        s3.incomplete_uploads()
    );
    assert!(
        !body.to_string().contains(SECRET_KEY),
        "the secret leaked: {body}"
    );
    body
}

#[tokio::test]
async fn wrong_credentials_are_reported() {
    let s3 = start_s3().await;
    let mut request = job("bad-creds", &s3);
    request["s3Descriptor"]["accessSecret"] = json!("not-the-secret-123");
    let body = upload_failed(&s3, request, &[], "4096").await;
    let error = body["error"].as_str().unwrap();
    assert!(
        error.starts_with("upload to artifacts/corebuild/baseos/bad-creds/baseos.iso failed"),
        "{error}"
    );
    assert!(
        error.contains("403") || error.contains("Signature"),
        "{error}"
    );
    assert!(!error.contains("not-the-secret-123"));
}

#[tokio::test]
async fn a_missing_bucket_is_reported() {
    let moto = start_moto().await;
    for (id, size, part) in [
        ("no-bucket-put", "4096", "16MiB"),
        ("no-bucket-multipart", "12582912", "5MiB"),
    ] {
        let app = spawn_worker(
            &format!("success {size}"),
            &["--upload-max-retries", "0", "--upload-part-size", part],
        )
        .await;
        let s3 = start_s3().await;
        let mut request = job(id, &s3);
        request["s3Descriptor"] = moto.descriptor("no-such-bucket");
        let response = app.submit(&request).await;
        assert_eq!(response.status(), 502);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "upload_failed");
        let error = body["error"].as_str().unwrap();
        assert!(
            error.contains("NoSuchBucket") || error.contains("404"),
            "{id}: {error}"
        );
        assert!(!error.contains("moto-secret-4c3d"));
        assert!(app.workspaces().is_empty());
    }
}

#[tokio::test]
async fn an_unreachable_endpoint_is_reported() {
    let s3 = start_s3().await;
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut request = job("unreachable", &s3);
    request["s3Descriptor"]["endpoint"] = json!(format!("127.0.0.1:{port}"));
    let body = upload_failed(&s3, request, &[], "4096").await;
    let error = body["error"].as_str().unwrap();
    assert!(error.contains(&format!("127.0.0.1:{port}")), "{error}");
}

#[tokio::test]
async fn a_failed_part_aborts_the_multipart_upload() {
    let s3 = start_s3().await;
    s3.fail_upload_part(3);
    let request = job("part-fails", &s3);
    let body = upload_failed(&s3, request, &["--upload-part-size", "5MiB"], "20971520").await;
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("500"), "{error}");
    assert!(!s3.exists("corebuild/baseos/part-fails/baseos.iso").await);
}

#[tokio::test]
async fn an_upload_past_the_time_limit_is_timed_out_and_aborted() {
    let s3 = start_s3().await;
    s3.delay_upload_parts(700);
    let app = spawn_worker(
        "success 31457280",
        &[
            "--upload-part-size",
            "5MiB",
            "--upload-concurrency",
            "2",
            "--job-timeout-secs",
            "2",
        ],
    )
    .await;
    let response = app.submit(&job("slow-upload", &s3)).await;
    assert_eq!(response.status(), 500);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "timed_out");
    assert!(
        s3.incomplete_uploads().is_empty(),
        "left: {:?}",
        s3.incomplete_uploads()
    );
    assert!(!s3.exists("corebuild/baseos/slow-upload/baseos.iso").await);
    assert!(app.workspaces().is_empty());
}
