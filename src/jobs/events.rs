//! What the engine tells the outside about jobs, for counting. A narrow seam: the
//! engine knows this trait, not the metrics that implement it.

use std::time::Duration;

use crate::domain::{ErrorCode, Outcome};

pub(crate) trait JobEvents: Send + Sync + 'static {
    /// A submission became a new build (an attached retry is not one).
    fn admitted(&self);
    /// A submission was refused: `QueueFull` or `ShuttingDown`.
    fn rejected(&self, reason: ErrorCode);
    /// A job ended; `ran` is its time from start to end when it started at all.
    fn finished(&self, outcome: &Outcome, ran: Option<Duration>);
    /// A job started after waiting this long in a queue (in a fleet: since it was
    /// admitted, for its first run only).
    fn started(&self, _waited: Duration) {}
}

/// For engines nobody counts.
#[cfg(test)]
pub(crate) struct NoEvents;

#[cfg(test)]
impl JobEvents for NoEvents {
    fn admitted(&self) {}
    fn rejected(&self, _: ErrorCode) {}
    fn finished(&self, _: &Outcome, _: Option<Duration>) {}
}
