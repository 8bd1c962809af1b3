//! No process started for a job outlives it.
//!
//! A process group is not enough: a builder may start a daemon with `setsid`, which
//! leaves the group, and after a `kill -9` of the worker its builders keep running.
//! So every builder gets an environment variable naming the worker's workdir and the
//! job ([`MARK_VAR`]); every process it starts inherits it, whatever group or session
//! it moves to. When a job ends, every process carrying its mark is killed; at
//! start-up, every process carrying the mark of an earlier worker with the same
//! workdir is. This is how Jenkins' process-tree killer finds a build's leftovers.
//!
//! The worker is also a child subreaper when run as the service
//! ([`become_subreaper`]), so a daemonized descendant becomes the worker's child
//! rather than init's; the zombies such children leave are reaped here.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock, RwLockReadGuard};

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, waitpid};

// Kills and reaps are blocking /proc scans; callers run them off the async runtime.
use nix::unistd::Pid;
use sha2::{Digest, Sha256};

/// The variable that marks a job's processes: `<instance>/<workspace name>`.
pub(crate) const MARK_VAR: &str = "COREBUILD_JOB";

/// Rounds of scan-and-kill: a process may fork between a scan and its kill, and its
/// child is found in the next round.
const KILL_ROUNDS: usize = 20;

/// Set once the process is a subreaper: only then are orphans its children.
static SUBREAPER: AtomicBool = AtomicBool::new(false);

/// Builders a job is waiting for right now; their exit status belongs to that job, so
/// the orphan reaper leaves them alone.
static ACTIVE: Mutex<Option<HashSet<i32>>> = Mutex::new(None);

/// Held (shared) by a job from its builder's spawn until the builder is in [`ACTIVE`],
/// and (exclusive) by the orphan reaper while it scans: a builder that exits at once
/// is a zombie before it is registered, and must not be reaped as an orphan (its job's
/// wait would then fail with ECHILD; seen with several jobs of an instant builder).
static SPAWNING: RwLock<()> = RwLock::new(());

/// Hold this while spawning a builder and registering it with [`Active::register`].
pub(crate) fn spawning() -> RwLockReadGuard<'static, ()> {
    SPAWNING.read().unwrap_or_else(|e| e.into_inner())
}

/// The part of a mark that names this worker: derived from its workdir, so a worker
/// started again on the same workdir recognizes what the last one left.
pub(crate) fn instance(workdir: &Path) -> String {
    let digest = Sha256::digest(workdir.as_os_str().as_encoded_bytes());
    hex::encode(&digest[..8])
}

/// The mark of one job: its instance and its workspace's folder name (unique per run).
pub(crate) fn job_mark(instance: &str, workspace: &Path) -> String {
    let name = workspace
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{instance}/{name}")
}

/// Makes this process a child subreaper (`PR_SET_CHILD_SUBREAPER`). For the service
/// only: a process that has other children of its own (a test runner) must not reap
/// them.
pub fn become_subreaper() -> std::io::Result<()> {
    nix::sys::prctl::set_child_subreaper(true)?;
    SUBREAPER.store(true, Ordering::SeqCst);
    Ok(())
}

/// Kills every process whose mark is exactly `mark`. Returns how many were killed.
pub(crate) fn kill_job(mark: &str) -> usize {
    let entry = format!("{MARK_VAR}={mark}");
    kill_where(|value| value == entry.as_bytes())
}

/// Kills every process an earlier worker with this `instance` left behind.
pub(crate) fn kill_leftovers(instance: &str) -> usize {
    let prefix = format!("{MARK_VAR}={instance}/");
    kill_where(|value| value.starts_with(prefix.as_bytes()))
}

fn kill_where(matches: impl Fn(&[u8]) -> bool) -> usize {
    let me = std::process::id();
    let mut killed = HashSet::new();
    for _ in 0..KILL_ROUNDS {
        let found: Vec<i32> = marked_processes(&matches)
            .into_iter()
            .filter(|pid| *pid as u32 != me)
            .collect();
        if found.is_empty() {
            break;
        }
        for pid in found {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            killed.insert(pid);
        }
    }
    // Those that became our children (orphans of a subreaper) turn into zombies as the
    // kill lands; give it a moment, then reap them.
    if SUBREAPER.load(Ordering::SeqCst) && !killed.is_empty() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    reap_orphans();
    killed.len()
}

/// Pids whose environment holds an entry `matches` accepts. A zombie has no
/// environment left, so it is never found twice.
fn marked_processes(matches: &impl Fn(&[u8]) -> bool) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(matches))
        })
        .collect()
}

/// Reaps zombies that are this process's children but no builder's: the orphans a
/// subreaper inherits. Does nothing unless this process is a subreaper.
pub(crate) fn reap_orphans() {
    if !SUBREAPER.load(Ordering::SeqCst) {
        return;
    }
    let _no_spawn = SPAWNING.write().unwrap_or_else(|e| e.into_inner());
    let me = std::process::id().to_string();
    let active = ACTIVE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .unwrap_or_default();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return;
    };
    for pid in dir
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| !active.contains(pid))
    {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`; comm may hold spaces, so read after its `)`.
        let mut fields = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .unwrap_or("")
            .split_whitespace();
        if let (Some("Z"), Some(ppid)) = (fields.next(), fields.next())
            && ppid == me
        {
            let _ = waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG));
        }
    }
}

/// Keeps a builder's pid out of the orphan reaper's way while its job waits for it.
pub(crate) struct Active(i32);

impl Active {
    pub(crate) fn register(pid: i32) -> Self {
        ACTIVE
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert_with(HashSet::new)
            .insert(pid);
        Self(pid)
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        if let Some(set) = ACTIVE.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            set.remove(&self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marked_processes_are_killed_and_others_are_not() {
        let mark = "test-instance/job-a-0001";
        let spawn = |value: &str| {
            std::process::Command::new("sleep")
                .arg("30")
                .env(MARK_VAR, value)
                .spawn()
                .unwrap()
        };
        let mut marked = spawn(mark);
        let mut other_job = spawn("test-instance/job-b-0002");
        let mut other_worker = spawn("other-instance/job-a-0001");
        assert_eq!(kill_job(mark), 1);
        assert!(
            marked.wait().unwrap().code().is_none(),
            "killed by a signal"
        );
        assert!(
            other_job.try_wait().unwrap().is_none(),
            "another job's process lives"
        );
        assert_eq!(kill_leftovers("test-instance"), 1);
        assert!(other_job.wait().unwrap().code().is_none());
        assert!(
            other_worker.try_wait().unwrap().is_none(),
            "another worker's lives"
        );
        other_worker.kill().unwrap();
        other_worker.wait().unwrap();
    }

    #[test]
    fn the_instance_depends_on_the_workdir_only() {
        assert_eq!(instance(Path::new("/a")), instance(Path::new("/a")));
        assert_ne!(instance(Path::new("/a")), instance(Path::new("/b")));
        assert_eq!(
            job_mark("abc", Path::new("/w/job-1-0a1b2c3d")),
            "abc/job-1-0a1b2c3d"
        );
    }
}
