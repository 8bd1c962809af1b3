//! Wires the parts together: configuration, logging, the application, signals.

use std::process::ExitCode;

use corebuild::cli::{Action, Cli};
use corebuild::client::{self, ClientCommand};
use corebuild::startup::Application;
use corebuild::{isocreator, shutdown, telemetry};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> ExitCode {
    let config = match Cli::parse_or_exit() {
        Action::Serve(config) => *config,
        Action::Client(command) => return client(command).await,
        Action::Print(text) => {
            use std::io::Write;
            return match std::io::stdout().write_all(&text) {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!("corebuild: cannot write to stdout: {err}");
                    ExitCode::FAILURE
                }
            };
        }
    };
    telemetry::init(config.log_format);
    // Daemons a builder starts become the worker's children, not init's, so they can
    // be found and reaped (the service only: a library caller keeps its own children).
    if let Err(err) = isocreator::become_subreaper() {
        tracing::warn!("cannot become a child subreaper: {err}");
    }
    let signals = match shutdown::Signals::install() {
        Ok(signals) => signals,
        Err(err) => {
            eprintln!("corebuild: cannot install signal handlers: {err}");
            return ExitCode::FAILURE;
        }
    };

    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(err) => {
            // Once, on stderr: a person sees it, and under systemd it is in the
            // journal as well.
            eprintln!("corebuild: start-up failed: {err}");
            return ExitCode::FAILURE;
        }
    };
    let (stop, force) = (CancellationToken::new(), CancellationToken::new());
    let signals = tokio::spawn(signals.listen(stop.clone(), force.clone()));
    let served = app.run_until_stopped(stop, force.clone()).await;
    // Ends the signal listener, which owns no other work.
    force.cancel();
    if let Err(err) = signals.await {
        tracing::warn!("signal listener failed: {err}");
    }
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("server failed: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Exit status 0 when the call (and the job, where one is watched) went well, 1 when
/// the job failed or was cancelled, 2 when the worker could not be reached or refused,
/// 130 when interrupted.
async fn client(command: ClientCommand) -> ExitCode {
    ExitCode::from(client::run(command).await.code())
}
