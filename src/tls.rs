//! HTTPS on the worker's own API: the certificate and key from PEM files
//! (`COREBUILD_TLS_CERT`, `COREBUILD_TLS_KEY`), read again on SIGHUP so a rotated
//! certificate is served without a restart. Connections already open keep the
//! certificate they were made with; jobs are not touched.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

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
}

/// The certificate in force, and where to read it again from.
#[derive(Debug)]
pub(crate) struct Certificates {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl Certificates {
    /// Reads both files now, so a bad path or PEM stops start-up.
    pub(crate) fn load(cert: &Path, key: &Path) -> Result<Arc<Self>, TlsError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let current = read(cert, key, &provider)?;
        Ok(Arc::new(Self {
            cert: cert.to_owned(),
            key: key.to_owned(),
            provider,
            current: RwLock::new(Arc::new(current)),
        }))
    }

    /// Reads the files again; on any error the certificate in force stays.
    pub(crate) fn reload(&self) -> Result<(), TlsError> {
        let fresh = read(&self.cert, &self.key, &self.provider)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(fresh);
        Ok(())
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

fn read(cert: &Path, key: &Path, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
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
    if chain.is_empty() {
        return Err(cert_error("holds no certificate".to_owned()));
    }
    let pem = std::fs::read(key).map_err(|e| key_error(e.to_string()))?;
    let private = PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|e| key_error(format!("not a PEM private key: {e}")))?;
    let certified = CertifiedKey::from_der(chain, private, provider)
        .map_err(|e| key_error(format!("does not fit the certificate: {e}")))?;
    Ok(certified)
}

/// Answers every SIGHUP until the task is dropped: the certificate files are read
/// again when the API is served over HTTPS; otherwise there is nothing to reload, and
/// the worker says so (a SIGHUP never ends it: `systemctl reload` sends one).
pub(crate) async fn reload_on_sighup(certificates: Option<Arc<Certificates>>) -> io::Result<()> {
    let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    while hangups.recv().await.is_some() {
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
    Ok(())
}
