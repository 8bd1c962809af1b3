//! corebuild: the serve.zone build worker for BaseOS images.
//!
//! # Layout
//! The modules follow a job's path through the worker:
//! 1. [`domain`]: the request's wire structs and the types they are parsed into
//!    ([`domain::Job`], `JobId`, `ArtifactKey`, …), job states and outcomes. Takes
//!    nothing from the other modules.
//! 2. [`api`]: the HTTP routes, the token check and the one mapping from errors to
//!    answers; the OpenAPI document.
//! 3. `jobs`: the engine: registry, bounded queue, executor pool, retention, pause, and
//!    the worker's own record (what it builds and runs). It runs a
//!    `JobRunner` it is given and reports through a `JobEvents` trait, so it names
//!    neither isocreator, S3 nor metrics. `jobs::rules` is the job rulebook both modes
//!    follow: admission, state transitions, cancel and claiming, with no I/O.
//! 4. `pipeline`: one job's steps, the runner the engine is started with.
//! 5. [`isocreator`]: the builder's config, the job's workspace, the process runner.
//! 6. `upload`: one pass over the artifact that hashes it and streams it to S3.
//!
//! Beside the path:
//! - `joblog`: a job's log ring, a leaf the engine keeps, the API reads and the steps
//!   write to through a `LogSink`.
//! - `metrics`: Prometheus counters, fed by the engine's events and the pipeline, and
//!   gauges of the worker's state read at each scrape.
//! - [`config`], [`cli`], [`startup`]: the environment, the command line (and the
//!   completions and manual pages made from it), and the [`Application`] built from
//!   them; [`shutdown`], [`telemetry`] and `systemd` for `main`.
//! - `cluster`: cluster mode, between the API and the engine, one part per file (status
//!   store and each worker's copy of it, queue with a consumer per job class, logs and
//!   their pages, admission, taker, mirror,
//!   leases and the fleet view, cancel, pruner; docs/cluster.md has
//!   the map); it feeds the jobs it takes to the same engine. `api::Backend` (the
//!   `JobBackend` trait, implemented by the engine and by the fleet) is the one seam:
//!   handlers do not know which mode runs.
//! - [`client`]: the other subcommands, a client of a running worker.
//! - `machine` (host facts and the pool size), `time` (epoch milliseconds), [`tls`]
//!   (HTTPS on the API, the certificate read again on SIGHUP and checked for its
//!   validity), [`workdir`] (the workdir, locked for one worker, swept at start-up).
//!
//! Dependencies point down this list and never back: `domain` is a leaf, `jobs`
//! takes only `domain` and `joblog`, and only `startup` knows every module.
//!
//! # Embedding
//! The binary is a thin `main` over this library; another program can run the worker
//! the same way. Binding happens in [`Application::build`], so the port is known (and
//! may be 0) before serving starts:
//!
//! ```no_run
//! use corebuild::{Application, Config};
//! use tokio_util::sync::CancellationToken;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config::from_env()?;
//! let app = Application::build(config).await?;
//! println!("listening on {}", app.address());
//! // `stop` starts the drain (as SIGTERM does), `force` cuts it short.
//! let (stop, force) = (CancellationToken::new(), CancellationToken::new());
//! app.run_until_stopped(stop, force).await?;
//! # Ok(())
//! # }
//! ```

pub mod api;
pub mod cli;
pub mod client;
mod cluster;
pub mod config;
pub mod domain;
mod faults;
pub mod isocreator;
mod joblog;
mod jobs;
mod machine;
mod metrics;
mod pipeline;
pub mod shutdown;
pub mod startup;
mod systemd;
pub mod telemetry;
mod time;
pub mod tls;
mod upload;
pub mod workdir;

pub use config::Config;
pub use startup::{Application, StartupError};
