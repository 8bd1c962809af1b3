//! Successful jobs end to end: fake isocreator, real S3 server, blocking API.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::support::helpers::{job, log_lines, spawn_worker};
use crate::support::s3::start_s3;

#[tokio::test]
async fn a_small_artifact_is_built_hashed_and_uploaded() {
    let s3 = start_s3().await;
    let app = spawn_worker("success 4096", &[]).await;
    let response = app.submit(&job("build-123", &s3)).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["success"], true);
    let artifact = &body["artifact"];
    assert_eq!(artifact["bucketName"], "artifacts");
    assert_eq!(artifact["key"], "corebuild/baseos/build-123/baseos.iso");
    assert_eq!(artifact["filename"], "baseos.iso");
    assert_eq!(artifact["contentType"], "application/x-iso9660-image");
    assert_eq!(artifact["size"], 4096);
    assert!(artifact["createdAt"].as_u64().unwrap() > 1_700_000_000_000);
    assert_eq!(artifact.as_object().unwrap().len(), 7);
    assert_eq!(body["logs"][0], "Starting isocreator for amd64 ubuntu-iso");
    assert!(
        body["logs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == "fake isocreator: success for build-123")
    );

    let (bytes, content_type) = s3.object("corebuild/baseos/build-123/baseos.iso").await;
    assert_eq!(bytes.len(), 4096);
    assert_eq!(artifact["sha256"], hex::encode(Sha256::digest(&bytes)));
    assert_eq!(content_type.as_deref(), Some("application/x-iso9660-image"));
    assert!(
        app.workspaces().is_empty(),
        "workspace left: {:?}",
        app.workspaces()
    );
}

#[tokio::test]
async fn a_40_mib_artifact_goes_up_as_a_multipart_upload() {
    let s3 = start_s3().await;
    // 5 MiB parts: 40 MiB is eight parts, four in flight at a time.
    let app = spawn_worker("success 41943040", &["--upload-part-size", "5MiB"]).await;
    let mut request = job("big-1", &s3);
    request["artifactKey"] = json!("images/big-1/installer.iso");
    let response = app.submit(&request).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["artifact"]["size"], 41_943_040);
    let (bytes, content_type) = s3.object("images/big-1/installer.iso").await;
    assert_eq!(bytes.len(), 41_943_040);
    assert_eq!(
        body["artifact"]["sha256"],
        hex::encode(Sha256::digest(&bytes))
    );
    assert_eq!(content_type.as_deref(), Some("application/x-iso9660-image"));
    assert_eq!(body["artifact"]["filename"], "installer.iso");
    assert!(s3.incomplete_uploads().is_empty());
    assert!(app.workspaces().is_empty());
}

#[tokio::test]
async fn balena_raw_gives_an_xz_artifact() {
    let s3 = start_s3().await;
    let app = spawn_worker("success 1000", &[]).await;
    let mut request = job("pi-7", &s3);
    request["architecture"] = json!("rpi");
    request["imageKind"] = json!("balena-raw");
    request["sourceImageUrl"] = json!("https://images.example.com/balena-rpi.img.zip");
    let body: Value = app.submit(&request).await.json().await.unwrap();
    assert_eq!(
        body["artifact"]["key"],
        "corebuild/baseos/pi-7/baseos-rpi.img.xz"
    );
    assert_eq!(body["artifact"]["contentType"], "application/x-xz");
    assert_eq!(body["logs"][0], "Starting isocreator for rpi balena-raw");
    let (_, content_type) = s3.object("corebuild/baseos/pi-7/baseos-rpi.img.xz").await;
    assert_eq!(content_type.as_deref(), Some("application/x-xz"));
}

#[tokio::test]
async fn isocreator_runs_in_a_private_workspace_with_a_private_config() {
    let s3 = start_s3().await;
    let app = spawn_worker("inspect", &[]).await;
    let body: Value = app
        .submit(&job("inspect-1", &s3))
        .await
        .json()
        .await
        .unwrap();
    let logs = log_lines(&body);
    assert!(logs.contains(&"workspace mode 0o700"), "{logs:?}");
    assert!(logs.contains(&"config mode 0o600"), "{logs:?}");
    assert!(logs.contains(&"config absolute True"), "{logs:?}");
    let cwd = logs.iter().find_map(|l| l.strip_prefix("cwd ")).unwrap();
    let workdir = app.workdir.path().join("work").canonicalize().unwrap();
    let folder = std::path::Path::new(cwd)
        .file_name()
        .unwrap()
        .to_str()
        .unwrap();
    assert!(cwd.starts_with(workdir.to_str().unwrap()), "{cwd}");
    assert!(
        folder.starts_with("inspect-1-") && folder.len() == "inspect-1-".len() + 8,
        "{folder}"
    );
    assert!(app.workspaces().is_empty());
}

#[tokio::test]
async fn stale_workspaces_are_swept_at_start_up_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(work.join("old-job-0a0b0c0d")).unwrap();
    std::fs::write(work.join("old-job-0a0b0c0d/.corebuild-workspace"), b"").unwrap();
    std::fs::create_dir_all(work.join("operator-notes")).unwrap();
    let config = crate::support::helpers::config_with(&dir, &[]);
    let _app = corebuild::startup::Application::build(config)
        .await
        .unwrap();
    assert!(!work.join("old-job-0a0b0c0d").exists());
    assert!(work.join("operator-notes").is_dir());
}

#[tokio::test]
async fn payloads_are_signed_over_plain_http_unless_the_operator_says_otherwise() {
    let is_digest = |h: &String| h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit());
    for (extra, signed) in [
        (vec![], true),
        (vec!["--upload-unsigned-payload", "true"], false),
    ] {
        let s3 = start_s3().await;
        let mut args = vec!["--upload-part-size", "5MiB"];
        args.extend(extra);
        let app = spawn_worker("success 11534336", &args).await;
        assert_eq!(app.submit(&job("signing", &s3)).await.status(), 200);
        let hashes = s3.payload_hashes();
        assert_eq!(hashes.len(), 3, "three parts: {hashes:?}");
        if signed {
            assert!(hashes.iter().all(is_digest), "{hashes:?}");
        } else {
            assert!(hashes.iter().all(|h| h == "UNSIGNED-PAYLOAD"), "{hashes:?}");
        }
    }
}
