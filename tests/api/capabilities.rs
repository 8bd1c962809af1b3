use serde_json::{Value, json};

use crate::support::helpers::{spawn_app, spawn_app_with};

#[tokio::test]
async fn capabilities_report_every_field_with_its_type() {
    let app = spawn_app_with(&["--worker-id", "builder-7", "--token", "s3cret"]).await;
    // Open even when a token is configured: schedulers probe before they submit.
    let response = app.get("/corebuild/v1/capabilities").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let fields = body.as_object().unwrap();
    assert_eq!(fields.len(), 18, "exactly the documented fields: {body}");
    assert_eq!(body["state"], "active");
    assert_eq!(body["authRequired"], true, "a token is configured");

    assert_eq!(body["workerId"], "builder-7");
    assert_eq!(body["supportedBuildTypes"], json!(["baseos-image"]));
    assert_eq!(
        body["supportedArchitectures"],
        json!(["amd64", "arm64", "rpi"])
    );
    assert_eq!(
        body["supportedImageKinds"],
        json!(["ubuntu-iso", "balena-raw"])
    );
    assert!(body["cpuCores"].as_u64().unwrap() >= 1);
    assert!(body["memoryGb"].is_u64());
    let workdir = body["workdir"].as_str().unwrap();
    assert!(workdir.starts_with('/'), "workdir is absolute: {workdir}");
    let expected = app.workdir.path().join("work").canonicalize().unwrap();
    assert_eq!(
        workdir,
        expected.to_str().unwrap(),
        "the workdir was created"
    );
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert!(body["maxConcurrentJobs"].as_u64().unwrap() >= 1);
    assert_eq!(body["queueCapacity"], 16);
    assert_eq!(body["runningJobs"], 0);
    assert_eq!(body["queuedJobs"], 0);
    assert_eq!(body["acceptingJobs"], true);
    assert!(body["diskFreeGb"].is_u64());
    assert!(body["features"].is_array());
    // The default builder, `isocreator`, is not installed on a test machine.
    assert_eq!(body["builderInstalled"], false);
}

#[tokio::test]
async fn pool_size_follows_the_sizing_inputs() {
    let app = spawn_app_with(&["--max-concurrency", "3", "--queue-capacity", "5"]).await;
    let body: Value = app.capabilities().await;
    assert_eq!(body["maxConcurrentJobs"], 3);
    assert_eq!(body["queueCapacity"], 5);

    // One CPU and 1 GiB per job: the pool is min(cores, memory) of this host.
    let app = spawn_app_with(&["--cpus-per-job", "1", "--memory-gb-per-job", "1"]).await;
    let body: Value = app.capabilities().await;
    let cores = body["cpuCores"].as_u64().unwrap();
    let memory = body["memoryGb"].as_u64().unwrap();
    assert_eq!(body["maxConcurrentJobs"], cores.min(memory).max(1));
}

#[tokio::test]
async fn worker_id_defaults_to_host_and_pid() {
    let app = spawn_app().await;
    let body: Value = app.capabilities().await;
    let id = body["workerId"].as_str().unwrap();
    assert!(
        id.ends_with(&format!("-{}", std::process::id())),
        "worker id {id} ends in this process's pid"
    );
}
