//! Job logs in NATS: the worker running a job publishes its lines in batches, one
//! subject per job; any worker reads them back for pages, follows (`follow`) and the
//! blocking answer, with the same `seq` numbers the job's own log gave them.
//!
//! Every batch names the run that wrote it (a header); readers take only the batches
//! of the run the job's document names, so a run that was taken over, and whose
//! batches still arrive late, never mixes into the log of the run that holds the job.

use std::pin::Pin;
use std::sync::Arc;

use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use async_nats::jetstream::{self, stream};
use futures::{Stream, StreamExt};

use super::ClusterError;
use super::doc::StoredJob;
use super::names::Names;
use super::store::StatusStore;
use crate::joblog::LogLine;

/// The header naming the run a batch belongs to.
const RUN_HEADER: &str = "Corebuild-Run";

/// The newest batch of a job's log.
pub(super) struct Newest {
    /// Its stream sequence.
    pub(super) seq: u64,
    /// The seq after its last line.
    pub(super) next: u64,
    /// The run that wrote it.
    pub(super) run: Option<String>,
}

/// The run a stored batch names.
pub(super) fn run_header(headers: Option<&async_nats::HeaderMap>) -> Option<String> {
    headers
        .and_then(|h| h.get(RUN_HEADER))
        .map(|v| v.as_str().to_owned())
}

/// One stored batch of a job's log.
pub(super) struct Batch {
    /// Its stream sequence.
    pub(super) seq: u64,
    /// The run that wrote it (none from workers that did not say).
    pub(super) run: Option<String>,
    pub(super) lines: Vec<LogLine>,
}

pub(super) type Batches = Pin<Box<dyn Stream<Item = Result<Batch, ClusterError>> + Send>>;

/// The run whose lines a reader serves: the one the job's document names.
pub(super) fn run_of(doc: &StoredJob) -> Option<&str> {
    doc.run.as_ref().map(|r| r.id.as_str())
}

/// Whether a reader serves `line` of the job: a finished job's log ends at its
/// `logLines`, so a batch its lost run published late adds nothing to it.
pub(super) fn served(doc: &StoredJob, line: &LogLine) -> bool {
    !doc.view.state.is_finished() || line.seq < doc.view.log_lines
}

pub(super) struct LogStore {
    js: jetstream::Context,
    stream: stream::Stream,
    names: Names,
    /// Lines kept per job (COREBUILD_LOG_LINES).
    keep: usize,
    /// Where a job's state is read, so a page knows whether the log is complete.
    store: Arc<StatusStore>,
}

impl LogStore {
    pub(super) fn new(
        js: jetstream::Context,
        stream: stream::Stream,
        names: Names,
        keep: usize,
        store: Arc<StatusStore>,
    ) -> Self {
        Self {
            js,
            stream,
            names,
            keep,
            store,
        }
    }

    /// Lines kept per job (COREBUILD_LOG_LINES).
    pub(super) fn keep(&self) -> usize {
        self.keep
    }

    pub(super) fn store(&self) -> &StatusStore {
        &self.store
    }

    pub(super) fn stream(&self) -> &stream::Stream {
        &self.stream
    }

    /// The subject of the job's batches.
    pub(super) fn subject(&self, id: &str) -> String {
        self.names.logs_subject(id)
    }

    /// Publishes one batch of a job's lines and waits until JetStream has stored it;
    /// returns its stream sequence.
    pub(super) async fn publish(
        &self,
        id: &str,
        run: &str,
        lines: &[LogLine],
    ) -> Result<u64, ClusterError> {
        let payload = serde_json::to_vec(lines).expect("log lines serialize");
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(RUN_HEADER, run);
        // A batch published again after its answer was lost is stored once.
        if let Some(first) = lines.first() {
            headers.insert("Nats-Msg-Id", format!("{run}.{}", first.seq).as_str());
        }
        let ack = self
            .js
            .publish_with_headers(self.names.logs_subject(id), headers, payload.into())
            .await
            .map_err(|e| ClusterError::nats("publishing log lines", e))?;
        let stored = ack
            .await
            .map_err(|e| ClusterError::nats("publishing log lines", e))?;
        Ok(stored.sequence)
    }

    /// Forgets a job's lines (a new run starts its log afresh; pruning).
    pub(super) async fn purge(&self, id: &str) {
        if let Err(e) = self
            .stream
            .purge()
            .filter(self.names.logs_subject(id))
            .await
        {
            tracing::debug!(job_id = %id, "purging the job's log: {e}");
        }
    }

    /// The job's newest batch.
    pub(super) async fn log_end(&self, id: &str) -> Result<Option<Newest>, ClusterError> {
        match self
            .stream
            .get_last_raw_message_by_subject(&self.names.logs_subject(id))
            .await
        {
            Ok(message) => {
                let lines: Vec<LogLine> =
                    serde_json::from_slice(&message.payload).unwrap_or_default();
                let next = lines.last().map_or(0, |l| l.seq + 1);
                Ok(Some(Newest {
                    seq: message.sequence,
                    next,
                    run: run_header(Some(&message.headers)),
                }))
            }
            Err(e)
                if e.kind()
                    == async_nats::jetstream::stream::LastRawMessageErrorKind::NoMessageFound =>
            {
                Ok(None)
            }
            Err(e) => Err(ClusterError::nats("reading the job's log", e)),
        }
    }

    /// The job's batches in order, from the first kept, with their stream sequence.
    pub(super) async fn batches(&self, id: &str) -> Result<Batches, ClusterError> {
        let consumer = self
            .stream
            .create_consumer(pull::OrderedConfig {
                filter_subject: self.names.logs_subject(id),
                deliver_policy: DeliverPolicy::All,
                ..Default::default()
            })
            .await
            .map_err(|e| ClusterError::nats("reading the job's log", e))?;
        let messages = consumer
            .messages()
            .await
            .map_err(|e| ClusterError::nats("reading the job's log", e))?;
        Ok(Box::pin(messages.map(|message| {
            let message = message.map_err(|e| ClusterError::nats("reading the job's log", e))?;
            let seq = message.info().map(|i| i.stream_sequence).unwrap_or(0);
            let run = run_header(message.headers.as_ref());
            let lines: Vec<LogLine> = serde_json::from_slice(&message.payload).unwrap_or_default();
            Ok(Batch { seq, run, lines })
        })))
    }

    /// Every kept line of the job's run `run`, oldest first: the newest
    /// COREBUILD_LOG_LINES.
    pub(super) async fn lines(
        &self,
        id: &str,
        run: Option<&str>,
    ) -> Result<Vec<LogLine>, ClusterError> {
        let Some(Newest { seq: last, .. }) = self.log_end(id).await? else {
            return Ok(Vec::new());
        };
        let mut batches = self.batches(id).await?;
        let mut lines = Vec::new();
        while let Some(batch) = batches.next().await {
            let batch = batch?;
            if batch.run.as_deref() == run {
                // A batch stored twice (from before the store deduplicated) adds nothing.
                let next = lines.last().map_or(0, |l: &LogLine| l.seq + 1);
                lines.extend(batch.lines.into_iter().filter(|l| l.seq >= next));
            }
            if batch.seq >= last {
                break;
            }
        }
        let keep = self.keep;
        if lines.len() > keep {
            lines.drain(..lines.len() - keep);
        }
        Ok(lines)
    }

    /// The run the job's document names now.
    pub(super) async fn current_run(&self, id: &str) -> Result<Option<String>, ClusterError> {
        let (doc, _) = self.store.known(id).await?;
        Ok(run_of(&doc).map(str::to_owned))
    }
}
