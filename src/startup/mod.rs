//! Builds the application from a configuration: workdir, host facts, listener, server.
//! The HTTP server's parts are in `http`, the engine's and the fleet's settings in
//! `engine`.

mod engine;
mod http;

use engine::{cluster_settings, start_engine};
use http::{connection_limit, http_server, http_workers, listen};

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use tokio_util::sync::CancellationToken;

use crate::api::{AppState, Backend, Facts};
use crate::cluster::Cluster;
pub use crate::cluster::{ClusterStartError, SealError};
use crate::config::{Config, ConfigError};
use crate::isocreator::{BuilderEnv, CommandError, IsoCreator, marks};
use crate::jobs::Identity;
use crate::machine::{MachineFacts, executor_size, raise_fd_limit};
use crate::metrics::{ClusterMetrics, Metrics};
use crate::tls::{Certificates, TlsError};
use crate::workdir::{self, WorkdirError, WorkdirLock};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// Settings that do not go together (the message names the variables).
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Workdir(#[from] WorkdirError),
    #[error("cannot listen on {address} (COREBUILD_BIND/COREBUILD_PORT): {source}")]
    Bind {
        address: SocketAddr,
        source: io::Error,
    },
    #[error("cannot read the host's CPU and memory: {0}")]
    Machine(io::Error),
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The fleet key does not parse (the message names the variable).
    #[error(transparent)]
    ClusterKey(#[from] SealError),
    #[error(
        "cluster mode (COREBUILD_NATS_URL) needs the fleet key COREBUILD_CLUSTER_KEY: 64 hex characters, e.g. from `openssl rand -hex 32`, the same on every worker"
    )]
    NoClusterKey,
    /// NATS cannot be reached or set up (the message names the URL).
    #[error(transparent)]
    Cluster(#[from] ClusterStartError),
}

/// A bound, not yet running, worker. Binding happens in [`Application::build`], so the
/// port is known before serving (tests bind port 0 and read it back).
pub struct Application {
    address: SocketAddr,
    server: Server,
    /// Read again on SIGHUP while serving, when the API is served over HTTPS.
    certificates: Option<Arc<Certificates>>,
    backend: Backend,
    grace: Duration,
    /// Held while the application lives: no second worker sweeps this one's workdir.
    workdir_lock: WorkdirLock,
}

