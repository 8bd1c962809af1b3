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
    pub fn descriptor(&self, bucket: &str) -> Value {
        json!({
            "endpoint": format!("127.0.0.1:{}", self.port),
            "accessKey": "moto-key",
            "accessSecret": "moto-secret-4c3d",
            "bucketName": bucket,
            "useSsl": false
        })
    }
}
