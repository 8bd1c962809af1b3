//! The fleet's stream, bucket and consumer configurations, as plain values.

use super::*;
use crate::cluster::seal::FleetKey;

pub(crate) fn settings() -> ClusterSettings {
    ClusterSettings {
        urls: "nats://127.0.0.1:4222".to_owned(),
        ca_file: None,
        creds_file: None,
        token: None,
        key: std::sync::Arc::new(FleetKey::new(&"ab".repeat(32), None).unwrap()),
        prefix: "fleet".to_owned(),
        replicas: 3,
        max_attempts: 3,
        ack_wait: Duration::from_secs(7),
        queue_capacity: 16,
        log_lines: 500,
        log_bytes: 1 << 20,
        retention: Duration::from_secs(60),
        worker_id: "w1".to_owned(),
        identity: crate::jobs::Identity {
            worker_id: "w1".to_owned(),
            url: None,
            started_at: 0,
        },
        queue_timeout: None,
        executors: 2,
    }
}

#[test]
fn the_job_queue_is_a_bounded_work_queue_that_refuses_when_full() {
    let names = Names::new("fleet");
    let jobs = jobs_stream(&names, &settings());
    assert_eq!(jobs.name, "fleet_jobs");
    assert_eq!(jobs.subjects, ["fleet.jobs", "fleet.jobs.*.*"]);
    assert_eq!(jobs.retention, stream::RetentionPolicy::WorkQueue);
    assert_eq!(jobs.discard, stream::DiscardPolicy::New);
    assert_eq!(jobs.max_messages, 16);
    assert_eq!(jobs.num_replicas, 3);
    assert_eq!(jobs.storage, stream::StorageType::File);
}

#[test]
fn logs_keep_the_newest_lines_per_job_within_the_byte_budget() {
    let logs = logs_stream(&Names::new("fleet"), &settings());
    assert_eq!(logs.subjects, ["fleet.logs.*"]);
    assert_eq!(logs.max_messages_per_subject, 500);
    assert_eq!(logs.max_bytes, 1 << 20);
    assert_eq!(logs.discard, stream::DiscardPolicy::Old);
}

#[test]
fn the_status_bucket_keeps_one_document_per_job_read_from_the_leader() {
    let status = status_stream(&Names::new("fleet"), &settings());
    assert_eq!(status.name, "KV_fleet_status");
    assert_eq!(status.subjects, ["$KV.fleet_status.>"]);
    assert_eq!(status.max_messages_per_subject, 1);
    assert!(!status.allow_direct, "no reads from a lagging replica");
    assert_eq!(status.num_replicas, 3);
}

#[test]
fn a_fleet_set_up_otherwise_is_told_by_its_setting() {
    let names = Names::new("fleet");
    let ours = Shape::wanted(&names, &settings());
    assert_eq!(ours.differs_from(&ours.clone()), None);
    let fleet = Shape {
        ack_wait: Duration::from_secs(30),
        ..ours.clone()
    };
    assert_eq!(
        ours.differs_from(&fleet),
        Some((
            "COREBUILD_NATS_ACK_WAIT_SECS",
            "7".to_owned(),
            "30".to_owned()
        ))
    );
    let fleet = Shape {
        queue_capacity: 100,
        ..ours.clone()
    };
    assert_eq!(
        ours.differs_from(&fleet).map(|d| d.0),
        Some("COREBUILD_QUEUE_CAPACITY")
    );
}

#[test]
fn each_class_has_a_consumer_of_its_own_and_no_filters_overlap() {
    let names = Names::new("fleet");
    let all = consumers(&names, &settings());
    assert_eq!(all.len(), BuildClass::all().len() + 1);
    let (_, first) = &all[0];
    assert_eq!(
        first.durable_name.as_deref(),
        Some("fleet_amd64_ubuntu-iso")
    );
    assert_eq!(first.filter_subject, "fleet.jobs.amd64.ubuntu-iso");
    let (_, unrouted) = all.last().unwrap();
    assert_eq!(unrouted.filter_subject, "fleet.jobs");
    let mut filters: Vec<&str> = all.iter().map(|(_, c)| c.filter_subject.as_str()).collect();
    filters.sort_unstable();
    filters.dedup();
    assert_eq!(filters.len(), all.len());
    for (_, consumer) in &all {
        assert_eq!(consumer.ack_policy, consumer::AckPolicy::Explicit);
        assert_eq!(consumer.ack_wait, Duration::from_secs(7));
        assert_eq!(consumer.max_deliver, -1);
    }
}
