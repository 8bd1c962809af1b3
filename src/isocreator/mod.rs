//! Everything about the external image builder: the config it is given
//! ([`config`]), the private folder it runs in ([`workspace`]) and the process
//! machinery that runs it and streams its output ([`runner`], `lines`).

pub mod config;
pub(crate) mod envfile;
mod lines;
pub(crate) mod runner;
pub(crate) mod workspace;

pub use runner::CommandError;
pub(crate) use runner::{BuildFailure, IsoCreator};
pub(crate) use workspace::{Workspace, sweep_stale};
