//! A network that delivers late: a proxy in front of an S3 server that holds the first
//! multipart completion it sees (a `POST` with `uploadId`) until the test releases it,
//! then delivers it as sent. The request left the worker before anything could stop
//! it; only the store can still refuse it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use crate::support::serve::serve;

pub struct LateNetwork {
    pub address: SocketAddr,
    /// The held completion's answer from the store, once delivered: its status.
    pub delivered: watch::Receiver<Option<u16>>,
    held: watch::Receiver<bool>,
    release: Arc<Notify>,
    stop: CancellationToken,
}

impl Drop for LateNetwork {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl LateNetwork {
    /// Waits until a completion is held.
    pub async fn wait_held(&mut self) {
        self.held.wait_for(|held| *held).await.unwrap();
    }

    /// Delivers the held completion and waits for the store's answer to it.
    pub async fn deliver(&mut self) -> u16 {
        self.release.notify_one();
        let answer = self.delivered.wait_for(Option::is_some).await.unwrap();
        answer.unwrap()
    }
}

pub async fn start(upstream: u16) -> LateNetwork {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (held_tx, held) = watch::channel(false);
    let (delivered_tx, delivered) = watch::channel(None);
    let release = Arc::new(Notify::new());
    let holding = Arc::new(AtomicBool::new(false));
    let stop = CancellationToken::new();
    let shared = Arc::new((held_tx, delivered_tx, Arc::clone(&release), holding));
    let client = reqwest::Client::new();
    serve(
        listener,
        stop.clone(),
        hyper::service::service_fn(move |request: Request<Incoming>| {
            let (shared, client) = (Arc::clone(&shared), client.clone());
            async move {
                let (held_tx, delivered_tx, release, holding) = &*shared;
                let completes = request.method() == hyper::Method::POST
                    && request
                        .uri()
                        .query()
                        .is_some_and(|q| q.contains("uploadId"));
                let hold = completes && !holding.swap(true, Ordering::SeqCst);
                let (parts, body) = request.into_parts();
                let body = body
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                if hold {
                    held_tx.send_replace(true);
                    release.notified().await;
                }
                let url = format!(
                    "http://127.0.0.1:{upstream}{}",
                    parts.uri.path_and_query().map_or("/", |p| p.as_str())
                );
                let mut forward = client.request(parts.method, url).body(body);
                for (name, value) in &parts.headers {
                    forward = forward.header(name, value);
                }
                let answer = forward.send().await.unwrap();
                let status = answer.status();
                if hold {
                    delivered_tx.send_replace(Some(status.as_u16()));
                }
                let mut response = Response::builder().status(status);
                for (name, value) in answer.headers() {
                    if name != "transfer-encoding" && name != "connection" {
                        response = response.header(name, value);
                    }
                }
                let bytes = answer.bytes().await.unwrap_or_default();
                Ok::<_, Infallible>(response.body(Full::new(bytes)).unwrap())
            }
        }),
    );
    LateNetwork {
        address,
        delivered,
        held,
        release,
        stop,
    }
}
