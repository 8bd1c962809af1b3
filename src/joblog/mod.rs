//! A job's log: a bounded ring of numbered lines for late readers, plus a wake-up for
//! live followers. Writers never wait for readers; a slow reader just falls behind and
//! resumes from the oldest line still kept. Every line is scrubbed of the job's
//! secrets before it is stored.
//!
//! A leaf: the engine keeps one per job and the API reads it, while the steps of a job
//! write to it through a [`LogSink`] only.

mod budget;
mod ring;
mod scrub;
mod sink;
mod spellings;

pub(crate) use budget::LogBudget;
pub(crate) use ring::{JobLog, LogLine, Stream, Window};
pub(crate) use scrub::Scrubber;
pub(crate) use sink::LogSink;
