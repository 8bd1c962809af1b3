//! The fleet's fault soak, in the spirit of Jepsen: three workers, one nats-server and
//! moto take a steady stream of jobs (each build writes random bytes, so no two runs
//! agree) while a nemesis pauses workers (SIGSTOP for 1-9 s, on both sides of the ack
//! wait and of the lease), lets them freeze themselves at a fault point, kills them
//! with SIGKILL and starts them again, restarts nats-server and deletes the job queue.
//! Then every fault is healed, every job must end, and a checker holds the history to
//! the fleet's invariants:
//!
//! 1. artifact integrity: a succeeded job's object has the sha256 its status names;
//! 2. final is final: the status bucket, watched revision by revision, never changes a
//!    job's final state, attempt or sha256 within a round;
//! 3. no job is lost: every accepted job ends;
//! 4. one job, one log: one run's lines, `seq` strictly increasing, `nextSeq` equal to
//!    `logLines` once finished.
//!
//! About two minutes; `COREBUILD_SOAK_SECS` makes it longer, `COREBUILD_SOAK_SEED`
//! replays a run. It prints what it did and found.

// The support module is shared with the HTTP tests; the soak uses part of it.
#![allow(dead_code, unreachable_pub)]

#[path = "../api/support/mod.rs"]
mod support;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};

use support::fleet::Process;
use support::moto::{MotoServer, start_moto};
use support::nats::NatsServer;

const BUCKET: &str = "artifacts";
const WORKERS: usize = 3;
const IN_FLIGHT: usize = 6;
const FAULT_POINTS: [&str; 4] = [
    "before_claim",
    "after_claim",
    "before_complete",
    "before_store_end",
];

/// A small deterministic generator (xorshift64*), so a seed replays a run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn millis(&mut self, from: u64, to: u64) -> Duration {
        Duration::from_millis(from + self.below(to - from))
    }
}

/// One worker of the fleet and what the nemesis did to it.
struct Slot {
    id: String,
    dir: PathBuf,
    mode: String,
    process: Option<Process>,
    /// Frozen (by the nemesis or at a fault point) until then.
    resume_at: Option<Instant>,
    /// Killed; started again at this time.
    restart_at: Option<Instant>,
}

impl Slot {
    fn usable(&self) -> bool {
        self.process.is_some() && self.resume_at.is_none()
    }

    fn stopped_itself(&self) -> bool {
        let Some(process) = &self.process else {
            return false;
        };
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", process.pid()));
        stat.unwrap_or_default()
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('T'))
    }
}

