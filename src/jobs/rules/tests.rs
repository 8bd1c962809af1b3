//! The rulebook as a table per rule, and as a state machine driven by random
//! operation sequences that must never reach an illegal state.

use proptest::prelude::*;

use super::*;
use crate::domain::JobState::{Cancelled, Failed, Queued, Running, Succeeded, Uploading};

const RETENTION: Retention = Retention(1_000);
const ALL: [JobState; 6] = [Queued, Running, Uploading, Succeeded, Failed, Cancelled];

fn known(state: JobState, same_content: bool) -> Known {
    Known {
        state,
        attempt: 2,
        finished_at: state.is_finished().then_some(10_000),
        same_content,
    }
}

#[test]
fn admission_table() {
    let now = 10_500;
    assert_eq!(admit(None, RETENTION, now), Admit::Build { attempt: 1 });
    for state in ALL {
        for same in [true, false] {
            let expected = match (state, same) {
                (Failed | Cancelled, _) => Admit::Build { attempt: 3 },
                (_, true) => Admit::Attach,
                (_, false) => Admit::Conflict,
            };
            assert_eq!(
                admit(Some(known(state, same)), RETENTION, now),
                expected,
                "{state} same={same}"
            );
        }
    }
    // Past retention any finished job is forgotten: a first build again.
    for state in [Succeeded, Failed, Cancelled] {
        for same in [true, false] {
            let later = admit(Some(known(state, same)), RETENTION, 11_001);
            assert_eq!(later, Admit::Build { attempt: 1 }, "{state}");
        }
    }
    // Exactly at the retention time it is still known.
    assert_eq!(
        admit(Some(known(Succeeded, true)), RETENTION, 11_000),
        Admit::Attach
    );
}

#[test]
fn transition_table() {
    let fail = Event::Fail(FailureCode::BuildFailed);
    let cancel = Event::Fail(FailureCode::Cancelled);
    let shut = Event::Fail(FailureCode::ShuttingDown);
    let table: &[(JobState, Event, Option<JobState>)] = &[
        (Queued, Event::Start, Some(Running)),
        (Queued, Event::Upload, None),
        (Queued, Event::Succeed, None),
        (Queued, fail, Some(Failed)),
        (Queued, cancel, Some(Cancelled)),
        (Queued, shut, Some(Cancelled)),
        (Queued, Event::Requeue, None),
        (Running, Event::Start, None),
        (Running, Event::Upload, Some(Uploading)),
        (Running, Event::Succeed, Some(Succeeded)),
        (Running, fail, Some(Failed)),
        (Running, cancel, Some(Cancelled)),
        (Running, Event::Requeue, Some(Queued)),
        (Uploading, Event::Start, None),
        (Uploading, Event::Upload, Some(Uploading)),
        (Uploading, Event::Succeed, Some(Succeeded)),
        (
            Uploading,
            Event::Fail(FailureCode::UploadFailed),
            Some(Failed),
        ),
        (Uploading, Event::Requeue, Some(Queued)),
    ];
    for &(from, event, to) in table {
        assert_eq!(next(from, event), to, "{from} + {event:?}");
    }
    for from in [Succeeded, Failed, Cancelled] {
        for event in [
            Event::Start,
            Event::Upload,
            Event::Succeed,
            fail,
            cancel,
            Event::Requeue,
        ] {
            assert_eq!(next(from, event), None, "{from} is final");
        }
    }
}

#[test]
fn cancel_table() {
    assert_eq!(cancel(Queued), Cancel::Now);
    assert_eq!(cancel(Running), Cancel::Stop);
    assert_eq!(cancel(Uploading), Cancel::Stop);
    for state in [Succeeded, Failed, Cancelled] {
        assert_eq!(cancel(state), Cancel::Finished);
    }
}

#[test]
fn an_unreadable_job_is_left_to_others_four_times_then_given_up() {
    assert!((1..5).all(|n| !give_up_opening(n)));
    assert!(give_up_opening(5) && give_up_opening(6));
}

