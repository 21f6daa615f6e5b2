//! The `esplora-bridge` binary: parse the command line, load the config,
//! start logging, and hand over to the daemon or a subcommand.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use esplora_bridge::cli::{Cli, Command, read_config};
use esplora_bridge::{daemon, record};
use esplora_config::LogFormat;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::CheckConfig { file }) = &cli.command {
        return match read_config(file) {
            Ok(_) => {
                println!("{}: ok", file.display());
                ExitCode::SUCCESS
            }
            Err(error) => fail(&error),
        };
    }
    let config = match cli.load() {
        Ok(config) => config,
        Err(error) => return fail(&error),
    };
    init_logging(config.log.format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => return fail(&error.into()),
    };
    let result = runtime.block_on(async {
        match cli.command {
            Some(Command::Record {
                input,
                output,
                replay_rate,
            }) => record::run(&input, replay_rate.or(config.input.replay_rate), &output).await,
            _ => daemon::run(config).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error),
    }
}

fn fail(error: &anyhow::Error) -> ExitCode {
    eprintln!("esplora-bridge: error: {error:#}");
    ExitCode::FAILURE
}

/// Logs go to stderr, where journald picks them up; `RUST_LOG` filters them.
/// Colours only on a terminal: in the journal they would be noise.
fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
