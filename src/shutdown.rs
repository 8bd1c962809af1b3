//! Turns SIGTERM and SIGINT into the worker's two shutdown tokens: the first signal
//! starts the drain (`stop`), a second one cuts it short (`force`).

use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// Cancels `stop` on the first SIGTERM or SIGINT and `force` on the second. Returns
/// after the second signal, or when `force` is cancelled by someone else.
pub async fn listen(stop: CancellationToken, force: CancellationToken) -> std::io::Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    for token in [stop, force.clone()] {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
            () = force.cancelled() => return Ok(()),
        };
        if token.is_cancelled() {
            continue;
        }
        tracing::info!(signal = name, "signal received");
        token.cancel();
    }
    Ok(())
}
