//! Cluster mode's section of the configuration: used only when COREBUILD_NATS_URL is
//! set, and decided there once (docs/cluster.md).

use std::num::NonZeroU32;
use std::path::PathBuf;

use clap::Args;

use crate::domain::Secret;

#[derive(Debug, Clone, Args)]
pub struct FleetConfig {
    /// NATS servers, comma-separated (`nats://…` or `tls://…`): set, the worker joins a
    /// fleet sharing one job queue on JetStream (cluster mode, docs/cluster.md).
    #[arg(long, env = "COREBUILD_NATS_URL")]
    pub nats_url: Option<String>,

    /// CA certificate (PEM) for the NATS servers' TLS certificates; requires TLS.
    #[arg(long, env = "COREBUILD_NATS_CA_FILE")]
    pub nats_ca_file: Option<PathBuf>,

    /// NATS credentials file (`.creds`: user JWT and NKey seed).
    #[arg(long, env = "COREBUILD_NATS_CREDS")]
    pub nats_creds: Option<PathBuf>,

    /// NATS token, for servers set up with token authentication.
    #[arg(long, env = "COREBUILD_NATS_TOKEN", hide_env_values = true)]
    pub nats_token: Option<Secret>,

    /// The fleet key: 64 hex characters (`openssl rand -hex 32`). Queued jobs are
    /// encrypted with it; required in cluster mode.
    #[arg(long, env = "COREBUILD_CLUSTER_KEY", hide_env_values = true)]
    pub cluster_key: Option<Secret>,

    /// The fleet key before a rotation: jobs sealed with it can still be opened.
    #[arg(long, env = "COREBUILD_CLUSTER_PREVIOUS_KEY", hide_env_values = true)]
    pub cluster_previous_key: Option<Secret>,

    /// First token of every stream, bucket and subject name of this fleet.
    #[arg(long, env = "COREBUILD_NATS_PREFIX", default_value = "corebuild", value_parser = parse_prefix)]
    pub nats_prefix: String,

    /// Copies JetStream keeps of the fleet's streams and bucket (1 to 5).
    #[arg(long, env = "COREBUILD_NATS_REPLICAS", default_value = "1", value_parser = clap::value_parser!(u8).range(1..=5))]
    pub nats_replicas: u8,

    /// Runs a job gets in cluster mode when its workers are lost; then it fails as
    /// `worker_lost`.
    #[arg(long, env = "COREBUILD_MAX_ATTEMPTS", default_value = "3")]
    pub max_attempts: NonZeroU32,

    /// Seconds without a sign of life after which a running job's worker counts as lost
    /// and the job goes back to the fleet's queue.
    #[arg(long, env = "COREBUILD_NATS_ACK_WAIT_SECS", default_value = "30", value_parser = clap::value_parser!(u64).range(3..=3600))]
    pub nats_ack_wait_secs: u64,
}

impl FleetConfig {
    /// The NATS servers when cluster mode is on: COREBUILD_NATS_URL set and not blank.
    pub fn servers(&self) -> Option<&str> {
        self.nats_url.as_deref().filter(|u| !u.trim().is_empty())
    }

    /// The secrets of this section, to be masked wherever a job's output goes.
    pub(crate) fn secrets(&self) -> impl Iterator<Item = &Secret> {
        [
            self.nats_token.as_ref(),
            self.cluster_key.as_ref(),
            self.cluster_previous_key.as_ref(),
        ]
        .into_iter()
        .flatten()
    }
}

/// A name token NATS accepts in stream, bucket and subject names alike.
fn parse_prefix(value: &str) -> Result<String, String> {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-');
    if value.is_empty() || value.len() > 32 || !value.chars().all(ok) {
        return Err("must be 1 to 32 characters of A-Z, a-z, 0-9, '_' and '-'".to_owned());
    }
    Ok(value.to_owned())
}
