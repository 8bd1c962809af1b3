//! moto's S3 server, for what s3s-fs does not model: s3s-fs writes into a bucket folder
//! that does not exist instead of answering NoSuchBucket. `.ci/run` installs moto.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::process::{Child, Command};

pub struct MotoServer {
    pub port: u16,
    _child: Child,
}

pub async fn start_moto() -> MotoServer {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("moto_server must be installed (pip install 'moto[server]'; .ci/run does this)");
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "moto_server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    MotoServer {
        port,
        _child: child,
    }
}

impl MotoServer {
    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    /// moto takes unsigned requests: plain HTTP is enough to look inside.
    pub async fn create_bucket(&self, bucket: &str) {
        let answer = reqwest::Client::new()
            .put(self.url(bucket))
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success(), "{}", answer.status());
    }

    /// The SHA-256 of the object at `key`, or `None` when there is none.
    pub async fn object_sha256(&self, bucket: &str, key: &str) -> Option<String> {
        use object_store::ObjectStoreExt;
        use sha2::Digest;
        let store = object_store::aws::AmazonS3Builder::new()
            .with_endpoint(format!("http://127.0.0.1:{}", self.port))
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_bucket_name(bucket)
            .with_access_key_id("moto-key")
            .with_secret_access_key("moto-secret-4c3d")
            .build()
            .unwrap();
        match store.get(&object_store::path::Path::from(key)).await {
            Ok(got) => {
                let body = got.bytes().await.unwrap();
                Some(hex::encode(sha2::Sha256::digest(&body)))
            }
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => panic!("reading {key}: {e}"),
        }
    }

    /// Multipart uploads begun and neither completed nor aborted.
    pub async fn incomplete_uploads(&self, bucket: &str) -> usize {
        let listing = reqwest::get(self.url(&format!("{bucket}?uploads")))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        listing.matches("<Upload>").count()
    }

    pub fn descriptor(&self, bucket: &str) -> Value {
        self.descriptor_via(self.port, bucket)
    }

    /// The descriptor with another endpoint in front of this server (a proxy).
    pub fn descriptor_via(&self, port: u16, bucket: &str) -> Value {
        json!({
            "endpoint": format!("127.0.0.1:{port}"),
            "accessKey": "moto-key",
            "accessSecret": "moto-secret-4c3d",
            "bucketName": bucket,
            "useSsl": false
        })
    }
}