#[test]
fn claim_table() {
    let job = |state, current_round, runs| Delivered {
        state,
        current_round,
        attempt: 1,
        runs,
        holder: Holder::Nobody,
    };
    assert_eq!(
        claim(job(Queued, true, 0), 3),
        Claim::Run {
            attempt: 1,
            state: Running,
            lost: false
        }
    );
    assert_eq!(claim(job(Queued, false, 0), 3), Claim::Stale);
    assert_eq!(claim(job(Cancelled, true, 0), 3), Claim::Stale);
    // Redelivered while marked running: its worker was lost; the next attempt.
    assert_eq!(
        claim(job(Running, true, 1), 3),
        Claim::Run {
            attempt: 2,
            state: Running,
            lost: true
        }
    );
    // Handed back by a drain (queued again after one run): the next attempt, not lost.
    assert_eq!(
        claim(job(Queued, true, 1), 3),
        Claim::Run {
            attempt: 2,
            state: Running,
            lost: false
        }
    );
    assert_eq!(
        claim(job(Running, true, 3), 3),
        Claim::WorkerLost { runs: 3 }
    );
}

#[test]
fn a_running_job_is_taken_over_only_once_its_lease_expired() {
    let running = |holder| Delivered {
        state: Running,
        current_round: true,
        attempt: 2,
        runs: 2,
        holder,
    };
    // A paused worker's stale copy of the message: the holder is alive.
    assert_eq!(
        claim(running(Holder::Other { live: true }), 2),
        Claim::Leased
    );
    // Even with no attempts left: a live holder means nobody was lost.
    assert_eq!(
        claim(running(Holder::Other { live: true }), 1),
        Claim::Leased
    );
    assert_eq!(
        claim(running(Holder::Other { live: false }), 3),
        Claim::Run {
            attempt: 3,
            state: Running,
            lost: true
        }
    );
    assert_eq!(
        claim(running(Holder::Other { live: false }), 2),
        Claim::WorkerLost { runs: 2 }
    );
    assert_eq!(claim(running(Holder::Me { active: true }), 2), Claim::Mine);
    assert_eq!(
        claim(running(Holder::Me { active: false }), 2),
        Claim::Adopt { attempt: 2 }
    );
    // A queued job has no holder to respect.
    let queued = Delivered {
        state: Queued,
        runs: 0,
        attempt: 1,
        ..running(Holder::Other { live: true })
    };
    assert!(matches!(claim(queued, 2), Claim::Run { attempt: 1, .. }));
}

/// One job id, as a fleet's status document or a worker's registry holds it.
#[derive(Debug, Clone)]
struct Model {
    state: JobState,
    attempt: u32,
    round: u32,
    runs: u32,
    finished_at: Option<u64>,
    now: u64,
}

#[derive(Debug, Clone)]
enum Op {
    Submit { same: bool },
    Event(Event),
    Claim { current_round: bool, holder: Holder },
    Cancel,
    Tick(u64),
}

fn op() -> impl Strategy<Value = Op> {
    let code = prop_oneof![
        Just(FailureCode::BuildFailed),
        Just(FailureCode::TimedOut),
        Just(FailureCode::UploadFailed),
        Just(FailureCode::Cancelled),
        Just(FailureCode::ShuttingDown),
        Just(FailureCode::Internal),
        Just(FailureCode::WorkerLost),
    ];
    let event = prop_oneof![
        Just(Event::Start),
        Just(Event::Upload),
        Just(Event::Succeed),
        code.prop_map(Event::Fail),
        Just(Event::Requeue),
    ];
    prop_oneof![
        any::<bool>().prop_map(|same| Op::Submit { same }),
        event.prop_map(Op::Event),
        (any::<bool>(), 0u8..5).prop_map(|(current_round, h)| Op::Claim {
            current_round,
            holder: match h {
                0 => Holder::Nobody,
                1 => Holder::Me { active: true },
                2 => Holder::Me { active: false },
                3 => Holder::Other { live: true },
                _ => Holder::Other { live: false },
            }
        }),
        Just(Op::Cancel),
        (0u64..1_500).prop_map(Op::Tick),
    ]
}