struct Soak {
    nats: NatsServer,
    moto: MotoServer,
    slots: Vec<Slot>,
    rng: Rng,
    faults: BTreeMap<String, u64>,
    violations: Arc<Mutex<Vec<String>>>,
    client: reqwest::Client,
    /// The service logs of every worker process that ended, for a violation's story.
    logs: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Soak {
    async fn start_worker(&mut self, index: usize) {
        // Each start arms one fault point at a random hit, or none.
        let pick = self.rng.below(FAULT_POINTS.len() as u64 + 1) as usize;
        let faults = FAULT_POINTS
            .get(pick)
            .map(|p| format!("{p}@{}", 1 + self.rng.below(3)))
            .unwrap_or_default();
        let slot = &self.slots[index];
        let env = [
            ("COREBUILD_FAULT_POINTS", faults.as_str()),
            ("COREBUILD_UPLOAD_PART_SIZE", "5MiB"),
        ];
        let process = Process::start(&self.nats.url(), &slot.id, &slot.dir, &slot.mode, &env).await;
        let slot = &mut self.slots[index];
        slot.process = Some(process);
        slot.resume_at = None;
        slot.restart_at = None;
    }

    fn count(&mut self, fault: &str) {
        *self.faults.entry(fault.to_owned()).or_default() += 1;
    }

    /// One move of the nemesis.
    async fn strike(&mut self) {
        let now = Instant::now();
        match self.rng.below(10) {
            0..=4 => {
                let usable: Vec<usize> = (0..WORKERS).filter(|i| self.slots[*i].usable()).collect();
                if usable.len() > 1 {
                    let i = usable[self.rng.below(usable.len() as u64) as usize];
                    let pause = self.rng.millis(1_000, 9_000);
                    self.slots[i].process.as_ref().unwrap().pause();
                    self.slots[i].resume_at = Some(now + pause);
                    self.count("pause (SIGSTOP)");
                }
            }
            5..=6 => {
                let live: Vec<usize> = (0..WORKERS)
                    .filter(|i| self.slots[*i].process.is_some())
                    .collect();
                if live.len() > 1 {
                    let i = live[self.rng.below(live.len() as u64) as usize];
                    let mut process = self.slots[i].process.take().unwrap();
                    process.kill_9().await;
                    if let Some(log) = process.log.take() {
                        self.logs.push(log.await.unwrap_or_default());
                    }
                    self.slots[i].resume_at = None;
                    self.slots[i].restart_at = Some(now + self.rng.millis(1_000, 5_000));
                    self.count("kill -9");
                }
            }
            7..=8 => {
                self.nats.restart();
                self.count("nats-server restart");
            }
            _ => {
                if let Ok(client) = async_nats::connect(self.nats.url()).await {
                    let js = async_nats::jetstream::new(client);
                    if js.delete_stream("corebuild_jobs").await.is_ok() {
                        self.count("job queue deleted");
                    }
                }
            }
        }
    }

    /// Resumes and restarts what is due; notices workers frozen at a fault point.
    async fn tend(&mut self) {
        let now = Instant::now();
        for i in 0..WORKERS {
            if self.slots[i].resume_at.is_none() && self.slots[i].stopped_itself() {
                let at = now + self.rng.millis(1_000, 9_000);
                self.slots[i].resume_at = Some(at);
                self.count("fault point (self-stop)");
            }
            if self.slots[i].resume_at.is_some_and(|t| t <= now) {
                self.slots[i].process.as_ref().unwrap().resume();
                self.slots[i].resume_at = None;
            }
            if self.slots[i].restart_at.is_some_and(|t| t <= now) {
                self.start_worker(i).await;
            }
        }
    }

    fn usable_url(&mut self) -> Option<String> {
        let usable: Vec<usize> = (0..WORKERS).filter(|i| self.slots[*i].usable()).collect();
        if usable.is_empty() {
            return None;
        }
        let i = usable[self.rng.below(usable.len() as u64) as usize];
        Some(self.slots[i].process.as_ref().unwrap().url.clone())
    }

    fn job(&self, id: &str) -> Value {
        json!({
            "id": id,
            "architecture": "amd64",
            "imageKind": "ubuntu-iso",
            "cloudlyUrl": "https://cloudly.example.com",
            "provisioningToken": "one-time-baseos-token-5a4b",
            "s3Descriptor": self.moto.descriptor(BUCKET)
        })
    }

    async fn get(&self, url: &str) -> Option<Value> {
        let answer = self.client.get(url).send().await.ok()?;
        answer.json().await.ok()
    }

    fn violation(&self, what: String) {
        self.violations.lock().unwrap().push(what);
    }
}

/// Watches the status bucket, revision by revision (again after each NATS restart),
/// and reports any change to a final status within its round.
fn watch_finals(url: String, violations: Arc<Mutex<Vec<String>>>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // key → (round, state, attempt, sha256) of its first final revision.
        let mut finals: HashMap<String, (u64, Value, Value, Value)> = HashMap::new();
        loop {
            let watch = async {
                let client = async_nats::connect(&url).await.ok()?;
                let js = async_nats::jetstream::new(client);
                let kv = js.get_key_value("corebuild_status").await.ok()?;
                kv.watch_all().await.ok()
            };
            let Some(mut watch) = watch.await else {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            };
            while let Some(Ok(entry)) = watch.next().await {
                let Ok(doc) = serde_json::from_slice::<Value>(&entry.value) else {
                    continue;
                };
                let Some(round) = doc["round"].as_u64() else {
                    continue;
                };
                let view = &doc["view"];
                let state = view["state"].clone();
                let now = (
                    round,
                    state.clone(),
                    view["attempt"].clone(),
                    view["artifact"]["sha256"].clone(),
                );
                let is_final = matches!(state.as_str(), Some("succeeded" | "failed" | "cancelled"));
                match finals.get(&entry.key) {
                    Some(first) if first.0 == round && *first != now => {
                        violations.lock().unwrap().push(format!(
                            "final is final: {} went from {first:?} to {now:?}",
                            entry.key
                        ));
                    }
                    Some(first) if first.0 == round => {}
                    _ if is_final => {
                        finals.insert(entry.key.clone(), now);
                    }
                    _ => {}
                }
            }
        }
    })
}

