//! Builds the application from a configuration: workdir, host facts, listener, server.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use tokio_util::sync::CancellationToken;

use crate::api::{self, AppState, Backend, Facts};
use crate::cluster::{Cluster, ClusterSettings, FleetKey};
pub use crate::cluster::{ClusterStartError, SealError};
use crate::config::{Config, ConfigError};
use crate::domain::BuildSet;
use crate::isocreator::{BuilderEnv, CommandError, IsoCreator, marks};
use crate::jobs::{Engine, EngineSettings, Identity};
use crate::machine::{MachineFacts, executor_size, raise_fd_limit};
use crate::metrics::{ClusterMetrics, Metrics};
use crate::pipeline::BuildPipeline;
use crate::tls::{Certificates, TlsError};
use crate::upload::UploadSettings;
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

/// How many connections the server holds at most, over all its threads: what the
/// open-file limit leaves once the worker's own files and every executor's builder
/// pipes, artifact and upload connections are set aside, with a margin. Past it new
/// connections wait in the listen backlog instead of failing with "too many open
/// files" somewhere else.
fn connection_limit(fd_limit: u64, executors: usize, upload_concurrency: usize) -> usize {
    let per_job = 16 + 2 * upload_concurrency as u64;
    let reserved = 256 + executors as u64 * per_job;
    let spare = fd_limit.saturating_sub(reserved) * 3 / 4;
    usize::try_from(spare)
        .unwrap_or(usize::MAX)
        .clamp(64, 100_000)
}

/// Threads of the HTTP server: one per core, as actix would choose.
fn http_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Binds the listener and builds the HTTP server on it (not yet running).
/// Binds the API's address (port 0 picks a free port).
fn listen(config: &Config) -> Result<(TcpListener, SocketAddr), StartupError> {
    let requested = SocketAddr::new(config.bind, config.port);
    let bind_error = |source| StartupError::Bind {
        address: requested,
        source,
    };
    let listener = TcpListener::bind(requested).map_err(bind_error)?;
    let address = listener.local_addr().map_err(bind_error)?;
    Ok((listener, address))
}

fn http_server(
    config: &Config,
    (listener, address): (TcpListener, SocketAddr),
    state: AppState,
    connections: usize,
    certificates: Option<&Arc<Certificates>>,
) -> Result<Server, StartupError> {
    let max_body = usize::try_from(config.max_body_bytes.as_u64()).unwrap_or(usize::MAX);
    let data = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .wrap(from_fn(api::log_request))
            .app_data(data.clone())
            .configure(api::configure(max_body))
    })
    .workers(http_workers())
    // The limit is per thread.
    .max_connections(connections.div_ceil(http_workers()))
    // Signals are ours to handle: shutdown drains jobs, not just connections.
    .disable_signals()
    // Jobs are drained before the server stops; what is left are plain requests.
    .shutdown_timeout(10);
    let server = match certificates {
        Some(certificates) => server.listen_rustls_0_23(listener, certificates.server_config()),
        None => server.listen(listener),
    }
    .map_err(|source| StartupError::Bind { address, source })?
    .run();
    Ok(server)
}

/// The engine, running the build pipeline and reporting to `metrics`.
fn start_engine(
    config: &Config,
    iso_creator: IsoCreator,
    workdir: PathBuf,
    executors: usize,
    cluster_mode: bool,
    builds: BuildSet,
    metrics: &Arc<Metrics>,
) -> Arc<Engine> {
    let pipeline = Arc::new(BuildPipeline {
        metrics: Arc::clone(metrics),
        iso_creator,
        workdir,
        time_limit: Duration::from_secs(config.job_timeout_secs.get()),
        upload: UploadSettings {
            part_size: config.upload_part_size.as_u64(),
            concurrency: config.upload_concurrency.get(),
            max_retries: config.upload_max_retries,
            unsigned_payload: config.upload_unsigned_payload,
        },
    });
    let worker_secrets = config
        .required_token()
        .into_iter()
        .chain(config.fleet.secrets())
        .filter(|s| !s.expose().is_empty())
        .cloned()
        .collect();
    let settings = EngineSettings {
        executors,
        // In cluster mode the fleet's stream is the queue; a job is taken only for a
        // free executor, so the engine's own queue never holds more than that.
        queue_capacity: if cluster_mode {
            executors
        } else {
            config.queue_capacity.get()
        },
        log_lines: config.log_lines.get(),
        retention: Duration::from_secs(config.job_retention_secs),
        max_retained: config.max_retained_jobs,
        log_bytes: config.log_bytes.as_u64(),
        worker_secrets,
        builds,
        // In cluster mode the fleet's pruner applies the limit to the fleet's queue.
        queue_timeout: if cluster_mode {
            None
        } else {
            config.queue_timeout()
        },
        pause_holds_queue: !cluster_mode,
    };
    Engine::start(settings, Arc::new(pipeline), Arc::clone(metrics) as _)
}

/// Cluster mode's settings; the fleet key is checked here, before anything connects.
fn cluster_settings(
    config: &Config,
    urls: &str,
    executors: usize,
    identity: Identity,
) -> Result<ClusterSettings, StartupError> {
    let fleet = &config.fleet;
    let key = fleet
        .cluster_key
        .as_ref()
        .filter(|k| !k.expose().trim().is_empty())
        .ok_or(StartupError::NoClusterKey)?;
    let key = Arc::new(FleetKey::new(
        key.expose(),
        fleet.cluster_previous_key.as_ref().map(|k| k.expose()),
    )?);
    Ok(ClusterSettings {
        urls: urls.to_owned(),
        ca_file: fleet.nats_ca_file.clone(),
        creds_file: fleet.nats_creds.clone(),
        token: fleet
            .nats_token
            .as_ref()
            .map(|t| t.expose().to_owned())
            .filter(|t| !t.is_empty()),
        key,
        prefix: fleet.nats_prefix.clone(),
        replicas: usize::from(fleet.nats_replicas),
        max_attempts: fleet.max_attempts.get(),
        ack_wait: Duration::from_secs(fleet.nats_ack_wait_secs),
        queue_capacity: config.queue_capacity.get(),
        log_lines: config.log_lines.get(),
        log_bytes: config.log_bytes.as_u64(),
        retention: Duration::from_secs(config.job_retention_secs),
        worker_id: identity.worker_id.clone(),
        identity,
        queue_timeout: config.queue_timeout(),
        executors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_stay_well_below_the_open_file_limit() {
        // The usual soft default, two executors, four parts in flight each.
        let limit = connection_limit(1024, 2, 4);
        assert!(limit + 256 + 2 * 24 < 1024, "{limit}");
        assert_eq!(connection_limit(100, 2, 4), 64, "never below a floor");
        assert!(connection_limit(1 << 20, 4, 4) <= 100_000);
    }
}
