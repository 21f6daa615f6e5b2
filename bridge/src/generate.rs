//! `esplora-bridge generate --out DIR`: the shell completions and man pages,
//! written from the clap definition in [`crate::cli`] so that they always
//! match the options the binary takes.
//!
//! The binary writes them itself (rather than a build script or an xtask)
//! because only the binary has the definition at hand without compiling it
//! twice; packaging runs the freshly built binary once before `cargo deb`
//! (see the README, "Run it as a service"). The subcommand is hidden from
//! `--help`: users get the results, installed, not the generator.
//!
//! Layout of `DIR`, which the `[package.metadata.deb]` assets name:
//!
//! ```text
//! man/esplora-bridge.1.gz              the daemon, with FILES, ENVIRONMENT, SIGNALS
//! man/esplora-bridge-<subcommand>.1.gz one page per visible subcommand
//! completions/esplora-bridge.bash      bash-completion
//! completions/_esplora-bridge          zsh
//! completions/esplora-bridge.fish      fish
//! ```

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::CommandFactory;
use clap_complete::Shell;
use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, italic, roman};
use flate2::Compression;
use flate2::write::GzEncoder;

use crate::cli::Cli;

const BIN: &str = "esplora-bridge";

/// Writes every file under `out` and returns their paths.
pub fn run(out: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let man = out.join("man");
    let completions = out.join("completions");
    for dir in [&man, &completions] {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut written = man_pages(&man)?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let path = clap_complete::generate_to(shell, &mut Cli::command(), BIN, &completions)
            .with_context(|| format!("cannot write the {shell} completions"))?;
        written.push(path);
    }
    Ok(written)
}

fn man_pages(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    let mut written = Vec::new();
    for sub in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        written.push(write_page(dir, &Man::new(sub.clone()), None)?);
    }
    written.push(write_page(
        dir,
        &Man::new(command),
        Some(daemon_sections()),
    )?);
    Ok(written)
}

/// Writes one page gzipped, as Debian policy wants man pages (`man` reads
/// them either way).
fn write_page(dir: &Path, man: &Man, extra: Option<Roff>) -> anyhow::Result<PathBuf> {
    let path = dir.join(format!("{}.gz", man.get_filename()));
    let write = || -> std::io::Result<()> {
        let mut page = GzEncoder::new(BufWriter::new(File::create(&path)?), Compression::best());
        man.render(&mut page)?;
        if let Some(extra) = extra {
            extra.to_writer(&mut page)?;
        }
        page.finish()?.flush()
    };
    write().with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// What a man page reader needs beyond the options: where the files are,
/// what the environment and signals do.
fn daemon_sections() -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["FILES"]);
    for (path, what) in [
        (
            "/etc/esplora-bridge/esplora-bridge.toml",
            "The config file the service runs with; every key is documented in it. \
             Check it with esplora-bridge check-config FILE.",
        ),
        (
            "/usr/lib/systemd/system/esplora-bridge.service",
            "The systemd unit: Type=notify, with a watchdog, unprivileged and sandboxed.",
        ),
        (
            "/usr/lib/udev/rules.d/99-esplora.rules",
            "Names the board /dev/esplora and starts the service when it is plugged in.",
        ),
    ] {
        roff.control("TP", [])
            .text([bold(path)])
            .text([roman(what)]);
    }
    roff.control("SH", ["ENVIRONMENT"]);
    for (name, what) in [
        (
            "ESPLORA_BRIDGE_<OPTION>",
            "Every option, such as ESPLORA_BRIDGE_LISTEN; the command line wins over \
             the environment, which wins over the config file.",
        ),
        (
            "RUST_LOG",
            "Which log lines are written to stderr (default info).",
        ),
        (
            "NOTIFY_SOCKET, WATCHDOG_USEC",
            "Set by systemd: the daemon reports READY=1, STATUS= and STOPPING=1, and sends \
             WATCHDOG=1 while its pipeline runs.",
        ),
    ] {
        roff.control("TP", [])
            .text([bold(name)])
            .text([roman(what)]);
    }
    roff.control("SH", ["SIGNALS"]);
    roff.text([
        bold("SIGTERM"),
        roman(" and "),
        bold("SIGINT"),
        roman(
            " stop the input, publish what the pipeline holds, give clients and the relay \
             a few seconds to finish, and exit 0.",
        ),
    ]);
    roff.control("SH", ["SEE ALSO"]);
    roff.text([
        italic("systemctl"),
        roman("(1), "),
        italic("journalctl"),
        roman("(1), "),
        italic("udevadm"),
        roman("(8)"),
    ]);
    roff
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn every_page_and_completion_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let written = run(dir.path()).unwrap();
        let names: Vec<String> = written
            .iter()
            .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
            .collect();
        for expected in [
            "man/esplora-bridge.1.gz",
            "man/esplora-bridge-check-config.1.gz",
            "man/esplora-bridge-record.1.gz",
            "completions/esplora-bridge.bash",
            "completions/_esplora-bridge",
            "completions/esplora-bridge.fish",
        ] {
            assert!(
                names.iter().any(|n| n == expected),
                "{expected} in {names:?}"
            );
        }
        assert!(!names.iter().any(|n| n.contains("generate")), "{names:?}");
        let mut page = String::new();
        flate2::read::GzDecoder::new(
            File::open(dir.path().join("man/esplora-bridge.1.gz")).unwrap(),
        )
        .read_to_string(&mut page)
        .unwrap();
        for needle in ["\\-\\-listen", "check\\-config", ".SH FILES", "SIGTERM"] {
            assert!(page.contains(needle), "the man page lacks {needle}");
        }
    }
}