fn cpu() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let sha_ni = info
        .lines()
        .any(|l| l.starts_with("flags") && l.contains(" sha_ni"));
    format!(
        "{model}, {} cores, sha_ni {}",
        num_cpus(),
        if sha_ni { "yes" } else { "no" }
    )
}

/// The nats-server the soak ran against, as it names itself.
fn nats_version() -> String {
    let binary =
        std::env::var("COREBUILD_TEST_NATS_SERVER").unwrap_or_else(|_| "nats-server".into());
    std::process::Command::new(binary)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|_| "nats-server (version unknown)".to_owned())
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_fleet_keeps_its_invariants_under_a_nemesis() {
    let seconds: u64 = std::env::var("COREBUILD_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(120);
    let seed: u64 = std::env::var("COREBUILD_SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
        | 1;
    eprintln!("soak: {seconds} s, seed {seed} (COREBUILD_SOAK_SEED replays it)");
    let dir = tempfile::tempdir().unwrap();
    let moto = start_moto().await;
    moto.create_bucket(BUCKET).await;
    let runs = dir.path().join("runs");
    let slots = (0..WORKERS)
        .map(|i| {
            let size = if i == 1 { 6 << 20 } else { 4096 };
            let dir = dir.path().join(format!("s{i}"));
            std::fs::create_dir_all(&dir).unwrap();
            Slot {
                id: format!("s{i}"),
                dir,
                mode: format!("race 1.0 {size} {}", runs.display()),
                process: None,
                resume_at: None,
                restart_at: None,
            }
        })
        .collect();
    let mut soak = Soak {
        nats: NatsServer::start(),
        moto,
        slots,
        rng: Rng(seed),
        faults: BTreeMap::new(),
        violations: Arc::new(Mutex::new(Vec::new())),
        logs: Vec::new(),
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(3))
            .build()
            .unwrap(),
        _dir: dir,
    };
    for i in 0..WORKERS {
        soak.start_worker(i).await;
    }
    let watcher = watch_finals(soak.nats.url(), Arc::clone(&soak.violations));

    // The run: jobs in, faults in.
    let started = Instant::now();
    let mut accepted: Vec<String> = Vec::new();
    let mut next_strike = Instant::now() + Duration::from_secs(3);
    let mut serial = 0;
    while started.elapsed() < Duration::from_secs(seconds) {
        soak.tend().await;
        if Instant::now() >= next_strike {
            soak.strike().await;
            next_strike = Instant::now() + soak.rng.millis(2_000, 6_000);
        }
        let unfinished = unfinished(&soak, &accepted).await;
        if unfinished.is_some_and(|n| n < IN_FLIGHT)
            && let Some(url) = soak.usable_url()
        {
            let id = format!("soak-{serial}");
            serial += 1;
            let submitted = soak
                .client
                .post(format!("{url}/corebuild/v1/jobs/baseos-image"))
                .header("Prefer", "respond-async")
                .json(&json!({ "job": soak.job(&id) }))
                .send()
                .await;
            if submitted.is_ok_and(|a| a.status() == 202) {
                accepted.push(id);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Heal everything, then every accepted job must end.
    for i in 0..WORKERS {
        let slot = &mut soak.slots[i];
        if slot.resume_at.take().is_some()
            && let Some(process) = &slot.process
        {
            process.resume();
        }
        if soak.slots[i].process.is_none() {
            soak.start_worker(i).await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        // Workers may still stop at a fault point armed at their last start.
        for i in 0..WORKERS {
            if soak.slots[i].stopped_itself() {
                soak.slots[i].process.as_ref().unwrap().resume();
            }
        }
        if unfinished(&soak, &accepted).await == Some(0) {
            break;
        }
        if Instant::now() > deadline {
            let left = unfinished(&soak, &accepted).await;
            soak.violation(format!(
                "no job is lost: {left:?} accepted jobs never ended"
            ));
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The watcher sees the last revisions, then the history is checked.
    tokio::time::sleep(Duration::from_secs(2)).await;
    watcher.abort();
    let outcomes = check_jobs(&soak, &accepted).await;

    let violations = soak.violations.lock().unwrap().clone();
    let faults: u64 = soak.faults.values().sum();
    let summary = format!(
        "soak on {}, {}: {} s, seed {seed}, {} jobs accepted, outcomes {outcomes:?}, builds run {}, {faults} faults injected {:?}, {} violations",
        cpu(),
        nats_version(),
        seconds,
        accepted.len(),
        std::fs::read_to_string(soak._dir.path().join("runs")).map_or(0, |r| r.lines().count()),
        soak.faults,
        violations.len()
    );
    eprintln!("{summary}");
    // `.ci/run` prints it: the test harness keeps a passing test's output to itself.
    let summary_file = concat!(env!("CARGO_TARGET_TMPDIR"), "/soak-summary.txt");
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(summary_file)
    {
        use std::io::Write;
        let _ = writeln!(file, "{summary}");
    }
    for slot in &mut soak.slots {
        if let Some(process) = slot.process.take() {
            process.stop_and_log().await;
        }
    }
    assert!(
        violations.is_empty(),
        "violations:\n{}",
        violations.join("\n")
    );
    assert!(
        accepted.len() >= 10,
        "the soak ran too few jobs to mean much"
    );
}

/// How many accepted jobs have not ended, as the fleet's list says; `None` when no
/// worker answered.
async fn unfinished(soak: &Soak, accepted: &[String]) -> Option<usize> {
    unfinished_ids(soak, accepted).await.map(|ids| ids.len())
}

/// The accepted jobs that have not ended.
async fn unfinished_ids(soak: &Soak, accepted: &[String]) -> Option<Vec<String>> {
    for slot in soak.slots.iter().filter(|s| s.usable()) {
        let url = format!("{}/corebuild/v1/jobs", slot.process.as_ref()?.url);
        let Some(list) = soak.get(&url).await else {
            continue;
        };
        let Some(jobs) = list["jobs"].as_array() else {
            continue;
        };
        let finished: Vec<&str> = jobs
            .iter()
            .filter(|j| {
                matches!(
                    j["state"].as_str(),
                    Some("succeeded" | "failed" | "cancelled")
                )
            })
            .filter_map(|j| j["id"].as_str())
            .collect();
        let left = accepted
            .iter()
            .filter(|id| !finished.contains(&id.as_str()));
        return Some(left.map(|id| format!("{id} ")).collect());
    }
    None
}

/// Invariants 1 and 4 for every job; returns the outcomes by state and code.
async fn check_jobs(soak: &Soak, accepted: &[String]) -> BTreeMap<String, u64> {
    let mut outcomes = BTreeMap::new();
    let url = soak
        .slots
        .iter()
        .find_map(|s| s.process.as_ref().map(|p| p.url.clone()))
        .unwrap();
    for id in accepted {
        let Some(status) = soak.get(&format!("{url}/corebuild/v1/jobs/{id}")).await else {
            soak.violation(format!("{id}: no status"));
            continue;
        };
        let outcome = match status["error"]["code"].as_str() {
            Some(code) => format!("{}/{code}", status["state"].as_str().unwrap_or("?")),
            None => status["state"].as_str().unwrap_or("?").to_owned(),
        };
        *outcomes.entry(outcome).or_default() += 1;
        if status["state"] == "succeeded" {
            let key = status["artifact"]["key"].as_str().unwrap_or_default();
            let stored = soak.moto.object_sha256(BUCKET, key).await;
            if stored.as_deref() != status["artifact"]["sha256"].as_str() {
                soak.violation(format!(
                    "artifact integrity: {id} says sha256 {} but the object has {stored:?}",
                    status["artifact"]["sha256"]
                ));
            }
        }
        let Some(page) = soak
            .get(&format!("{url}/corebuild/v1/jobs/{id}/logs?limit=10000"))
            .await
        else {
            soak.violation(format!("{id}: no log page"));
            continue;
        };
        let lines = page["lines"].as_array().cloned().unwrap_or_default();
        let seqs: Vec<u64> = lines.iter().filter_map(|l| l["seq"].as_u64()).collect();
        if !seqs.windows(2).all(|w| w[0] < w[1]) {
            soak.violation(format!(
                "one log: {id}'s seq does not strictly increase: {seqs:?}"
            ));
        }
        if page["done"] == true && page["nextSeq"] != status["logLines"] {
            soak.violation(format!(
                "one log: {id} serves up to {} but its status counts {}",
                page["nextSeq"], status["logLines"]
            ));
        }
        let mut builders: Vec<&str> = lines
            .iter()
            .filter_map(|l| l["text"].as_str()?.strip_prefix("builder pid "))
            .collect();
        builders.dedup();
        if builders.len() > 1 {
            soak.violation(format!(
                "one log: {id} mixes the runs of builders {builders:?}"
            ));
        }
    }
    outcomes
}
