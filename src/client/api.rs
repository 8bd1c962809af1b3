//! The worker's HTTP API as the CLI calls it, and what to say when a call fails.

use std::error::Error as _;
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use super::{ClientError, Connection};
use crate::domain::{ErrorCode, FailureCode};

pub(super) struct Api {
    http: reqwest::Client,
    pub(super) conn: Connection,
    base: String,
}

impl Api {
    pub(super) fn new(conn: Connection) -> Result<Self, ClientError> {
        let url = conn.url();
        let base = url.trim_end_matches('/').to_owned();
        if !base.starts_with("http://") && !base.starts_with("https://") {
            return Err(ClientError::Input(format!(
                "the worker's URL `{url}` has no http:// or https:// in front (e.g. http://{url}); \
                 set it with --url or COREBUILD_URL"
            )));
        }
        let mut http =
            reqwest::Client::builder().connect_timeout(Duration::from_secs(conn.timeout));
        if let Some(path) = &conn.ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| ClientError::Input(format!("--ca-file {}: {e}", path.display())))?;
            let certificates = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                ClientError::Input(format!(
                    "--ca-file {}: not PEM certificates: {e}",
                    path.display()
                ))
            })?;
            if certificates.is_empty() {
                return Err(ClientError::Input(format!(
                    "--ca-file {}: holds no certificate (expected PEM blocks `-----BEGIN CERTIFICATE-----`)",
                    path.display()
                )));
            }
            for certificate in certificates {
                http = http.add_root_certificate(certificate);
            }
        }
        let http = http
            .build()
            .map_err(|e| ClientError::Input(format!("cannot set up HTTP: {e}")))?;
        Ok(Self { http, conn, base })
    }

    /// A request whose whole answer must arrive within `--timeout`.
    pub(super) fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.open_request(method, path).timeout(self.timeout())
    }

    /// A request without a total time limit, for answers that take as long as a job
    /// (the blocking submission, a followed log): their callers watch them otherwise.
    pub(super) fn open_request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match &self.conn.token {
            Some(token) => request.bearer_auth(token.expose()),
            None => request,
        }
    }

    /// Sends and decodes; a non-2xx answer becomes [`ClientError::Refused`], except
    /// job failures of the blocking call, whose body the caller wants to show.
    pub(super) async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(u16, Value), ClientError> {
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        let status = response.status().as_u16();
        let body: Value = response.json().await.map_err(|e| self.unreachable(&e))?;
        if status >= 400 && !is_job_failure(&body) {
            return Err(refused(status, body));
        }
        Ok((status, body))
    }

    pub(super) async fn get(&self, path: &str) -> Result<Value, ClientError> {
        Ok(self.send(self.request(Method::GET, path)).await?.1)
    }

    pub(super) fn timeout(&self) -> Duration {
        Duration::from_secs(self.conn.timeout)
    }

    pub(super) fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.conn.idle_timeout)
    }

    /// A followed log that stayed silent past `--idle-timeout`.
    pub(super) fn silent(&self) -> ClientError {
        self.unreachable_because(format!(
            "{} sent nothing for {} s while the log was followed (--idle-timeout; a live \
             worker sends a keep-alive every 15 s)",
            self.base, self.conn.idle_timeout
        ))
    }

    fn unreachable_because(&self, what: String) -> ClientError {
        ClientError::Unreachable(format!(
            "{what}\n(the CLI talks to --url or COREBUILD_URL, now {})",
            self.base
        ))
    }

    /// What went wrong on the way to the worker, in words, and how to point elsewhere.
    pub(super) fn unreachable(&self, err: &reqwest::Error) -> ClientError {
        let url = &self.base;
        let causes = causes(err);
        let what = if err.is_timeout() {
            format!(
                "{url} did not answer within {} s (--timeout or COREBUILD_CLIENT_TIMEOUT)",
                self.conn.timeout
            )
        } else if causes.contains("CaUsedAsEndEntity") {
            format!(
                "TLS with {url} failed: the worker's certificate is a CA certificate (as `openssl \
                 req -x509` makes), which clients refuse as a server's certificate; make a private \
                 CA and a server certificate signed by it (docs/operations.md, \"A private CA for \
                 the worker's certificate\") and pass the CA with --ca-file"
            )
        } else if causes.contains("Connection refused") {
            format!("connection refused by {url}: is the worker running and listening there?")
        } else if causes.contains("dns error") || causes.contains("failed to lookup") {
            format!("cannot resolve the host of {url} ({causes})")
        } else if causes.contains("certificate") || causes.contains("tls") || causes.contains("TLS")
        {
            format!(
                "TLS with {url} failed: {causes}; a worker certificate from a private CA needs \
                 --ca-file or COREBUILD_CA_FILE"
            )
        } else if err.is_decode() {
            format!("{url} answered something that is not the worker's JSON ({causes})")
        } else {
            format!("cannot reach the worker at {url}: {causes}")
        };
        self.unreachable_because(what)
    }
}

/// The error and its sources, joined: reqwest's own message is often just
/// "error sending request".
fn causes(err: &reqwest::Error) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

/// A blocking call's answer for a job that ran and failed (it carries the job's
/// logs). `shutting_down` is left out: the job never ran, so the worker refused it.
fn is_job_failure(body: &Value) -> bool {
    let failure = body["code"]
        .as_str()
        .and_then(ErrorCode::from_wire)
        .and_then(FailureCode::from_code);
    failure.is_some_and(|f| f != FailureCode::ShuttingDown) && body.get("logs").is_some()
}

pub(super) fn refused(status: u16, body: Value) -> ClientError {
    ClientError::Refused {
        status,
        code: body["code"].as_str().unwrap_or("unknown").to_owned(),
        message: body["error"].as_str().unwrap_or("no message").to_owned(),
        body,
    }
}
