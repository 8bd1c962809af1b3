//! Capabilities per worker, standalone: a worker builds the architectures and image
//! kinds it is given, reports them, and refuses any other job at once with 422
//! `unsupported_build`, leaving nothing behind.

use serde_json::{Value, json};

use crate::support::helpers::{job, spawn_worker};
use crate::support::s3::start_s3;

/// An arm64 (or rpi) Raspberry Pi image job.
fn raw_job(id: &str, architecture: &str, s3: &crate::support::s3::S3Server) -> Value {
    let mut job = job(id, s3);
    job["architecture"] = json!(architecture);
    job["imageKind"] = json!("balena-raw");
    job["sourceImageUrl"] = json!("https://images.example.com/balena.img.xz");
    job
}

#[tokio::test]
async fn a_worker_builds_only_its_classes_and_refuses_others_naming_the_field() {
    let s3 = start_s3().await;
    let app = spawn_worker(
        "success",
        &[
            "--architectures",
            "arm64, rpi",
            "--image-kinds",
            "balena-raw",
        ],
    )
    .await;
    let caps = app.capabilities().await;
    assert_eq!(caps["supportedArchitectures"], json!(["arm64", "rpi"]));
    assert_eq!(caps["supportedImageKinds"], json!(["balena-raw"]));
    assert_eq!(caps["state"], "active");

    let cases = [
        (job("amd", &s3), "job.architecture: "),
        (
            {
                let mut iso = job("arm-iso", &s3);
                iso["architecture"] = json!("arm64");
                iso
            },
            "job.imageKind: ",
        ),
    ];
    for (job, field) in cases {
        for asynchronous in [false, true] {
            let response = if asynchronous {
                app.submit_async(&job).await
            } else {
                app.submit(&job).await
            };
            assert_eq!(response.status(), 422);
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["code"], "unsupported_build", "{body}");
            let error = body["error"].as_str().unwrap();
            assert!(error.starts_with(field), "{error}");
            assert!(
                error.contains("COREBUILD_ARCHITECTURES=arm64,rpi"),
                "{error}"
            );
            assert!(
                error.contains("COREBUILD_IMAGE_KINDS=balena-raw"),
                "{error}"
            );
        }
        let id = job["id"].as_str().unwrap();
        let status = app
            .authed(reqwest::Method::GET, &format!("/corebuild/v1/jobs/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(status.status(), 404, "a refused job is not kept");
    }
    assert!(app.workspaces().is_empty(), "nothing was written");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("corebuild_queue_rejections_total{reason=\"unsupported_build\"} 4"),
        "{metrics}"
    );

    let built = app.submit(&raw_job("pi", "rpi", &s3)).await;
    assert_eq!(built.status(), 200, "a job of its class runs");
}
