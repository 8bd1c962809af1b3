//! Start-up configuration: bad values stop the real binary with a message that names
//! the variable; good spellings are accepted.

use std::time::Duration;

use crate::support::helpers::config_with;
use crate::support::worker::corebuild;

/// Runs the binary with `env` and returns (exit code, stderr).
async fn start_with(env: &[(&str, &str)]) -> (Option<i32>, String) {
    let workdir = tempfile::tempdir().unwrap();
    let work = workdir.path().join("work");
    let mut all = vec![
        ("COREBUILD_BIND", "127.0.0.1"),
        ("COREBUILD_PORT", "0"),
        ("COREBUILD_WORKDIR", work.to_str().unwrap()),
    ];
    all.extend_from_slice(env);
    let child = corebuild(&all).spawn().unwrap();
    let output = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("a bad configuration must stop start-up, not serve")
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn bad_values_stop_start_up_naming_the_variable() {
    let cases = [
        ("COREBUILD_PORT", "abc"),
        ("COREBUILD_PORT", "70000"),
        ("COREBUILD_BIND", "not-an-ip"),
        ("COREBUILD_MAX_CONCURRENCY", "0"),
        ("COREBUILD_CPUS_PER_JOB", "-1"),
        ("COREBUILD_MEMORY_GB_PER_JOB", "0"),
        ("COREBUILD_QUEUE_CAPACITY", "many"),
        ("COREBUILD_JOB_TIMEOUT_SECS", "0"),
        ("COREBUILD_BUILDER_ENV", "COREBUILD_TOKEN"),
        ("COREBUILD_BUILDER_ENV", "NOT A NAME"),
        ("COREBUILD_JOB_RETENTION_SECS", "1d"),
        ("COREBUILD_MAX_RETAINED_JOBS", "-5"),
        ("COREBUILD_LOG_LINES", "0"),
        ("COREBUILD_SHUTDOWN_GRACE_SECS", "soon"),
        ("COREBUILD_UPLOAD_PART_SIZE", "1MiB"),
        ("COREBUILD_UPLOAD_PART_SIZE", "16 furlongs"),
        ("COREBUILD_UPLOAD_CONCURRENCY", "0"),
        ("COREBUILD_MAX_BODY_BYTES", "lots"),
        ("COREBUILD_LOG_FORMAT", "xml"),
        ("COREBUILD_ARCHITECTURES", "sparc"),
        ("COREBUILD_IMAGE_KINDS", "floppy"),
        ("COREBUILD_QUEUE_TIMEOUT_SECS", "soon"),
        ("COREBUILD_ADVERTISE_URL", "ftp://builder-1"),
    ];
    for (variable, value) in cases {
        let (code, stderr) = start_with(&[(variable, value)]).await;
        assert_ne!(code, Some(0), "{variable}={value} must not start");
        assert!(code.is_some(), "{variable}={value}: exited, not killed");
        assert!(
            stderr.contains(variable) && stderr.contains(value),
            "{variable}={value}: message names both: {stderr}"
        );
    }
}

#[tokio::test]
async fn capabilities_that_leave_nothing_to_build_stop_start_up_naming_both() {
    let (code, stderr) = start_with(&[
        ("COREBUILD_ARCHITECTURES", "rpi"),
        ("COREBUILD_IMAGE_KINDS", " ubuntu-iso "),
    ])
    .await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("COREBUILD_ARCHITECTURES (rpi)"), "{stderr}");
    assert!(
        stderr.contains("COREBUILD_IMAGE_KINDS (ubuntu-iso)"),
        "{stderr}"
    );
}

#[tokio::test]
async fn an_unusable_workdir_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    let below_a_file = file.join("work");
    let (code, stderr) = start_with(&[("COREBUILD_WORKDIR", below_a_file.to_str().unwrap())]).await;
    assert_eq!(code, Some(1));
    assert!(stderr.contains("COREBUILD_WORKDIR"), "{stderr}");
    assert!(stderr.contains(below_a_file.to_str().unwrap()), "{stderr}");
}

#[test]
fn defaults_match_the_documented_ones() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with(&dir, &[]);
    assert_eq!(config.iso_creator_command, "isocreator");
    assert_eq!(config.max_concurrency, None);
    assert_eq!(config.cpus_per_job.get(), 2);
    assert_eq!(config.memory_gb_per_job.get(), 4);
    assert_eq!(config.queue_capacity.get(), 16);
    assert_eq!(config.job_timeout_secs.get(), 7200);
    assert_eq!(config.job_retention_secs, 86400);
    assert_eq!(config.max_retained_jobs, 1000);
    assert_eq!(config.log_lines.get(), 10000);
    assert_eq!(config.shutdown_grace_secs, 600);
    assert_eq!(config.upload_part_size.as_u64(), 16 * 1024 * 1024);
    assert_eq!(config.upload_concurrency.get(), 4);
    assert_eq!(config.max_body_bytes.as_u64(), 1024 * 1024);
    assert!(config.required_token().is_none());
    assert_eq!(config.queue_timeout_secs, 86400);
    assert_eq!(config.advertise_url, None);
}

#[test]
fn sizes_accept_binary_decimal_and_plain_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let size = |value: &str| {
        config_with(&dir, &["--upload-part-size", value])
            .upload_part_size
            .as_u64()
    };
    assert_eq!(size("16MiB"), 16 * 1024 * 1024);
    assert_eq!(size("8MB"), 8_000_000);
    assert_eq!(size("6291456"), 6 * 1024 * 1024);
}

#[test]
fn an_empty_token_means_no_token() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        config_with(&dir, &["--token", ""])
            .required_token()
            .is_none()
    );
    let set = config_with(&dir, &["--token", "s3cret"]);
    assert_eq!(set.required_token().unwrap().expose(), "s3cret");
    assert_eq!(
        format!("{set:?}").matches("s3cret").count(),
        0,
        "Debug hides it"
    );
}
