//! Fault points: named places where a test can freeze this worker on purpose, so a
//! race (a run paused right before it completes its upload, say) happens every time
//! instead of by luck of timing.
//!
//! `COREBUILD_FAULT_POINTS=before_complete,after_claim@2` stops the whole process with
//! `SIGSTOP` at the first `before_complete` and at the second `after_claim` it reaches,
//! exactly as a paused VM or a stalled host would stop; the test resumes it with
//! `SIGCONT`. For tests only: unset (the default), a point costs one atomic load.
//!
//! The points, in the order a fleet job meets them:
//! - `before_claim`: a worker holds a copy of the job's message, not yet claimed;
//! - `after_claim`: the job is claimed (its status says running here), the build has
//!   not started;
//! - `before_complete`: the fleet confirmed this run's hold, the artifact's last write
//!   (the completion of the upload) has not been sent;
//! - `before_store_end`: the job ended here, its end is not stored yet.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// Armed points: name → (hits so far, the hit to stop at).
type Armed = Mutex<HashMap<String, (u64, u64)>>;

/// The points this process stops at, from the environment at the first hit.
fn armed() -> &'static Option<Armed> {
    static ARMED: OnceLock<Option<Armed>> = OnceLock::new();
    ARMED.get_or_init(|| {
        let spec = std::env::var("COREBUILD_FAULT_POINTS").ok()?;
        let points = parse(&spec);
        (!points.is_empty()).then(|| Mutex::new(points))
    })
}

/// `name[@n],…` → name → (hits so far, the hit to stop at).
fn parse(spec: &str) -> HashMap<String, (u64, u64)> {
    spec.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('@') {
            Some((name, n)) => (name.to_owned(), (0, n.parse().unwrap_or(1))),
            None => (p.to_owned(), (0, 1)),
        })
        .collect()
}

/// Stops this process here when the point is armed and this is the hit it waits for.
pub(crate) fn point(name: &str) {
    let Some(armed) = armed() else { return };
    let stop = {
        let mut armed = armed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match armed.get_mut(name) {
            Some((hits, at)) => {
                *hits += 1;
                *hits == *at
            }
            None => false,
        }
    };
    if stop {
        tracing::warn!(
            fault_point = name,
            "fault point reached: stopping this process"
        );
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGSTOP);
        tracing::warn!(fault_point = name, "resumed after the fault point");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_stop_at_the_hit_they_name() {
        let points = parse("before_complete, after_claim@2,,odd@x");
        assert_eq!(points["before_complete"], (0, 1));
        assert_eq!(points["after_claim"], (0, 2));
        assert_eq!(points["odd"], (0, 1));
        assert_eq!(points.len(), 3);
    }
}
