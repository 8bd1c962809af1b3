//! What the machine is, for the header of every figure: CPU model, whether it has
//! SHA-256 instructions (`sha_ni` on x86-64, `sha2` on aarch64), whether they were
//! masked for the run, and what `openssl speed` makes of SHA-256 here.

//!
//! `OPENSSL_ia32cap=:~0x20000000` (bit 29 of the second capability word) hides SHA-NI
//! from OpenSSL and AWS-LC alike, so a run with it set measures this machine as one
//! without SHA-NI; the header says so.

use std::process::Command;

pub fn describe() -> Vec<String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        cpuinfo.lines().find_map(|l| {
            let (key, value) = l.split_once(':')?;
            (key.trim() == name).then(|| value.trim().to_owned())
        })
    };
    let model = field("model name")
        .or_else(|| field("CPU part").map(|p| format!("Arm CPU part {p}")))
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let flags = field("flags")
        .or_else(|| field("Features"))
        .unwrap_or_default();
    let has = |flag: &str| flags.split_whitespace().any(|f| f == flag);
    let sha = match std::env::consts::ARCH {
        "x86_64" => format!(
            "sha_ni {}",
            if has("sha_ni") { "present" } else { "absent" }
        ),
        "aarch64" => format!("sha2 {}", if has("sha2") { "present" } else { "absent" }),
        other => format!("{other}: SHA extensions not checked"),
    };
    let masked = std::env::var("OPENSSL_ia32cap")
        .ok()
        .map_or_else(String::new, |mask| {
            format!(", masked for this run (OPENSSL_ia32cap={mask})")
        });
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut lines = vec![format!("CPU: {model}, {cores} cores; {sha}{masked}")];
    lines.push(match openssl_speed() {
        Some(gbps) => format!("openssl speed sha256 (16 KiB blocks, one core): {gbps:.2} GB/s"),
        None => "openssl speed sha256: openssl not installed".to_owned(),
    });
    lines
}

/// `openssl speed -bytes 16384 sha256` in GB/s.
fn openssl_speed() -> Option<f64> {
    let output = Command::new("openssl")
        .args(["speed", "-seconds", "3", "-bytes", "16384", "sha256"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let last = text.lines().rev().find(|l| l.starts_with("sha256"))?;
    let thousands: f64 = last
        .split_whitespace()
        .nth(1)?
        .trim_end_matches('k')
        .parse()
        .ok()?;
    Some(thousands * 1000.0 / 1e9)
}
