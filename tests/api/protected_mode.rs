//! Protected mode: a worker with no token that listens beyond loopback answers its job
//! routes only to clients on its own host. The client from elsewhere is real: the
//! worker runs in a network namespace of the test's own, reached over a veth pair.

use std::process::Command as StdCommand;

use serde_json::Value;

use crate::support::worker::{corebuild, corebuild_under, wait_for_address};

/// A network namespace with one veth link to this one: `inside` is the address the
/// worker gets there, and this side holds the other end. Removed when dropped.
struct TestHost {
    name: String,
    outside_link: String,
    inside: String,
}

fn ip(args: &[&str]) {
    let status = StdCommand::new("ip").args(args).status().expect("ip runs");
    assert!(status.success(), "ip {args:?} failed");
}

impl TestHost {
    fn new() -> Self {
        let tag = std::process::id() % 100_000;
        let (name, outside_link, inside_link) = (
            format!("cbprot{tag}"),
            format!("cbo{tag}"),
            format!("cbi{tag}"),
        );
        let net = format!("10.213.{}", tag % 250);
        let host = Self {
            name,
            outside_link,
            inside: format!("{net}.2"),
        };
        ip(&["netns", "add", &host.name]);
        ip(&[
            "link",
            "add",
            &host.outside_link,
            "type",
            "veth",
            "peer",
            "name",
            &inside_link,
        ]);
        ip(&["link", "set", &inside_link, "netns", &host.name]);
        ip(&[
            "addr",
            "add",
            &format!("{net}.1/30"),
            "dev",
            &host.outside_link,
        ]);
        ip(&["link", "set", &host.outside_link, "up"]);
        let inside = |args: &[&str]| {
            let mut all = vec!["netns", "exec", &host.name, "ip"];
            all.extend_from_slice(args);
            ip(&all);
        };
        inside(&[
            "addr",
            "add",
            &format!("{}/30", host.inside),
            "dev",
            &inside_link,
        ]);
        inside(&["link", "set", &inside_link, "up"]);
        inside(&["link", "set", "lo", "up"]);
        host
    }

    /// `curl` from inside the namespace (a client on the worker's own host): the
    /// status code of a GET.
    fn curl_inside(&self, url: &str) -> String {
        let output = StdCommand::new("ip")
            .args(["netns", "exec", &self.name, "curl", "-s", "-o", "/dev/null"])
            .args(["-w", "%{http_code}", url])
            .output()
            .expect("curl runs");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        // Deleting the namespace removes both ends of the veth pair.
        let _ = StdCommand::new("ip")
            .args(["netns", "delete", &self.name])
            .status();
        let _ = StdCommand::new("ip")
            .args(["link", "delete", &self.outside_link])
            .status();
    }
}

async fn get(url: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("the worker answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn without_a_token_a_worker_on_every_address_answers_job_routes_only_on_its_host() {
    let host = TestHost::new();
    let dir = tempfile::tempdir().unwrap();
    let work = |name: &str| dir.path().join(name).display().to_string();
    let wrapper = ["ip", "netns", "exec", host.name.as_str()];
    let spawn = |env: Vec<(&'static str, String)>| {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        corebuild_under(&wrapper, &env).spawn().unwrap()
    };

    // The default: every address, no token.
    let mut open = spawn(vec![
        ("COREBUILD_PORT", "3060".to_owned()),
        ("COREBUILD_WORKDIR", work("open")),
    ]);
    let (_, log) = wait_for_address(&mut open).await;
    let base = format!("http://{}:3060", host.inside);
    let (status, body) = get(&format!("{base}/corebuild/v1/jobs"), None).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "forbidden");
    let message = body["error"].as_str().unwrap();
    assert!(
        message.contains("COREBUILD_TOKEN") && message.contains("COREBUILD_PROTECTED_MODE=false"),
        "{message}"
    );
    for path in ["/corebuild/v1/jobs/x", "/corebuild/v1/jobs/x/logs"] {
        assert_eq!(get(&format!("{base}{path}"), None).await.0, 403, "{path}");
    }
    // A submission is refused before its body is read.
    let submitted = reqwest::Client::new()
        .post(format!("{base}/corebuild/v1/jobs/baseos-image"))
        .json(&serde_json::json!({ "job": {} }))
        .send()
        .await
        .unwrap();
    assert_eq!(submitted.status(), 403);
    let cancelled = reqwest::Client::new()
        .delete(format!("{base}/corebuild/v1/jobs/x"))
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), 403);
    // Liveness, readiness, capabilities and metrics stay open.
    for path in ["/health", "/corebuild/v1/capabilities", "/metrics"] {
        let status = reqwest::get(format!("{base}{path}"))
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200, "{path}");
    }
    assert!(reqwest::get(format!("{base}/ready")).await.is_ok());
    // A client on the worker's own host is served as before.
    assert_eq!(
        host.curl_inside("http://127.0.0.1:3060/corebuild/v1/jobs"),
        "200"
    );
    open.kill().await.unwrap();
    drop(log);

    // Opted out: everyone is served.
    let mut opted_out = spawn(vec![
        ("COREBUILD_PORT", "3061".to_owned()),
        ("COREBUILD_WORKDIR", work("opted-out")),
        ("COREBUILD_PROTECTED_MODE", "false".to_owned()),
    ]);
    wait_for_address(&mut opted_out).await;
    let base = format!("http://{}:3061", host.inside);
    assert_eq!(get(&format!("{base}/corebuild/v1/jobs"), None).await.0, 200);
    opted_out.kill().await.unwrap();

    // With a token the token decides, from anywhere.
    let mut with_token = spawn(vec![
        ("COREBUILD_PORT", "3062".to_owned()),
        ("COREBUILD_WORKDIR", work("token")),
        ("COREBUILD_TOKEN", "fleet-token-77".to_owned()),
    ]);
    wait_for_address(&mut with_token).await;
    let base = format!("http://{}:3062", host.inside);
    let url = format!("{base}/corebuild/v1/jobs");
    assert_eq!(get(&url, Some("fleet-token-77")).await.0, 200);
    assert_eq!(get(&url, None).await.0, 401);
    with_token.kill().await.unwrap();
}

#[tokio::test]
async fn a_worker_on_the_ipv6_wildcard_still_serves_its_own_host_over_ipv4() {
    // Listening on `::`, a client of 127.0.0.1 arrives as ::ffff:127.0.0.1.
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let mut worker = corebuild(&[
        ("COREBUILD_BIND", "::"),
        ("COREBUILD_PORT", "0"),
        ("COREBUILD_WORKDIR", work.to_str().unwrap()),
    ])
    .spawn()
    .unwrap();
    let (address, _log) = wait_for_address(&mut worker).await;
    let port = address.rsplit(':').next().unwrap();
    for host in ["127.0.0.1", "[::1]"] {
        let (status, body) = get(&format!("http://{host}:{port}/corebuild/v1/jobs"), None).await;
        assert_eq!(status, 200, "{host}: {body}");
    }
    worker.kill().await.unwrap();
}
