//! Runs isocreator: never through a shell, in its own process group, output streamed
//! into the job's log, bounded in time, and with nothing of it left behind.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::BufReader;
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

use super::env::BuilderEnv;
use super::lines::for_each_line;
use super::marks;
use crate::joblog::{LogSink, Stream};

/// Between SIGTERM to the group and SIGKILL.
pub(crate) const KILL_GRACE: Duration = Duration::from_secs(10);
/// How long to wait for output pipes after the group is gone (a process that left the
/// group could hold them open forever).
const DRAIN_LIMIT: Duration = Duration::from_secs(5);

/// `ISO_CREATOR_COMMAND`, split into words once at start-up, with the environment
/// its runs get and the mark that tells this worker's builders from others'.
#[derive(Debug, Clone)]
pub(crate) struct IsoCreator {
    program: String,
    args: Vec<String>,
    env: BuilderEnv,
    /// See [`marks::instance`].
    instance: String,
}

/// One run of isocreator.
pub(crate) struct BuildRun<'a> {
    pub(crate) config: &'a Path,
    pub(crate) workspace: &'a Path,
    pub(crate) log: &'a LogSink,
    pub(crate) limit: Duration,
    pub(crate) cancel: &'a CancellationToken,
}

#[derive(Debug, thiserror::Error)]
#[error("ISO_CREATOR_COMMAND {0}")]
pub struct CommandError(&'static str);

/// Why a build did not produce an artifact. Most are the build's own failure; see
/// [`BuildFailure::is_worker_fault`] for those that are the host's.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BuildFailure {
    #[error("isocreator command not found: {0}")]
    NotFound(String),
    #[error("isocreator could not be started ({program}): {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("isocreator exited with status {0}")]
    Exit(i32),
    #[error("isocreator was killed by signal {0}")]
    Signal(String),
    #[error("isocreator exited 0 but wrote no artifact at {0}")]
    NoArtifact(String),
    #[error("isocreator ran past the time limit of {0} seconds")]
    TimedOut(u64),
    #[error("the job was cancelled")]
    Cancelled,
    #[error("waiting for isocreator failed: {0}")]
    Wait(std::io::Error),
}

impl BuildFailure {
    /// True when the worker, not the build, is at fault: the host ran out of a
    /// resource (file descriptors, processes, memory) or lost track of the child.
    pub(crate) fn is_worker_fault(&self) -> bool {
        match self {
            Self::Spawn { source, .. } => !matches!(
                source.kind(),
                std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::NotFound
            ),
            Self::Wait(_) => true,
            _ => false,
        }
    }
}

impl IsoCreator {
    /// The command alone, with an empty environment.
    #[cfg(test)]
    pub(crate) fn parse(command: &str) -> Result<Self, CommandError> {
        Self::new(command, BuilderEnv::default(), "test".to_owned())
    }

    pub(crate) fn new(
        command: &str,
        env: BuilderEnv,
        instance: String,
    ) -> Result<Self, CommandError> {
        let mut words = shell_words::split(command)
            .map_err(|_| CommandError("has an unmatched quote"))?
            .into_iter();
        let program = words.next().ok_or(CommandError("is empty"))?;
        Ok(Self {
            program,
            args: words.collect(),
            env,
            instance,
        })
    }

    /// The command's program as configured (for messages).
    pub(crate) fn program(&self) -> &str {
        &self.program
    }

    /// Whether the program can be started: a path as written, or a name found on the
    /// builder's `PATH` as an executable file. Asked at start-up and by readiness, so
    /// a missing builder shows before the first job fails on it.
    pub(crate) fn is_installed(&self) -> bool {
        let executable = |path: &Path| {
            path.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        };
        if self.program.contains('/') {
            return executable(Path::new(&self.program));
        }
        std::env::split_paths(&self.env.path()).any(|dir| executable(&dir.join(&self.program)))
    }

    /// Runs `<command> build --config <config>` in the workspace until it exits, the
    /// time limit passes, or `cancel` fires; then makes sure that nothing it started,
    /// in its group or out of it, is left.
    pub(crate) async fn run(&self, run: BuildRun<'_>) -> Result<(), BuildFailure> {
        let mark = marks::job_mark(&self.instance, run.workspace);
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .arg("build")
            .arg("--config")
            .arg(run.config)
            .current_dir(run.workspace)
            .env_clear()
            .envs(self.env.for_job(run.workspace, &mark))
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        die_with_the_worker(&mut command);
        let spawning = marks::spawning();
        let mut child = command.spawn().map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => BuildFailure::NotFound(self.program.clone()),
            _ => BuildFailure::Spawn {
                program: self.program.clone(),
                source,
            },
        })?;
        let group = child.id().map(|id| Pid::from_raw(id as i32));
        let _active = group.map(|pid| marks::Active::register(pid.as_raw()));
        drop(spawning);
        let (log, limit, cancel) = (run.log, run.limit, run.cancel);
        let readers = spawn_readers(&mut child, log);

        let outcome = tokio::select! {
            status = child.wait() => Ok(status),
            () = tokio::time::sleep(limit) => Err(BuildFailure::TimedOut(limit.as_secs())),
            () = cancel.cancelled() => Err(BuildFailure::Cancelled),
        };
        let status = match outcome {
            Ok(status) => status,
            Err(failure) => {
                if let Some(group) = group {
                    terminate(&mut child, group, log).await;
                }
                kill_marked(mark).await;
                finish_readers(readers).await;
                return Err(failure);
            }
        };
        // isocreator is gone; anything it left running, in its group or out of it
        // (`setsid`), goes too, which also closes the output pipes they held.
        if let Some(group) = group {
            let _ = killpg(group, Signal::SIGKILL);
        }
        kill_marked(mark).await;
        finish_readers(readers).await;
        let status = status.map_err(BuildFailure::Wait)?;
        use std::os::unix::process::ExitStatusExt;
        match (status.code(), status.signal()) {
            (Some(0), _) => Ok(()),
            (Some(code), _) => Err(BuildFailure::Exit(code)),
            (None, Some(signal)) => Err(BuildFailure::Signal(signal_name(signal))),
            (None, None) => Err(BuildFailure::Exit(-1)),
        }
    }
}

