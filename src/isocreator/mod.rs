//! Everything about the external image builder: the config it is given
//! ([`config`]), the private folder it runs in ([`workspace`]) and the process
//! machinery that runs it and streams its output ([`runner`], `lines`).

pub mod config;
mod env;
pub(crate) mod envfile;
mod lines;
pub(crate) mod marks;
pub(crate) mod runner;
pub(crate) mod workspace;

pub(crate) use env::BuilderEnv;
pub use marks::become_subreaper;

pub use runner::CommandError;
pub(crate) use runner::{BuildFailure, BuildRun, IsoCreator};
pub(crate) use workspace::{Workspace, sweep_stale};
