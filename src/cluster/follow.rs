//! Following a fleet job's log from any worker: new batches as they are stored, and the
//! job's end from its status document; a batch goes out in events of `max_bytes` at
//! most, with a keep-alive in every silence.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::kv;
use futures::{Stream, StreamExt};

use super::ClusterError;
use super::doc::StoredJob;
use super::logs::{Batches, LogStore, run_of};
use super::store::StatusStore;
use crate::joblog::LogLine;
use crate::jobs::{FollowEvent, JobView};

/// Follows the job's log from line `since` until its end, woken by new batches and by
/// changes of its status document.
pub(super) async fn follow(
    logs: &Arc<LogStore>,
    store: &StatusStore,
    id: &str,
    since: u64,
    max_bytes: usize,
    keep_alive: Duration,
) -> Result<impl Stream<Item = FollowEvent> + Send + 'static, ClusterError> {
    let (doc, _) = store.known(id).await?;
    let end = logs.log_end(id).await?;
    let next_line = end.map_or(0, |newest| newest.next);
    let watch = store.watch(id).await?;
    let follower = Follower {
        logs: Arc::clone(logs),
        id: id.to_owned(),
        run: run_of(&doc).map(str::to_owned),
        // A cursor past the end starts at the next line to come.
        since: since.min(next_line),
        batches: logs.batches(id).await?,
        watch,
        read_to: 0,
        pending: VecDeque::new(),
        max_bytes,
        finished: None,
        keep_alive,
        ended: false,
    };
    Ok(futures::stream::unfold(follower, Follower::next))
}

struct Follower {
    logs: Arc<LogStore>,
    id: String,
    /// The run whose lines are followed: the one the job's document names.
    run: Option<String>,
    since: u64,
    batches: Batches,
    watch: kv::Watch,
    /// Stream sequence of the newest batch read.
    read_to: u64,
    /// Lines read and not yet sent: a batch goes out in events of `max_bytes` at most.
    pending: VecDeque<LogLine>,
    max_bytes: usize,
    /// The job's final view, and the stream sequence its last batch has.
    finished: Option<(JobView, u64)>,
    keep_alive: Duration,
    ended: bool,
}

impl Follower {
    /// Whether a batch of `run` belongs to the followed log. A batch of another run
    /// is either a new run's (the job was taken over, and its document says so) or a
    /// superseded run's that arrived late (skipped).
    async fn of_current_run(&mut self, run: Option<&str>) -> bool {
        if run == self.run.as_deref() {
            return true;
        }
        match self.logs.current_run(&self.id).await {
            Ok(current) if current.as_deref() == run => {
                self.run = current;
                true
            }
            _ => false,
        }
    }

    /// The next event's lines: as many pending ones as fit in `max_bytes` (one at
    /// least), or none.
    fn take_pending(&mut self) -> Option<Vec<LogLine>> {
        let mut bytes = 0;
        let mut count = 0;
        for line in &self.pending {
            if count > 0 && bytes + line.text.len() > self.max_bytes {
                break;
            }
            bytes += line.text.len();
            count += 1;
        }
        (count > 0).then(|| self.pending.drain(..count).collect())
    }

    async fn next(mut self) -> Option<(FollowEvent, Self)> {
        if self.ended {
            return None;
        }
        loop {
            if let Some(lines) = self.take_pending() {
                return Some((FollowEvent::Lines(lines), self));
            }
            if let Some((view, last)) = &self.finished
                && self.read_to >= *last
            {
                let event = FollowEvent::End {
                    state: view.state,
                    code: view.end_code(),
                };
                self.ended = true;
                return Some((event, self));
            }
            tokio::select! {
                batch = self.batches.next() => match batch {
                    Some(Ok(batch)) => {
                        self.read_to = batch.seq;
                        if !self.of_current_run(batch.run.as_deref()).await {
                            continue;
                        }
                        // A new run's lines start after the old run's, so `since`
                        // keeps every event's `seq` above the ones before it.
                        let since = self.since;
                        // A finished job's log ends at its `logLines` (`logs::served`).
                        let end = self.finished.as_ref().map_or(u64::MAX, |(view, _)| view.log_lines);
                        self.pending.extend(batch.lines.into_iter().filter(|l| l.seq >= since && l.seq < end));
                        if let Some(last) = self.pending.back() {
                            self.since = last.seq + 1;
                        }
                    }
                    Some(Err(e)) => {
                        tracing::debug!(job_id = %self.id, "following the job's log: {e}");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    None => return None,
                },
                entry = self.watch.next(), if self.finished.is_none() => {
                    let doc = match entry {
                        Some(Ok(entry)) if entry.operation == kv::Operation::Put => {
                            StoredJob::from_bytes(&entry.value)
                        }
                        // Gone (past retention) or the watch failed: end with what is known.
                        _ => None,
                    };
                    if let Some(doc) = &doc {
                        self.run = run_of(doc).map(str::to_owned);
                    }
                    match doc {
                        Some(doc) if doc.view.state.is_finished() => {
                            let last = self.logs.log_end(&self.id).await.ok().flatten().map_or(0, |newest| newest.seq);
                            self.finished = Some((doc.view, last));
                        }
                        Some(_) => {}
                        None => return None,
                    }
                }
                () = tokio::time::sleep(self.keep_alive) => {
                    return Some((FollowEvent::KeepAlive, self));
                }
            }
        }
    }
}
