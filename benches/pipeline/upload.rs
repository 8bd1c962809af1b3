//! The upload phase: corebuild beside what an operator would otherwise script, on the
//! same file and the same discard endpoint, interleaved run by run so that a noisy
//! neighbour slows all of them alike.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::Value;

use crate::discard_s3::DiscardS3;
use crate::tls::TestCa;
use crate::worker::{Endpoint, Worker};

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

/// The machine's limit: a tool that is not the worker hashing the same cached file.
pub const OPENSSL_DGST: &str = "openssl dgst -sha256 (the machine's limit)";
pub const WORKER_HASH: &str = "the worker's hasher alone (aws-lc-rs, read + SHA-256)";
pub const COREBUILD: &str = "corebuild, unsigned payload";
pub const COREBUILD_SIGNED: &str = "corebuild, signed payload (plain HTTP default)";
pub const COREBUILD_TLS: &str = "corebuild over TLS, unsigned payload (TLS default)";
pub const TWO_JOBS: &str = "corebuild, two jobs at once (size is each job's)";
pub const AWS_CP: &str = "aws s3 cp";
pub const OPENSSL_AWS_CP: &str = "openssl dgst + aws s3 cp";
pub const RCLONE: &str = "rclone copyto";

/// One contender at one size: the median of its runs.
pub struct Measured {
    pub what: &'static str,
    pub size: u64,
    pub seconds: f64,
    /// The worker's peak RSS, highest over the runs (corebuild rows only).
    pub peak_rss_mib: Option<f64>,
}

pub async fn measure(
    dir: &Path,
    s3: &DiscardS3,
    ca: &TestCa,
    size: u64,
    runs: usize,
) -> Vec<Measured> {
    let artifact = make_artifact(dir, size);
    let mut samples: Vec<(&'static str, f64, Option<f64>)> = Vec::new();
    let plain = Endpoint::from(s3.address);
    let tls = Endpoint {
        address: s3.tls_address,
        tls: true,
    };
    for run in 0..runs {
        eprintln!("  {} run {}/{runs}", human(size), run + 1);
        let path = artifact.to_str().unwrap();
        let openssl = timed(Command::new("openssl").args(["dgst", "-sha256", path]));
        if let Some(seconds) = openssl {
            samples.push((OPENSSL_DGST, seconds, None));
        }
        samples.push((WORKER_HASH, worker_hash(&artifact), None));
        let contenders = [
            (COREBUILD, plain, "true"),
            (COREBUILD_SIGNED, plain, "false"),
            (COREBUILD_TLS, tls, "true"),
        ];
        for (what, endpoint, unsigned) in contenders {
            let before = s3.received();
            let env = [
                ("COREBUILD_UPLOAD_UNSIGNED_PAYLOAD", unsigned),
                ("SSL_CERT_FILE", ca.ca_file.to_str().unwrap()),
            ];
            let (seconds, rss) = corebuild(dir, &artifact, endpoint, &env).await;
            assert_eq!(
                s3.received() - before,
                size,
                "the whole artifact arrived once"
            );
            samples.push((what, seconds, Some(rss)));
        }
        if size == 2 * GIB {
            let (seconds, rss) = two_jobs(dir, &artifact, plain, size).await;
            samples.push((TWO_JOBS, seconds, Some(rss)));
        }
        let aws = timed(&mut aws_cp(path, s3.address));
        if let Some(seconds) = aws {
            samples.push((AWS_CP, seconds, None));
        }
        if let (Some(a), Some(b)) = (openssl, aws) {
            samples.push((OPENSSL_AWS_CP, a + b, None));
        }
        if let Some(seconds) = timed(&mut rclone_copyto(path, s3.address)) {
            samples.push((RCLONE, seconds, None));
        }
    }
    std::fs::remove_file(&artifact).unwrap();

    let order = [
        OPENSSL_DGST,
        WORKER_HASH,
        COREBUILD,
        COREBUILD_SIGNED,
        COREBUILD_TLS,
        TWO_JOBS,
        AWS_CP,
        OPENSSL_AWS_CP,
        RCLONE,
    ];
    order
        .into_iter()
        .filter_map(|what| {
            let mut seconds: Vec<f64> = samples
                .iter()
                .filter(|s| s.0 == what)
                .map(|s| s.1)
                .collect();
            if seconds.is_empty() {
                return None;
            }
            seconds.sort_by(f64::total_cmp);
            let peak_rss_mib = samples
                .iter()
                .filter(|s| s.0 == what)
                .filter_map(|s| s.2)
                .reduce(f64::max);
            Some(Measured {
                what,
                size,
                seconds: seconds[seconds.len() / 2],
                peak_rss_mib,
            })
        })
        .collect()
}

/// `256 MiB`, `2 GiB`: whole binary units where the size has them.
pub fn human(size: u64) -> String {
    const GIB: u64 = 1024 * MIB;
    match size {
        s if s >= GIB && s % GIB == 0 => format!("{} GiB", s / GIB),
        s if s >= MIB && s % MIB == 0 => format!("{} MiB", s / MIB),
        s => format!("{s} bytes"),
    }
}

/// Random-looking bytes (xorshift), written once per size; measurements read it from
/// the page cache.
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
    // On disk before anything is timed, so the kernel's write-back of this file does
    // not run during (and slow down) the measurements.
    file.into_inner().unwrap().sync_all().unwrap();
    path
}

