//! The command line: `corebuild` (or `corebuild serve`) runs the worker; the other
//! subcommands are a client of a running worker.

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, Subcommand};

use crate::client::ClientCommand;
use crate::config::{Config, name_the_variable};

#[derive(Debug, Parser)]
#[command(
    name = "corebuild",
    version,
    about = "Build worker for serve.zone BaseOS images"
)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// With no subcommand, corebuild serves: the same options as `serve`.
    #[command(flatten)]
    pub serve: Config,
}

pub enum Action {
    Serve(Box<Config>),
    Client(ClientCommand),
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the worker's HTTP service (the default).
    Serve(Config),
    /// The client subcommands, talking to a running worker.
    #[command(flatten)]
    Client(ClientCommand),
}

impl Cli {
    /// Parses the process's arguments and environment; on a bad value prints an error
    /// that names the environment variable and exits non-zero.
    pub fn parse_or_exit() -> Self {
        Self::try_parse_from_args(std::env::args_os()).unwrap_or_else(|message| {
            eprint!("{message}");
            std::process::exit(2)
        })
    }

    /// Like [`Cli::parse_or_exit`] but returns the rendered message, for tests.
    /// `--help` and `--version` print and exit as usual.
    pub fn try_parse_from_args<I, T>(args: I) -> Result<Self, String>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        match Self::try_parse_from(args) {
            Ok(cli) => Ok(cli),
            Err(err)
                if matches!(
                    err.kind(),
                    ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
                ) =>
            {
                err.exit()
            }
            Err(err) => Err(name_the_variable(&err, &Cli::command())),
        }
    }

    /// What to do: serve (the default), or act as a client of a running worker.
    pub fn into_action(self) -> Action {
        match self.command {
            Some(Command::Serve(config)) => Action::Serve(Box::new(config)),
            None => Action::Serve(Box::new(self.serve)),
            Some(Command::Client(command)) => Action::Client(command),
        }
    }

    /// The configuration to serve with; panics for a client subcommand (tests only).
    pub fn into_serve_config(self) -> Config {
        match self.into_action() {
            Action::Serve(config) => *config,
            Action::Client(_) => panic!("not a serve command line"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_value_names_the_flag_and_the_variable() {
        let message = Cli::try_parse_from_args(["corebuild", "--port", "abc"]).unwrap_err();
        assert!(message.contains("COREBUILD_PORT (--port)"), "{message}");
        assert!(message.contains("'abc'"), "{message}");
    }

    #[test]
    fn serve_is_the_default_subcommand() {
        let plain = Cli::try_parse_from_args(["corebuild", "--port", "4000"]).unwrap();
        assert_eq!(plain.into_serve_config().port, 4000);
        let explicit = Cli::try_parse_from_args(["corebuild", "serve", "--port", "4001"]).unwrap();
        assert_eq!(explicit.into_serve_config().port, 4001);
    }
}
