//! The upload pipeline measured on this machine: `cargo bench --bench pipeline`.
//!
//! Starts a discard S3 endpoint and, per artifact size, a fresh release worker whose
//! fake isocreator hands over a pre-made random artifact; reads the upload phase's time
//! from the job's own log and the worker's peak RSS (VmHWM) from /proc. In the same run,
//! on the same file and endpoint: a hash-only pass (the limit), `sha256sum`, and `aws s3
//! cp` where installed. `BENCH_SIZES=256MiB,1GiB` picks the sizes (default 256MiB, 1GiB,
//! 4GiB).

mod discard_s3;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, BufReader};

const MIB: u64 = 1024 * 1024;

struct Row {
    what: String,
    size: u64,
    seconds: f64,
    peak_rss_mib: Option<f64>,
}

#[tokio::main]
async fn main() {
    let sizes: Vec<u64> = std::env::var("BENCH_SIZES")
        .unwrap_or_else(|_| "256MiB,1GiB,4GiB".to_owned())
        .split(',')
        .map(|s| {
            s.trim()
                .parse::<bytesize::ByteSize>()
                .expect("a size")
                .as_u64()
        })
        .collect();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pipeline-bench");
    std::fs::create_dir_all(&dir).unwrap();
    let s3 = discard_s3::start().await;
    let mut rows = Vec::new();
    for size in sizes {
        let artifact = make_artifact(&dir, size);
        rows.push(Row {
            what: "hash only (read + SHA-256)".into(),
            size,
            seconds: hash_only(&artifact),
            peak_rss_mib: None,
        });
        for unsigned in [false, true] {
            let before = s3.received.load(std::sync::atomic::Ordering::Relaxed);
            let (seconds, rss) = corebuild_upload(&dir, &artifact, s3.address, unsigned).await;
            let sent = s3.received.load(std::sync::atomic::Ordering::Relaxed) - before;
            assert_eq!(sent, size, "the endpoint received the whole artifact once");
            let what = if unsigned {
                "corebuild, unsigned payload"
            } else {
                "corebuild, signed payload"
            };
            rows.push(Row {
                what: what.into(),
                size,
                seconds,
                peak_rss_mib: Some(rss),
            });
        }
        if let Some(seconds) = timed("sha256sum", &[artifact.to_str().unwrap()]) {
            rows.push(Row {
                what: "sha256sum".into(),
                size,
                seconds,
                peak_rss_mib: None,
            });
            if let Some(cp) = aws_cp(&artifact, s3.address) {
                rows.push(Row {
                    what: "aws s3 cp".into(),
                    size,
                    seconds: cp,
                    peak_rss_mib: None,
                });
                rows.push(Row {
                    what: "sha256sum + aws s3 cp".into(),
                    size,
                    seconds: seconds + cp,
                    peak_rss_mib: None,
                });
            }
        }
        std::fs::remove_file(&artifact).unwrap();
    }
    print_table(&rows);
}

/// Random-looking bytes (xorshift), written once per size.
fn make_artifact(dir: &Path, size: u64) -> PathBuf {
    let path = dir.join(format!("artifact-{size}.bin"));
    let mut file =
        std::io::BufWriter::with_capacity(8 * MIB as usize, std::fs::File::create(&path).unwrap());
    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ size;
    let mut block = vec![0u8; MIB as usize];
    let mut left = size;
    while left > 0 {
        for chunk in block.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes());
        }
        let n = left.min(MIB) as usize;
        file.write_all(&block[..n]).unwrap();
        left -= n as u64;
    }
    file.flush().unwrap();
    path
}

