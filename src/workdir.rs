//! The workdir: created when missing, proven writable, and held by one worker at a
//! time. A second worker on the same folder would sweep the first one's workspaces and
//! kill its builders at start-up, so the lock is taken before anything is touched.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::isocreator::{marks, sweep_stale};

/// The lock file's name inside the workdir; it holds the PID of the worker that has it.
pub(crate) const LOCK_FILE: &str = ".corebuild.lock";

#[derive(Debug, thiserror::Error)]
pub enum WorkdirError {
    #[error("COREBUILD_WORKDIR {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "COREBUILD_WORKDIR {path} is in use by another corebuild worker ({holder}); one workdir \
         serves one worker: stop that one, or give this one a COREBUILD_WORKDIR of its own"
    )]
    InUse { path: PathBuf, holder: String },
}

/// The exclusive lock on a workdir, held until dropped (or the process ends, whatever
/// way: the kernel releases a `flock` with the last open descriptor). The descriptor
/// is close-on-exec, so no builder inherits the lock and outlives the worker with it.
#[derive(Debug)]
pub(crate) struct WorkdirLock {
    _file: File,
}

/// Creates the workdir when missing, locks it, proves it writable and clears what a
/// killed worker left (its builders first, then its workspaces), so a bad path fails
/// at start-up and not in the first job. Returns the absolute path and the lock.
pub(crate) fn prepare(path: &Path) -> Result<(PathBuf, WorkdirLock), WorkdirError> {
    let fail = |source| WorkdirError::Io {
        path: path.to_owned(),
        source,
    };
    std::fs::create_dir_all(path).map_err(fail)?;
    let absolute = std::fs::canonicalize(path).map_err(fail)?;
    let lock = lock(&absolute)?;
    let probe = absolute.join(".corebuild-write-check");
    std::fs::write(&probe, b"").map_err(fail)?;
    std::fs::remove_file(&probe).map_err(fail)?;
    // Builders an earlier worker on this workdir left running (after a kill -9) go
    // first: they may still be writing into the workspaces about to be removed.
    let killed = marks::kill_leftovers(&marks::instance(&absolute));
    if killed > 0 {
        tracing::warn!(killed, "killed builder processes left by an earlier run");
    }
    let swept = sweep_stale(&absolute).map_err(fail)?;
    if swept > 0 {
        tracing::info!(swept, "removed workspaces left by an earlier run");
    }
    Ok((absolute, lock))
}

/// Takes the lock without waiting, then writes this process's PID into the file for
/// the next one that tries (and for an operator who looks).
fn lock(workdir: &Path) -> Result<WorkdirLock, WorkdirError> {
    let path = workdir.join(LOCK_FILE);
    let fail = |source| WorkdirError::Io {
        path: workdir.to_owned(),
        source,
    };
    // Not truncated on open: the holder's PID must stay readable to a loser.
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(fail)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut text = String::new();
            let holder = match file.read_to_string(&mut text) {
                Ok(_) if text.trim().parse::<u32>().is_ok() => format!("PID {}", text.trim()),
                _ => format!("a process that holds {}", path.display()),
            };
            return Err(WorkdirError::InUse {
                path: workdir.to_owned(),
                holder,
            });
        }
        Err(TryLockError::Error(source)) => return Err(fail(source)),
    }
    file.set_len(0).map_err(fail)?;
    file.rewind().map_err(fail)?;
    writeln!(file, "{}", std::process::id()).map_err(fail)?;
    Ok(WorkdirLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_workdir_is_refused_and_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let (absolute, held) = prepare(dir.path()).unwrap();
        let err = prepare(dir.path()).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, WorkdirError::InUse { .. }), "{message}");
        assert!(
            message.contains(&absolute.display().to_string()),
            "{message}"
        );
        assert!(
            message.contains(&format!("PID {}", std::process::id())),
            "{message}"
        );
        drop(held);
        prepare(dir.path()).expect("free again once the holder lets go");
    }
}
