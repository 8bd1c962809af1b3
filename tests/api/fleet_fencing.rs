//! Fleet safety when a worker stops for a while and comes back (a paused VM, a stalled
//! host): each race is made to happen every time by a fault point, where the worker
//! freezes itself with SIGSTOP (`COREBUILD_FAULT_POINTS`), or by pausing it for a set
//! time. The invariants checked, whatever the race:
//!
//! 1. artifact integrity: a `succeeded` job's sha256 is the object's, also after the
//!    superseded run resumed;
//! 2. final is final: once a job's status is final it never changes;
//! 3. a takeover needs an expired lease: a worker back within its lease keeps its job;
//! 4. one job, one log: one run's lines, `seq` strictly increasing, `logLines` equal to
//!    the `nextSeq` served.
//!
//! The store is moto, which enforces the conditional requests the fence relies on.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tempfile::TempDir;

use crate::support::fleet::Process;
use crate::support::late;
use crate::support::moto::{MotoServer, start_moto};
use crate::support::nats::NatsServer;

const BUCKET: &str = "artifacts";

struct Rig {
    nats: NatsServer,
    moto: MotoServer,
    dir: TempDir,
}

impl Rig {
    async fn new() -> Self {
        let moto = start_moto().await;
        moto.create_bucket(BUCKET).await;
        Self {
            nats: NatsServer::start(),
            moto,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn runs_file(&self) -> PathBuf {
        self.dir.path().join("runs")
    }

    /// The builder pids of every run so far, in order.
    fn runs(&self) -> Vec<String> {
        std::fs::read_to_string(self.runs_file())
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// A worker (ack wait 3 s, so a 6 s lease) whose builder takes `seconds` and hands
    /// over `size` random bytes, stopping at `faults`.
    async fn worker(&self, id: &str, seconds: f64, size: u64, faults: &str) -> Process {
        let mode = format!("race {seconds} {size} {}", self.runs_file().display());
        let dir = self.dir.path().join(id);
        std::fs::create_dir_all(&dir).unwrap();
        let env = [
            ("COREBUILD_FAULT_POINTS", faults),
            ("COREBUILD_UPLOAD_PART_SIZE", "5MiB"),
        ];
        Process::start(&self.nats.url(), id, &dir, &mode, &env).await
    }

    fn job(&self, id: &str) -> Value {
        self.job_via(id, self.moto.port)
    }

    /// A job whose store is reached through `port`.
    fn job_via(&self, id: &str, port: u16) -> Value {
        json!({
            "id": id,
            "architecture": "amd64",
            "imageKind": "ubuntu-iso",
            "cloudlyUrl": "https://cloudly.example.com",
            "provisioningToken": "one-time-baseos-token-5a4b",
            "s3Descriptor": self.moto.descriptor_via(port, BUCKET)
        })
    }

    /// Invariants 1 and 4 for a job that succeeded; returns its final status.
    async fn check_succeeded(&self, worker: &Process, id: &str) -> Value {
        let status = worker.get(&format!("/corebuild/v1/jobs/{id}")).await;
        assert_eq!(status["state"], "succeeded", "{status}");
        let key = status["artifact"]["key"].as_str().unwrap();
        let stored = self.moto.object_sha256(BUCKET, key).await;
        assert_eq!(
            stored.as_deref(),
            status["artifact"]["sha256"].as_str(),
            "the object is the bytes of the run the status names"
        );
        assert_eq!(self.moto.incomplete_uploads(BUCKET).await, 0);
        let page = worker
            .get(&format!("/corebuild/v1/jobs/{id}/logs?limit=10000"))
            .await;
        check_one_log(&page, &status, self.runs().last().unwrap());
        status
    }
}

/// Invariant 4: the page holds one run's lines (its builder's pid only), `seq`
/// strictly increasing, and as many as the status counts.
fn check_one_log(page: &Value, status: &Value, builder: &str) {
    let lines = page["lines"].as_array().unwrap();
    let seqs: Vec<u64> = lines.iter().map(|l| l["seq"].as_u64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "seq strictly increases: {seqs:?}"
    );
    assert_eq!(page["nextSeq"], status["logLines"], "{page} {status}");
    assert_eq!(page["done"], true);
    let pids: Vec<&str> = lines
        .iter()
        .filter_map(|l| l["text"].as_str()?.strip_prefix("builder pid "))
        .collect();
    assert_eq!(pids, [builder], "only the current run's lines: {page}");
}

/// Polls a job's status every 100 ms until stopped, keeping every answer: invariant 2.
struct Observer {
    seen: Arc<Mutex<Vec<Value>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Observer {
    fn watch(url: &str, id: &str) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (url, log) = (format!("{url}/corebuild/v1/jobs/{id}"), Arc::clone(&seen));
        let task = tokio::spawn(async move {
            loop {
                if let Ok(answer) = reqwest::get(&url).await
                    && let Ok(status) = answer.json::<Value>().await
                {
                    log.lock().unwrap().push(status);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Self { seen, task }
    }

    /// Final is final: after the first final status, every later one is the same.
    fn check(self) -> Vec<Value> {
        self.task.abort();
        let seen = self.seen.lock().unwrap().clone();
        let key = |s: &Value| {
            (
                s["state"].clone(),
                s["attempt"].clone(),
                s["artifact"]["sha256"].clone(),
                s["error"]["code"].clone(),
            )
        };
        let finals = ["succeeded", "failed", "cancelled"];
        if let Some(first) = seen
            .iter()
            .position(|s| finals.contains(&s["state"].as_str().unwrap_or("")))
        {
            for later in &seen[first..] {
                assert_eq!(key(later), key(&seen[first]), "a final status changed");
            }
        }
        seen
    }
}

/// Invariant 1 at its worst moment: the first worker confirmed its hold and froze right
/// before completing its multipart upload; another took the job over and succeeded;
/// then the first resumes and its completion request goes out. The store refuses it.
#[tokio::test(flavor = "multi_thread")]
async fn a_paused_upload_never_replaces_the_artifact_of_the_run_that_took_over() {
    let rig = Rig::new().await;
    let a = rig.worker("fa", 0.2, 12 << 20, "before_complete").await;
    assert_eq!(a.submit_async(&rig.job("fenced")).await.status(), 202);
    a.wait_stopped(Duration::from_secs(30)).await;

    let b = rig.worker("fb", 0.2, 12 << 20, "").await;
    let observer = Observer::watch(&b.url, "fenced");
    // The lease (6 s) runs out, the message comes back, and the job runs again on b.
    let done = b
        .wait_for("fenced", Duration::from_secs(60), |s| {
            s["state"] == "succeeded"
        })
        .await;
    assert_eq!(done["attempt"], 2, "{done}");
    assert_eq!(done["workerId"], "fb");
    a.resume();
    // The resumed run sends its completion, is refused, finds it lost the job, aborts.
    let a_log = {
        tokio::time::sleep(Duration::from_secs(4)).await;
        a.stop_and_log().await
    };
    assert!(
        a_log.contains("resumed after the fault point"),
        "the first worker froze at the fault point and came back: {a_log}"
    );
    let told = a_log
        .matches("took the job over; stopping this run")
        .count();
    assert!(told <= 1, "a takeover is logged once, not {told} times");
    rig.check_succeeded(&b, "fenced").await;
    assert_eq!(rig.runs().len(), 2, "one run each");
    observer.check();
}

/// Invariant 1 against a request already on the wire: the first worker's multipart
/// completion left it, and the network holds it; the worker freezes; another takes the
/// job over and succeeds; then the network delivers the old completion. No check in a
/// worker can stop it: the store refuses it (`If-None-Match: *`, as the fence sends it),
/// and the artifact stays the one the status names.
#[tokio::test(flavor = "multi_thread")]
async fn a_completion_delivered_late_never_replaces_the_artifact_of_the_run_that_took_over() {
    let rig = Rig::new().await;
    let mut network = late::start(rig.moto.port).await;
    let job = rig.job_via("late", network.address.port());
    let a = rig.worker("la", 0.2, 12 << 20, "").await;
    assert_eq!(a.submit_async(&job).await.status(), 202);
    network.wait_held().await;
    a.pause();

    let b = rig.worker("lb", 0.2, 12 << 20, "").await;
    let observer = Observer::watch(&b.url, "late");
    let done = b
        .wait_for("late", Duration::from_secs(60), |s| {
            s["state"] == "succeeded"
        })
        .await;
    assert_eq!(done["attempt"], 2, "{done}");
    assert_eq!(
        network.deliver().await,
        412,
        "the store refuses the old completion"
    );
    a.resume();
    // The resumed run learns it lost the job and aborts its upload.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while rig.moto.incomplete_uploads(BUCKET).await > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the old upload was never aborted"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    rig.check_succeeded(&b, "late").await;
    observer.check();
    a.stop_and_log().await;
}

/// Invariant 3: the worker running a job freezes for longer than the ack wait (3 s) but
/// not its lease (6 s). The job's message goes to the other worker, which freezes too,
/// right before it claims, holding that copy (as a paused VM holds what reached it).
/// The first comes back and carries on; when the second comes back, the job's holder
/// is alive: it leaves the job alone. One run, attempt 1.
#[tokio::test(flavor = "multi_thread")]
async fn a_stale_copy_of_a_live_jobs_message_never_takes_the_job_back() {
    let rig = Rig::new().await;
    // The build outlasts the pauses by far: the second worker may be back while its
    // link to NATS still counts as silent (it then hands the copy back, which returns
    // to it a second later); either way it meets the live lease while the job runs.
    let holder = rig.worker("hb", 16.0, 4096, "").await;
    assert_eq!(holder.submit_async(&rig.job("leased")).await.status(), 202);
    holder
        .wait_for("leased", Duration::from_secs(20), |s| {
            s["state"] == "running"
        })
        .await;
    let other = rig.worker("ha", 8.0, 4096, "before_claim").await;
    let observer = Observer::watch(&other.url, "leased");
    tokio::time::sleep(Duration::from_secs(1)).await;

    holder.pause();
    other.wait_stopped(Duration::from_secs(4)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    holder.resume();
    tokio::time::sleep(Duration::from_secs(1)).await;
    other.resume();

    let done = holder
        .wait_for("leased", Duration::from_secs(30), |s| {
            s["state"] == "succeeded"
        })
        .await;
    assert_eq!(done["attempt"], 1, "never taken over: {done}");
    assert_eq!(done["workerId"], "hb");
    assert_eq!(rig.runs().len(), 1, "one run");
    rig.check_succeeded(&holder, "leased").await;
    observer.check();
    let log = other.stop_and_log().await;
    assert!(log.contains("held by a live run"), "{log}");
}

/// A worker that claimed a job and froze before starting it: another takes the job
/// over once the lease expired; when the first comes back, it checks its hold again
/// before anything runs, and runs nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_worker_paused_between_claim_and_start_runs_nothing_once_back() {
    let rig = Rig::new().await;
    let a = rig.worker("ca", 0.5, 4096, "after_claim").await;
    // The fault point freezes the whole process, which can happen before its answer
    // to the submission is out (the claim needs no read of its own): the job is
    // admitted before anything claims it, so the answer is checked only if it came.
    let job = rig.job("claimed");
    tokio::select! {
        answer = a.submit_async(&job) => {
            assert_eq!(answer.status(), 202);
            a.wait_stopped(Duration::from_secs(30)).await;
        }
        () = a.wait_stopped(Duration::from_secs(30)) => {}
    }
    let b = rig.worker("cb", 0.5, 4096, "").await;
    let observer = Observer::watch(&b.url, "claimed");
    let done = b
        .wait_for("claimed", Duration::from_secs(60), |s| {
            s["state"] == "succeeded"
        })
        .await;
    assert_eq!(done["attempt"], 2, "{done}");
    a.resume();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(rig.runs().len(), 1, "the paused worker built nothing");
    rig.check_succeeded(&b, "claimed").await;
    observer.check();
    let log = a.stop_and_log().await;
    assert!(log.contains("not running the job"), "{log}");
}

/// Invariants 1, 2 and 4 when a run froze after its upload, before storing its end:
/// the run that takes over replaces the object (by a conditional delete and a
/// create-only PUT) and its log continues the numbers of the first run's; the first
/// run's end, once it is back, is dropped.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_paused_before_storing_its_end_leaves_the_job_to_the_run_that_took_over() {
    let rig = Rig::new().await;
    let a = rig.worker("ea", 0.5, 4096, "before_store_end").await;
    assert_eq!(a.submit_async(&rig.job("ended")).await.status(), 202);
    a.wait_stopped(Duration::from_secs(30)).await;
    let b = rig.worker("eb", 0.5, 4096, "").await;
    let observer = Observer::watch(&b.url, "ended");
    let done = b
        .wait_for("ended", Duration::from_secs(60), |s| {
            s["state"] == "succeeded"
        })
        .await;
    assert_eq!(done["attempt"], 2, "{done}");
    a.resume();
    tokio::time::sleep(Duration::from_secs(3)).await;
    rig.check_succeeded(&b, "ended").await;
    let page = b.get("/corebuild/v1/jobs/ended/logs?limit=10000").await;
    assert!(
        page["lines"][0]["seq"].as_u64().unwrap() > 0,
        "the second run's log continues after the first run's lines: {page}"
    );
    observer.check();
    let log = a.stop_and_log().await;
    assert!(log.contains("its result here is dropped"), "{log}");
}
