//! Golden files for the generated isocreator config: each image kind with and without
//! the optional parts. `UPDATE_GOLDEN=1 cargo test` rewrites them after a deliberate change.

use std::path::{Path, PathBuf};

use corebuild::domain::parse_job;
use corebuild::isocreator::config as isocreator_config;
use serde_json::{Value, json};

fn job(kind: &str, optional: bool) -> Value {
    let mut job = json!({
        "id": "build-123",
        "architecture": if kind == "ubuntu-iso" { "amd64" } else { "rpi" },
        "imageKind": kind,
        "cloudlyUrl": "https://cloudly.example.com",
        "provisioningToken": "one-time-baseos-token",
        "s3Descriptor": {
            "endpoint": "s3.example.com",
            "accessKey": "access-key",
            "accessSecret": "secret-key",
            "bucketName": "servezone-artifacts"
        }
    });
    if kind == "balena-raw" {
        job["sourceImageUrl"] = json!("https://images.example.com/balena-rpi.img.zip");
    }
    if optional {
        job["ubuntuVersion"] = json!("22.04");
        job["hostname"] = json!("edge-7");
        job["sshPublicKey"] = json!("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample user@host");
        job["sshUser"] = json!("ops");
        job["wifi"] = json!({ "ssid": "office", "password": "wifi-secret" });
    }
    job
}

fn check(name: &str, kind: &str, optional: bool) {
    let parsed = parse_job(job(kind, optional)).unwrap();
    let rendered =
        isocreator_config::render(&parsed, Path::new("/var/tmp/corebuild/build-123-0a1b2c3d"));
    let again = isocreator_config::render(
        &parse_job(job(kind, optional)).unwrap(),
        Path::new("/var/tmp/corebuild/build-123-0a1b2c3d"),
    );
    assert_eq!(rendered, again, "the same job gives the same bytes");

    let golden: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "golden", name]
        .iter()
        .collect();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &rendered).unwrap();
    }
    let expected = std::fs::read(&golden).unwrap_or_else(|e| panic!("{}: {e}", golden.display()));
    assert_eq!(
        String::from_utf8_lossy(&rendered),
        String::from_utf8_lossy(&expected),
        "{name} differs from the golden file"
    );
}

#[test]
fn ubuntu_iso_minimal() {
    check("ubuntu-iso-minimal.json", "ubuntu-iso", false);
}

#[test]
fn ubuntu_iso_with_ssh_and_wifi() {
    check("ubuntu-iso-full.json", "ubuntu-iso", true);
}

#[test]
fn balena_raw_minimal() {
    check("balena-raw-minimal.json", "balena-raw", false);
}

#[test]
fn balena_raw_with_ssh_and_wifi() {
    check("balena-raw-full.json", "balena-raw", true);
}

#[test]
fn the_config_has_the_schema_version_1_shape() {
    let parsed = parse_job(job("ubuntu-iso", true)).unwrap();
    let rendered = isocreator_config::render(&parsed, Path::new("/ws"));
    let config: Value = serde_json::from_slice(&rendered).unwrap();
    // Top-level keys in the schema's order (indented two spaces in the pretty output).
    let text = String::from_utf8(rendered).unwrap();
    let keys: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("  \""))
        .filter_map(|l| l.split('"').next())
        .collect();
    assert_eq!(
        keys,
        [
            "schemaVersion",
            "jobId",
            "imageKind",
            "architecture",
            "hostname",
            "output",
            "ubuntu",
            "balena",
            "files",
            "systemdUnits",
            "firstBootCommands",
            "users",
            "wifi"
        ]
    );
    assert_eq!(config["output"]["path"], "/ws/output/baseos.iso");
    assert_eq!(config["users"][0]["name"], "ops");
    let env = config["files"][0]["content"].as_str().unwrap();
    assert!(env.contains("BASEOS_JOIN_TOKEN=\"one-time-baseos-token\"\n"));
    let script = config["files"][2]["content"].as_str().unwrap();
    assert!(
        script.contains("git clone https://code.foss.global/serve.zone/baseos.git /opt/baseos")
    );
    assert!(script.contains("command -v deno"));
}
