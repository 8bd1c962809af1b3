//! A job's private folder under the workdir: created 0700 with a marker file, removed
//! when the job ends whatever happened, and swept at start-up after a crash.

use std::fs::{DirBuilder, OpenOptions};
use std::hash::{BuildHasher, Hasher, RandomState};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::domain::fields::JobId;

/// Only folders holding this file are ever removed by the sweep.
pub(crate) const MARKER: &str = ".corebuild-workspace";

/// Removed by [`Workspace::cleanup`]; if the job's task is dropped before that (panic,
/// cancellation), `Drop` removes it synchronously as a last resort.
#[must_use = "a workspace must be cleaned up"]
#[derive(Debug)]
pub(crate) struct Workspace {
    path: PathBuf,
    removed: bool,
}

impl Workspace {
    /// `<workdir>/<job id>-<8 hex>/`, mode 0700, with the marker inside.
    pub(crate) fn create(workdir: &Path, id: &JobId) -> io::Result<Self> {
        let mut attempts = 0;
        loop {
            let path = workdir.join(format!("{id}-{:08x}", random_u32()));
            match DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => {
                    // From here on the guard owns the folder, even if writing the marker fails.
                    let workspace = Self {
                        path,
                        removed: false,
                    };
                    std::fs::write(workspace.path.join(MARKER), b"corebuild job workspace\n")?;
                    return Ok(workspace);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempts < 8 => attempts += 1,
                Err(e) => return Err(e),
            }
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Writes a file readable by the worker's user only (it holds secrets).
    pub(crate) fn write_private(&self, name: &str, content: &[u8]) -> io::Result<PathBuf> {
        let path = self.path.join(name);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        file.write_all(content)?;
        file.sync_all()?;
        Ok(path)
    }

    pub(crate) async fn cleanup(mut self) -> io::Result<()> {
        self.removed = true;
        let path = std::mem::take(&mut self.path);
        match tokio::fs::remove_dir_all(&path).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        if !self.removed
            && let Err(e) = std::fs::remove_dir_all(&self.path)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.path.display(), "could not remove workspace: {e}");
        }
    }
}

/// Removes workspaces left by a previous run (a crash or a kill -9). Only direct
/// children of the workdir that hold the marker are touched. Returns how many went.
pub(crate) fn sweep_stale(workdir: &Path) -> io::Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(workdir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() && path.join(MARKER).is_file() {
            std::fs::remove_dir_all(&path)?;
            tracing::info!(path = %path.display(), "removed stale workspace");
            removed += 1;
        }
    }
    Ok(removed)
}

/// Randomness from std's per-instance hasher keys: enough to keep folder names of
/// retried jobs apart, and collisions are retried anyway.
fn random_u32() -> u32 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.finish() as u32
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn id(s: &str) -> JobId {
        JobId::parse("job.id", s.to_owned()).unwrap()
    }

    #[tokio::test]
    async fn created_private_with_marker_and_removed_on_cleanup() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::create(dir.path(), &id("job-1")).unwrap();
        let name = ws.path().file_name().unwrap().to_str().unwrap().to_owned();
        assert!(
            name.starts_with("job-1-") && name.len() == "job-1-".len() + 8,
            "{name}"
        );
        let mode = std::fs::metadata(ws.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        assert!(ws.path().join(MARKER).is_file());
        let config = ws.write_private("c.json", b"{}").unwrap();
        assert_eq!(
            std::fs::metadata(&config).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let path = ws.path().to_owned();
        ws.cleanup().await.unwrap();
        assert!(!path.exists());
    }

    #[test]
    fn dropping_the_guard_removes_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::create(dir.path(), &id("job-2")).unwrap();
        let path = ws.path().to_owned();
        drop(ws);
        assert!(!path.exists());
    }

    #[test]
    fn the_sweep_removes_only_marked_folders() {
        let dir = tempfile::tempdir().unwrap();
        let marked = Workspace::create(dir.path(), &id("old")).unwrap();
        let marked_path = marked.path().to_owned();
        std::mem::forget(marked); // as if the worker had crashed
        let foreign = dir.path().join("keep-me");
        std::fs::create_dir(&foreign).unwrap();
        std::fs::write(dir.path().join("file.txt"), b"x").unwrap();

        assert_eq!(sweep_stale(dir.path()).unwrap(), 1);
        assert!(!marked_path.exists());
        assert!(foreign.is_dir());
        assert!(dir.path().join("file.txt").is_file());
    }
}
