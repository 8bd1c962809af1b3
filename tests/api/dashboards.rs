//! The Grafana dashboard and the Prometheus alert rules under `contrib/`: every series
//! they name is one a real worker exports, every query is PromQL that promtool
//! accepts, and the rules pass their own unit tests.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use corebuild::startup::Application;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::support::certs::{client_trusting, make_certificate, text_at};
use crate::support::helpers::{config_with, fake_isocreator, job, spawn_worker};
use crate::support::nats::{FLEET_KEY, NatsServer};
use crate::support::s3::start_s3;

fn contrib(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("contrib")
        .join(path)
}

fn dashboard() -> Value {
    serde_json::from_slice(&std::fs::read(contrib("grafana/corebuild.json")).unwrap()).unwrap()
}

/// Every `corebuild_…` name in `text`.
fn series_named(text: &str) -> BTreeSet<String> {
    text.match_indices("corebuild_")
        .map(|(at, _)| {
            text[at..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect()
        })
        .collect()
}

/// The names of the samples in a Prometheus text exposition.
fn exported(scrape: &str) -> BTreeSet<String> {
    scrape
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_owned())
        .collect()
}

/// Every PromQL expression of the dashboard, with Grafana's variables given values.
fn dashboard_queries() -> Vec<String> {
    let mut queries = Vec::new();
    for panel in dashboard()["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            queries.push(
                target["expr"]
                    .as_str()
                    .unwrap()
                    .replace("$__rate_interval", "5m")
                    .replace("$instance", ".*"),
            );
        }
    }
    queries
}

fn promtool(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("promtool (Debian's prometheus package; .ci/run installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "promtool {args:?}: {text}");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_series_the_dashboard_and_the_alert_rules_name_is_one_a_worker_exports() {
    let s3 = start_s3().await;
    // A standalone worker that built a job and refused one of a class it does not build.
    let standalone = spawn_worker("success 2048", &["--architectures", "amd64"]).await;
    assert_eq!(standalone.submit(&job("d-1", &s3)).await.status(), 200);
    let mut arm = job("d-2", &s3);
    arm["architecture"] = json!("arm64");
    assert_eq!(standalone.submit(&arm).await.status(), 422);
    let mut names = exported(&standalone.get("/metrics").await.text().await.unwrap());

    // A fleet worker over HTTPS that ran a job: the cluster, fleet and certificate series.
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = make_certificate(dir.path(), "dash");
    let builder = fake_isocreator("success 1024");
    let config = config_with(
        &dir,
        &[
            "--iso-creator-command",
            &builder,
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
            "--nats-url",
            &nats.url(),
            "--cluster-key",
            FLEET_KEY,
            "--worker-id",
            "dash-1",
        ],
    );
    let app = Application::build(config)
        .await
        .expect("the fleet worker starts");
    let url = format!("https://localhost:{}", app.address().port());
    let stop = CancellationToken::new();
    let running = tokio::spawn(app.run_until_stopped(stop.clone(), stop.clone()));
    let client = client_trusting(&ca);
    let built = client
        .post(format!("{url}/corebuild/v1/jobs/baseos-image"))
        .json(&json!({ "job": job("d-3", &s3) }))
        .send()
        .await
        .unwrap();
    assert_eq!(built.status(), 200, "{:?}", built.text().await);
    let scrape = text_at(&client, &format!("{url}/metrics")).await;
    names.extend(exported(&scrape));
    stop.cancel();
    running.await.unwrap().unwrap();

    let dashboard = std::fs::read_to_string(contrib("grafana/corebuild.json")).unwrap();
    let rules = std::fs::read_to_string(contrib("prometheus/corebuild-rules.yml")).unwrap();
    for (file, text) in [("dashboard", &dashboard), ("rules", &rules)] {
        let named = series_named(text);
        assert!(named.len() >= 10, "{file}: {named:?}");
        let unknown: Vec<&String> = named.difference(&names).collect();
        assert!(
            unknown.is_empty(),
            "the {file} names series no worker exports: {unknown:?}\nexported: {names:?}"
        );
    }
    // The metrics the issue asks panels for are on the dashboard.
    for needed in [
        "corebuild_jobs_finished_total",
        "corebuild_jobs_queued",
        "corebuild_queue_wait_seconds_bucket",
        "corebuild_job_duration_seconds_bucket",
        "corebuild_upload_duration_seconds_bucket",
        "corebuild_uploaded_bytes_total",
        "corebuild_log_bytes",
        "corebuild_fleet_workers",
        "corebuild_fleet_jobs_waiting",
        "corebuild_cluster_redeliveries_total",
    ] {
        assert!(dashboard.contains(needed), "no panel shows {needed}");
    }
}

#[test]
fn the_dashboards_queries_are_promql_and_the_alert_rules_pass_their_tests() {
    let dir = tempfile::tempdir().unwrap();
    // promtool checks PromQL in rule files, so each query becomes a recording rule.
    let rules: Vec<Value> = dashboard_queries()
        .iter()
        .enumerate()
        .map(|(i, expr)| json!({ "record": format!("dashboard:query_{i}"), "expr": expr }))
        .collect();
    assert!(rules.len() >= 20, "{} queries", rules.len());
    let file = json!({ "groups": [{ "name": "dashboard", "rules": rules }] });
    // JSON is YAML.
    std::fs::write(dir.path().join("dashboard.yml"), file.to_string()).unwrap();
    promtool(dir.path(), &["check", "rules", "dashboard.yml"]);

    let shipped = contrib("prometheus");
    let checked = promtool(&shipped, &["check", "rules", "corebuild-rules.yml"]);
    assert!(checked.contains("SUCCESS"), "{checked}");
    let tested = promtool(&shipped, &["test", "rules", "corebuild-rules.test.yml"]);
    assert!(tested.contains("SUCCESS"), "{tested}");
}

#[test]
fn the_dashboard_is_provisionable_panels_have_distinct_ids_and_fit_the_grid() {
    let dashboard = dashboard();
    assert_eq!(dashboard["uid"], "corebuild");
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    assert!(
        variables
            .iter()
            .any(|v| v["name"] == "datasource" && v["type"] == "datasource"),
        "the data source is chosen on import, not fixed"
    );
    let mut ids = BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        assert!(ids.insert(panel["id"].as_u64().unwrap()), "{panel}");
        let grid = &panel["gridPos"];
        assert!(
            grid["x"].as_u64().unwrap() + grid["w"].as_u64().unwrap() <= 24,
            "{panel}"
        );
        if panel["type"] != "row" {
            assert_eq!(panel["datasource"]["uid"], "${datasource}", "{panel}");
            for target in panel["targets"].as_array().unwrap() {
                assert_eq!(target["datasource"]["uid"], "${datasource}", "{panel}");
            }
        }
    }
}
