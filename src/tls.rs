//! HTTPS on the worker's own API: the certificate and key from PEM files
//! (`COREBUILD_TLS_CERT`, `COREBUILD_TLS_KEY`), read again on SIGHUP so a rotated
//! certificate is served without a restart. Connections already open keep the
//! certificate they were made with; jobs are not touched.
//!
//! A certificate outside its validity is never put in force: at start-up it stops the
//! worker, on reload the one in force stays. From two weeks before it expires the
//! worker warns, at each reload and once a day, and `/metrics` exports its end.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("COREBUILD_TLS_CERT {path}: {message}")]
    Cert { path: PathBuf, message: String },
    #[error("COREBUILD_TLS_KEY {path}: {message}")]
    Key { path: PathBuf, message: String },
    #[error("COREBUILD_TLS_CERT and COREBUILD_TLS_KEY go together: set both, or neither")]
    Incomplete,
    #[error(
        "COREBUILD_TLS_CERT {path}: the certificate expired at {not_after} (notAfter); install a renewed one"
    )]
    Expired { path: PathBuf, not_after: String },
    #[error(
        "COREBUILD_TLS_CERT {path}: the certificate is not valid before {not_before} (notBefore); is the host's clock right?"
    )]
    NotYetValid { path: PathBuf, not_before: String },
}

/// From this long before its end, a certificate is warned about.
const EXPIRY_WARNING: Duration = Duration::from_secs(14 * 24 * 3600);
/// How often a long-running worker looks at its certificate's end again.
const EXPIRY_CHECK: Duration = Duration::from_secs(24 * 3600);

/// The validity period of a certificate, in seconds since the Unix epoch.
#[derive(Debug, Clone, Copy)]
struct Validity {
    not_before: i64,
    not_after: i64,
}

/// The certificate in force, and where to read it again from.
#[derive(Debug)]
pub(crate) struct Certificates {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
    /// The end of the certificate in force, for the metric and the daily check.
    not_after: AtomicI64,
}

impl Certificates {
    /// Reads both files now, so a bad path or PEM, or a certificate outside its
    /// validity, stops start-up.
    pub(crate) fn load(cert: &Path, key: &Path) -> Result<Arc<Self>, TlsError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let (current, validity) = read(cert, key, &provider)?;
        let certificates = Arc::new(Self {
            cert: cert.to_owned(),
            key: key.to_owned(),
            provider,
            current: RwLock::new(Arc::new(current)),
            not_after: AtomicI64::new(validity.not_after),
        });
        certificates.warn_if_expiring();
        Ok(certificates)
    }

    /// Reads the files again; on any error (an expired certificate too) the
    /// certificate in force stays.
    pub(crate) fn reload(&self) -> Result<(), TlsError> {
        let (fresh, validity) = read(&self.cert, &self.key, &self.provider)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(fresh);
        self.not_after.store(validity.not_after, Ordering::Relaxed);
        self.warn_if_expiring();
        Ok(())
    }

    /// When the certificate in force expires, in seconds since the Unix epoch.
    pub(crate) fn not_after(&self) -> i64 {
        self.not_after.load(Ordering::Relaxed)
    }

    /// A warning in the service log from two weeks before the certificate's end on.
    fn warn_if_expiring(&self) {
        let not_after = self.not_after();
        let left = not_after.saturating_sub(now());
        if left < EXPIRY_WARNING.as_secs() as i64 {
            tracing::warn!(
                not_after = %timestamp(not_after),
                days_left = left / 86_400,
                "COREBUILD_TLS_CERT {}: the certificate expires at {}; renew it and send SIGHUP",
                self.cert.display(),
                timestamp(not_after)
            );
        }
    }

    /// A server configuration that asks this for its certificate on every handshake.
    pub(crate) fn server_config(self: &Arc<Self>) -> ServerConfig {
        let mut config = ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_safe_default_protocol_versions()
            .expect("the provider supports TLS 1.2 and 1.3")
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(self) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        config
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self.current.read().unwrap_or_else(|e| e.into_inner()),
        ))
    }
}

/// Reads and checks the pair: the chain, the key that fits it, and the leaf
/// certificate's validity at this moment.
fn read(
    cert: &Path,
    key: &Path,
    provider: &CryptoProvider,
) -> Result<(CertifiedKey, Validity), TlsError> {
    let cert_error = |message: String| TlsError::Cert {
        path: cert.to_owned(),
        message,
    };
    let key_error = |message: String| TlsError::Key {
        path: key.to_owned(),
        message,
    };
    let pem = std::fs::read(cert).map_err(|e| cert_error(e.to_string()))?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| cert_error(format!("not PEM certificates: {e}")))?;
    let Some(leaf) = chain.first() else {
        return Err(cert_error("holds no certificate".to_owned()));
    };
    let validity = validity(leaf).map_err(cert_error)?;
    let now = now();
    if now > validity.not_after {
        return Err(TlsError::Expired {
            path: cert.to_owned(),
            not_after: timestamp(validity.not_after),
        });
    }
    if now < validity.not_before {
        return Err(TlsError::NotYetValid {
            path: cert.to_owned(),
            not_before: timestamp(validity.not_before),
        });
    }
    let pem = std::fs::read(key).map_err(|e| key_error(e.to_string()))?;
    let private = PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|e| key_error(format!("not a PEM private key: {e}")))?;
    let certified = CertifiedKey::from_der(chain, private, provider)
        .map_err(|e| key_error(format!("does not fit the certificate: {e}")))?;
    Ok((certified, validity))
}

fn validity(der: &CertificateDer<'_>) -> Result<Validity, String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| format!("the first certificate does not parse as X.509: {e}"))?;
    let validity = parsed.validity();
    Ok(Validity {
        not_before: validity.not_before.timestamp(),
        not_after: validity.not_after.timestamp(),
    })
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Seconds since the epoch as an RFC 3339 time in UTC, as operators read it.
fn timestamp(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .map_or_else(|| seconds.to_string(), |t| t.to_rfc3339())
}

/// Answers every SIGHUP until the task is dropped: the certificate files are read
/// again when the API is served over HTTPS; otherwise there is nothing to reload, and
/// the worker says so (a SIGHUP never ends it: `systemctl reload` sends one). Once a
/// day it looks at the certificate's end again.
pub(crate) async fn reload_on_sighup(certificates: Option<Arc<Certificates>>) -> io::Result<()> {
    let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let mut daily =
        tokio::time::interval_at(tokio::time::Instant::now() + EXPIRY_CHECK, EXPIRY_CHECK);
    loop {
        tokio::select! {
            hangup = hangups.recv() => if hangup.is_none() { return Ok(()) },
            _ = daily.tick() => {
                if let Some(certificates) = &certificates {
                    certificates.warn_if_expiring();
                }
                continue;
            }
        }
        let Some(certificates) = certificates.as_ref().map(Arc::clone) else {
            tracing::info!(
                "SIGHUP: nothing to reload (no COREBUILD_TLS_CERT; other settings are read at start-up only)"
            );
            continue;
        };
        match tokio::task::spawn_blocking(move || certificates.reload()).await {
            Ok(Ok(())) => tracing::info!("SIGHUP: TLS certificate and key read again"),
            Ok(Err(err)) => tracing::error!("SIGHUP: keeping the certificate in force: {err}"),
            Err(err) => tracing::error!("SIGHUP: reading the certificate failed: {err}"),
        }
    }
}
