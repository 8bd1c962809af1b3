//! The submission endpoint's edge: token carriers, validation, body limits, all in the
//! contract's error shape, and nothing started for a refused request.

use serde_json::{Value, json};

use crate::support::helpers::{TestApp, job, spawn_worker};
use crate::support::s3::start_s3;

const TOKEN: &str = "worker-token-77aa";

fn assert_error(body: &Value, code: &str) {
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
    assert!(body.get("logs").is_none(), "no build started: {body}");
}

async fn post(app: &TestApp, body: Value, header: Option<(&str, &str)>) -> (u16, Value) {
    let mut request = app
        .client
        .post(app.url("/corebuild/v1/jobs/baseos-image"))
        .json(&body);
    if let Some((name, value)) = header {
        request = request.header(name, value);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn the_token_is_accepted_from_each_carrier() {
    let s3 = start_s3().await;
    let app = spawn_worker("success 100", &["--token", TOKEN]).await;
    let bearer = format!("Bearer {TOKEN}");
    // The scheme's name is case-insensitive (RFC 9110, section 11.1).
    let lower = format!("bearer {TOKEN}");
    let cases = [
        (
            json!({ "job": job("t-bearer", &s3) }),
            Some(("authorization", bearer.as_str())),
        ),
        (
            json!({ "job": job("t-bearer-lower", &s3) }),
            Some(("authorization", lower.as_str())),
        ),
        (
            json!({ "job": job("t-header", &s3) }),
            Some(("x-corebuild-token", TOKEN)),
        ),
        (
            json!({ "job": job("t-body", &s3), "apiToken": TOKEN }),
            None,
        ),
    ];
    for (body, header) in cases {
        let (status, answer) = post(&app, body, header).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["success"], true);
    }
}

#[tokio::test]
async fn a_missing_or_wrong_token_is_401_before_validation() {
    let s3 = start_s3().await;
    let app = spawn_worker("success 100", &["--token", TOKEN]).await;
    let cases = [
        (json!({ "job": job("t-none", &s3) }), None),
        (
            json!({ "job": job("t-wrong", &s3) }),
            Some(("authorization", "Bearer nope")),
        ),
        (
            json!({ "job": job("t-wrong2", &s3), "apiToken": "nope" }),
            Some(("x-corebuild-token", "nope")),
        ),
        // Invalid jobs from strangers are not validated: no hints about the rules.
        (json!({ "job": { "id": "../x" } }), None),
    ];
    for (body, header) in cases {
        let (status, answer) = post(&app, body, header).await;
        assert_eq!(status, 401, "{answer}");
        assert_error(&answer, "unauthorized");
    }
    assert!(app.workspaces().is_empty());
}

#[tokio::test]
async fn invalid_jobs_are_400_naming_the_field() {
    let s3 = start_s3().await;
    let app = spawn_worker("success 100", &[]).await;
    let mut bad_id = job("x", &s3);
    bad_id["id"] = json!("../etc");
    let mut injected = job("inj", &s3);
    injected["provisioningToken"] = json!("tok\nBASEOS_EVIL=1");
    let mut rpi_iso = job("rpi", &s3);
    rpi_iso["architecture"] = json!("rpi");
    let mut port = job("port", &s3);
    port["s3Descriptor"]["port"] = json!(true);
    let cases = [
        (json!({ "job": bad_id }), "job.id: "),
        (
            json!({ "job": injected }),
            "job.provisioningToken: must not contain control characters",
        ),
        (json!({ "job": rpi_iso }), "job.imageKind: "),
        (json!({ "job": port }), "job.s3Descriptor.port: "),
        (json!({ "nojob": {} }), "job: is required"),
        (json!({ "job": "text" }), "job: must be an object"),
        (json!([1, 2]), "the body must be a JSON object"),
        (
            json!({ "job": job("ok", &s3), "apiToken": 5 }),
            "apiToken: must be a string",
        ),
    ];
    for (body, expected) in cases {
        let (status, answer) = post(&app, body, None).await;
        assert_eq!(status, 400, "{answer}");
        assert_error(&answer, "invalid_request");
        let message = answer["error"].as_str().unwrap();
        assert!(
            message.starts_with(expected),
            "got `{message}`, want `{expected}`"
        );
    }
    assert!(app.workspaces().is_empty());
}

#[tokio::test]
async fn malformed_oversized_and_non_json_bodies_keep_the_error_shape() {
    let app = spawn_worker("success 100", &["--max-body-bytes", "2KiB"]).await;
    let url = app.url("/corebuild/v1/jobs/baseos-image");
    let send = |request: reqwest::RequestBuilder| async move {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json::<Value>().await.unwrap())
    };

    let malformed = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body("{\"job\": {");
    let (status, body) = send(malformed).await;
    assert_eq!(status, 400);
    assert_error(&body, "invalid_request");

    let big = json!({ "job": { "id": "x".repeat(4096) } });
    let (status, body) = send(app.client.post(&url).json(&big)).await;
    assert_eq!(status, 413);
    assert_error(&body, "payload_too_large");

    let text = app
        .client
        .post(&url)
        .header("content-type", "text/plain")
        .body("{}");
    let (status, body) = send(text).await;
    assert_eq!(status, 415);
    assert_error(&body, "invalid_request");
}
