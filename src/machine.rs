//! Facts about the build host, and the executor pool size derived from them.

use std::num::{NonZeroU32, NonZeroUsize};
use std::path::Path;

const GIB: u64 = 1024 * 1024 * 1024;

/// What the host offers, read once at start-up and reported in capabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MachineFacts {
    pub(crate) cpu_cores: u32,
    /// Total memory in GiB, rounded down.
    pub(crate) memory_gb: u64,
}

impl MachineFacts {
    /// Reads the cores this process may use (honouring affinity and cgroup quotas, the
    /// limits a job really runs under) and the host's total memory.
    pub(crate) fn read() -> std::io::Result<Self> {
        let cpu_cores = std::thread::available_parallelism()
            .map(|n| u32::try_from(n.get()).unwrap_or(u32::MAX))
            .unwrap_or(1);
        let info = nix::sys::sysinfo::sysinfo().map_err(std::io::Error::from)?;
        Ok(Self {
            cpu_cores,
            memory_gb: info.ram_total() / GIB,
        })
    }
}

/// How many jobs run at once: the override when set, else
/// `max(1, min(cpu_cores / cpus_per_job, memory_gb / memory_gb_per_job))`.
pub(crate) fn executor_size(
    facts: MachineFacts,
    cpus_per_job: NonZeroU32,
    memory_gb_per_job: NonZeroU32,
    override_size: Option<NonZeroUsize>,
) -> NonZeroUsize {
    if let Some(size) = override_size {
        return size;
    }
    let by_cpu = u64::from(facts.cpu_cores / cpus_per_job.get());
    let by_memory = facts.memory_gb / u64::from(memory_gb_per_job.get());
    let size = usize::try_from(by_cpu.min(by_memory)).unwrap_or(usize::MAX);
    NonZeroUsize::new(size).unwrap_or(NonZeroUsize::MIN)
}

/// Raises this process's soft limit of open files to its hard limit and returns the
/// limit now in force. Every connection, pipe and artifact is a file descriptor; the
/// usual soft default of 1024 is reached by a thousand slow clients.
pub(crate) fn raise_fd_limit() -> std::io::Result<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    Ok(hard.max(soft))
}

/// Free space for unprivileged users in the filesystem holding `path`, in GiB rounded down.
pub(crate) fn disk_free_gb(path: &Path) -> std::io::Result<u64> {
    Ok(disk_space(path)?.0 / GIB)
}

/// Bytes free for unprivileged users, and the size, of the filesystem holding `path`.
pub(crate) fn disk_space(path: &Path) -> std::io::Result<(u64, u64)> {
    let stat = nix::sys::statvfs::statvfs(path).map_err(std::io::Error::from)?;
    Ok((
        stat.blocks_available() * stat.fragment_size(),
        stat.blocks() * stat.fragment_size(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(cpu_cores: u32, memory_gb: u64, over: Option<usize>) -> usize {
        let facts = MachineFacts {
            cpu_cores,
            memory_gb,
        };
        let two = NonZeroU32::new(2).unwrap();
        let four = NonZeroU32::new(4).unwrap();
        executor_size(facts, two, four, over.and_then(NonZeroUsize::new)).get()
    }

    #[test]
    fn one_core_still_runs_one_job() {
        assert_eq!(size(1, 64, None), 1);
    }

    #[test]
    fn less_than_a_gib_still_runs_one_job() {
        // 512 MiB rounds down to 0 GiB.
        assert_eq!(size(16, 0, None), 1);
    }

    #[test]
    fn memory_bounds_a_many_core_host() {
        assert_eq!(size(64, 16, None), 4);
    }

    #[test]
    fn cores_bound_a_large_memory_host() {
        assert_eq!(size(8, 256, None), 4);
        assert_eq!(size(2, 24, None), 1);
    }

    #[test]
    fn the_override_wins() {
        assert_eq!(size(1, 0, Some(3)), 3);
        assert_eq!(size(64, 512, Some(1)), 1);
    }

    #[test]
    fn per_job_inputs_change_the_size() {
        let facts = MachineFacts {
            cpu_cores: 64,
            memory_gb: 16,
        };
        let one = NonZeroU32::new(1).unwrap();
        assert_eq!(executor_size(facts, one, one, None).get(), 16);
        let sixteen = NonZeroU32::new(16).unwrap();
        assert_eq!(executor_size(facts, sixteen, one, None).get(), 4);
    }

    #[test]
    fn reads_this_machine() {
        let facts = MachineFacts::read().unwrap();
        assert!(facts.cpu_cores >= 1);
        assert!(disk_free_gb(Path::new(".")).is_ok());
    }
}
