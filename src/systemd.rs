//! Readiness and stop notices for systemd (`Type=notify`). Outside systemd, where
//! `NOTIFY_SOCKET` is unset, every call does nothing.

use std::net::SocketAddr;

use sd_notify::NotifyState;

/// Listening: systemd may consider the service started.
pub(crate) fn ready(address: SocketAddr) {
    let status = format!("listening on {address}");
    notify(&[NotifyState::Ready, NotifyState::Status(&status)]);
}

/// The drain has begun.
pub(crate) fn stopping() {
    notify(&[NotifyState::Stopping, NotifyState::Status("draining jobs")]);
}

fn notify(states: &[NotifyState]) {
    if let Err(err) = sd_notify::notify(states) {
        tracing::warn!("could not notify systemd: {err}");
    }
}
