//! The ring itself: numbered lines, the newest `capacity` kept, and a watch channel
//! that carries the next sequence number to followers.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::budget::{Evictable, LogBudget};
use super::scrub::Scrubber;
use crate::domain::names::wire_enum;
use crate::time::now_ms;

/// Lines longer than this are cut and end in [`TRUNCATED`].
pub(crate) const MAX_LINE_BYTES: usize = 16 * 1024;
pub(crate) const TRUNCATED: &str = "…[truncated]";

wire_enum! {
    /// Where a line came from.
    pub(crate) enum Stream {
        Stdout = "stdout",
        Stderr = "stderr",
        /// The worker's own lines about the job.
        Corebuild = "corebuild",
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct LogLine {
    pub(crate) seq: u64,
    pub(crate) time: u64,
    pub(crate) stream: Stream,
    pub(crate) text: String,
}

/// A window of the log, as the log endpoint answers it.
#[derive(Debug, Clone)]
pub(crate) struct LogSlice {
    pub(crate) first_seq: u64,
    pub(crate) next_seq: u64,
    pub(crate) lines: Vec<LogLine>,
}

/// Which lines a page or a batch of events gets.
pub(crate) struct Window {
    /// The oldest line kept.
    pub(crate) first_seq: u64,
    /// The next line to come.
    pub(crate) end_seq: u64,
    pub(crate) since: u64,
    pub(crate) limit: usize,
    /// About this much text (at least one line).
    pub(crate) max_bytes: usize,
}

impl Window {
    /// The slice from `from_since`, kept lines in order from the first with
    /// `seq >= since`; a `since` below the oldest kept line starts at the oldest.
    pub(crate) fn take<'a>(&self, from_since: impl Iterator<Item = &'a LogLine>) -> LogSlice {
        let mut bytes = 0;
        let lines: Vec<LogLine> = from_since
            .take(self.limit)
            .take_while(|line| {
                let first = bytes == 0;
                bytes += line.text.len().max(1);
                first || bytes <= self.max_bytes
            })
            .cloned()
            .collect();
        let next_seq = lines
            .last()
            .map_or(self.end_seq.min(self.since.max(self.first_seq)), |l| {
                l.seq + 1
            });
        LogSlice {
            first_seq: self.first_seq,
            next_seq,
            lines,
        }
    }
}

pub(crate) struct JobLog {
    ring: Mutex<Ring>,
    capacity: usize,
    scrubber: Scrubber,
    /// Shared by every job's log: bounds their text together.
    budget: Arc<LogBudget>,
    /// Set once the job has finished: its lines are the first to go over budget.
    sealed: AtomicBool,
    /// Carries `next_seq`; followers wait on it instead of polling.
    appended: watch::Sender<u64>,
    /// Time of the newest line, for a job's `lastActivityAt`.
    last_line_at: AtomicU64,
}

struct Ring {
    lines: VecDeque<LogLine>,
    next_seq: u64,
    /// Bytes of text in `lines`, as charged to the budget.
    bytes: u64,
}

impl JobLog {
    /// A log registered with `budget`.
    pub(crate) fn new(capacity: usize, scrubber: Scrubber, budget: &Arc<LogBudget>) -> Arc<Self> {
        let log = Arc::new(Self {
            ring: Mutex::new(Ring {
                lines: VecDeque::with_capacity(capacity.min(1024)),
                next_seq: 0,
                bytes: 0,
            }),
            capacity: capacity.max(1),
            scrubber,
            budget: Arc::clone(budget),
            sealed: AtomicBool::new(false),
            appended: watch::channel(0).0,
            last_line_at: AtomicU64::new(0),
        });
        let weak = Arc::downgrade(&log);
        budget.register(weak);
        log
    }

    /// Numbers this log's lines from `seq` on: a fleet job's new run continues the
    /// numbers of the runs before it, so a reader's `seq` never goes back. Only before
    /// the first line.
    pub(crate) fn start_at(&self, seq: u64) {
        let mut ring = self.lock();
        if ring.lines.is_empty() && ring.next_seq == 0 {
            ring.next_seq = seq;
            self.appended.send_replace(seq);
        }
    }

    /// Marks the job finished: its lines go first when the budget is exceeded.
    pub(crate) fn seal(&self) {
        self.sealed.store(true, Ordering::Relaxed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn scrubber(&self) -> &Scrubber {
        &self.scrubber
    }

    /// Stores one line: secrets masked first, then cut to [`MAX_LINE_BYTES`].
    pub(crate) fn push(&self, stream: Stream, text: &str) {
        let text = cut(self.scrubber.scrub(text));
        let added = text.len() as u64;
        let mut ring = self.lock();
        let seq = ring.next_seq;
        ring.next_seq += 1;
        let time = now_ms();
        let mut freed = 0;
        if ring.lines.len() == self.capacity
            && let Some(old) = ring.lines.pop_front()
        {
            freed = old.text.len() as u64;
        }
        ring.bytes = ring.bytes + added - freed;
        ring.lines.push_back(LogLine {
            seq,
            time,
            stream,
            text,
        });
        let next = ring.next_seq;
        drop(ring);
        self.budget.charge(added, freed);
        self.last_line_at.store(time, Ordering::Relaxed);
        self.appended.send_replace(next);
    }

    /// Lines with `seq >= since`, at most `limit` and about `max_bytes` of text (at
    /// least one line); a `since` below the oldest kept line starts at the oldest kept
    /// line.
    pub(crate) fn slice(&self, since: u64, limit: usize, max_bytes: usize) -> LogSlice {
        let ring = self.lock();
        let first_seq = ring.lines.front().map_or(ring.next_seq, |l| l.seq);
        let skip = usize::try_from(since.saturating_sub(first_seq)).unwrap_or(usize::MAX);
        let window = Window {
            first_seq,
            end_seq: ring.next_seq,
            since,
            limit,
            max_bytes,
        };
        window.take(ring.lines.iter().skip(skip))
    }

    /// Every kept line's text, oldest first (the blocking answer's `logs`).
    pub(crate) fn texts(&self) -> Vec<String> {
        let ring = self.lock();
        ring.lines.iter().map(|l| l.text.clone()).collect()
    }

    pub(crate) fn last_line_at(&self) -> u64 {
        self.last_line_at.load(Ordering::Relaxed)
    }

    pub(crate) fn next_seq(&self) -> u64 {
        *self.appended.borrow()
    }

    /// A receiver that changes whenever a line is appended.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.appended.subscribe()
    }
}

impl Drop for JobLog {
    fn drop(&mut self) {
        self.budget.release(self.lock().bytes);
    }
}

impl Evictable for JobLog {
    fn is_sealed(&self) -> bool {
        self.sealed.load(Ordering::Relaxed)
    }

    /// The caller gives the bytes freed back to the budget.
    fn drop_oldest(&self, bytes: u64) -> u64 {
        let mut ring = self.lock();
        let mut freed = 0;
        while freed < bytes {
            let Some(line) = ring.lines.pop_front() else {
                break;
            };
            freed += line.text.len() as u64;
        }
        ring.bytes -= freed;
        freed
    }
}

fn cut(mut text: String) -> String {
    if text.len() <= MAX_LINE_BYTES {
        return text;
    }
    let mut end = MAX_LINE_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push_str(TRUNCATED);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(capacity: usize) -> Arc<JobLog> {
        JobLog::new(
            capacity,
            Scrubber::new(["hunter2"]),
            &LogBudget::new(u64::MAX),
        )
    }

    #[test]
    fn lines_are_numbered_from_zero_and_scrubbed() {
        let log = log(10);
        log.push(Stream::Corebuild, "Starting");
        log.push(Stream::Stdout, "password hunter2 ok");
        let slice = log.slice(0, 100, usize::MAX);
        assert_eq!(slice.first_seq, 0);
        assert_eq!(slice.next_seq, 2);
        assert_eq!(slice.lines[1].seq, 1);
        assert_eq!(slice.lines[1].text, "password *** ok");
        assert_eq!(log.texts(), ["Starting", "password *** ok"]);
    }

    #[test]
    fn the_ring_keeps_the_newest_lines() {
        let log = log(3);
        for i in 0..5 {
            log.push(Stream::Stdout, &format!("line {i}"));
        }
        let slice = log.slice(0, 100, usize::MAX);
        assert_eq!(slice.first_seq, 2);
        assert_eq!(slice.next_seq, 5);
        assert_eq!(
            slice.lines.iter().map(|l| l.seq).collect::<Vec<_>>(),
            [2, 3, 4]
        );
    }

    #[test]
    fn polling_with_next_seq_neither_repeats_nor_skips() {
        let log = log(4);
        let mut since = 0;
        let mut seen = Vec::new();
        for round in 0..10 {
            for i in 0..3 {
                log.push(Stream::Stdout, &format!("{round}-{i}"));
            }
            let slice = log.slice(since, 2, usize::MAX);
            seen.extend(slice.lines.iter().map(|l| l.seq));
            since = slice.next_seq;
        }
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "no repeats: {seen:?}");
        // Lines evicted before they were read are skipped, but never twice served.
        let tail = log.slice(since, 100, usize::MAX);
        assert_eq!(tail.next_seq, 30);
    }

    #[test]
    fn an_empty_answer_points_at_the_next_line() {
        let log = log(4);
        log.push(Stream::Stdout, "a");
        let slice = log.slice(1, 10, usize::MAX);
        assert!(slice.lines.is_empty());
        assert_eq!(slice.next_seq, 1);
        let beyond = log.slice(50, 10, usize::MAX);
        assert_eq!(beyond.next_seq, 1);
    }

    #[test]
    fn a_page_stops_at_its_byte_limit_but_holds_one_line_at_least() {
        let log = log(10);
        for i in 0..5 {
            log.push(Stream::Stdout, &format!("line-{i}"));
        }
        let page = log.slice(0, 100, 13);
        assert_eq!(page.lines.len(), 2, "6 bytes each, 13 at most");
        assert_eq!(page.next_seq, 2);
        assert_eq!(log.slice(0, 100, 1).lines.len(), 1);
    }

    #[test]
    fn over_budget_the_oldest_lines_of_finished_jobs_go_first() {
        let budget = LogBudget::new(100);
        let old = JobLog::new(100, Scrubber::new([]), &budget);
        let running = JobLog::new(100, Scrubber::new([]), &budget);
        for i in 0..4 {
            old.push(Stream::Stdout, &format!("old-{i}-{}", "x".repeat(14)));
        }
        old.seal();
        assert_eq!(budget.used(), 80);
        for i in 0..3 {
            running.push(Stream::Stdout, &format!("new-{i}-{}", "y".repeat(14)));
        }
        // The second line made 120 bytes: the finished job lost its two oldest lines
        // (down to 80, below 90% of the budget) and the running one kept all of its.
        assert_eq!(budget.used(), 100);
        assert_eq!(running.slice(0, 100, usize::MAX).lines.len(), 3);
        let kept = old.slice(0, 100, usize::MAX);
        assert_eq!(kept.first_seq, 2, "the oldest went first");
        // Only when finished jobs have nothing left do running jobs lose lines.
        for i in 3..8 {
            running.push(Stream::Stdout, &format!("new-{i}-{}", "y".repeat(14)));
        }
        assert!(budget.used() <= 100);
        assert!(old.slice(0, 100, usize::MAX).lines.is_empty());
        drop((old, running));
        assert_eq!(budget.used(), 0, "a dropped log gives its bytes back");
    }

    #[test]
    fn long_lines_are_cut_on_a_char_boundary() {
        let log = log(2);
        log.push(Stream::Stdout, &"é".repeat(MAX_LINE_BYTES));
        let text = &log.slice(0, 1, usize::MAX).lines[0].text;
        assert!(text.ends_with(TRUNCATED));
        assert!(text.len() <= MAX_LINE_BYTES + TRUNCATED.len());
    }
}
