//! The builder's environment: chosen, not inherited. The worker's own environment
//! holds its token and settings, which are no business of a build.
//!
//! A builder gets `PATH`, `LANG`, `LC_ALL`, `TZ` and the proxy variables from the
//! worker when they are set, the names the operator lists in `COREBUILD_BUILDER_ENV`,
//! and per job `HOME` and `TMPDIR` inside the workspace and the job's mark.

use std::ffi::OsString;
use std::path::Path;

use super::marks::MARK_VAR;

/// Passed through from the worker's environment when set.
const PASSED: &[&str] = &[
    "PATH",
    "LANG",
    "LC_ALL",
    "TZ",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
];

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const DEFAULT_LANG: &str = "C.UTF-8";

#[derive(Debug, Clone, Default)]
pub(crate) struct BuilderEnv {
    /// What the builder takes from the worker, read once at start-up.
    inherited: Vec<(String, OsString)>,
}

impl BuilderEnv {
    /// The passed-through variables from this process's environment, plus `extra`
    /// (already checked to hold no `COREBUILD_*` name).
    pub(crate) fn from_worker(extra: &[String]) -> Self {
        let names = PASSED
            .iter()
            .map(|n| (*n).to_owned())
            .chain(extra.iter().cloned());
        let mut inherited: Vec<(String, OsString)> = Vec::new();
        for name in names {
            if inherited.iter().any(|(n, _)| *n == name) {
                continue;
            }
            if let Some(value) = std::env::var_os(&name) {
                inherited.push((name, value));
            }
        }
        Self { inherited }
    }

    /// The `PATH` a builder gets, where its command is looked up.
    pub(crate) fn path(&self) -> OsString {
        self.inherited
            .iter()
            .find(|(n, _)| n == "PATH")
            .map_or_else(|| DEFAULT_PATH.into(), |(_, v)| v.clone())
    }

    /// The whole environment of one job's builder.
    pub(crate) fn for_job(&self, workspace: &Path, mark: &str) -> Vec<(OsString, OsString)> {
        let mut env: Vec<(OsString, OsString)> = self
            .inherited
            .iter()
            .map(|(n, v)| (n.into(), v.clone()))
            .collect();
        let mut default = |name: &str, value: &str| {
            if !env.iter().any(|(n, _)| n == name) {
                env.push((name.into(), value.into()));
            }
        };
        default("PATH", DEFAULT_PATH);
        default("LANG", DEFAULT_LANG);
        env.push(("HOME".into(), workspace.join("home").into()));
        env.push(("TMPDIR".into(), workspace.join("tmp").into()));
        env.push((MARK_VAR.into(), mark.into()));
        env
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_gets_its_own_home_tmpdir_and_mark_and_the_defaults() {
        let env = BuilderEnv::default().for_job(Path::new("/w/job-1"), "i/job-1");
        let get = |name: &str| {
            env.iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.to_str().unwrap().to_owned())
        };
        assert_eq!(get("HOME").as_deref(), Some("/w/job-1/home"));
        assert_eq!(get("TMPDIR").as_deref(), Some("/w/job-1/tmp"));
        assert_eq!(get(MARK_VAR).as_deref(), Some("i/job-1"));
        assert_eq!(get("PATH").as_deref(), Some(DEFAULT_PATH));
        assert_eq!(env.len(), 5);
    }
}
