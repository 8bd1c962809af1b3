//! The HTTP side of start-up: the listener, the server with its connection limit and
//! threads.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};

use super::StartupError;
use crate::api::{self, AppState};
use crate::config::Config;
use crate::tls::Certificates;

/// How many connections the server holds at most, over all its threads: what the
/// open-file limit leaves once the worker's own files and every executor's builder
/// pipes, artifact and upload connections are set aside, with a margin. Past it new
/// connections wait in the listen backlog instead of failing with "too many open
/// files" somewhere else.
pub(super) fn connection_limit(
    fd_limit: u64,
    executors: usize,
    upload_concurrency: usize,
) -> usize {
    let per_job = 16 + 2 * upload_concurrency as u64;
    let reserved = 256 + executors as u64 * per_job;
    let spare = fd_limit.saturating_sub(reserved) * 3 / 4;
    usize::try_from(spare)
        .unwrap_or(usize::MAX)
        .clamp(64, 100_000)
}

/// Threads of the HTTP server: one per core, as actix would choose.
pub(super) fn http_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Binds the listener and builds the HTTP server on it (not yet running).
/// Binds the API's address (port 0 picks a free port).
pub(super) fn listen(config: &Config) -> Result<(TcpListener, SocketAddr), StartupError> {
    let requested = SocketAddr::new(config.bind, config.port);
    let bind_error = |source| StartupError::Bind {
        address: requested,
        source,
    };
    let listener = TcpListener::bind(requested).map_err(bind_error)?;
    let address = listener.local_addr().map_err(bind_error)?;
    Ok((listener, address))
}

pub(super) fn http_server(
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
