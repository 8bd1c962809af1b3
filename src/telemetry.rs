//! The service's own logs: `tracing` to stdout, filtered by `RUST_LOG`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber; text for people, JSON for log shippers. Text is
/// coloured only on a terminal, and never with `NO_COLOR` set (no-color.org): the
/// journal and log files get plain text.
pub fn init(format: LogFormat) {
    let asked = std::env::var("RUST_LOG").unwrap_or_default();
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // actix-server's "starting 2 workers" reads as build workers; the listening line
    // says how many HTTP threads there are. Asked for by name, it is shown.
    if !asked.contains("actix") {
        filter = filter.add_directive("actix_server=warn".parse().expect("a valid directive"));
    }
    let colour = std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}
