//! The ring itself: numbered lines, the newest `capacity` kept, and a watch channel
//! that carries the next sequence number to followers.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use tokio::sync::watch;

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

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub(crate) struct LogLine {
    pub seq: u64,
    pub time: u64,
    pub stream: Stream,
    pub text: String,
}

/// A window of the log, as the log endpoint answers it.
#[derive(Debug, Clone)]
pub(crate) struct LogSlice {
    pub first_seq: u64,
    pub next_seq: u64,
    pub lines: Vec<LogLine>,
}

pub(crate) struct JobLog {
    ring: Mutex<Ring>,
    capacity: usize,
    scrubber: Scrubber,
    /// Carries `next_seq`; followers wait on it instead of polling.
    appended: watch::Sender<u64>,
    /// Time of the newest line, for a job's `lastActivityAt`.
    last_line_at: AtomicU64,
}

struct Ring {
    lines: VecDeque<LogLine>,
    next_seq: u64,
}

impl JobLog {
    pub(crate) fn new(capacity: usize, scrubber: Scrubber) -> Self {
        Self {
            ring: Mutex::new(Ring {
                lines: VecDeque::with_capacity(capacity.min(1024)),
                next_seq: 0,
            }),
            capacity: capacity.max(1),
            scrubber,
            appended: watch::channel(0).0,
            last_line_at: AtomicU64::new(0),
        }
    }

    pub(crate) fn scrubber(&self) -> &Scrubber {
        &self.scrubber
    }

    /// Stores one line: secrets masked first, then cut to [`MAX_LINE_BYTES`].
    pub(crate) fn push(&self, stream: Stream, text: &str) {
        let text = cut(self.scrubber.scrub(text));
        let mut ring = self.ring.lock().expect("log lock");
        let seq = ring.next_seq;
        ring.next_seq += 1;
        let time = now_ms();
        if ring.lines.len() == self.capacity {
            ring.lines.pop_front();
        }
        ring.lines.push_back(LogLine {
            seq,
            time,
            stream,
            text,
        });
        let next = ring.next_seq;
        drop(ring);
        self.last_line_at.store(time, Ordering::Relaxed);
        self.appended.send_replace(next);
    }

    /// Lines with `seq >= since`, at most `limit`; a `since` below the oldest kept line
    /// starts at the oldest kept line.
    pub(crate) fn slice(&self, since: u64, limit: usize) -> LogSlice {
        let ring = self.ring.lock().expect("log lock");
        let first_seq = ring.lines.front().map_or(ring.next_seq, |l| l.seq);
        let skip = usize::try_from(since.saturating_sub(first_seq)).unwrap_or(usize::MAX);
        let lines: Vec<LogLine> = ring.lines.iter().skip(skip).take(limit).cloned().collect();
        let next_seq = lines
            .last()
            .map_or(ring.next_seq.min(since.max(first_seq)), |l| l.seq + 1);
        LogSlice {
            first_seq,
            next_seq,
            lines,
        }
    }

    /// Every kept line's text, oldest first (the blocking answer's `logs`).
    pub(crate) fn texts(&self) -> Vec<String> {
        let ring = self.ring.lock().expect("log lock");
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

    fn log(capacity: usize) -> JobLog {
        JobLog::new(capacity, Scrubber::new(["hunter2"]))
    }

    #[test]
    fn lines_are_numbered_from_zero_and_scrubbed() {
        let log = log(10);
        log.push(Stream::Corebuild, "Starting");
        log.push(Stream::Stdout, "password hunter2 ok");
        let slice = log.slice(0, 100);
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
        let slice = log.slice(0, 100);
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
            let slice = log.slice(since, 2);
            seen.extend(slice.lines.iter().map(|l| l.seq));
            since = slice.next_seq;
        }
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "no repeats: {seen:?}");
        // Lines evicted before they were read are skipped, but never twice served.
        let tail = log.slice(since, 100);
        assert_eq!(tail.next_seq, 30);
    }

    #[test]
    fn an_empty_answer_points_at_the_next_line() {
        let log = log(4);
        log.push(Stream::Stdout, "a");
        let slice = log.slice(1, 10);
        assert!(slice.lines.is_empty());
        assert_eq!(slice.next_seq, 1);
        let beyond = log.slice(50, 10);
        assert_eq!(beyond.next_seq, 1);
    }

    #[test]
    fn long_lines_are_cut_on_a_char_boundary() {
        let log = log(2);
        log.push(Stream::Stdout, &"é".repeat(MAX_LINE_BYTES));
        let text = &log.slice(0, 1).lines[0].text;
        assert!(text.ends_with(TRUNCATED));
        assert!(text.len() <= MAX_LINE_BYTES + TRUNCATED.len());
    }
}
