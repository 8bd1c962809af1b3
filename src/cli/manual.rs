//! What the package installs beside the binary, made from the clap definitions so
//! they cannot drift from the options: shell completion scripts and manual pages.
//! Copies live in `contrib/` for `cargo deb` (which has no build step of its own);
//! a test fails when they differ from what this module makes.

use clap::{CommandFactory, ValueEnum};

use super::Cli;

/// The shells the package ships completions for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

impl Shell {
    pub const ALL: [Shell; 3] = [Shell::Bash, Shell::Zsh, Shell::Fish];

    fn generator(self) -> clap_complete::Shell {
        match self {
            Shell::Bash => clap_complete::Shell::Bash,
            Shell::Zsh => clap_complete::Shell::Zsh,
            Shell::Fish => clap_complete::Shell::Fish,
        }
    }

    /// The file name each shell looks for, as the package installs it.
    pub fn file_name(self) -> &'static str {
        match self {
            Shell::Bash => "corebuild",
            Shell::Zsh => "_corebuild",
            Shell::Fish => "corebuild.fish",
        }
    }
}

/// The completion script of `shell`.
pub fn completions(shell: Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(
        shell.generator(),
        &mut Cli::command(),
        "corebuild",
        &mut out,
    );
    out
}

/// Every manual page as (file name, roff): `corebuild.1` and `corebuild-<sub>.1` for
/// each subcommand a user sees.
pub fn man_pages() -> Vec<(String, Vec<u8>)> {
    let mut top = Cli::command().disable_help_subcommand(true);
    // Gives each subcommand its display name (`corebuild-serve`), used as the title.
    top.build();
    let mut pages = Vec::new();
    let mut add = |command: clap::Command| {
        let man = clap_mangen::Man::new(command)
            .source(concat!("corebuild ", env!("CARGO_PKG_VERSION")))
            .manual("corebuild manual");
        let mut roff = Vec::new();
        man.render(&mut roff)
            .expect("rendering into a Vec cannot fail");
        pages.push((man.get_filename(), roff));
    };
    for sub in top.get_subcommands().filter(|s| !s.is_hide_set()) {
        add(sub.clone());
    }
    add(top);
    pages.sort();
    pages
}
