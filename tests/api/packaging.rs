//! What the Debian package installs beside the binary: completion scripts and manual
//! pages, kept in `contrib/` and made from the command line's own definitions.
//! `UPDATE_GOLDEN=1 cargo test --test api packaging` writes them anew.

use std::path::{Path, PathBuf};
use std::process::Command;

use corebuild::cli::{Shell, completions, man_pages};

fn contrib(parts: &[&str]) -> PathBuf {
    let mut path = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib");
    path.extend(parts);
    path
}

/// Compares `made` with the file at `path` (after writing it, with UPDATE_GOLDEN).
fn check(path: &Path, made: &[u8]) {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, made).unwrap();
    }
    let shipped = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        shipped == made,
        "{} is not what the current options give: run UPDATE_GOLDEN=1 cargo test --test api packaging",
        path.display()
    );
}

#[test]
fn the_shipped_completions_are_made_from_the_current_options() {
    for shell in Shell::ALL {
        let name = format!("{shell:?}").to_lowercase();
        let path = contrib(&["completions", &name, shell.file_name()]);
        let script = completions(shell);
        check(&path, &script);
        assert!(
            String::from_utf8_lossy(&script).contains("submit"),
            "{name}: the subcommands are in it"
        );
    }
    // bash reads the script without a syntax error (the package's CI step does it again
    // on the installed copy).
    let parsed = Command::new("bash")
        .arg("-n")
        .arg(contrib(&["completions", "bash", "corebuild"]))
        .status()
        .unwrap();
    assert!(parsed.success());
}

#[test]
fn the_shipped_man_pages_are_made_from_the_current_options_and_none_is_left_over() {
    let pages = man_pages();
    let names: Vec<&str> = pages.iter().map(|(name, _)| name.as_str()).collect();
    for expected in ["corebuild.1", "corebuild-serve.1", "corebuild-submit.1"] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    assert!(
        !names.contains(&"corebuild-manpage.1"),
        "the hidden subcommand has no page"
    );
    let dir = contrib(&["man"]);
    for (name, roff) in &pages {
        check(&dir.join(name), roff);
    }
    // A page of a subcommand that no longer exists would be packaged for ever.
    let mut shipped: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    shipped.sort();
    assert_eq!(shipped, names, "contrib/man holds exactly the pages made");

    let serve = &pages
        .iter()
        .find(|(n, _)| n == "corebuild-serve.1")
        .unwrap()
        .1;
    let serve = String::from_utf8_lossy(serve);
    assert!(
        serve.contains("COREBUILD_PORT") && serve.contains("COREBUILD_NATS_URL"),
        "the serve page names the settings' variables"
    );
}