/// The worker's SHA-256 implementation alone: read the file and hash it on one thread.
fn worker_hash(path: &Path) -> f64 {
    let started = Instant::now();
    let mut file = std::fs::File::open(path).unwrap();
    let mut buf = vec![0u8; 16 * MIB as usize];
    let mut hasher = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    loop {
        let n = file.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    std::hint::black_box(hasher.finish());
    started.elapsed().as_secs_f64()
}

/// Seconds a command took, or `None` when it is not installed or failed.
fn timed(command: &mut Command) -> Option<f64> {
    let started = Instant::now();
    let status = command.stdout(Stdio::null()).status().ok()?;
    status.success().then(|| started.elapsed().as_secs_f64())
}

/// `aws s3 cp` with its defaults apart from the part size, set to corebuild's.
fn aws_cp(path: &str, endpoint: SocketAddr) -> Command {
    // The part size goes in through a config file of the benchmark's own, so the
    // operator's ~/.aws stays untouched.
    let config = Path::new(path).with_file_name("aws-config");
    std::fs::write(
        &config,
        "[default]\ns3 =\n  multipart_chunksize = 16MB\n  multipart_threshold = 16MB\n",
    )
    .unwrap();
    let mut command = Command::new("aws");
    command
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench-secret")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", &config)
        .args(["--endpoint-url", &format!("http://{endpoint}")])
        .args(["s3", "cp", "--quiet", path, "s3://bench/aws-cp.bin"]);
    command
}

/// `rclone copyto` to an on-the-fly S3 remote, parts and concurrency as corebuild's.
/// The discard endpoint keeps nothing, so rclone must not look the object up after.
fn rclone_copyto(path: &str, endpoint: SocketAddr) -> Command {
    let mut command = Command::new("rclone");
    command
        .env("RCLONE_CONFIG", "/dev/null")
        // An http endpoint needs no CA bundle, and rclone fails on this one.
        .env_remove("AWS_CA_BUNDLE")
        .args(["copyto", path])
        .arg(format!(
            ":s3,provider=Other,access_key_id=bench,secret_access_key=bench-secret,\
             endpoint='http://{endpoint}',region=us-east-1:bench/rclone.bin"
        ))
        .args([
            "--s3-chunk-size=16Mi",
            "--s3-upload-concurrency=4",
            "--s3-no-check-bucket",
            "--s3-no-head",
            "--ignore-checksum",
            "--quiet",
        ]);
    command
}

/// One job through a fresh release worker: (upload seconds from the job's own log line,
/// the worker's VmHWM in MiB).
async fn corebuild(dir: &Path, artifact: &Path, s3: Endpoint, env: &[(&str, &str)]) -> (f64, f64) {
    let worker = Worker::start(dir, &format!("link '{}'", artifact.display()), env).await;
    let answer = worker.run_job("bench-upload", s3).await;
    let seconds = upload_seconds(&answer);
    let rss = worker.memory_mib("VmHWM");
    worker.stop().await;
    (seconds, rss)
}

/// Two jobs of the same artifact uploading at once through one worker with two
/// executors: (seconds from the first upload's start to the last one's end, VmHWM).
async fn two_jobs(dir: &Path, artifact: &Path, s3: Endpoint, size: u64) -> (f64, f64) {
    let worker = Worker::start(
        dir,
        &format!("link '{}'", artifact.display()),
        &[
            ("COREBUILD_MAX_CONCURRENCY", "2"),
            ("COREBUILD_UPLOAD_UNSIGNED_PAYLOAD", "true"),
        ],
    )
    .await;
    let (a, b) = tokio::join!(worker.run_job("bench-a", s3), worker.run_job("bench-b", s3));
    let spans: Vec<(u64, u64)> = [&a, &b].into_iter().map(upload_span).collect();
    let start = spans.iter().map(|s| s.0).min().unwrap();
    let end = spans.iter().map(|s| s.1).max().unwrap();
    let rss = worker.memory_mib("VmHWM");
    worker.stop().await;
    assert!(size > 0);
    ((end - start) as f64 / 1000.0, rss)
}

/// The upload's seconds, from the job's "Uploaded … in X s" line.
fn upload_seconds(answer: &Value) -> f64 {
    log_lines(answer)
        .find_map(|l| {
            l.strip_prefix("Uploaded ")?
                .split(" in ")
                .nth(1)?
                .split(' ')
                .next()?
                .parse::<f64>()
                .ok()
        })
        .expect("the job logged its upload time")
}

/// When the upload started and ended (ms), by the times of its two log lines, read
/// back from the job's log.
fn upload_span(answer: &Value) -> (u64, u64) {
    let end = answer["artifact"]["createdAt"]
        .as_u64()
        .expect("an artifact");
    let seconds = upload_seconds(answer);
    (end - (seconds * 1000.0) as u64, end)
}

fn log_lines(answer: &Value) -> impl Iterator<Item = &str> {
    answer["logs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}
