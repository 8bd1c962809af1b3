//! Wires the parts together: configuration, logging, the application, signals.

use std::process::ExitCode;

use corebuild::cli::Cli;
use corebuild::startup::Application;
use corebuild::{shutdown, telemetry};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Cli::parse_or_exit().into_serve_config();
    telemetry::init(config.log_format);

    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(err) => {
            tracing::error!("start-up failed: {err}");
            eprintln!("corebuild: start-up failed: {err}");
            return ExitCode::FAILURE;
        }
    };
    let (stop, force) = (CancellationToken::new(), CancellationToken::new());
    let signals = tokio::spawn(shutdown::listen(stop.clone(), force.clone()));
    let served = app.run_until_stopped(stop, force.clone()).await;
    // Ends the signal listener, which owns no other work.
    force.cancel();
    if let Ok(Err(err)) = signals.await {
        tracing::warn!("signal handling failed: {err}");
    }
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("server failed: {err}");
            ExitCode::FAILURE
        }
    }
}
