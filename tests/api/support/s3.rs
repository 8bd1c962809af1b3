//! A real S3-compatible server for the tests: s3s-fs over HTTP on 127.0.0.1, with its
//! signature check on, storing objects in a temp folder. `fail_part` lets a test make
//! one upload-part request fail, to exercise the abort path.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use hyper::body::Incoming;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{Attribute, ObjectStoreExt};
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub const ACCESS_KEY: &str = "corebuild-test-key";
pub const SECRET_KEY: &str = "corebuild-test-secret-9f8e7d";
pub const BUCKET: &str = "artifacts";

pub struct S3Server {
    pub address: SocketAddr,
    pub root: TempDir,
    faults: Arc<Faults>,
    stop: CancellationToken,
}

/// What a test can make the server do, and what it saw.
#[derive(Default)]
struct Faults {
    /// Upload-part number to answer with 500 (0: none).
    fail_part: AtomicU32,
    /// Milliseconds to hold every upload-part request (0: none), to watch an upload.
    part_delay_ms: AtomicU32,
    /// `x-amz-content-sha256` of every PUT: a hex digest when signed, else UNSIGNED-PAYLOAD.
    payload_hashes: std::sync::Mutex<Vec<String>>,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

pub async fn start_s3() -> S3Server {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join(BUCKET)).unwrap();
    let fs = s3s_fs::FileSystem::new(root.path()).unwrap();
    let mut builder = S3ServiceBuilder::new(fs);
    builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
    let service = builder.build();

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let faults = Arc::new(Faults::default());
    let accept_faults = Arc::clone(&faults);
    let handler = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let (service, faults) = (service.clone(), Arc::clone(&accept_faults));
        async move {
            let query = req.uri().query().unwrap_or("").to_owned();
            if req.method() == hyper::Method::PUT
                && let Some(hash) = req.headers().get("x-amz-content-sha256")
            {
                let hash = hash.to_str().unwrap_or("").to_owned();
                faults.payload_hashes.lock().unwrap().push(hash);
            }
            let delay_ms = faults.part_delay_ms.load(Ordering::SeqCst);
            if delay_ms > 0 && query.contains("partNumber=") {
                tokio::time::sleep(std::time::Duration::from_millis(u64::from(delay_ms))).await;
            }
            let part = faults.fail_part.load(Ordering::SeqCst);
            if part != 0 && query.contains(&format!("partNumber={part}")) {
                let response = hyper::Response::builder()
                    .status(500)
                    .body(s3s::Body::from("injected failure".to_owned()))
                    .unwrap();
                return Ok::<_, s3s::HttpError>(response);
            }
            hyper::service::Service::call(&service, req).await
        }
    });
    crate::support::serve::serve(listener, stop.clone(), handler);
    S3Server {
        address,
        root,
        faults,
        stop,
    }
}

impl S3Server {
    /// The job's `s3Descriptor` for this server.
    pub fn descriptor(&self) -> Value {
        json!({
            "endpoint": self.address.to_string(),
            "accessKey": ACCESS_KEY,
            "accessSecret": SECRET_KEY,
            "bucketName": BUCKET,
            "useSsl": false
        })
    }

    pub fn delay_upload_parts(&self, millis: u32) {
        self.faults.part_delay_ms.store(millis, Ordering::SeqCst);
    }

    pub fn fail_upload_part(&self, part: u32) {
        self.faults.fail_part.store(part, Ordering::SeqCst);
    }

    /// The payload hash header of every PUT so far.
    pub fn payload_hashes(&self) -> Vec<String> {
        self.faults.payload_hashes.lock().unwrap().clone()
    }

    /// A client of this server, to read back what the worker stored.
    pub fn client(&self) -> AmazonS3 {
        AmazonS3Builder::new()
            .with_endpoint(format!("http://{}", self.address))
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_bucket_name(BUCKET)
            .with_access_key_id(ACCESS_KEY)
            .with_secret_access_key(SECRET_KEY)
            .build()
            .unwrap()
    }

    /// The object's bytes and content type, fetched over HTTP.
    pub async fn object(&self, key: &str) -> (Vec<u8>, Option<String>) {
        let result = self
            .client()
            .get(&ObjectPath::parse(key).unwrap())
            .await
            .unwrap();
        let content_type = result
            .attributes
            .get(&Attribute::ContentType)
            .map(|v| v.to_string());
        (result.bytes().await.unwrap().to_vec(), content_type)
    }

    pub async fn exists(&self, key: &str) -> bool {
        self.client()
            .head(&ObjectPath::parse(key).unwrap())
            .await
            .is_ok()
    }

    /// Files s3s-fs keeps for multipart uploads not completed or aborted.
    pub fn incomplete_uploads(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.root.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(".upload")
            })
            .collect()
    }
}
