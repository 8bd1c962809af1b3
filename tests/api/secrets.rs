//! Secrets never reach job logs, answers, or the service's own output, even when
//! isocreator prints them.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::helpers::{fake_isocreator, job, log_lines, spawn_worker};
use crate::support::s3::{SECRET_KEY, start_s3};
use crate::support::worker::{Worker, corebuild, wait_for_address};

const PROVISIONING: &str = "one-time-baseos-token-5a4b";
const WIFI: &str = "wifi-password-0099";
const API_TOKEN: &str = "worker-token-31cd";

fn secret_job(id: &str, s3: &crate::support::s3::S3Server) -> Value {
    let mut request = job(id, s3);
    request["wifi"] = json!({ "ssid": "office", "password": WIFI });
    request
}

fn assert_clean(text: &str) {
    for secret in [PROVISIONING, WIFI, API_TOKEN, SECRET_KEY] {
        assert!(!text.contains(secret), "{secret} leaked in: {text}");
    }
}

#[tokio::test]
async fn printed_secrets_are_masked_in_the_job_log() {
    let s3 = start_s3().await;
    let app = spawn_worker("secrets", &["--token", API_TOKEN]).await;
    let response = app
        .client
        .post(app.url("/corebuild/v1/jobs/baseos-image"))
        .json(&json!({ "job": secret_job("secret-1", &s3), "apiToken": API_TOKEN }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    assert_clean(&body);
    assert!(
        body.contains(r#"BASEOS_JOIN_TOKEN=\"***\""#),
        "the token was printed and masked: {body}"
    );
}

#[tokio::test]
async fn the_service_output_holds_no_secret() {
    let s3 = start_s3().await;
    let workdir = tempfile::tempdir().unwrap();
    let work = workdir.path().join("work");
    let command = fake_isocreator("secrets");
    let mut child = corebuild(&[
        ("COREBUILD_BIND", "127.0.0.1"),
        ("COREBUILD_PORT", "0"),
        ("COREBUILD_WORKDIR", work.to_str().unwrap()),
        ("COREBUILD_TOKEN", API_TOKEN),
        ("ISO_CREATOR_COMMAND", &command),
        ("RUST_LOG", "debug"),
    ])
    .spawn()
    .unwrap();
    let (address, output) = wait_for_address(&mut child).await;
    let client = reqwest::Client::new();
    let url = format!("http://{address}/corebuild/v1/jobs/baseos-image");
    // A success, an upload failure with a wrong secret, and a refused token.
    let ok = client
        .post(&url)
        .bearer_auth(API_TOKEN)
        .json(&json!({ "job": secret_job("svc-1", &s3), "apiToken": API_TOKEN }))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let mut bad = secret_job("svc-2", &s3);
    bad["s3Descriptor"]["accessSecret"] = json!(SECRET_KEY.to_owned() + "-wrong");
    let failed = client
        .post(&url)
        .bearer_auth(API_TOKEN)
        .json(&json!({ "job": bad }))
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 502);
    assert_clean(&failed.text().await.unwrap());
    let refused = client
        .post(&url)
        .bearer_auth(API_TOKEN.to_owned() + "x")
        .json(&json!({ "job": bad }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id().unwrap() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .unwrap()
        .unwrap();
    let mut stderr = String::new();
    tokio::io::AsyncReadExt::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr)
        .await
        .unwrap();
    let stdout = output.await.unwrap();
    assert!(
        stdout.contains("svc-1"),
        "the job was logged at all: {stdout}"
    );
    assert_clean(&stdout);
    assert_clean(&stderr);
}

#[tokio::test]
async fn secrets_are_masked_in_their_json_and_url_spellings() {
    // Quotes, a backslash, a slash, a plus and non-ASCII: each spelling differs.
    const TOKEN: &str = "PT\"quoted\\ é/ü+$tok`";
    const PASSWORD: &str = "wifi \"pa$$\" wörd";
    let s3 = start_s3().await;
    let app = spawn_worker("secret-forms", &[]).await;
    let mut request = job("secret-forms", &s3);
    request["provisioningToken"] = json!(TOKEN);
    request["wifi"] = json!({ "ssid": "office", "password": PASSWORD });
    let response = app.submit(&request).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let lines: Vec<&str> = body["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let printed = lines.iter().filter(|l| l.contains("***")).count();
    assert_eq!(
        printed, 9,
        "every spelling was printed and masked: {lines:#?}"
    );
    for line in &lines {
        for fragment in [
            "quoted",
            "pa$$",
            "pa%24%24",
            "w\\u00f6rd",
            "wörd",
            "w%C3%B6rd",
        ] {
            assert!(!line.contains(fragment), "{fragment} leaked in: {line}");
        }
    }
}

/// Each spelling the fake printed (`spelling NAME: VALUE`) is masked whole: what is
/// left of the value is at most the shell's quotes around it.
fn assert_spellings_masked(text: &str, at: &str) {
    let mut seen = 0;
    for line in text.lines() {
        let Some(rest) = line.split("spelling ").nth(1) else {
            continue;
        };
        let (name, value) = rest.split_once(": ").expect("NAME: VALUE");
        let value = value.trim_end_matches(['"', ',', '}']);
        assert!(
            value.contains("***") && value.replace("***", "").chars().all(|c| c == '\''),
            "{at}: spelling {name} not masked whole: {value}"
        );
        seen += 1;
    }
    assert!(
        seen >= 13,
        "{at}: every spelling was printed ({seen} seen): {text}"
    );
    assert!(
        text.contains("Basic "),
        "{at}: the Basic credential was printed"
    );
}

#[tokio::test]
async fn every_common_spelling_of_a_secret_is_masked_in_every_output() {
    // A quote, a slash, a plus, spaces and non-ASCII: the spellings all differ.
    const TOKEN: &str = "it's a/b+c ü?~>x";
    let s3 = start_s3().await;
    let workdir = tempfile::tempdir().unwrap();
    let command = fake_isocreator("secret-spellings");
    let worker = Worker::start(
        &workdir.path().join("work"),
        &[("ISO_CREATOR_COMMAND", &command), ("RUST_LOG", "debug")],
    )
    .await;
    let base = format!("{}/corebuild/v1/jobs", worker.url);
    let client = reqwest::Client::new();
    let mut request = job("spellings", &s3);
    request["provisioningToken"] = json!(TOKEN);

    let blocking = client
        .post(format!("{base}/baseos-image"))
        .json(&json!({ "job": request }))
        .send()
        .await
        .unwrap();
    assert_eq!(blocking.status(), 200);
    let blocking: Value = blocking.json().await.unwrap();
    assert_spellings_masked(&log_lines(&blocking).join("\n"), "blocking answer");
    let answer = worker
        .get("/corebuild/v1/jobs/spellings/logs?limit=1000")
        .await;
    let page: Vec<&str> = answer["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["text"].as_str().unwrap())
        .collect();
    assert_spellings_masked(&page.join("\n"), "log page");
    let followed = client
        .get(format!("{base}/spellings/logs?follow=true"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_spellings_masked(&followed, "SSE");

    let service = worker.stop().await;
    // The secret, and the start of its base64 and of "builder:" + it in base64.
    for fragment in ["it's", "a/b", "ü?~", "aXQncyBhL2Ir", "dCdzIGEvYitj"] {
        assert!(!service.contains(fragment), "{fragment} in the service log");
        assert!(!followed.contains(fragment), "{fragment} in the SSE stream");
        assert!(
            !page.join("\n").contains(fragment),
            "{fragment} in a log page"
        );
    }
}
