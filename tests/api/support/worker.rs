//! The real binary as a process, as systemd runs it: started with a clean
//! environment, its JSON log read for the address it listens on.

use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Starts `corebuild` with a clean environment plus `env`, JSON logs on stdout.
pub fn corebuild(env: &[(&str, &str)]) -> Command {
    corebuild_under(&[], env)
}

/// Like [`corebuild`], run by `wrapper` (e.g. `prlimit … --`) when it is not empty.
pub fn corebuild_under(wrapper: &[&str], env: &[(&str, &str)]) -> Command {
    let binary = env!("CARGO_BIN_EXE_corebuild");
    let mut command = match wrapper.split_first() {
        Some((program, args)) => {
            let mut command = Command::new(program);
            command.args(args).arg(binary);
            command
        }
        None => Command::new(binary),
    };
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("COREBUILD_LOG_FORMAT", "json")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Reads the JSON log until the "listening" line and returns the address it names,
/// plus a task that collects the rest of the log until the process closes it.
pub async fn wait_for_address(child: &mut Child) -> (String, tokio::task::JoinHandle<String>) {
    let stdout = child.stdout.take().expect("stdout piped");
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = String::new();
    let find = async {
        while let Some(line) = lines.next_line().await.expect("read log") {
            seen.push_str(&line);
            seen.push('\n');
            let Ok(event) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if event["message"] == "corebuild listening" {
                return event["address"].as_str().expect("address field").to_owned();
            }
        }
        panic!("corebuild exited before listening");
    };
    let address = tokio::time::timeout(Duration::from_secs(30), find)
        .await
        .expect("corebuild did not start listening in time");
    // Keep draining the log so the worker never blocks on a full pipe.
    let rest = tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            seen.push_str(&line);
            seen.push('\n');
        }
        seen
    });
    (address, rest)
}

/// A worker process on 127.0.0.1:0 with `work` as its workdir, plus `env`.
pub struct Worker {
    pub child: Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// The worker's log, complete once the process has closed it.
    pub log: tokio::task::JoinHandle<String>,
}

impl Worker {
    pub async fn start(work: &std::path::Path, env: &[(&str, &str)]) -> Self {
        let mut all = vec![
            ("COREBUILD_BIND", "127.0.0.1"),
            ("COREBUILD_PORT", "0"),
            ("COREBUILD_WORKDIR", work.to_str().unwrap()),
        ];
        all.extend_from_slice(env);
        let mut child = corebuild(&all).spawn().expect("spawn corebuild");
        let (address, log) = wait_for_address(&mut child).await;
        Self {
            child,
            url: format!("http://{address}"),
            log,
        }
    }

    pub fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.child.id().unwrap() as i32), signal).unwrap();
    }

    /// GET `path` as JSON.
    pub async fn get(&self, path: &str) -> Value {
        reqwest::get(format!("{}{path}", self.url))
            .await
            .expect("the worker answers")
            .json()
            .await
            .unwrap()
    }

    /// Polls the job's status until it has finished, and returns it.
    pub async fn wait_until_finished(&self, id: &str) -> Value {
        loop {
            let status = self.get(&format!("/corebuild/v1/jobs/{id}")).await;
            if matches!(
                status["state"].as_str(),
                Some("succeeded" | "failed" | "cancelled")
            ) {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM, a clean exit, and the whole log.
    pub async fn stop(mut self) -> String {
        self.signal(Signal::SIGTERM);
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("the worker stops after SIGTERM")
            .unwrap();
        assert_eq!(status.code(), Some(0), "exit status after SIGTERM");
        self.log.await.unwrap()
    }
}
