//! One page of a fleet job's log, read from the batch that holds its cursor: the
//! job's document says where its run's batches are (`log_index`), and the page reads
//! them one by one from there until it has its lines. A page of a long log thus costs
//! what the page costs. When what it reads does not add up (another run's batch at
//! the end, a log stream made again), it reads the whole log as before.

use async_nats::jetstream::stream::RawMessageErrorKind;

use super::ClusterError;
use super::doc::StoredJob;
use super::log_index;
use super::logs::{LogStore, run_header, run_of, served};
use crate::joblog::{LogLine, Window};
use crate::jobs::LogPage;

impl LogStore {
    pub(super) async fn page(
        &self,
        id: &str,
        since: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<LogPage, ClusterError> {
        // The state is read before the lines: a job's lines are all stored before its
        // end is, so `done` is never true while a line is still missing. (A copy of the
        // document that is a moment old is older, never newer, so this holds for it.)
        let doc = self.store().recent(id).await?;
        let wanted = Wanted {
            since,
            limit,
            max_bytes,
        };
        match self.seek(id, &doc, &wanted).await? {
            Some(page) => Ok(page),
            None => self.page_of_whole_log(id, &doc, &wanted).await,
        }
    }

    /// The texts of every kept line of the finished job `doc` (its final document,
    /// as its watch brought it), for the blocking answer, read batch by batch as a page
    /// is.
    pub(super) async fn texts(
        &self,
        id: &str,
        doc: &StoredJob,
    ) -> Result<Vec<String>, ClusterError> {
        let wanted = Wanted {
            since: 0,
            limit: usize::MAX,
            max_bytes: usize::MAX,
        };
        let page = match self.seek(id, doc, &wanted).await? {
            Some(page) => page,
            None => self.page_of_whole_log(id, doc, &wanted).await?,
        };
        Ok(page.lines.into_iter().map(|l| l.text).collect())
    }

    /// The page read from the batch holding its first line; `None` when the log's end
    /// is not the run's own.
    async fn seek(
        &self,
        id: &str,
        doc: &StoredJob,
        wanted: &Wanted,
    ) -> Result<Option<LogPage>, ClusterError> {
        let run = run_of(doc);
        let log_from = doc.run.as_ref().map_or(0, |r| r.log_from);
        // Where the log ends: a finished job's at its `logLines`, a running one's after
        // its newest batch, which is also where reading may stop.
        let (end, last) = if doc.view.state.is_finished() {
            (doc.view.log_lines.max(log_from), None)
        } else {
            match self.log_end(id).await? {
                None => (log_from, None),
                Some(newest) if newest.run.as_deref() == run => (newest.next, Some(newest.seq)),
                Some(_) => return Ok(None),
            }
        };
        let keep = u64::try_from(self.keep()).unwrap_or(u64::MAX);
        let first = log_from.max(end.saturating_sub(keep));
        let from = wanted.since.max(first);
        let index = doc.run.as_ref().map_or(&[][..], |r| &r.log_index);
        let mut lines = Vec::new();
        if from < end {
            let start = log_index::start_for(index, from);
            let reading = Reading {
                id,
                doc,
                run,
                from,
                end,
                last,
            };
            lines = self.read_from(&reading, start, wanted).await?;
            if start > 0 && lines.first().is_none_or(|l| l.seq > from) {
                // The index named a batch past the line (a log stream made again):
                // from the log's first batch instead.
                lines = self.read_from(&reading, 0, wanted).await?;
            }
        }
        // Lines missing before the first one read went over the stream's byte budget,
        // and so did every line before them.
        let first_seq = match lines.first() {
            Some(line) if line.seq > from => line.seq,
            Some(_) => first,
            None if from < end => end,
            None => first,
        };
        Ok(Some(wanted.page(doc, first_seq, end, &lines)))
    }

    /// The run's lines from `reading.from` on, from stream sequence `start`, until the
    /// page has enough of them or the log ends.
    async fn read_from(
        &self,
        reading: &Reading<'_>,
        start: u64,
        wanted: &Wanted,
    ) -> Result<Vec<LogLine>, ClusterError> {
        let subject = self.subject(reading.id);
        let (mut at, mut lines, mut bytes) = (start.max(1), Vec::<LogLine>::new(), 0);
        loop {
            let message = self
                .stream()
                .raw_message_builder()
                .sequence(at)
                .next_by_subject(subject.clone())
                .send()
                .await;
            let message = match message {
                Ok(message) => message,
                Err(e) if e.kind() == RawMessageErrorKind::NoMessageFound => break,
                Err(e) => return Err(ClusterError::nats("reading the job's log", e)),
            };
            at = message.sequence + 1;
            if run_header(Some(&message.headers)).as_deref() == reading.run {
                let batch: Vec<LogLine> =
                    serde_json::from_slice(&message.payload).unwrap_or_default();
                // A line read already (a batch stored twice) is not taken again.
                let next = lines.last().map_or(reading.from, |l| l.seq + 1);
                for line in batch {
                    if line.seq >= next && served(reading.doc, &line) {
                        bytes += line.text.len().max(1);
                        lines.push(line);
                    }
                }
            }
            let enough = lines.len() >= wanted.limit || bytes >= wanted.max_bytes;
            let at_end = lines.last().is_some_and(|l| l.seq + 1 >= reading.end)
                || reading.last.is_some_and(|last| message.sequence >= last);
            if enough || at_end {
                break;
            }
        }
        Ok(lines)
    }

    /// The page cut from every kept line of the run: the way for a log whose end is
    /// not where the document says.
    async fn page_of_whole_log(
        &self,
        id: &str,
        doc: &StoredJob,
        wanted: &Wanted,
    ) -> Result<LogPage, ClusterError> {
        let mut lines = self.lines(id, run_of(doc)).await?;
        lines.retain(|l| served(doc, l));
        // A run with no lines yet starts where the runs before it ended.
        let start = doc.run.as_ref().map_or(0, |r| r.log_from);
        let first_seq = lines.first().map_or(start, |l| l.seq);
        let end_seq = lines.last().map_or(start, |l| l.seq + 1);
        let from = wanted.since;
        let lines: Vec<LogLine> = lines.into_iter().filter(|l| l.seq >= from).collect();
        Ok(wanted.page(doc, first_seq, end_seq, &lines))
    }
}

/// What a page reads.
struct Reading<'a> {
    id: &'a str,
    doc: &'a StoredJob,
    run: Option<&'a str>,
    /// The first line it wants.
    from: u64,
    /// The line after the log's last.
    end: u64,
    /// The stream sequence of the log's newest batch, when known.
    last: Option<u64>,
}

/// What the client asked for.
struct Wanted {
    since: u64,
    limit: usize,
    max_bytes: usize,
}

impl Wanted {
    /// The page of `lines` (from the cursor on) in a log of lines `first_seq` up to
    /// `end_seq`.
    fn page(&self, doc: &StoredJob, first_seq: u64, end_seq: u64, lines: &[LogLine]) -> LogPage {
        let window = Window {
            first_seq,
            end_seq,
            since: self.since,
            limit: self.limit,
            max_bytes: self.max_bytes,
        };
        let slice = window.take(lines.iter());
        let state = doc.view.state;
        LogPage {
            state,
            first_seq: slice.first_seq,
            done: state.is_finished() && slice.next_seq == end_seq,
            next_seq: slice.next_seq,
            lines: slice.lines,
        }
    }
}
