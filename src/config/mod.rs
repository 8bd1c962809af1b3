//! Configuration: the environment, parsed once at start-up into typed values.
//!
//! Every variable README.md's "Configuration" table lists is a field here. clap's
//! `env` support means `corebuild serve --help` documents each variable, a flag can
//! override it, and a value that does not parse stops start-up before anything binds
//! or spawns.

use std::net::IpAddr;
use std::num::{NonZeroU32, NonZeroU64, NonZeroUsize};
use std::path::PathBuf;
use std::str::FromStr;

use bytesize::ByteSize;
use clap::error::{ContextKind, ContextValue};
use clap::{Args, CommandFactory, Parser, ValueEnum};

use crate::domain::job::{Architecture, ImageKind};
use crate::domain::{BuildSet, Secret};

mod fleet;

pub use fleet::FleetConfig;

/// S3 refuses multipart parts below 5 MiB (except the last one) and above 5 GiB.
pub(crate) const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
pub(crate) const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// HTTP port to listen on.
    #[arg(long, env = "COREBUILD_PORT", default_value_t = 3060)]
    pub port: u16,

    /// Address to listen on.
    #[arg(long, env = "COREBUILD_BIND", default_value = "0.0.0.0")]
    pub bind: IpAddr,

    /// Shared token required by the job endpoints; unset (or empty) means no check.
    #[arg(long, env = "COREBUILD_TOKEN", hide_env_values = true)]
    pub token: Option<Secret>,

    /// Without a token and listening beyond loopback, answer job routes only to clients
    /// on this host (`false`: answer everyone, for a trusted private network).
    #[arg(long, env = "COREBUILD_PROTECTED_MODE", default_value_t = true, action = clap::ArgAction::Set)]
    pub protected_mode: bool,

    /// PEM certificate chain: with COREBUILD_TLS_KEY, the API is served over HTTPS
    /// (both read again on SIGHUP).
    #[arg(long, env = "COREBUILD_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of COREBUILD_TLS_CERT.
    #[arg(long, env = "COREBUILD_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Folder for job workspaces; created at start-up when missing.
    #[arg(long, env = "COREBUILD_WORKDIR", default_value = ".nogit/workdir")]
    pub workdir: PathBuf,

    /// The URL other hosts reach this worker's API at, shown in the fleet view
    /// [default: http(s)://<hostname>:<port>, or the bound address when it is specific].
    #[arg(long, env = "COREBUILD_ADVERTISE_URL", value_parser = parse_advertise_url)]
    pub advertise_url: Option<String>,

    /// Worker id reported in capabilities [default: <hostname>-<pid>].
    #[arg(long, env = "COREBUILD_WORKER_ID")]
    pub worker_id: Option<String>,

    /// The image builder's command line, split into words like a shell would.
    #[arg(long, env = "ISO_CREATOR_COMMAND", default_value = "isocreator")]
    pub iso_creator_command: String,

    /// More variables the builder gets from the worker's environment, comma-separated
    /// (it always gets PATH, LANG, LC_ALL, TZ and the proxy variables; never COREBUILD_*).
    #[arg(long, env = "COREBUILD_BUILDER_ENV", value_delimiter = ',', value_parser = parse_env_name)]
    pub builder_env: Vec<String>,

    /// Jobs run at once [default: sized from CPU cores and memory].
    #[arg(long, env = "COREBUILD_MAX_CONCURRENCY")]
    pub max_concurrency: Option<NonZeroUsize>,

    /// CPU cores one job needs, for sizing the executor pool.
    #[arg(long, env = "COREBUILD_CPUS_PER_JOB", default_value = "2")]
    pub cpus_per_job: NonZeroU32,

    /// GiB of memory one job needs, for sizing the executor pool.
    #[arg(long, env = "COREBUILD_MEMORY_GB_PER_JOB", default_value = "4")]
    pub memory_gb_per_job: NonZeroU32,

    /// Jobs that may wait for a free executor (running jobs not counted).
    #[arg(long, env = "COREBUILD_QUEUE_CAPACITY", default_value = "16")]
    pub queue_capacity: NonZeroUsize,

    /// Longest wait of a queued job, in seconds: past it the job ends as `queue_timeout`
    /// (0: no limit).
    #[arg(long, env = "COREBUILD_QUEUE_TIMEOUT_SECS", default_value_t = 86400)]
    pub queue_timeout_secs: u64,

    /// Architectures this worker builds, comma-separated (amd64, arm64, rpi).
    #[arg(long, env = "COREBUILD_ARCHITECTURES", value_delimiter = ',', default_value = "amd64,arm64,rpi", value_parser = parse_wire::<Architecture>)]
    pub(crate) architectures: Vec<Architecture>,

    /// Image kinds this worker builds, comma-separated (ubuntu-iso, balena-raw).
    #[arg(long, env = "COREBUILD_IMAGE_KINDS", value_delimiter = ',', default_value = "ubuntu-iso,balena-raw", value_parser = parse_wire::<ImageKind>)]
    pub(crate) image_kinds: Vec<ImageKind>,

    /// Time limit of one job, in seconds.
    #[arg(long, env = "COREBUILD_JOB_TIMEOUT_SECS", default_value = "7200")]
    pub job_timeout_secs: NonZeroU64,

    /// How long finished jobs stay queryable, in seconds.
    #[arg(long, env = "COREBUILD_JOB_RETENTION_SECS", default_value_t = 86400)]
    pub job_retention_secs: u64,

    /// At most this many finished jobs are kept in memory.
    #[arg(long, env = "COREBUILD_MAX_RETAINED_JOBS", default_value_t = 1000)]
    pub max_retained_jobs: usize,

    /// Log lines kept per job.
    #[arg(long, env = "COREBUILD_LOG_LINES", default_value = "10000")]
    pub log_lines: NonZeroUsize,

    /// Log text all retained jobs keep together (`256MiB`, `1GB` or bytes); past it the
    /// oldest lines of the oldest finished jobs go first.
    #[arg(long, env = "COREBUILD_LOG_BYTES", default_value = "256MiB", value_parser = parse_log_bytes)]
    pub log_bytes: ByteSize,

    /// Seconds running jobs get to finish after SIGTERM/SIGINT.
    #[arg(long, env = "COREBUILD_SHUTDOWN_GRACE_SECS", default_value_t = 600)]
    pub shutdown_grace_secs: u64,

    /// Multipart upload part size (`16MiB`, `8MB` or bytes; 5 MiB to 5 GiB).
    #[arg(long, env = "COREBUILD_UPLOAD_PART_SIZE", default_value = "16MiB", value_parser = parse_part_size)]
    pub upload_part_size: ByteSize,

    /// Parts of one upload in flight at once.
    #[arg(long, env = "COREBUILD_UPLOAD_CONCURRENCY", default_value = "4")]
    pub upload_concurrency: NonZeroUsize,

    /// Send part payloads unsigned (`true`) or signed (`false`) [default: unsigned over
    /// TLS, where the channel protects the body; signed over plain HTTP].
    #[arg(long, env = "COREBUILD_UPLOAD_UNSIGNED_PAYLOAD")]
    pub upload_unsigned_payload: Option<bool>,

    /// Retries of one upload request on transient errors (5xx, time-outs, resets).
    #[arg(long, env = "COREBUILD_UPLOAD_MAX_RETRIES", default_value_t = 10)]
    pub upload_max_retries: usize,

    /// Seconds a request body may take to arrive; a slower client gets 408.
    #[arg(long, env = "COREBUILD_BODY_TIMEOUT_SECS", default_value = "30")]
    pub body_timeout_secs: NonZeroU64,

    /// Largest accepted request body (`1MiB`, `64KB` or bytes).
    #[arg(long, env = "COREBUILD_MAX_BODY_BYTES", default_value = "1MiB", value_parser = parse_body_limit)]
    pub max_body_bytes: ByteSize,

    /// Cluster mode's settings: set COREBUILD_NATS_URL to join a fleet.
    #[command(flatten)]
    pub fleet: FleetConfig,

    /// Format of the service's own logs; `RUST_LOG` sets the filter.
    #[arg(long, env = "COREBUILD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// A configuration value that does not parse; the message names the variable.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

