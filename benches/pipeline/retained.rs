//! A worker's memory as the fleet's bucket fills with finished jobs: 10,000 more
//! documents (copies of a real finished job's, each under its own id) are written
//! straight into the status bucket, as a busy fleet's retention would leave them; the
//! worker's copy of the bucket takes each in through its watch. Then a tenth of them
//! are read through the worker (old jobs that its copy no longer holds go to the
//! leader), and last the whole list once.

use std::time::{Duration, Instant};

use crate::worker::Worker;

/// Finished jobs written into the bucket.
pub const JOBS: usize = 10_000;
/// The finished job whose document is copied (submit-to-start's first).
const TEMPLATE: &str = "fleet-start-0";

pub struct Retained {
    /// VmRSS before the jobs were written, after they were and a tenth read, in MiB.
    pub before_mib: f64,
    pub after_mib: f64,
    /// VmHWM (the process's peak so far) before the whole list was read, and after.
    pub peak_mib: f64,
    pub peak_after_list_mib: f64,
}

pub async fn measure(nats_url: &str, reader: &Worker, token: &str) -> Retained {
    let before_mib = reader.memory_mib("VmRSS");
    let client = async_nats::connect(nats_url).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let bucket = js.get_key_value("corebuild_status").await.unwrap();
    let template = bucket.get(TEMPLATE).await.unwrap().expect("a finished job");
    let mut doc: serde_json::Value = serde_json::from_slice(&template).unwrap();
    assert_eq!(doc["view"]["state"], "succeeded");
    for n in 0..JOBS {
        let id = format!("retained-{n}");
        doc["view"]["id"] = id.clone().into();
        let bytes = serde_json::to_vec(&doc).unwrap();
        bucket.put(&id, bytes.into()).await.unwrap();
    }
    let last = format!("retained-{}", JOBS - 1);
    let deadline = Instant::now() + Duration::from_secs(60);
    while reader.state(&last, token).await != "succeeded" {
        assert!(Instant::now() < deadline, "the worker never saw {last}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for n in (0..JOBS).step_by(10) {
        assert_eq!(
            reader.state(&format!("retained-{n}"), token).await,
            "succeeded"
        );
    }
    // Whatever runs now and then (renewals, the pruner's rounds) gets its turn.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after_mib = reader.memory_mib("VmRSS");
    let peak_mib = reader.memory_mib("VmHWM");
    let (list, _) = reader.get_timed("/corebuild/v1/jobs", token).await;
    assert!(list["jobs"].as_array().unwrap().len() > JOBS);
    let peak_after_list_mib = reader.memory_mib("VmHWM");
    Retained {
        before_mib,
        after_mib,
        peak_mib,
        peak_after_list_mib,
    }
}
