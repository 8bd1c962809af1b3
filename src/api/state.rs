//! What the HTTP handlers share: the resolved configuration and the facts of the host.

use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::backend::Backend;
use crate::config::Config;
use crate::domain::Secret;
use crate::isocreator::IsoCreator;
use crate::jobs::Identity;
use crate::machine::MachineFacts;
use crate::metrics::Metrics;
use crate::tls::Certificates;

#[derive(Clone)]
pub(crate) struct AppState(Arc<Inner>);

struct Inner {
    identity: Identity,
    /// Absolute: isocreator gets paths under it and runs in another directory.
    workdir: PathBuf,
    machine: MachineFacts,
    executor_size: NonZeroUsize,
    /// Asked whether its program is installed, by readiness and capabilities.
    builder: IsoCreator,
    /// The API's certificate when it is served over HTTPS, for its expiry metric.
    certificates: Option<Arc<Certificates>>,
    queue_capacity: NonZeroUsize,
    token: Option<Secret>,
    /// Protected mode: the address job routes are refused on for clients from elsewhere.
    loopback_only: Option<IpAddr>,
    /// How long a request body may take to arrive.
    body_timeout: Duration,
    backend: Backend,
    metrics: Arc<Metrics>,
}

/// The host and pool facts the state is built from.
pub(crate) struct Facts {
    /// Absolute: isocreator gets paths under it and runs in another directory.
    pub(crate) workdir: PathBuf,
    pub(crate) machine: MachineFacts,
    pub(crate) executor_size: NonZeroUsize,
    pub(crate) builder: IsoCreator,
    pub(crate) certificates: Option<Arc<Certificates>>,
    /// Who this worker is: id, advertised URL, start time.
    pub(crate) identity: Identity,
}

impl AppState {
    pub(crate) fn new(
        config: &Config,
        facts: Facts,
        backend: Backend,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self(Arc::new(Inner {
            identity: facts.identity,
            workdir: facts.workdir,
            machine: facts.machine,
            executor_size: facts.executor_size,
            builder: facts.builder,
            certificates: facts.certificates,
            queue_capacity: config.queue_capacity,
            token: config.required_token().cloned(),
            loopback_only: config.loopback_only().then_some(config.bind),
            body_timeout: Duration::from_secs(config.body_timeout_secs.get()),
            backend,
            metrics,
        }))
    }

    pub(crate) fn worker_id(&self) -> &str {
        &self.0.identity.worker_id
    }

    pub(crate) fn identity(&self) -> &Identity {
        &self.0.identity
    }

    pub(crate) fn workdir(&self) -> &Path {
        &self.0.workdir
    }

    pub(crate) fn machine(&self) -> MachineFacts {
        self.0.machine
    }

    pub(crate) fn executor_size(&self) -> NonZeroUsize {
        self.0.executor_size
    }

    /// The image builder the jobs run.
    pub(crate) fn builder(&self) -> &IsoCreator {
        &self.0.builder
    }

    /// When the API's certificate expires (seconds since the epoch), over HTTPS.
    pub(crate) fn certificate_not_after(&self) -> Option<i64> {
        self.0.certificates.as_ref().map(|c| c.not_after())
    }

    pub(crate) fn queue_capacity(&self) -> NonZeroUsize {
        self.0.queue_capacity
    }

    pub(crate) fn backend(&self) -> &Backend {
        &self.0.backend
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }

    pub(crate) fn body_timeout(&self) -> Duration {
        self.0.body_timeout
    }

    pub(crate) fn token(&self) -> Option<&Secret> {
        self.0.token.as_ref()
    }

    /// In protected mode, the address the worker listens on (for the refusal's message).
    pub(crate) fn loopback_only(&self) -> Option<IpAddr> {
        self.0.loopback_only
    }
}