/// The configuration alone, for reading it without a command line.
#[derive(Parser)]
#[command(name = "corebuild")]
struct EnvOnly {
    #[command(flatten)]
    config: Config,
}

impl Config {
    /// Reads the configuration from the environment only (every `COREBUILD_*`
    /// variable and `ISO_CREATOR_COMMAND`), as a program that embeds the worker would.
    pub fn from_env() -> Result<Self, ConfigError> {
        EnvOnly::try_parse_from(["corebuild"])
            .map(|parsed| parsed.config)
            .map_err(|err| ConfigError(name_the_variable(&err, &EnvOnly::command())))
    }

    /// The id reported in capabilities: configured, or `<hostname>-<pid>`.
    pub fn resolved_worker_id(&self) -> String {
        match &self.worker_id {
            Some(id) if !id.trim().is_empty() => id.clone(),
            _ => {
                let host = nix::unistd::gethostname()
                    .ok()
                    .and_then(|h| h.into_string().ok())
                    .unwrap_or_else(|| "localhost".to_owned());
                format!("{host}-{}", std::process::id())
            }
        }
    }

    /// What this worker builds; an error names both variables when they leave nothing.
    pub(crate) fn builds(&self) -> Result<BuildSet, ConfigError> {
        BuildSet::new(&self.architectures, &self.image_kinds).map_err(ConfigError)
    }

