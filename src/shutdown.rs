//! Turns SIGTERM and SIGINT into cancellation of the worker's shutdown token.

use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// Waits for the first SIGTERM or SIGINT and cancels `token`.
pub async fn cancel_on_signal(token: CancellationToken) -> std::io::Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let name = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
        () = token.cancelled() => return Ok(()),
    };
    tracing::info!(signal = name, "signal received, stopping");
    token.cancel();
    Ok(())
}
