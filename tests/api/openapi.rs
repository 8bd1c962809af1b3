//! The served OpenAPI document, checked against real answers of a worker running jobs:
//! each answer validates against the schema the document gives for its route and status.

use serde_json::{Value, json};

use crate::helpers::{TestApp, job, spawn_worker};
use crate::s3::start_s3;

struct Contract {
    doc: Value,
}

impl Contract {
    async fn fetch(app: &TestApp) -> Self {
        let response = app.get("/corebuild/v1/openapi.json").await;
        assert_eq!(response.status(), 200);
        let doc: Value = response.json().await.unwrap();
        assert!(
            doc["openapi"].as_str().unwrap().starts_with("3.1"),
            "OpenAPI 3.1"
        );
        Self { doc }
    }

    /// Validates `body` against the JSON schema of `method path` answering `status`.
    fn check(&self, method: &str, path: &str, status: u16, body: &Value) {
        let bytes = serde_json::to_vec(body).unwrap();
        if let Err(problem) = crate::contract::check(&self.doc, method, path, status, &bytes) {
            panic!("{problem}\n{body}");
        }
    }

    /// Sends a GET and checks its answer; returns the body.
    async fn get(&self, app: &TestApp, url: &str, template: &str) -> Value {
        let response = app.authed(reqwest::Method::GET, url).send().await.unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        self.check("get", template, status, &body);
        body
    }
}

#[tokio::test]
async fn answers_match_the_published_schemas() {
    let s3 = start_s3().await;
    let app = spawn_worker(
        "sleep 0.5",
        &["--max-concurrency", "1", "--token", "doc-token-1"],
    )
    .await;
    let contract = Contract::fetch(&app).await;
    for path in [
        "/health",
        "/corebuild/v1/capabilities",
        "/corebuild/v1/jobs/baseos-image",
        "/corebuild/v1/jobs",
        "/corebuild/v1/jobs/{id}",
        "/corebuild/v1/jobs/{id}/logs",
        "/metrics",
    ] {
        assert!(
            contract.doc["paths"][path].is_object(),
            "{path} is described"
        );
    }

    contract.get(&app, "/health", "/health").await;
    contract
        .get(
            &app,
            "/corebuild/v1/capabilities",
            "/corebuild/v1/capabilities",
        )
        .await;

    // Async submissions: accepted, queued behind the first, then attached.
    for id in ["doc-1", "doc-2"] {
        let response = app.submit_async(&job(id, &s3)).await;
        assert_eq!(response.status(), 202);
        contract.check(
            "post",
            "/corebuild/v1/jobs/baseos-image",
            202,
            &response.json().await.unwrap(),
        );
    }
    let queued = contract
        .get(&app, "/corebuild/v1/jobs/doc-2", "/corebuild/v1/jobs/{id}")
        .await;
    assert_eq!(queued["state"], "queued");
    let running = app.wait_for_state("doc-1", "running").await;
    contract.check("get", "/corebuild/v1/jobs/{id}", 200, &running);
    contract
        .get(&app, "/corebuild/v1/jobs", "/corebuild/v1/jobs")
        .await;
    contract
        .get(
            &app,
            "/corebuild/v1/jobs/doc-1/logs?since=0",
            "/corebuild/v1/jobs/{id}/logs",
        )
        .await;
    let cancel = app
        .authed(reqwest::Method::DELETE, "/corebuild/v1/jobs/doc-2")
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status(), 202);
    contract.check(
        "delete",
        "/corebuild/v1/jobs/{id}",
        202,
        &cancel.json().await.unwrap(),
    );
    let done = app.wait_for_state("doc-1", "succeeded").await;
    contract.check("get", "/corebuild/v1/jobs/{id}", 200, &done);
    let cancelled = contract
        .get(&app, "/corebuild/v1/jobs/doc-2", "/corebuild/v1/jobs/{id}")
        .await;
    assert_eq!(cancelled["state"], "cancelled");

    // The blocking call: a stored result, then failures of several kinds.
    let blocking = app
        .authed(reqwest::Method::POST, "/corebuild/v1/jobs/baseos-image")
        .json(&json!({ "job": job("doc-1", &s3) }))
        .send()
        .await
        .unwrap();
    assert_eq!(blocking.status(), 200);
    contract.check(
        "post",
        "/corebuild/v1/jobs/baseos-image",
        200,
        &blocking.json().await.unwrap(),
    );
    let mut bad_secret = job("doc-3", &s3);
    bad_secret["s3Descriptor"]["accessSecret"] = json!("nope-nope-nope");
    let mut other_content = job("doc-1", &s3);
    other_content["hostname"] = json!("elsewhere");
    let cases = [
        (json!({ "job": bad_secret }), 502),
        (json!({ "job": { "id": "../x" } }), 400),
        (json!({ "job": other_content }), 409),
    ];
    for (body, expected) in cases {
        let response = app
            .authed(reqwest::Method::POST, "/corebuild/v1/jobs/baseos-image")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), expected);
        contract.check(
            "post",
            "/corebuild/v1/jobs/baseos-image",
            expected,
            &response.json().await.unwrap(),
        );
    }
    let unauthorized = app.get("/corebuild/v1/jobs").await;
    assert_eq!(unauthorized.status(), 401);
    contract.check(
        "get",
        "/corebuild/v1/jobs",
        401,
        &unauthorized.json().await.unwrap(),
    );
    contract
        .get(
            &app,
            "/corebuild/v1/jobs/missing",
            "/corebuild/v1/jobs/{id}",
        )
        .await;
    contract
        .get(
            &app,
            "/corebuild/v1/jobs/missing/logs",
            "/corebuild/v1/jobs/{id}/logs",
        )
        .await;
    let finished = app
        .authed(reqwest::Method::DELETE, "/corebuild/v1/jobs/doc-1")
        .send()
        .await
        .unwrap();
    assert_eq!(finished.status(), 409);
    contract.check(
        "delete",
        "/corebuild/v1/jobs/{id}",
        409,
        &finished.json().await.unwrap(),
    );
}

#[tokio::test]
async fn the_schema_rejects_what_the_contract_forbids() {
    let app = spawn_worker("success 1", &[]).await;
    let contract = Contract::fetch(&app).await;
    let status_schema = &contract.doc["components"]["schemas"]["JobStatus"];
    let states = &contract.doc["components"]["schemas"]["JobState"]["enum"];
    assert_eq!(
        states,
        &json!([
            "queued",
            "running",
            "uploading",
            "succeeded",
            "failed",
            "cancelled"
        ])
    );
    assert!(
        status_schema["required"]
            .as_array()
            .unwrap()
            .contains(&json!("state"))
    );
    let root = json!({
        "components": contract.doc["components"],
        "$ref": "#/components/schemas/JobStatus",
    });
    let validator = jsonschema::validator_for(&root).unwrap();
    assert!(!validator.is_valid(&json!({ "success": true, "state": "sleeping" })));
}
