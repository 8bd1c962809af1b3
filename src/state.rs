//! What the HTTP handlers share: the resolved configuration and the facts of the host.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::Config;
use crate::jobs::Engine;
use crate::machine::MachineFacts;
use crate::secret::Secret;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    worker_id: String,
    /// Absolute: isocreator gets paths under it and runs in another directory.
    workdir: PathBuf,
    machine: MachineFacts,
    executor_size: NonZeroUsize,
    queue_capacity: NonZeroUsize,
    token: Option<Secret>,
    engine: Arc<Engine>,
}

impl AppState {
    pub fn new(
        config: &Config,
        workdir: PathBuf,
        machine: MachineFacts,
        executor_size: NonZeroUsize,
        engine: Arc<Engine>,
    ) -> Self {
        Self(Arc::new(Inner {
            worker_id: config.resolved_worker_id(),
            workdir,
            machine,
            executor_size,
            queue_capacity: config.queue_capacity,
            token: config.required_token().cloned(),
            engine,
        }))
    }

    pub fn worker_id(&self) -> &str {
        &self.0.worker_id
    }

    pub fn workdir(&self) -> &Path {
        &self.0.workdir
    }

    pub fn machine(&self) -> MachineFacts {
        self.0.machine
    }

    pub fn executor_size(&self) -> NonZeroUsize {
        self.0.executor_size
    }

    pub fn queue_capacity(&self) -> NonZeroUsize {
        self.0.queue_capacity
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.0.engine
    }

    pub fn token(&self) -> Option<&Secret> {
        self.0.token.as_ref()
    }
}
