//! Real nats-server processes for the cluster tests, on loopback ports, each with its
//! own JetStream store in a temp folder. They are killed when dropped.
//!
//! `nats-server` from `PATH` (Debian's, the oldest release corebuild supports), or the
//! binary `COREBUILD_TEST_NATS_SERVER` names: `.ci/run` runs the fleet's tests again
//! with a current release that way.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The fleet key the tests' workers share.
pub const FLEET_KEY: &str = "8c1f4a7be3d2096f5a1b7c3e9d0f2a4b6c8e0a2b4d6f8091a3c5e7f9b1d3f5a7";

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A JetStream server on loopback `port`, its store in `store`.
fn jetstream_args(port: u16, store: &std::path::Path) -> Vec<String> {
    vec![
        "-js".into(),
        "-a".into(),
        "127.0.0.1".into(),
        "-p".into(),
        port.to_string(),
        "-sd".into(),
        store.display().to_string(),
    ]
}

pub struct NatsServer {
    pub port: u16,
    args: Vec<String>,
    child: Option<Child>,
    _dir: Option<TempDir>,
}

impl NatsServer {
    /// One server with JetStream.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// One server with JetStream and `extra` arguments (TLS, authentication).
    pub fn start_with(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let store = dir.path().to_owned();
        let mut args = jetstream_args(port, &store);
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        let mut server = Self {
            port,
            args,
            child: None,
            _dir: Some(dir),
        };
        server.run();
        server.wait_ready();
        server
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn run(&mut self) {
        let binary =
            std::env::var("COREBUILD_TEST_NATS_SERVER").unwrap_or_else(|_| "nats-server".into());
        let child = Command::new(binary)
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server is installed (.ci/run installs it)");
        self.child = Some(child);
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server at once (SIGKILL); its store stays.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open and nothing is answered, as
    /// with a server that hangs.
    pub fn pause(&self) {
        self.signal(nix::sys::signal::Signal::SIGSTOP);
    }

    /// Lets a paused server go on (SIGCONT).
    pub fn resume(&self) {
        self.signal(nix::sys::signal::Signal::SIGCONT);
    }

    fn signal(&self, signal: nix::sys::signal::Signal) {
        let child = self.child.as_ref().expect("the server runs");
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        nix::sys::signal::kill(pid, signal).expect("signal nats-server");
    }

    /// Starts it again on the same port and store.
    pub fn restart(&mut self) {
        self.kill();
        self.run();
        self.wait_ready();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Three clustered servers; JetStream needs a quorum of them.
pub struct NatsCluster {
    pub nodes: Vec<NatsServer>,
    _dir: TempDir,
}

impl NatsCluster {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
        let routes = ports
            .iter()
            .map(|(_, route)| format!("nats://127.0.0.1:{route}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut nodes = Vec::new();
        for (i, (port, route)) in ports.iter().enumerate() {
            let store = dir.path().join(format!("n{i}"));
            let mut args = jetstream_args(*port, &store);
            args.extend([
                "-n".into(),
                format!("n{i}"),
                "--cluster_name".into(),
                "corebuild-test".into(),
                "--cluster".into(),
                format!("nats://127.0.0.1:{route}"),
                "--routes".into(),
                routes.clone(),
            ]);
            let mut node = NatsServer {
                port: *port,
                args,
                child: None,
                _dir: None,
            };
            node.run();
            nodes.push(node);
        }
        for node in &nodes {
            node.wait_ready();
        }
        Self { nodes, _dir: dir }
    }

    pub fn urls(&self) -> String {
        self.nodes
            .iter()
            .map(NatsServer::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Waits until JetStream answers through every node (the meta leader is elected).
    pub async fn wait_for_jetstream(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        for node in &self.nodes {
            let client = async_nats::connect(node.url()).await.unwrap();
            let js = async_nats::jetstream::new(client);
            while js
                .get_stream("none")
                .await
                .is_err_and(|e| !e.to_string().contains("not found"))
            {
                assert!(Instant::now() < deadline, "JetStream cluster not ready");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}
