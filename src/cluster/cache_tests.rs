//! The copy's rules: newer revisions only, a bounded set of finished jobs, answers
//! only once synced.

use super::*;
use crate::domain::JobState;

fn doc(state: JobState) -> Arc<StoredJob> {
    let view = serde_json::json!({
        "id": "job-1", "architecture": "amd64", "imageKind": "ubuntu-iso",
        "state": state, "attempt": 1, "createdAt": 1, "lastActivityAt": 1, "logLines": 0,
    });
    let doc = serde_json::json!({
        "view": view, "fingerprint": "f", "round": 1, "runs": 0, "seq": null,
    });
    Arc::new(serde_json::from_value(doc).unwrap())
}

fn slot(revision: u64, state: Option<JobState>) -> Slot {
    Slot {
        revision,
        doc: state.map(doc),
    }
}

#[test]
fn an_older_revision_never_replaces_a_newer_one() {
    let mut copy = Copy::default();
    copy.apply("a", slot(5, Some(JobState::Running)));
    copy.apply("a", slot(4, Some(JobState::Queued)));
    assert_eq!(copy.slots["a"].revision, 5);
    copy.apply("a", slot(6, None));
    assert!(copy.slots["a"].doc.is_none(), "a delete is kept as such");
}

#[test]
fn finished_jobs_beyond_the_bound_are_forgotten_oldest_first_and_running_ones_never() {
    let mut copy = Copy::default();
    copy.apply("running", slot(1, Some(JobState::Running)));
    for n in 0..FINISHED_KEPT + 10 {
        copy.apply(
            &format!("done-{n}"),
            slot(2 + n as u64, Some(JobState::Succeeded)),
        );
    }
    assert!(copy.slots.contains_key("running"));
    assert_eq!(copy.slots.len(), FINISHED_KEPT + 1);
    assert!(!copy.slots.contains_key("done-0"));
    assert!(
        copy.slots
            .contains_key(&format!("done-{}", FINISHED_KEPT + 9))
    );
}

#[test]
fn a_job_that_settles_again_is_not_forgotten_for_its_older_mention() {
    let mut copy = Copy::default();
    copy.apply("again", slot(1, Some(JobState::Failed)));
    copy.apply("again", slot(2, Some(JobState::Queued)));
    copy.apply("again", slot(3, Some(JobState::Failed)));
    for n in 0..FINISHED_KEPT - 1 {
        copy.apply(
            &format!("done-{n}"),
            slot(10 + n as u64, Some(JobState::Succeeded)),
        );
    }
    assert!(
        copy.slots.contains_key("again"),
        "its newer mention is within the bound"
    );
}

#[test]
fn the_copy_answers_only_once_synced_and_keeps_own_writes_through_a_catch_up() {
    let cache = StatusCache::default();
    cache.wrote("mine", &doc(JobState::Running), 9);
    assert!(
        matches!(cache.get("mine"), Cached::Unknown),
        "not synced yet"
    );
    let mut fresh = Copy::default();
    fresh.apply("other", slot(3, Some(JobState::Queued)));
    cache.catch_up(fresh);
    assert!(
        matches!(cache.get("mine"), Cached::Doc(_)),
        "written after the history"
    );
    assert!(matches!(cache.get("other"), Cached::Doc(_)));
    assert!(matches!(cache.get("never"), Cached::Unknown));
    cache.deleted("other", 3);
    assert!(matches!(cache.get("other"), Cached::Gone));
    cache.bucket_recreated();
    assert!(matches!(cache.get("mine"), Cached::Unknown));
}