    /// The longest a job may wait in a queue, when there is a limit.
    pub(crate) fn queue_timeout(&self) -> Option<std::time::Duration> {
        (self.queue_timeout_secs > 0)
            .then(|| std::time::Duration::from_secs(self.queue_timeout_secs))
    }

    /// The URL the fleet view shows for a worker listening on `address`.
    pub(crate) fn advertised_url(&self, address: std::net::SocketAddr, https: bool) -> String {
        if let Some(url) = &self.advertise_url {
            return url.clone();
        }
        let scheme = if https { "https" } else { "http" };
        let host = match address.ip() {
            ip if ip.is_unspecified() => nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_else(|| "localhost".to_owned()),
            IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        };
        format!("{scheme}://{host}:{}", address.port())
    }

    /// The configured token, where one is set and not empty.
    pub fn required_token(&self) -> Option<&Secret> {
        self.token.as_ref().filter(|t| !t.expose().is_empty())
    }

    /// Whether job routes answer only clients on this host: no token, an address
    /// reachable from elsewhere, and no explicit opt-out (like Redis's protected mode).
    pub fn loopback_only(&self) -> bool {
        self.protected_mode && self.required_token().is_none() && !self.bind.is_loopback()
    }
}

/// clap names the flag (`'--port <PORT>'`) even when the value came from the
/// environment, which is how operators configure corebuild; name both.
pub(crate) fn name_the_variable(err: &clap::Error, command: &clap::Command) -> String {
    let rendered = err.render().to_string();
    let Some(ContextValue::String(arg)) = err.get(ContextKind::InvalidArg) else {
        return rendered;
    };
    let long = arg
        .split_whitespace()
        .next()
        .unwrap_or(arg)
        .trim_start_matches("--");
    // The argument may belong to a subcommand (`serve`).
    let commands = std::iter::once(command).chain(command.get_subcommands());
    let env = commands
        .flat_map(|c| c.get_arguments())
        .find(|a| a.get_long() == Some(long))
        .and_then(|a| a.get_env())
        .and_then(|e| e.to_str());
    match env {
        Some(env) => rendered.replace(&format!("'{arg}'"), &format!("{env} (--{long})")),
        None => rendered,
    }
}

/// A variable name the builder may get: not one of the worker's own settings.
fn parse_env_name(value: &str) -> Result<String, String> {
    let name = value.trim();
    let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!("`{name}` is not a variable name"));
    }
    if name.starts_with("COREBUILD_") {
        return Err(format!(
            "`{name}`: the worker's own settings are never passed to the builder"
        ));
    }
    Ok(name.to_owned())
}

fn parse_advertise_url(value: &str) -> Result<String, String> {
    let value = value.trim().trim_end_matches('/');
    let rest = value
        .strip_prefix("http://")
        .or_else(|| value.strip_prefix("https://"))
        .ok_or("must start with http:// or https://")?;
    if rest.is_empty() || rest.contains(char::is_whitespace) {
        return Err("must name a host, with no spaces".to_owned());
    }
    Ok(value.to_owned())
}

/// One value of a comma list of wire names (spaces around it allowed).
fn parse_wire<T: FromStr<Err = String>>(value: &str) -> Result<T, String> {
    value.trim().parse()
}

fn parse_size(value: &str) -> Result<ByteSize, String> {
    ByteSize::from_str(value.trim())
        .map_err(|_| "expected a size such as `16MiB`, `8MB` or a number of bytes".to_owned())
}

fn parse_part_size(value: &str) -> Result<ByteSize, String> {
    let size = parse_size(value)?;
    if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&size.as_u64()) {
        return Err("S3 parts must be between 5MiB and 5GiB".to_owned());
    }
    Ok(size)
}

fn parse_log_bytes(value: &str) -> Result<ByteSize, String> {
    let size = parse_size(value)?;
    // Room for a few full-length lines at least.
    if size.as_u64() < 1024 * 1024 {
        return Err("the log budget must be at least 1MiB".to_owned());
    }
    Ok(size)
}

fn parse_body_limit(value: &str) -> Result<ByteSize, String> {
    let size = parse_size(value)?;
    // Below this a job request with its descriptor could never fit.
    if size.as_u64() < 1024 {
        return Err("the body limit must be at least 1KiB".to_owned());
    }
    Ok(size)
}
