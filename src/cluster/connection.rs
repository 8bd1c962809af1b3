//! The connection to NATS: servers, TLS and credentials from the configuration, and
//! its state for `/health`, capabilities and metrics. A TCP connection can look fine
//! while the server behind it answers nothing (a stopped or overloaded process), so the
//! state also comes from a round trip through the server every second.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::{ConnectOptions, ServerAddr};
use futures::StreamExt;
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{ClusterError, ClusterSettings, ClusterStartError};
use crate::metrics::ClusterMetrics;
use crate::time::now_ms;

/// How often the worker asks the server for a round trip.
const PING_EVERY: Duration = Duration::from_secs(1);
/// How long one round trip may take before it counts as unanswered.
const PING_WAIT: Duration = Duration::from_secs(1);
/// Without an answer for this long, the cluster counts as degraded.
const SILENT_LIMIT_MS: u64 = 2_500;
/// After a part of the fleet was recreated, the cluster counts as degraded this long.
const REPAIRED_MS: u64 = 10_000;

/// `cluster` in `/health` and capabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ClusterState {
    Connected,
    /// Connected, but the server has not answered a round trip for a few seconds.
    Degraded,
    Lost,
}

/// The worker's NATS connection, as every part of cluster mode checks it: a request
/// while NATS is out of reach or not answering fails at once instead of after a
/// time-out.
#[derive(Clone)]
pub(super) struct Link {
    client: async_nats::Client,
    /// When the server last answered a round trip (ms since the epoch).
    answered: Arc<AtomicU64>,
    /// When a part of the fleet was last found gone and recreated (ms since the epoch).
    repaired: Arc<AtomicU64>,
}

impl Link {
    pub(super) fn new(client: async_nats::Client) -> Self {
        Self {
            client,
            answered: Arc::new(AtomicU64::new(now_ms())),
            repaired: Arc::new(AtomicU64::new(0)),
        }
    }

    pub(super) fn client(&self) -> &async_nats::Client {
        &self.client
    }

    pub(super) fn state(&self) -> ClusterState {
        if self.client.connection_state() != async_nats::connection::State::Connected {
            return ClusterState::Lost;
        }
        let now = now_ms();
        let silent = now.saturating_sub(self.answered.load(Ordering::Relaxed));
        let repaired = now.saturating_sub(self.repaired.load(Ordering::Relaxed));
        if silent > SILENT_LIMIT_MS || repaired < REPAIRED_MS {
            ClusterState::Degraded
        } else {
            ClusterState::Connected
        }
    }

    /// A part of the fleet was gone and has been recreated: `degraded` for a while.
    pub(super) fn repaired(&self) {
        self.repaired.store(now_ms(), Ordering::Relaxed);
    }

    /// Whether requests can go to NATS now: connected, and answering. (A fleet that
    /// was just repaired is `degraded` but serves.)
    pub(super) fn reachable(&self) -> Result<(), ClusterError> {
        let silent = now_ms().saturating_sub(self.answered.load(Ordering::Relaxed));
        let why = match self.client.connection_state() {
            async_nats::connection::State::Connected if silent <= SILENT_LIMIT_MS => return Ok(()),
            async_nats::connection::State::Connected => "NATS is connected but not answering",
            _ => "this worker has lost its NATS connection",
        };
        Err(ClusterError::Unavailable(format!(
            "{why}; the worker reconnects by itself, retry or ask another worker"
        )))
    }

    /// Round trips through the server every [`PING_EVERY`], to a subject this worker
    /// answers itself, until `abandon`.
    pub(super) async fn watch(
        &self,
        tasks: &TaskTracker,
        abandon: CancellationToken,
    ) -> Result<(), async_nats::SubscribeError> {
        let subject = self.client.new_inbox();
        let mut pings = self.client.subscribe(subject.clone()).await?;
        let (client, stop) = (self.client.clone(), abandon.clone());
        tasks.spawn(async move {
            loop {
                let ping = tokio::select! {
                    () = stop.cancelled() => break,
                    ping = pings.next() => ping,
                };
                let Some(reply) = ping.and_then(|p| p.reply) else {
                    break;
                };
                let _ = client.publish(reply, bytes::Bytes::new()).await;
            }
        });
        let link = self.clone();
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(PING_EVERY);
            loop {
                tokio::select! {
                    () = abandon.cancelled() => break,
                    _ = tick.tick() => {}
                }
                let answer = link.client.request(subject.clone(), bytes::Bytes::new());
                if let Ok(Ok(_)) = tokio::time::timeout(PING_WAIT, answer).await {
                    link.answered.store(now_ms(), Ordering::Relaxed);
                }
            }
        });
        Ok(())
    }
}

pub(super) async fn connect(
    settings: &ClusterSettings,
    metrics: Arc<ClusterMetrics>,
) -> Result<async_nats::Client, ClusterStartError> {
    let fail = |reason: String| ClusterStartError::Connect {
        urls: settings.urls.clone(),
        reason,
    };
    let servers = settings
        .urls
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| {
            u.parse::<ServerAddr>()
                .map_err(|e| fail(format!("`{u}` is not a NATS URL: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if servers.is_empty() {
        return Err(fail("no server given".to_owned()));
    }
    let events = Arc::clone(&metrics);
    // The first `Connected` is the connection start-up made, not one coming back.
    let connected_before = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut options = ConnectOptions::new()
        .name(format!("corebuild {}", settings.worker_id))
        .connection_timeout(Duration::from_secs(5))
        // A worker that lost NATS keeps trying for as long as it runs.
        .max_reconnects(None)
        .event_callback(move |event| {
            let metrics = Arc::clone(&events);
            let connected_before = Arc::clone(&connected_before);
            async move {
                match event {
                    async_nats::Event::Connected => {
                        if connected_before.swap(true, std::sync::atomic::Ordering::SeqCst) {
                            tracing::info!("NATS connection is back");
                        } else {
                            tracing::info!("connected to NATS");
                        }
                        metrics.connected(true);
                    }
                    async_nats::Event::Disconnected => {
                        tracing::warn!("NATS connection lost; reconnecting");
                        metrics.connected(false);
                    }
                    other => tracing::debug!("NATS: {other}"),
                }
            }
        });
    if let Some(token) = &settings.token {
        options = options.token(token.clone());
    }
    if let Some(path) = &settings.creds_file {
        options = options
            .credentials_file(path)
            .await
            .map_err(|e| fail(format!("COREBUILD_NATS_CREDS {}: {e}", path.display())))?;
    }
    if let Some(ca) = &settings.ca_file {
        if !ca.is_file() {
            return Err(fail(format!(
                "COREBUILD_NATS_CA_FILE {}: no such file",
                ca.display()
            )));
        }
        options = options.add_root_certificates(ca.clone()).require_tls(true);
    }
    let client = options
        .connect(servers)
        .await
        .map_err(|e| fail(e.to_string()))?;
    metrics.connected(true);
    Ok(client)
}
