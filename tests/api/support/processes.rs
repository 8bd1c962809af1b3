//! Checks that processes the fake isocreator started are gone.

use std::time::{Duration, Instant};

use nix::sys::signal::kill;
use nix::unistd::Pid;

/// The pids the fake wrote in `hang`/`stubborn` mode: itself and its child.
pub fn pids_from(pidfile: &std::path::Path) -> Vec<Pid> {
    std::fs::read_to_string(pidfile)
        .expect("the fake wrote its pids")
        .split_whitespace()
        .map(|p| Pid::from_raw(p.parse().unwrap()))
        .collect()
}

fn alive(pid: Pid) -> bool {
    // A zombie is dead for our purpose: init reaps it once its parent is gone.
    kill(pid, None).is_ok()
        && std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false)
}

pub async fn assert_all_gone(pids: &[Pid]) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|p| alive(*p)) {
        assert!(Instant::now() < deadline, "processes still alive: {pids:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
