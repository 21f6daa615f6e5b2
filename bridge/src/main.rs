//! The `esplora-bridge` binary: parse the command line, load the config,
//! start logging, and hand over to the daemon or a subcommand.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use esplora_bridge::cli::{Cli, Command, read_config};
use esplora_bridge::{daemon, export, generate, record, store};
use esplora_config::LogFormat;
use tracing::info;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Some(Command::CheckConfig { file }) => {
            return match read_config(file) {
                Ok(_) => {
                    println!("{}: ok", file.display());
                    ExitCode::SUCCESS
                }
                Err(error) => fail(&error),
            };
        }
        Some(Command::Generate { out }) => {
            return match generate::run(out) {
                Ok(written) => {
                    for path in written {
                        println!("{}", path.display());
                    }
                    ExitCode::SUCCESS
                }
                Err(error) => fail(&error),
            };
        }
        _ => {}
    }
    let config = match cli.load() {
        Ok(config) => config,
        Err(error) => return fail(&error),
    };
    init_logging(config.log.format);
    match &cli.config {
        Some(path) => info!(path = %path.display(), "config loaded"),
        None => info!("no config file given; using the defaults"),
    }
    if let Some(Command::Export {
        fields,
        from,
        to,
        step,
        format,
        output,
    }) = &cli.command
    {
        let params = export::Params {
            fields: fields.as_deref(),
            from: from.as_deref(),
            to: to.as_deref(),
            step: step.as_deref(),
            format: Some(format),
        };
        let result = store::path(&config.history, |name| std::env::var_os(name))
            .map_err(anyhow::Error::from)
            .and_then(|path| export::run(&path, &params, output.as_deref()));
        return match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => fail(&error),
        };
    }
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
    // Whatever had to finish was awaited above. What may be left is a read
    // of stdin blocked in the kernel, which nothing can cancel: waiting for
    // it would hold the exit until the next line arrives.
    runtime.shutdown_background();
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
