//! HTTPS on the worker's own API: a certificate made here (rcgen), the CLI trusting its
//! CA with `--ca-file`, and a new certificate taken on SIGHUP while a job runs.

use std::path::{Path, PathBuf};
use std::process::Output;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use serde_json::Value;

use crate::binary::{corebuild, wait_for_address};
use crate::helpers::{fake_isocreator, job};
use crate::s3::start_s3;

/// A CA of its own and a certificate for `localhost` it signed, written to `dir`:
/// (CA file, certificate file, key file).
pub fn make_certificate(dir: &Path, name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, format!("{name} CA"));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let files = (
        dir.join(format!("{name}-ca.pem")),
        dir.join(format!("{name}-cert.pem")),
        dir.join(format!("{name}-key.pem")),
    );
    std::fs::write(&files.0, ca_cert.pem()).unwrap();
    std::fs::write(&files.1, cert.pem()).unwrap();
    std::fs::write(&files.2, key.serialize_pem()).unwrap();
    files
}

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
