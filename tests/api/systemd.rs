//! The real binary under a stand-in for systemd's notify socket.

use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::support::worker::{corebuild, wait_for_address};

use tokio::net::UnixDatagram;

async fn receive(socket: &UnixDatagram) -> String {
    let mut buf = [0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(30), socket.recv(&mut buf))
        .await
        .expect("a notification in time")
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test]
async fn ready_once_listening_and_stopping_when_draining() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    let work = dir.path().join("work");
    let mut child = corebuild(&[
        ("COREBUILD_BIND", "127.0.0.1"),
        ("COREBUILD_PORT", "0"),
        ("COREBUILD_WORKDIR", work.to_str().unwrap()),
        ("NOTIFY_SOCKET", socket_path.to_str().unwrap()),
    ])
    .spawn()
    .unwrap();
    let (address, _log) = wait_for_address(&mut child).await;

    let ready = receive(&socket).await;
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready}");
    assert!(
        ready.contains(&format!("STATUS=listening on {address}")),
        "{ready}"
    );

    kill(Pid::from_raw(child.id().unwrap() as i32), Signal::SIGTERM).unwrap();
    let stopping = receive(&socket).await;
    assert!(stopping.lines().any(|l| l == "STOPPING=1"), "{stopping}");
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));
}
