//! The try-it-locally example: a real ISO built by `examples/isocreator-xorriso`
//! through the worker, uploaded, and read back. Needs xorriso (`.ci/run` installs it).

use serde_json::Value;

use crate::support::helpers::{job, spawn_app_with};
use crate::support::s3::start_s3;

#[tokio::test]
async fn an_iso_built_with_xorriso_carries_the_env_file() {
    let installed = std::process::Command::new("xorriso")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        installed,
        "xorriso is not installed: `apt-get install -y xorriso` (see README.md)"
    );
    let s3 = start_s3().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/isocreator-xorriso");
    let app = spawn_app_with(&["--iso-creator-command", script]).await;
    let response = app.submit(&job("xorriso-1", &s3)).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");

    let (bytes, content_type) = s3.object("corebuild/baseos/xorriso-1/baseos.iso").await;
    assert_eq!(content_type.as_deref(), Some("application/x-iso9660-image"));
    assert_eq!(
        bytes.len() as u64,
        body["artifact"]["size"].as_u64().unwrap()
    );
    let dir = tempfile::tempdir().unwrap();
    let iso = dir.path().join("baseos.iso");
    std::fs::write(&iso, &bytes).unwrap();
    let env_file = dir.path().join("baserunner.env");
    let extracted = std::process::Command::new("xorriso")
        .args(["-osirrox", "on", "-indev"])
        .arg(&iso)
        .args(["-extract", "/etc/baseos/baserunner.env"])
        .arg(&env_file)
        .output()
        .expect("xorriso must be installed (apt-get install xorriso; .ci/run does this)");
    assert!(
        extracted.status.success(),
        "{}",
        String::from_utf8_lossy(&extracted.stderr)
    );
    let env = std::fs::read_to_string(&env_file).unwrap();
    assert_eq!(
        env,
        "BASEOS_CLOUDLY_URL=\"https://cloudly.example.com\"\nBASEOS_JOIN_TOKEN=\"one-time-baseos-token-5a4b\"\nBASEOS_STATE_PATH=\"/var/lib/baseos/state.json\"\nBASEOS_HEARTBEAT_INTERVAL_SECONDS=\"30\"\n"
    );
    let logs = body["logs"].to_string();
    assert!(
        logs.contains("added /etc/systemd/system/baseos-baserunner.service (0644)"),
        "{logs}"
    );
}