/// SIGTERM to the whole group, SIGKILL after [`KILL_GRACE`], so no grandchild survives.
async fn terminate(child: &mut Child, group: Pid, log: &LogSink) {
    log.note("Stopping isocreator (SIGTERM to its process group)");
    let _ = killpg(group, Signal::SIGTERM);
    if tokio::time::timeout(KILL_GRACE, child.wait())
        .await
        .is_err()
    {
        log.note("isocreator did not stop in time; sending SIGKILL");
    }
    // Also after a clean exit of the leader: its children may have ignored SIGTERM.
    let _ = killpg(group, Signal::SIGKILL);
    let _ = child.wait().await;
}

/// Kills every process that carries the job's mark.
async fn kill_marked(mark: String) {
    let killed = tokio::task::spawn_blocking(move || marks::kill_job(&mark)).await;
    if let Ok(killed @ 1..) = killed {
        tracing::info!(killed, "killed processes the builder left running");
    }
}

/// The direct child gets SIGKILL should the worker die (`PR_SET_PDEATHSIG`). The
/// signal comes when the thread that spawned it ends; tokio's worker threads live as
/// long as the runtime, so in practice that is the worker's death. Processes the
/// builder starts are found by their mark instead.
#[allow(unsafe_code)]
fn die_with_the_worker(command: &mut Command) {
    // SAFETY: the closure runs in the forked child before exec and only makes the
    // async-signal-safe `prctl` system call; it allocates nothing and takes no lock.
    unsafe {
        command.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)
        });
    }
}

type Readers = Vec<tokio::task::JoinHandle<()>>;

/// One task per output pipe, each writing whole lines to the job's log. They are
/// owned here: [`finish_readers`] joins or aborts them before the run returns.
fn spawn_readers(child: &mut Child, log: &LogSink) -> Readers {
    let cap = log.read_cap();
    let mut readers = Vec::with_capacity(2);
    if let Some(out) = child.stdout.take() {
        let log = log.clone();
        readers.push(tokio::spawn(async move {
            let _ = for_each_line(BufReader::new(out), cap, |l| log.line(Stream::Stdout, l)).await;
        }));
    }
    if let Some(err) = child.stderr.take() {
        let log = log.clone();
        readers.push(tokio::spawn(async move {
            let _ = for_each_line(BufReader::new(err), cap, |l| log.line(Stream::Stderr, l)).await;
        }));
    }
    readers
}

async fn finish_readers(readers: Readers) {
    for mut reader in readers {
        if tokio::time::timeout(DRAIN_LIMIT, &mut reader)
            .await
            .is_err()
        {
            reader.abort();
        }
    }
}

fn signal_name(signal: i32) -> String {
    Signal::try_from(signal).map_or_else(
        |_| signal.to_string(),
        |s| format!("{} ({signal})", s.as_str()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_is_split_like_a_shell_would() {
        let c = IsoCreator::parse("deno run --allow-all '../iso creator/mod.ts'").unwrap();
        assert_eq!(c.program, "deno");
        assert_eq!(c.args, ["run", "--allow-all", "../iso creator/mod.ts"]);
        assert!(IsoCreator::parse("").is_err());
        assert!(IsoCreator::parse("  ").is_err());
        assert!(IsoCreator::parse("isocreator 'open").is_err());
    }

    #[test]
    fn an_installed_builder_is_told_from_a_missing_one() {
        assert!(IsoCreator::parse("sh -c true").unwrap().is_installed());
        assert!(IsoCreator::parse("/bin/sh").unwrap().is_installed());
        assert!(
            !IsoCreator::parse("no-such-isocreator-4711")
                .unwrap()
                .is_installed()
        );
        assert!(
            !IsoCreator::parse("/nonexistent/isocreator")
                .unwrap()
                .is_installed()
        );
        // A folder, or a file without an execute bit, is no program.
        assert!(!IsoCreator::parse("/tmp").unwrap().is_installed());
        let file = tempfile::NamedTempFile::new().unwrap();
        let plain = IsoCreator::parse(&file.path().display().to_string()).unwrap();
        assert!(!plain.is_installed());
    }
}
