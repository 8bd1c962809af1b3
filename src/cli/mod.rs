//! The command line: `corebuild serve` (or `corebuild` alone) runs the worker;
//! `completions` and `manpage` print what the package installs; the other subcommands
//! are a client of a running worker, with options of their own.

mod manual;

pub use manual::{Shell, completions, man_pages};

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, Subcommand};

use crate::client::ClientCommand;
use crate::config::{Config, name_the_variable};

/// Shown under the top-level help, where clap would otherwise list no client option.
const CLIENT_HELP: &str = "\
Every command but `serve` is a client of a running worker and takes:
  --url <URL>        the worker [env: COREBUILD_URL] [default: this host's worker, from
                     COREBUILD_PORT, COREBUILD_BIND, COREBUILD_TLS_CERT; else http://127.0.0.1:3060]
  --token <TOKEN>    the token to send [env: COREBUILD_TOKEN]
  --ca-file <FILE>   CA certificate(s) to trust for an https:// URL [env: COREBUILD_CA_FILE]
  --json             JSON on stdout instead of text
Exit status: 0 all went well, 1 the job failed or was cancelled, 2 the worker could not
be reached or refused. `corebuild serve --help` lists the worker's settings.";

#[derive(Debug, Parser)]
#[command(
    name = "corebuild",
    version,
    about = "Build worker for serve.zone BaseOS images",
    after_help = CLIENT_HELP
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

pub enum Action {
    Serve(Box<Config>),
    Client(ClientCommand),
    /// Text to print on stdout, then exit 0 (completions, the manual page).
    Print(Vec<u8>),
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the worker (what `corebuild` alone does, configured from the environment).
    Serve(Box<Config>),
    /// Print the completion script of a shell on stdout (the package installs them).
    Completions {
        /// bash, zsh or fish.
        shell: Shell,
    },
    /// Print the manual page of corebuild, or of one subcommand, in roff on stdout.
    #[command(hide = true)]
    Manpage {
        /// The subcommand (`serve`, `submit`, ...); none for the main page.
        subcommand: Option<String>,
    },
    #[command(flatten)]
    Client(ClientCommand),
}

impl Cli {
    /// Parses the process's arguments and environment; on a bad value prints an error
    /// that names the environment variable and exits with status 2. With `--json`
    /// anywhere on the line, the error is one JSON object on stdout, as every other
    /// error of a `--json` command is.
    pub fn parse_or_exit() -> Action {
        let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
        let json = wants_json(&args);
        Self::try_parse_from_args(args)
            .and_then(Cli::into_action)
            .unwrap_or_else(|message| {
                if json {
                    println!("{}", argument_error(&message));
                } else {
                    eprint!("{message}");
                }
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

    /// What to do: serve (the default, then configured from the environment alone), or
    /// act as a client of a running worker.
    pub fn into_action(self) -> Result<Action, String> {
        match self.command {
            Some(Command::Serve(config)) => Ok(Action::Serve(config)),
            Some(Command::Client(command)) => Ok(Action::Client(command)),
            Some(Command::Completions { shell }) => Ok(Action::Print(completions(shell))),
            Some(Command::Manpage { subcommand }) => {
                let name =
                    subcommand.map_or_else(|| "corebuild".to_owned(), |s| format!("corebuild-{s}"));
                man_pages()
                    .into_iter()
                    .find(|(file, _)| file.strip_suffix(".1") == Some(&name))
                    .map(|(_, page)| Action::Print(page))
                    .ok_or_else(|| format!("error: no manual page {name}\n"))
            }
            None => Config::from_env()
                .map(|config| Action::Serve(Box::new(config)))
                .map_err(|e| e.to_string()),
        }
    }

    /// The configuration of a `serve` command line; panics otherwise (tests only).
    pub fn into_serve_config(self) -> Config {
        match self.command {
            Some(Command::Serve(config)) => *config,
            _ => panic!("not a serve command line"),
        }
    }
}

/// Whether `--json` stands among the options (before a `--` that ends them).
fn wants_json(args: &[std::ffi::OsString]) -> bool {
    args.iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .any(|a| a == "--json")
}

/// A command-line error as the JSON error object of the client commands.
fn argument_error(message: &str) -> serde_json::Value {
    let message = message.trim_end();
    serde_json::json!({ "success": false, "error": message, "code": "invalid_arguments" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_asked_for_anywhere_before_the_end_of_options() {
        let args = |a: &[&str]| {
            a.iter()
                .map(Into::into)
                .collect::<Vec<std::ffi::OsString>>()
        };
        assert!(wants_json(&args(&["corebuild", "status", "--json"])));
        assert!(wants_json(&args(&["corebuild", "--json", "nope"])));
        assert!(!wants_json(&args(&["corebuild", "status", "--", "--json"])));
        assert!(
            !wants_json(&args(&["--json"])),
            "the program's own name does not count"
        );
        let error = argument_error("error: bad\n");
        assert_eq!(error["code"], "invalid_arguments");
        assert_eq!(error["error"], "error: bad");
    }

    #[test]
    fn a_bad_value_names_the_flag_and_the_variable() {
        let message =
            Cli::try_parse_from_args(["corebuild", "serve", "--port", "abc"]).unwrap_err();
        assert!(message.contains("COREBUILD_PORT (--port)"), "{message}");
        assert!(message.contains("'abc'"), "{message}");
    }

    #[test]
    fn serve_takes_the_workers_options_and_clients_do_not() {
        let serve = Cli::try_parse_from_args(["corebuild", "serve", "--port", "4001"]).unwrap();
        assert_eq!(serve.into_serve_config().port, 4001);
        assert!(Cli::try_parse_from_args(["corebuild", "--port", "4000"]).is_err());
        assert!(Cli::try_parse_from_args(["corebuild", "status", "--port", "1", "x"]).is_err());
        assert!(Cli::try_parse_from_args(["corebuild", "status", "job-1", "--json"]).is_ok());
    }
}
