//! The command line, and how it overrides the config file.
//!
//! Precedence is command line, then environment, then file, then defaults:
//! clap reads each option's `ESPLORA_BRIDGE_*` variable itself when the
//! flag is absent, so by the time [`Cli::load`] applies the options to the
//! file's config, "command line wins over environment" already holds.
//! Values are validated here as strictly as the config crate validates the
//! file, so that a bad `--history 0` fails as early as a bad `history = 0`.

use std::net::SocketAddr;
use std::num::{NonZeroU64, NonZeroUsize};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use esplora_config::{Config, InputSpec, LogFormat, ReplayRate};

/// Reads the line stream of an Arduino Esplora on a USB serial port (or a
/// recorded capture, or a built-in demo board), drops what did not change,
/// limits how often it publishes, and serves the result over HTTP to local
/// clients and, when configured, to a Pusher-compatible relay.
#[derive(Debug, Parser)]
#[command(name = "esplora-bridge", version, about, long_about)]
pub struct Cli {
    /// The TOML config file.
    #[arg(
        long,
        short,
        env = "ESPLORA_BRIDGE_CONFIG",
        value_name = "FILE",
        global = true
    )]
    pub config: Option<PathBuf>,

    #[command(flatten)]
    pub options: Options,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The options that override the config file's keys.
#[derive(Debug, Args)]
pub struct Options {
    /// Where readings come from: auto, serial:PATH[@BAUD], file:PATH, - (stdin), demo.
    #[arg(long, env = "ESPLORA_BRIDGE_INPUT", value_name = "SPEC")]
    pub input: Option<InputSpec>,

    /// Replay pace for file:/- captures, in lines a second, or max.
    #[arg(long, env = "ESPLORA_BRIDGE_REPLAY_RATE", value_name = "HZ|max")]
    pub replay_rate: Option<ReplayRate>,

    /// When a replay ends, publish what is pending and exit 0.
    #[arg(long, env = "ESPLORA_BRIDGE_EXIT_AT_EOF")]
    pub exit_at_eof: bool,

    /// The local HTTP server's address.
    #[arg(long, env = "ESPLORA_BRIDGE_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,

    /// Events kept for resume.
    #[arg(long, env = "ESPLORA_BRIDGE_HISTORY", value_name = "EVENTS")]
    pub history: Option<NonZeroUsize>,

    /// Local publish rate limit in events a second; 0 = no limit.
    #[arg(long, env = "ESPLORA_BRIDGE_MAX_RATE_HZ", value_name = "HZ", value_parser = parse_rate)]
    pub max_rate_hz: Option<f64>,

    /// A full snapshot at least this often.
    #[arg(long, env = "ESPLORA_BRIDGE_KEYFRAME_SECS", value_name = "SECS")]
    pub keyframe_secs: Option<NonZeroU64>,

    /// Log format on stderr: text or json.
    #[arg(long, env = "ESPLORA_BRIDGE_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,

    /// Let WebSocket clients set the board's LED and play tones.
    #[arg(long, env = "ESPLORA_BRIDGE_ENABLE_COMMANDS")]
    pub enable_commands: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a config file and exit: 0 when it is valid.
    CheckConfig {
        /// The file to check.
        file: PathBuf,
    },
    /// Record a timed capture of an input, until it ends or Ctrl-C.
    Record {
        /// What to record, as --input.
        #[arg(long, value_name = "SPEC")]
        input: InputSpec,
        /// The capture file to write.
        #[arg(long, value_name = "FILE")]
        output: PathBuf,
        /// Pace of a file:/- input, as for the daemon.
        #[arg(long, value_name = "HZ|max")]
        replay_rate: Option<ReplayRate>,
    },
    /// Write stored history as CSV or NDJSON, in buckets (as GET /api/history);
    /// works while the daemon runs.
    Export {
        /// Comma-separated field names; default every stored field.
        #[arg(long, value_name = "A,B")]
        fields: Option<String>,
        /// Start: RFC 3339, ms since the epoch, now, or -DURATION (-24h); default -1h.
        #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
        from: Option<String>,
        /// End (exclusive), as --from; default now.
        #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
        to: Option<String>,
        /// Bucket length (250ms, 1s, 2m, 1h, or ms); default at most 1000 buckets.
        #[arg(long, value_name = "DURATION")]
        step: Option<String>,
        /// csv or ndjson.
        #[arg(long, value_name = "FORMAT", default_value = "csv")]
        format: String,
        /// The file to write; default stdout.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Write the man pages and shell completions, for packaging.
    #[command(hide = true)]
    Generate {
        /// The directory to write them under (man/ and completions/).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

impl Cli {
    /// The config file's settings (or the defaults), overridden by the
    /// environment and the command line.
    pub fn load(&self) -> anyhow::Result<Config> {
        let mut config = match &self.config {
            Some(path) => read_config(path)?,
            None => Config::default(),
        };
        self.options.apply(&mut config);
        Ok(config)
    }
}

impl Options {
    fn apply(&self, config: &mut Config) {
        if let Some(spec) = &self.input {
            config.input.spec = spec.clone();
        }
        if self.replay_rate.is_some() {
            config.input.replay_rate = self.replay_rate;
        }
        config.input.exit_at_eof |= self.exit_at_eof;
        if let Some(listen) = self.listen {
            config.http.listen = listen;
        }
        if let Some(history) = self.history {
            config.http.history = history.get();
        }
        if let Some(rate) = self.max_rate_hz {
            config.transform.max_rate_hz = rate;
        }
        if let Some(secs) = self.keyframe_secs {
            config.transform.keyframe_secs = secs.get();
        }
        if let Some(format) = self.log_format {
            config.log.format = format;
        }
        config.commands.enabled |= self.enable_commands;
    }
}

/// Reads and validates a config file; the error names the file, and for a
/// bad key its line and the key.
pub fn read_config(path: &Path) -> anyhow::Result<Config> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    Ok(Config::from_toml(&text, path)?)
}

fn parse_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate >= 0.0 => Ok(rate),
        _ => Err(format!(
            "`{text}` is not a rate: give a number of events a second, 0 for no limit"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_overrides_the_file() {
        let cli = Cli::try_parse_from([
            "esplora-bridge",
            "--input",
            "demo",
            "--history",
            "7",
            "--exit-at-eof",
            "--enable-commands",
        ])
        .unwrap();
        let mut config = Config::default();
        cli.options.apply(&mut config);
        assert_eq!(config.input.spec, InputSpec::Demo);
        assert_eq!(config.http.history, 7);
        assert!(config.input.exit_at_eof);
        assert!(config.commands.enabled);
        assert_eq!(config.http.listen, Config::default().http.listen);
    }

    #[test]
    fn bad_values_are_refused_by_the_command_line() {
        for args in [
            &["--history", "0"][..],
            &["--max-rate-hz", "-1"],
            &["--max-rate-hz", "NaN"],
            &["--keyframe-secs", "0"],
            &["--replay-rate", "fast"],
            &["--input", "floppy:a"],
        ] {
            let argv = std::iter::once("esplora-bridge").chain(args.iter().copied());
            assert!(
                Cli::try_parse_from(argv).is_err(),
                "{args:?} should be refused"
            );
        }
    }
}
