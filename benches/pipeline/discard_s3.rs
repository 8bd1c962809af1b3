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

pub struct DiscardS3 {
    pub address: SocketAddr,
    received: Arc<AtomicU64>,
}

impl DiscardS3 {
    /// Bytes of object and part bodies received so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }
}

pub async fn start() -> DiscardS3 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let received = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&received);
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                continue;
            };
            let counter = Arc::clone(&counter);
            let service = hyper::service::service_fn(move |req| {
                let counter = Arc::clone(&counter);
                async move { Ok::<_, Infallible>(handle(req, &counter).await) }
            });
            tokio::spawn(async move {
                let _ = ConnBuilder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(socket), service)
                    .await;
            });
        }
    });
    DiscardS3 { address, received }
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
