//! The connection to NATS: servers, TLS and credentials from the configuration, and
//! its state for `/health`, capabilities and metrics.

use std::sync::Arc;
use std::time::Duration;

use async_nats::{ConnectOptions, ServerAddr};
use serde::Serialize;

use super::{ClusterError, ClusterSettings, ClusterStartError};
use crate::metrics::ClusterMetrics;

/// `cluster` in `/health` and capabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ClusterState {
    Connected,
    Lost,
}

impl ClusterState {
    pub(crate) fn of(client: &async_nats::Client) -> Self {
        match client.connection_state() {
            async_nats::connection::State::Connected => Self::Connected,
            _ => Self::Lost,
        }
    }
}

/// The worker's NATS connection, as every part of cluster mode checks it: a request
/// while NATS is out of reach fails at once instead of after a time-out.
#[derive(Clone)]
pub(super) struct Link {
    client: async_nats::Client,
}

impl Link {
    pub(super) fn new(client: async_nats::Client) -> Self {
        Self { client }
    }

    pub(super) fn client(&self) -> &async_nats::Client {
        &self.client
    }

    pub(super) fn state(&self) -> ClusterState {
        ClusterState::of(&self.client)
    }

    pub(super) fn reachable(&self) -> Result<(), ClusterError> {
        match self.state() {
            ClusterState::Connected => Ok(()),
            ClusterState::Lost => Err(ClusterError::Unavailable(
                "this worker has lost its NATS connection; it reconnects by itself, retry or ask another worker"
                    .to_owned(),
            )),
        }
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
    let mut options = ConnectOptions::new()
        .name(format!("corebuild {}", settings.worker_id))
        .connection_timeout(Duration::from_secs(5))
        // A worker that lost NATS keeps trying for as long as it runs.
        .max_reconnects(None)
        .event_callback(move |event| {
            let metrics = Arc::clone(&events);
            async move {
                match event {
                    async_nats::Event::Connected => {
                        tracing::info!("NATS connection is back");
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
