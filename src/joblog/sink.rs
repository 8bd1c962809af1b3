//! The one thing a job's steps may do with its log: add lines.

use std::sync::Arc;

use super::ring::{JobLog, MAX_LINE_BYTES, Stream};

/// A writer's handle on a job's log. Cheap to clone, so each output reader of a
/// process can own one; it cannot read, slice or follow the log.
#[derive(Clone)]
pub(crate) struct LogSink(Arc<JobLog>);

impl LogSink {
    pub(crate) fn new(log: Arc<JobLog>) -> Self {
        Self(log)
    }

    /// Adds a line; secrets are masked and the line is cut to its limit on the way in.
    pub(crate) fn line(&self, stream: Stream, text: &str) {
        self.0.push(stream, text);
    }

    /// A line of the worker's own about the job.
    pub(crate) fn note(&self, text: &str) {
        self.0.push(Stream::Corebuild, text);
    }

    /// How many bytes of one line a reader should keep before cutting it: the stored
    /// limit plus room for a secret that straddles the cut, so the secret is masked
    /// before the line is cut and no part of it survives.
    pub(crate) fn read_cap(&self) -> usize {
        MAX_LINE_BYTES + self.0.scrubber().longest() + 1
    }

    /// Masks the job's secrets in a text that is not a log line (a failure message).
    pub(crate) fn scrub(&self, text: &str) -> String {
        self.0.scrubber().scrub(text)
    }
}
