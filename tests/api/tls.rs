//! HTTPS on the worker's own API: a certificate made here (rcgen), the CLI trusting its
//! CA with `--ca-file`, and a new certificate taken on SIGHUP while a job runs.

use std::path::{Path, PathBuf};
use std::process::Output;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use serde_json::Value;

use crate::support::certs::{make_certificate, make_certificate_valid};
use crate::support::helpers::{fake_isocreator, job};
use crate::support::s3::start_s3;
use crate::support::worker::{corebuild, wait_for_address};

async fn cli(url: &str, ca: Option<&Path>, args: &[&str]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_corebuild"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("COREBUILD_URL", url)
        .args(args);
    if let Some(ca) = ca {
        command.env("COREBUILD_CA_FILE", ca);
    }
    command.output().await.unwrap()
}

#[tokio::test]
async fn the_api_over_https_with_the_cli_and_a_certificate_rotated_under_a_running_job() {
    let s3 = start_s3().await;
    let dir = tempfile::tempdir().unwrap();
    let (first_ca, cert, key) = make_certificate(dir.path(), "first");
    let work = dir.path().join("work");
    let command = fake_isocreator("sleep 3");
    let mut worker = corebuild(&[
        ("COREBUILD_BIND", "127.0.0.1"),
        ("COREBUILD_PORT", "0"),
        ("COREBUILD_WORKDIR", work.to_str().unwrap()),
        ("ISO_CREATOR_COMMAND", &command),
        ("COREBUILD_TLS_CERT", cert.to_str().unwrap()),
        ("COREBUILD_TLS_KEY", key.to_str().unwrap()),
    ])
    .spawn()
    .unwrap();
    let (address, _log) = wait_for_address(&mut worker).await;
    let port = address.rsplit(':').next().unwrap();
    let url = format!("https://localhost:{port}");

    let caps = cli(&url, Some(&first_ca), &["capabilities", "--json"]).await;
    assert!(
        caps.status.success(),
        "{}",
        String::from_utf8_lossy(&caps.stderr)
    );
    let caps: Value = serde_json::from_slice(&caps.stdout).unwrap();
    assert_eq!(caps["authRequired"], false);
    // Without the CA the CLI says what failed and what to do.
    let untrusted = cli(&url, None, &["capabilities"]).await;
    assert_eq!(untrusted.status.code(), Some(2));
    let message = String::from_utf8_lossy(&untrusted.stderr);
    assert!(message.contains("--ca-file"), "{message}");
    // Plain HTTP to the HTTPS port gets nowhere.
    let plain = cli(&format!("http://127.0.0.1:{port}"), None, &["capabilities"]).await;
    assert_eq!(plain.status.code(), Some(2));

    // A job runs while the certificate is replaced by one from another CA.
    let file = dir.path().join("job.json");
    std::fs::write(&file, serde_json::to_vec(&job("rotated", &s3)).unwrap()).unwrap();
    let submitted = cli(&url, Some(&first_ca), &["submit", file.to_str().unwrap()]).await;
    assert!(submitted.status.success());
    let (second_ca, new_cert, new_key) = make_certificate(dir.path(), "second");
    std::fs::copy(&new_cert, &cert).unwrap();
    std::fs::copy(&new_key, &key).unwrap();
    kill(Pid::from_raw(worker.id().unwrap() as i32), Signal::SIGHUP).unwrap();
    let mut switched = false;
    for _ in 0..100 {
        if cli(&url, Some(&second_ca), &["capabilities"])
            .await
            .status
            .success()
        {
            switched = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(switched, "the new certificate is served after SIGHUP");
    assert_eq!(
        cli(&url, Some(&first_ca), &["capabilities"])
            .await
            .status
            .code(),
        Some(2),
        "the old one is not"
    );
    // The job went on undisturbed.
    let followed = cli(&url, Some(&second_ca), &["logs", "rotated", "--follow"]).await;
    assert!(followed.status.success());
    let status = cli(&url, Some(&second_ca), &["status", "rotated", "--json"]).await;
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["state"], "succeeded");

    kill(Pid::from_raw(worker.id().unwrap() as i32), Signal::SIGTERM).unwrap();
    assert_eq!(worker.wait().await.unwrap().code(), Some(0));
}

#[tokio::test]
async fn half_a_tls_setting_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let (_, cert, _) = make_certificate(dir.path(), "half");
    let work = dir.path().join("work");
    let output = corebuild(&[
        ("COREBUILD_BIND", "127.0.0.1"),
        ("COREBUILD_PORT", "0"),
        ("COREBUILD_WORKDIR", work.to_str().unwrap()),
        ("COREBUILD_TLS_CERT", cert.to_str().unwrap()),
    ])
    .output()
    .await
    .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("COREBUILD_TLS_KEY") || stderr.contains("--tls-key"),
        "{stderr}"
    );
}

/// A worker over HTTPS with `cert` and `key`, started and listening, its JSON log
/// going to `<dir>/worker.log` (read while it runs). Returns the worker, its URL and
/// the log's path.
async fn https_worker(
    dir: &Path,
    cert: &Path,
    key: &Path,
) -> (tokio::process::Child, String, PathBuf) {
    let work = dir.join("work");
    let log = dir.join("worker.log");
    let worker = corebuild(&[
        ("COREBUILD_BIND", "127.0.0.1"),
        ("COREBUILD_PORT", "0"),
        ("COREBUILD_WORKDIR", work.to_str().unwrap()),
        ("COREBUILD_TLS_CERT", cert.to_str().unwrap()),
        ("COREBUILD_TLS_KEY", key.to_str().unwrap()),
    ])
    .stdout(std::fs::File::create(&log).unwrap())
    .spawn()
    .unwrap();
    let listening = wait_for_log_line(&log, "corebuild listening").await;
    let event: Value = serde_json::from_str(&listening).unwrap();
    let port = event["address"]
        .as_str()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned();
    (worker, format!("https://localhost:{port}"), log)
}

