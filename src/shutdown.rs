//! Turns SIGTERM and SIGINT into the worker's two shutdown tokens: the first signal
//! starts the drain (`stop`), a second one cuts it short (`force`). SIGHUP is taken
//! over here too, so that `systemctl reload` can never kill a worker (its default
//! action is to end the process); what a SIGHUP reloads is the application's business.

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// The handlers, installed before the worker says it is ready: a SIGTERM that comes
/// right after READY=1 must start a drain, not kill the process.
pub struct Signals {
    term: Signal,
    int: Signal,
    /// Held for the process's life: while one SIGHUP stream exists, the signal is
    /// caught instead of ending the process. The application reads its own stream.
    _hangup: Signal,
}

impl Signals {
    pub fn install() -> std::io::Result<Self> {
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            _hangup: signal(SignalKind::hangup())?,
        })
    }

    /// Cancels `stop` on the first signal and `force` on the second. Returns after the
    /// second signal, or when `force` is cancelled by someone else.
    pub async fn listen(mut self, stop: CancellationToken, force: CancellationToken) {
        for token in [stop, force.clone()] {
            let name = tokio::select! {
                _ = self.term.recv() => "SIGTERM",
                _ = self.int.recv() => "SIGINT",
                () = force.cancelled() => return,
            };
            if token.is_cancelled() {
                continue;
            }
            tracing::info!(signal = name, "signal received");
            token.cancel();
        }
    }
}
