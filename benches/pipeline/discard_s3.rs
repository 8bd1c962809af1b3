//! An S3 endpoint that speaks just enough of the protocol for an upload (PUT object;
//! create, upload part, complete and abort multipart upload) and throws the bytes
//! away, so the pipeline is measured and not a server's disk. No signature check.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

pub struct DiscardS3 {
    pub address: SocketAddr,
    /// Also served over HTTPS here, with a certificate of [`crate::tls::TestCa`].
    pub tls_address: SocketAddr,
    received: Arc<AtomicU64>,
}

impl DiscardS3 {
    /// Bytes of object and part bodies received so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }
}

pub async fn start(ca: &crate::tls::TestCa) -> DiscardS3 {
    let received = Arc::new(AtomicU64::new(0));
    let (address, tls_address) = (
        serve(Arc::clone(&received), None).await,
        serve(Arc::clone(&received), Some(ca.acceptor())).await,
    );
    DiscardS3 {
        address,
        tls_address,
        received,
    }
}

/// Serves the discard endpoint on a new loopback port, over TLS when given an acceptor.
async fn serve(received: Arc<AtomicU64>, tls: Option<TlsAcceptor>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                continue;
            };
            let counter = Arc::clone(&received);
            let service = hyper::service::service_fn(move |req| {
                let counter = Arc::clone(&counter);
                async move { Ok::<_, Infallible>(handle(req, &counter).await) }
            });
            let tls = tls.clone();
            tokio::spawn(async move {
                let builder = ConnBuilder::new(TokioExecutor::new());
                match tls {
                    Some(tls) => {
                        if let Ok(stream) = tls.accept(socket).await {
                            let _ = builder
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        }
                    }
                    None => {
                        let _ = builder
                            .serve_connection(TokioIo::new(socket), service)
                            .await;
                    }
                }
            });
        }
    });
    address
}

async fn handle(req: Request<Incoming>, received: &AtomicU64) -> Response<Full<Bytes>> {
    let method = req.method().clone();
    let query = req.uri().query().unwrap_or("").to_owned();
    let path = req.uri().path().to_owned();
    let mut body = req.into_body();
    while let Some(Ok(frame)) = body.frame().await {
        // Only object and part bodies count: they are the artifact's bytes.
        if let Ok(data) = frame.into_data()
            && method == Method::PUT
        {
            received.fetch_add(data.len() as u64, Ordering::Relaxed);
        }
    }
    let (bucket, key) = path
        .trim_start_matches('/')
        .split_once('/')
        .unwrap_or(("", ""));
    let xml = |body: String| {
        Response::builder()
            .header("content-type", "application/xml")
            .body(Full::new(Bytes::from(body)))
            .unwrap()
    };
    let etag = |tag: &str| {
        Response::builder()
            .header("ETag", format!("\"{tag}\""))
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    match method {
        Method::POST if query.contains("uploads") => xml(format!(
            "<InitiateMultipartUploadResult><Bucket>{bucket}</Bucket><Key>{key}</Key><UploadId>discard-1</UploadId></InitiateMultipartUploadResult>"
        )),
        Method::POST if query.contains("uploadId=") => xml(format!(
            "<CompleteMultipartUploadResult><Location>http://discard/{bucket}/{key}</Location><Bucket>{bucket}</Bucket><Key>{key}</Key><ETag>\"discard-multipart\"</ETag></CompleteMultipartUploadResult>"
        )),
        Method::PUT if query.contains("partNumber=") => etag("discard-part"),
        Method::PUT => etag("discard-object"),
        Method::DELETE => Response::builder()
            .status(204)
            .body(Full::new(Bytes::new()))
            .unwrap(),
        _ => Response::builder()
            .status(404)
            .body(Full::new(Bytes::new()))
            .unwrap(),
    }
}
