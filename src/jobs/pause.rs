//! Pausing a worker without stopping it (`corebuild pause`): running jobs finish,
//! nothing new starts; queued jobs wait (standalone) or stay in the fleet's queue for
//! other workers (cluster mode). It lives in the process, so it survives a lost NATS
//! connection, not a restart.

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::time::now_ms;

/// Why and since when the worker is paused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Paused {
    pub(crate) reason: String,
    /// Milliseconds since the epoch.
    pub(crate) since: u64,
}

pub(crate) struct Pause {
    state: watch::Sender<Option<Paused>>,
}

impl Default for Pause {
    fn default() -> Self {
        Self {
            state: watch::Sender::new(None),
        }
    }
}

impl Pause {
    /// Pauses with `reason`; a second pause only replaces the reason, keeping `since`.
    pub(crate) fn pause(&self, reason: String) -> Paused {
        let mut now = None;
        self.state.send_modify(|state| {
            let since = state.as_ref().map_or_else(now_ms, |p| p.since);
            let paused = Paused { reason, since };
            now = Some(paused.clone());
            *state = Some(paused);
        });
        now.expect("just set")
    }

    /// Resumes; false when the worker was not paused.
    pub(crate) fn resume(&self) -> bool {
        self.state.send_replace(None).is_some()
    }

    pub(crate) fn current(&self) -> Option<Paused> {
        self.state.borrow().clone()
    }

    /// Changes of the pause, for whoever reports it elsewhere (the fleet's record).
    pub(crate) fn watch(&self) -> watch::Receiver<Option<Paused>> {
        self.state.subscribe()
    }

    pub(crate) fn is_paused(&self) -> bool {
        self.state.borrow().is_some()
    }

    /// Returns once the worker is paused (at once if it is).
    pub(crate) async fn paused(&self) {
        let mut rx = self.state.subscribe();
        // The sender lives as long as `self`, so the wait cannot fail.
        let _ = rx.wait_for(Option::is_some).await;
    }

    /// Returns once the worker is not paused (at once if it is not).
    pub(crate) async fn resumed(&self) {
        let mut rx = self.state.subscribe();
        let _ = rx.wait_for(Option::is_none).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_pause_keeps_its_start_and_a_resume_wakes_the_waiters() {
        let pause = std::sync::Arc::new(Pause::default());
        assert!(!pause.resume());
        let first = pause.pause("kernel update".into());
        let second = pause.pause("kernel update, then reboot".into());
        assert_eq!(first.since, second.since);
        assert_eq!(
            pause.current().unwrap().reason,
            "kernel update, then reboot"
        );
        pause.paused().await;
        let waiter = tokio::spawn({
            let pause = std::sync::Arc::clone(&pause);
            async move { pause.resumed().await }
        });
        assert!(pause.resume());
        waiter.await.unwrap();
        assert!(!pause.is_paused());
    }
}