/// The first line of the log holding `text`, once it is there (at most 30 s).
async fn wait_for_log_line(log: &Path, text: &str) -> String {
    for _ in 0..600 {
        let content = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(line) = content.lines().find(|l| l.contains(text)) {
            return line.to_owned();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "no line with {text:?} in {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// A date `days` from today, as (year, month, day) in UTC, and its midnight as seconds
/// since the epoch.
fn days_from_now(days: i64) -> ((i32, u8, u8), i64) {
    use chrono::Datelike;
    let date = (chrono::Utc::now() + chrono::Duration::days(days)).date_naive();
    let midnight = date.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp();
    (
        (date.year(), date.month() as u8, date.day() as u8),
        midnight,
    )
}

#[tokio::test]
async fn a_certificate_outside_its_validity_stops_start_up_naming_the_date() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "expired",
            (2020, 1, 1),
            (2021, 1, 1),
            ["expired", "notAfter", "2021-01-01T00:00:00"],
        ),
        (
            "early",
            (2090, 1, 1),
            (2091, 1, 1),
            ["not valid before", "notBefore", "2090-01-01T00:00:00"],
        ),
    ];
    for (name, from, to, words) in cases {
        let (_, cert, key) = make_certificate_valid(dir.path(), name, from, to);
        let work = dir.path().join(name);
        let output = corebuild(&[
            ("COREBUILD_BIND", "127.0.0.1"),
            ("COREBUILD_PORT", "0"),
            ("COREBUILD_WORKDIR", work.to_str().unwrap()),
            ("COREBUILD_TLS_CERT", cert.to_str().unwrap()),
            ("COREBUILD_TLS_KEY", key.to_str().unwrap()),
        ])
        .output()
        .await
        .unwrap();
        assert_eq!(output.status.code(), Some(1), "{name}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        for word in words {
            assert!(stderr.contains(word), "{name}: {word} in {stderr}");
        }
        assert!(stderr.contains(cert.to_str().unwrap()), "{stderr}");
    }
}

#[tokio::test]
async fn an_expiring_certificate_is_warned_about_and_exported_and_an_expired_replacement_is_refused()
 {
    let dir = tempfile::tempdir().unwrap();
    let (from, _) = days_from_now(-30);
    let (to, not_after) = days_from_now(5);
    let (ca, cert, key) = make_certificate_valid(dir.path(), "expiring", from, to);
    let (mut worker, url, log) = https_worker(dir.path(), &cert, &key).await;
    let warning = wait_for_log_line(&log, "the certificate expires at").await;
    assert!(
        warning.contains("WARN") && warning.contains("days_left"),
        "{warning}"
    );
    let metric = || async {
        let output = cli(&url, Some(&ca), &["capabilities"]).await;
        assert!(output.status.success(), "{output:?}");
        let client = crate::support::certs::client_trusting(&ca);
        let text = crate::support::certs::text_at(&client, &format!("{url}/metrics")).await;
        text.lines()
            .find_map(|l| l.strip_prefix("corebuild_tls_certificate_not_after_seconds "))
            .map(|v| v.parse::<i64>().unwrap())
    };
    assert_eq!(metric().await, Some(not_after));

    // An expired replacement from another CA: refused, the one in force stays.
    let (other_ca, expired_cert, expired_key) =
        make_certificate_valid(dir.path(), "replacement", (2020, 1, 1), (2021, 1, 1));
    std::fs::copy(&expired_cert, &cert).unwrap();
    std::fs::copy(&expired_key, &key).unwrap();
    kill(Pid::from_raw(worker.id().unwrap() as i32), Signal::SIGHUP).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        metric().await,
        Some(not_after),
        "still the first certificate"
    );
    let refused = cli(&url, Some(&other_ca), &["capabilities"]).await;
    assert_eq!(
        refused.status.code(),
        Some(2),
        "the expired one is not served"
    );

    kill(Pid::from_raw(worker.id().unwrap() as i32), Signal::SIGTERM).unwrap();
    assert_eq!(worker.wait().await.unwrap().code(), Some(0));
}

#[tokio::test]
async fn the_cli_says_what_is_wrong_with_a_ca_certificate_served_as_the_workers_own() {
    // What `openssl req -x509` makes: a self-signed CA certificate, used as the server's.
    let dir = tempfile::tempdir().unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    let (cert_file, key_file) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    let (mut worker, url, _log) = https_worker(dir.path(), &cert_file, &key_file).await;

    let output = cli(&url, Some(&cert_file), &["capabilities"]).await;
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("is a CA certificate") && stderr.contains("docs/operations.md"),
        "{stderr}"
    );

    // A --ca-file with no certificate in it is an error, not silently ignored.
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let output = cli(&url, Some(&empty), &["capabilities", "--json"]).await;
    assert_eq!(output.status.code(), Some(2));
    let error: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("holds no certificate"),
        "{error}"
    );
    worker.kill().await.unwrap();
}