impl Application {
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let builds = config.builds()?;
        let (workdir, workdir_lock) = {
            let path = config.workdir.clone();
            // File-system calls: off the runtime's threads, which may already serve others.
            tokio::task::spawn_blocking(move || workdir::prepare(&path))
                .await
                .map_err(|e| WorkdirError::Io {
                    path: config.workdir.clone(),
                    source: io::Error::other(e.to_string()),
                })??
        };
        let iso_creator = IsoCreator::new(
            &config.iso_creator_command,
            BuilderEnv::from_worker(&config.builder_env),
            marks::instance(&workdir),
        )?;
        let machine = MachineFacts::read().map_err(StartupError::Machine)?;
        let pool = executor_size(
            machine,
            config.cpus_per_job,
            config.memory_gb_per_job,
            config.max_concurrency,
        );
        // Checked before the engine starts, and before a fleet is joined: a worker that
        // will not serve must take no job.
        let certificates = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some(Certificates::load(cert, key)?),
            (None, None) => None,
            _ => return Err(TlsError::Incomplete.into()),
        };
        let metrics = Arc::new(Metrics::new());
        if !iso_creator.is_installed() {
            tracing::warn!(
                program = iso_creator.program(),
                "ISO_CREATOR_COMMAND: the builder `{}` is not installed (not found on PATH, or not \
                 an executable file); every job fails until it is, and /ready answers 503",
                iso_creator.program()
            );
        }
        let builder = iso_creator.clone();
        // Bound before a fleet is joined, so the fleet view names the real port.
        let (listener, address) = listen(&config)?;
        let identity = Identity {
            worker_id: config.resolved_worker_id(),
            url: Some(config.advertised_url(address, certificates.is_some())),
            started_at: crate::time::now_ms(),
        };
        // Cluster mode or not is decided here, once.
        let fleet = config.fleet.servers();
        let engine = start_engine(
            &config,
            iso_creator,
            workdir.clone(),
            pool.get(),
            fleet.is_some(),
            builds,
            &metrics,
        );
        let backend = match fleet {
            Some(servers) => {
                let settings = cluster_settings(&config, servers, pool.get(), identity.clone())?;
                let cluster_metrics = ClusterMetrics::register(&metrics);
                let cluster =
                    Cluster::start(settings, Arc::clone(&engine), cluster_metrics).await?;
                cluster as Backend
            }
            None => engine as Backend,
        };
        let facts = Facts {
            workdir,
            machine,
            executor_size: pool,
            builder,
            certificates: certificates.clone(),
            identity,
        };
        let state = AppState::new(&config, facts, backend.clone(), metrics);

        let fd_limit = raise_fd_limit().unwrap_or_else(|err| {
            tracing::warn!("cannot raise the open-file limit: {err}");
            1024
        });
        let connections = connection_limit(fd_limit, pool.get(), config.upload_concurrency.get());
        let server = http_server(
            &config,
            (listener, address),
            state.clone(),
            connections,
            certificates.as_ref(),
        )?;
        if config.loopback_only() {
            tracing::warn!(
                %address,
                "PROTECTED MODE: COREBUILD_TOKEN is not set, so job routes answer only clients on \
                 this host (others get 403); set a token (e.g. `openssl rand -hex 32`), or \
                 COREBUILD_PROTECTED_MODE=false on a trusted private network"
            );
        } else if config.required_token().is_none() && !address.ip().is_loopback() {
            tracing::warn!(
                %address,
                "NO TOKEN: COREBUILD_TOKEN is not set, so anyone who can reach this address \
                 can submit jobs and read their status and logs; set one (e.g. \
                 `openssl rand -hex 32`) or listen on 127.0.0.1 only"
            );
        }

        tracing::info!(
            %address,
            worker_id = state.worker_id(),
            workdir = %state.workdir().display(),
            cpu_cores = machine.cpu_cores,
            memory_gb = machine.memory_gb,
            max_concurrent_jobs = pool.get(),
            http_threads = http_workers(),
            fd_limit,
            max_connections = connections,
            https = certificates.is_some(),
            "corebuild listening"
        );
        Ok(Self {
            address,
            server,
            certificates,
            backend,
            grace: Duration::from_secs(config.shutdown_grace_secs),
            workdir_lock,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// Serves until `stop` is cancelled, then drains: no new jobs (503), waiting jobs
    /// end as `shutting_down`, running ones get the configured grace time (cut short by
    /// `force`), and the server answers status and log requests all the while. Then the
    /// server stops and lets the requests in flight finish.
    pub async fn run_until_stopped(
        self,
        stop: CancellationToken,
        force: CancellationToken,
    ) -> io::Result<()> {
        // Released when this returns, after the last job and workspace are gone.
        let _workdir_lock = self.workdir_lock;
        let handle = self.server.handle();
        let server = self.server;
        tokio::pin!(server);
        // Owned here and ended below: answers SIGHUP (reloads the certificate, if any)
        // while serving.
        let reloader = tokio::spawn(crate::tls::reload_on_sighup(self.certificates));
        let _reloader = AbortOnDrop(reloader);
        crate::systemd::ready(self.address);
        tokio::select! {
            result = &mut server => return result,
            () = stop.cancelled() => {}
        }
        crate::systemd::stopping();
        tracing::info!(
            grace_secs = self.grace.as_secs(),
            "shutting down: draining jobs"
        );
        let drain = self.backend.shutdown(self.grace, &force);
        tokio::pin!(drain);
        tokio::select! {
            () = &mut drain => {}
            result = &mut server => {
                drain.await;
                return result;
            }
        }
        tracing::info!("jobs drained; stopping the HTTP server");
        // The server future itself carries out the stop, so poll both together.
        let ((), result) = tokio::join!(handle.stop(true), server);
        result
    }
}

/// Aborts the task it holds when dropped, whichever way the server ends.
struct AbortOnDrop(tokio::task::JoinHandle<std::io::Result<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
