//! Following a local job's log: wakes on new lines (no polling), pulls at the reader's
//! pace, so a slow reader holds one batch at most and never slows the job.

use std::sync::Arc;
use std::time::Duration;

use futures::Stream;

use super::record::JobRecord;
use super::view::{FollowEvent, LogPage};

/// Lines in one batch of events, at most.
const BATCH_LINES: usize = 1000;

struct Follower {
    record: Arc<JobRecord>,
    since: u64,
    appended: tokio::sync::watch::Receiver<u64>,
    ended: bool,
}

/// Events from line `since` on until the job has ended; `max_bytes` bounds a batch,
/// `keep_alive` is the longest silence.
pub(crate) fn follow(
    record: Arc<JobRecord>,
    since: u64,
    max_bytes: usize,
    keep_alive: Duration,
) -> impl Stream<Item = FollowEvent> + Send + 'static {
    let appended = record.log.subscribe();
    // A cursor past the end starts at the next line to come, not at a number no line
    // will ever reach.
    let since = since.min(record.log.next_seq());
    let start = Follower {
        record,
        since,
        appended,
        ended: false,
    };
    futures::stream::unfold(start, move |mut f| async move {
        if f.ended {
            return None;
        }
        loop {
            f.appended.borrow_and_update();
            let finished = f.record.state().is_finished();
            let slice = f.record.log.slice(f.since, BATCH_LINES, max_bytes);
            f.since = slice.next_seq;
            if !slice.lines.is_empty() {
                return Some((FollowEvent::Lines(slice.lines), f));
            }
            if finished {
                f.ended = true;
                let code = f
                    .record
                    .outcome()
                    .and_then(|o| o.as_ref().as_ref().err().map(|e| e.code.code()));
                let state = f.record.state();
                return Some((FollowEvent::End { state, code }, f));
            }
            tokio::select! {
                _ = f.appended.changed() => {}
                _ = f.record.wait() => {}
                () = tokio::time::sleep(keep_alive) => return Some((FollowEvent::KeepAlive, f)),
            }
        }
    })
}

/// A page of a local job's log.
pub(crate) fn page(record: &JobRecord, since: u64, limit: usize, max_bytes: usize) -> LogPage {
    // Read "finished" before the lines: no line is added after a job finishes, so
    // `done` can never be true while a line is still missing.
    let state = record.state();
    let slice = record.log.slice(since, limit, max_bytes);
    LogPage {
        state,
        first_seq: slice.first_seq,
        done: state.is_finished() && slice.next_seq == record.log.next_seq(),
        next_seq: slice.next_seq,
        lines: slice.lines,
    }
}
