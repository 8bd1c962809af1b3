//! The served OpenAPI document, checked against real answers of a worker running jobs:
//! each answer validates against the schema the document gives for its route and status.

use serde_json::{Value, json};

use crate::support::helpers::{TestApp, job, spawn_app, spawn_app_with, spawn_worker};
use crate::support::s3::start_s3;

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
        if let Err(problem) =
            crate::support::contract::check(&self.doc, method, path, status, &bytes)
        {
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
async fn the_schema_rejects_what_the_documentation_forbids() {
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

#[tokio::test]
async fn the_request_schema_carries_the_job_rules() {
    let app = spawn_app().await;
    let contract = Contract::fetch(&app).await;
    let job = &contract.doc["components"]["schemas"]["Job"];
    let required: Vec<&str> = job["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        required,
        [
            "id",
            "architecture",
            "imageKind",
            "cloudlyUrl",
            "provisioningToken",
            "s3Descriptor"
        ]
    );
    assert_eq!(
        job["properties"]["architecture"]["enum"],
        json!(["amd64", "arm64", "rpi"])
    );
    let submit = &contract.doc["paths"]["/corebuild/v1/jobs/baseos-image"]["post"];
    let check = |status, request: Value| corebuild_contract_check(&contract.doc, status, &request);
    // `{"job": {}}` is no longer valid by the document, so a refusal agrees with it.
    assert!(check(400, json!({ "job": {} })).is_ok());
    // A worker that took it would be caught, as would one refusing a valid job.
    assert!(check(202, json!({ "job": {} })).is_err());
    let example = job["examples"][0].clone();
    assert!(check(202, json!({ "job": example })).is_ok());
    assert!(check(400, json!({ "job": example })).is_err());
    // The links let tools follow a submission to the job's other routes.
    for status in ["200", "202", "500", "502"] {
        let links = &submit["responses"][status]["links"];
        assert_eq!(links["GetJobStatus"]["operationId"], "status", "{status}");
        assert_eq!(
            links["CancelJob"]["parameters"]["id"],
            "$request.body#/job/id"
        );
    }
    // Served by a worker with a token, the job routes say they need it.
    let secured = spawn_app_with(&["--token", "s3cret"]).await;
    let doc: Value = secured
        .get("/corebuild/v1/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    assert_eq!(
        doc["paths"]["/corebuild/v1/jobs"]["get"]["security"],
        json!([{ "bearer": [] }, { "tokenHeader": [] }])
    );
    assert!(doc["paths"]["/health"]["get"]["security"].is_null());
    assert!(contract.doc["components"]["securitySchemes"].is_null());
}

fn corebuild_contract_check(doc: &Value, status: u16, request: &Value) -> Result<(), String> {
    let answer = json!({ "success": false, "error": "x", "code": "invalid_request" });
    crate::support::contract::check_request(
        doc,
        "POST",
        "/corebuild/v1/jobs/baseos-image",
        status,
        answer.to_string().as_bytes(),
        request.to_string().as_bytes(),
    )
}

#[tokio::test]
async fn an_undeclared_method_on_a_known_path_is_405_with_allow() {
    let app = spawn_app().await;
    for (method, path, allow) in [
        ("TRACE", "/health", "GET"),
        ("POST", "/metrics", "GET"),
        ("PUT", "/corebuild/v1/capabilities", "GET"),
        ("DELETE", "/corebuild/v1/jobs", "GET"),
        ("PUT", "/corebuild/v1/jobs/some-job", "DELETE, GET"),
        ("GET", "/corebuild/v1/jobs/some-job/logs/x", ""),
    ] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = app
            .client
            .request(method.clone(), app.url(path))
            .send()
            .await
            .unwrap();
        if allow.is_empty() {
            assert_eq!(response.status(), 404, "{method} {path}");
            continue;
        }
        assert_eq!(response.status(), 405, "{method} {path}");
        assert_eq!(response.headers()["allow"], allow, "{method} {path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "method_not_allowed", "{body}");
        assert_eq!(body["success"], false);
    }
}