fn hash_only(path: &Path) -> f64 {
    let started = Instant::now();
    let mut file = std::fs::File::open(path).unwrap();
    let mut buf = vec![0u8; 16 * MIB as usize];
    let mut hasher = Sha256::new();
    loop {
        let n = file.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    std::hint::black_box(hasher.finalize());
    started.elapsed().as_secs_f64()
}

fn timed(program: &str, args: &[&str]) -> Option<f64> {
    let started = Instant::now();
    let status = std::process::Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .status()
        .ok()?;
    status.success().then(|| started.elapsed().as_secs_f64())
}

fn aws_cp(path: &Path, endpoint: std::net::SocketAddr) -> Option<f64> {
    let started = Instant::now();
    let status = std::process::Command::new("aws")
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench-secret")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .args([
            "--endpoint-url",
            &format!("http://{endpoint}"),
            "s3",
            "cp",
            "--quiet",
        ])
        .arg(path)
        .arg("s3://bench/aws-cp.bin")
        .status()
        .ok()?;
    status.success().then(|| started.elapsed().as_secs_f64())
}

/// One job through a fresh release worker: (upload seconds from the job log, VmHWM MiB).
async fn corebuild_upload(
    dir: &Path,
    artifact: &Path,
    s3: std::net::SocketAddr,
    unsigned: bool,
) -> (f64, f64) {
    let fake = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/fake-isocreator"
    );
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_corebuild"))
        .env("COREBUILD_BIND", "127.0.0.1")
        .env("COREBUILD_PORT", "0")
        .env("COREBUILD_WORKDIR", dir.join("work"))
        .env("COREBUILD_LOG_FORMAT", "json")
        .env("COREBUILD_UPLOAD_UNSIGNED_PAYLOAD", unsigned.to_string())
        .env(
            "ISO_CREATOR_COMMAND",
            format!("'{fake}' link '{}'", artifact.display()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let address = loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("the worker started");
        if let Ok(event) = serde_json::from_str::<Value>(&line)
            && event["message"] == "corebuild listening"
        {
            break event["address"].as_str().unwrap().to_owned();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let job = json!({ "job": {
        "id": format!("bench-{}", artifact.file_name().unwrap().to_str().unwrap().replace('.', "-")),
        "architecture": "amd64", "imageKind": "ubuntu-iso",
        "cloudlyUrl": "https://cloudly.example.com", "provisioningToken": "bench-token",
        "s3Descriptor": { "endpoint": s3.to_string(), "useSsl": false,
            "accessKey": "bench", "accessSecret": "bench-secret", "bucketName": "bench" }
    }});
    let answer: Value = reqwest::Client::builder()
        .timeout(Duration::from_secs(3600))
        .build()
        .unwrap()
        .post(format!("http://{address}/corebuild/v1/jobs/baseos-image"))
        .json(&job)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["success"], true, "{answer}");
    let seconds = answer["logs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .find_map(|l| {
            l.strip_prefix("Uploaded ")
                .and_then(|r| r.split(" in ").nth(1))
                .and_then(|r| r.split(' ').next())
        })
        .and_then(|s| s.parse::<f64>().ok())
        .expect("the job logged its upload time");
    let pid = child.id().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let hwm_kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let _ = child.wait().await;
    (seconds, hwm_kib / 1024.0)
}

fn print_table(rows: &[Row]) {
    println!(
        "{:<30} {:>9} {:>9} {:>8} {:>14} {:>13}",
        "what", "size", "seconds", "GB/s", "vs corebuild", "peak RSS MiB"
    );
    for row in rows {
        let reference = rows
            .iter()
            .find(|r| r.size == row.size && r.what == "corebuild, signed payload")
            .map_or(f64::NAN, |r| r.seconds);
        println!(
            "{:<30} {:>9} {:>9.2} {:>8.2} {:>13.2}x {:>13}",
            row.what,
            bytesize::ByteSize::b(row.size)
                .display()
                .iec_short()
                .to_string(),
            row.seconds,
            row.size as f64 / 1e9 / row.seconds,
            row.seconds / reference,
            row.peak_rss_mib
                .map_or_else(|| "-".to_owned(), |m| format!("{m:.0}")),
        );
    }
}