const MAX_ATTEMPTS: u32 = 3;

impl Model {
    fn apply(&mut self, op: &Op) {
        let before = self.clone();
        match *op {
            Op::Submit { same } => {
                let known = Known {
                    state: self.state,
                    attempt: self.attempt,
                    finished_at: self.finished_at,
                    same_content: same,
                };
                match admit(Some(known), RETENTION, self.now) {
                    Admit::Build { attempt } => {
                        assert!(
                            self.state.is_finished(),
                            "only a finished job is built again: {before:?}"
                        );
                        *self = Model {
                            state: Queued,
                            attempt,
                            round: self.round + 1,
                            runs: 0,
                            finished_at: None,
                            now: self.now,
                        };
                    }
                    Admit::Attach | Admit::Conflict => {}
                }
            }
            Op::Event(event) => {
                if let Some(state) = next(self.state, event) {
                    self.set(state);
                }
            }
            Op::Claim {
                current_round,
                holder,
            } => {
                let queued = Delivered {
                    state: self.state,
                    current_round,
                    attempt: self.attempt,
                    runs: self.runs,
                    holder,
                };
                match claim(queued, MAX_ATTEMPTS) {
                    Claim::Stale | Claim::Mine => {}
                    Claim::Leased => {
                        assert_eq!(
                            holder,
                            Holder::Other { live: true },
                            "only a live lease is respected"
                        );
                    }
                    Claim::Adopt { attempt } => {
                        assert_eq!(attempt, self.attempt, "adopting keeps the attempt");
                    }
                    Claim::WorkerLost { runs } => {
                        assert_eq!(runs, MAX_ATTEMPTS);
                        let state = next(self.state, Event::Fail(FailureCode::WorkerLost))
                            .expect("a live job can fail");
                        self.set(state);
                    }
                    Claim::Run { attempt, state, .. } => {
                        assert!(current_round && !self.state.is_finished(), "{before:?}");
                        self.runs += 1;
                        self.attempt = attempt;
                        self.state = state;
                    }
                }
            }
            Op::Cancel => match cancel(self.state) {
                Cancel::Now => self.set(Cancelled),
                Cancel::Stop => {
                    let state = next(self.state, Event::Fail(FailureCode::Cancelled)).unwrap();
                    self.set(state);
                }
                Cancel::Finished => assert!(self.state.is_finished()),
            },
            Op::Tick(ms) => self.now += ms,
        }
        self.check(&before);
    }

    fn set(&mut self, state: JobState) {
        self.state = state;
        if state.is_finished() {
            self.finished_at = Some(self.now);
        }
    }

    /// What must hold after every step.
    fn check(&self, before: &Model) {
        assert!(self.round >= before.round, "rounds only grow");
        if self.round == before.round {
            if before.state.is_finished() {
                assert_eq!(self.state, before.state, "final stays final in a round");
                assert_eq!(self.finished_at, before.finished_at);
            }
            assert!(
                self.attempt >= before.attempt,
                "attempts only grow in a round"
            );
        } else {
            assert_eq!(self.state, Queued, "a new round starts queued");
            assert!(
                self.attempt == 1 || self.attempt == before.attempt + 1,
                "a new round is a first build or the next attempt"
            );
        }
        assert!(
            self.runs <= MAX_ATTEMPTS,
            "never more runs than attempts allow"
        );
        assert_eq!(
            self.finished_at.is_some(),
            self.state.is_finished(),
            "an end time exactly when finished: {self:?}"
        );
        assert!(self.attempt >= 1);
    }
}

proptest! {
    #[test]
    fn random_operations_never_reach_an_illegal_state(ops in prop::collection::vec(op(), 1..80)) {
        let mut model = Model {
            state: Queued,
            attempt: 1,
            round: 1,
            runs: 0,
            finished_at: None,
            now: 0,
        };
        for op in &ops {
            model.apply(op);
        }
    }
}
