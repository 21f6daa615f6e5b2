//! esplora-load: the daemon under a board's rate and many clients.
//!
//! It starts the real daemon (see [`daemon`]), connects the SSE and
//! WebSocket clients (see [`sse`], [`ws`]) and waits until each has had
//! its first snapshot, then writes lines at the board's rate for the
//! measured window (see [`board`]), each stamped with its send time, and
//! waits a bounded while for the last events to arrive. Every line is one
//! delta, so each client that kept up received exactly as many events as
//! lines were written. The report gives, per transport, clients connected,
//! events expected and received, and the latency from line written to
//! event parsed (see [`tally`]); and the daemon's CPU time over the window
//! and its resident memory, before the clients and at its peak.
//!
//! With `--idle N` it first holds N idle clients (half SSE, half
//! WebSocket), which take their snapshot and read what they are sent but
//! are measured only for the memory they cost the daemon: its RSS once
//! they are connected, before the measured clients, over its RSS before.
//!
//! With `--compare-floor` it runs the daemon and the floor server
//! (`esplora-floor`, see its crate docs) alternately, `--runs` times each,
//! on each `--scenario`, and prints per scenario the medians of CPU per
//! delivered event, p50/p99 latency, delivered share and peak RSS for
//! both, and the daemon's ratios to the floor (see [`compare`]).
//!
//! Exit status: 0 when every client connected and received every event,
//! 1 when some did not, 2 when the run could not be made (the daemon died,
//! or would not start).

mod board;
mod compare;
mod daemon;
mod sse;
mod tally;
mod ws;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use nix::sys::resource::{Resource, UsageWho, getrlimit, getrusage, setrlimit};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use board::{Board, Written};
use compare::{Measurement, Scenario};
use daemon::{BRIDGE_ARGS, ConfigFile, Daemon, FLOOR_ARGS};
use tally::{Tally, Transport};

/// Runs the esplora-bridge daemon fed at a board's rate, with N SSE and M
/// WebSocket clients on loopback, and reports loss, latency, CPU and memory.
#[derive(Debug, Parser)]
#[command(name = "esplora-load", version)]
struct Args {
    /// The daemon binary [default: esplora-bridge beside this tool].
    #[arg(long, value_name = "PATH")]
    daemon: Option<PathBuf>,
    /// SSE clients.
    #[arg(long, default_value_t = 0)]
    sse: u64,
    /// WebSocket clients.
    #[arg(long, default_value_t = 0)]
    ws: u64,
    /// Idle clients, half SSE and half WebSocket, in every scenario: they
    /// connect before the measured clients and take their snapshot, and are
    /// left out of every figure but the memory they cost (reported per idle
    /// client). They read what they are sent, as every subscriber must.
    #[arg(long, default_value_t = 0)]
    idle: u64,
    /// The board's rate, in lines a second.
    #[arg(long, default_value_t = 100.0, value_parser = positive)]
    rate_hz: f64,
    /// How long the board writes, once every client is connected.
    #[arg(long, default_value_t = 10.0, value_parser = positive)]
    secs: f64,
    /// The longest the clients may take to connect.
    #[arg(long, default_value_t = 60.0, value_parser = positive)]
    connect_secs: f64,
    /// The longest to wait for the last events after the last line.
    #[arg(long, default_value_t = 2.0, value_parser = positive)]
    drain_secs: f64,
    /// Handshakes in flight at once.
    #[arg(long, default_value_t = 256)]
    parallel: usize,
    /// Run the daemon and the floor server alternately and print the
    /// daemon's ratios to the floor.
    #[arg(long)]
    compare_floor: bool,
    /// The floor server [default: esplora-floor beside this tool].
    #[arg(long, value_name = "PATH")]
    floor: Option<PathBuf>,
    /// With --compare-floor: runs of each server per scenario (the medians
    /// are reported).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    runs: u64,
    /// With --compare-floor: a scenario, as SSE+WS@HZxSECS (such as
    /// 250+250@100x8); may be repeated [default: --sse, --ws, --rate-hz
    /// and --secs].
    #[arg(long, value_name = "SCENARIO")]
    scenario: Vec<Scenario>,
}

fn positive(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if value > 0.0 && value.is_finite() => Ok(value),
        _ => Err(format!("expected a positive number, got {text:?}")),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("esplora-load: cannot start the runtime: {error}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("esplora-load: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Makes the run, or the comparison, and prints the report; `Ok(false)`
/// when events were lost or clients failed.
async fn run(args: Args) -> anyhow::Result<bool> {
    let start = Instant::now();
    let files = raise_file_limit()?;
    let scenarios = if args.scenario.is_empty() {
        vec![Scenario {
            sse: args.sse,
            ws: args.ws,
            rate_hz: args.rate_hz,
            secs: args.secs,
            idle: args.idle,
        }]
    } else {
        args.scenario
            .iter()
            .map(|scenario| Scenario {
                idle: args.idle,
                ..scenario.clone()
            })
            .collect()
    };
    for scenario in &scenarios {
        let clients = scenario.clients();
        // Each client is a socket here and one in the daemon, plus a few spare.
        anyhow::ensure!(
            clients + 64 <= files,
            "{clients} clients need more than the file limit of {files}"
        );
    }
    let beside = |name: &str| -> anyhow::Result<PathBuf> {
        Ok(std::env::current_exe()?.with_file_name(name))
    };
    let bridge = match &args.daemon {
        Some(path) => path.clone(),
        None => beside("esplora-bridge")?,
    };
    if !args.compare_floor {
        let scenario = scenarios.first().context("no scenario")?;
        return Ok(run_once(&args, &bridge, Server::Bridge, scenario, start)
            .await?
            .complete);
    }
    let floor = match &args.floor {
        Some(path) => path.clone(),
        None => beside("esplora-floor")?,
    };
    let mut complete = true;
    let mut reports = Vec::new();
    for scenario in &scenarios {
        let mut bridge_runs = Vec::new();
        let mut floor_runs = Vec::new();
        for run in 1..=args.runs {
            println!("== {scenario}: bridge, run {run} of {}", args.runs);
            bridge_runs.push(run_once(&args, &bridge, Server::Bridge, scenario, start).await?);
            println!("== {scenario}: floor, run {run} of {}", args.runs);
            floor_runs.push(run_once(&args, &floor, Server::Floor, scenario, start).await?);
        }
        complete &= bridge_runs.iter().chain(&floor_runs).all(|m| m.complete);
        reports.push(compare::report(scenario, &bridge_runs, &floor_runs));
    }
    println!();
    println!("{}", compare::HEADER);
    for report in reports {
        print!("{report}");
    }
    Ok(complete)
}

/// Which server a run is of.
#[derive(Debug, Clone, Copy)]
enum Server {
    Bridge,
    Floor,
}

/// Starts `binary`, makes one run of `scenario` against it, and stops it.
async fn run_once(
    args: &Args,
    binary: &Path,
    server: Server,
    scenario: &Scenario,
    start: Instant,
) -> anyhow::Result<Measurement> {
    let load_before = load_average();
    println!("load before: {load_before}");
    let (config, fixed) = match server {
        Server::Bridge => (
            Some(ConfigFile::for_clients(scenario.clients())?),
            BRIDGE_ARGS,
        ),
        Server::Floor => (None, FLOOR_ARGS),
    };
    let mut server_args: Vec<&OsStr> = fixed.iter().map(OsStr::new).collect();
    if let Some(config) = &config {
        server_args.extend([OsStr::new("--config"), config.0.as_os_str()]);
    }
    let mut daemon = Daemon::start(binary, &server_args).await?;
    println!("daemon: pid {} on http://{}", daemon.pid, daemon.addr);
    let stdin = daemon.stdin.take().context("the daemon's stdin is piped")?;
    let outcome = tokio::select! {
        outcome = measure(args, scenario, &daemon, stdin, start) => outcome,
        status = daemon.died() => Err(anyhow::anyhow!(daemon.death_report(status))),
    };
    daemon.stop().await;
    let load_after = load_average();
    println!("load after: {load_after}");
    outcome.map(|measurement| Measurement {
        load: format!("{load_before} / {load_after}"),
        ..measurement
    })
}

async fn measure(
    args: &Args,
    scenario: &Scenario,
    daemon: &Daemon,
    stdin: std::process::ChildStdin,
    start: Instant,
) -> anyhow::Result<Measurement> {
    let (bare_rss, _) = daemon.memory_kib()?;
    let mut tasks = JoinSet::new();
    let handshakes = Arc::new(Semaphore::new(args.parallel.max(1)));
    let connect_limit = Duration::from_secs_f64(args.connect_secs);
    let idle = [
        (
            Arc::new(Tally::new(Transport::Sse, start)),
            scenario.idle / 2,
        ),
        (
            Arc::new(Tally::new(Transport::Ws, start)),
            scenario.idle - scenario.idle / 2,
        ),
    ];
    let connecting = Instant::now();
    connect(&idle, daemon.addr, &handshakes, &mut tasks, connect_limit).await;
    let idle_time = connecting.elapsed();
    let (held_rss, _) = daemon.memory_kib()?;
    let idle_ready = ready(&idle);
    if scenario.idle > 0 {
        println!(
            "idle: {idle_ready}/{} clients connected in {:.2} s (failed {}); rss {:.1} MiB; \
             per idle client {:.1} KiB",
            scenario.idle,
            idle_time.as_secs_f64(),
            idle.iter()
                .map(|(tally, _)| tally.failed.load(Ordering::Relaxed))
                .sum::<u64>(),
            held_rss as f64 / 1024.0,
            held_rss.saturating_sub(bare_rss) as f64 / idle_ready.max(1) as f64
        );
    }
    let tallies = [
        (Arc::new(Tally::new(Transport::Sse, start)), scenario.sse),
        (Arc::new(Tally::new(Transport::Ws, start)), scenario.ws),
    ];
    let connecting = Instant::now();
    connect(
        &tallies,
        daemon.addr,
        &handshakes,
        &mut tasks,
        connect_limit,
    )
    .await;
    let connect_time = connecting.elapsed();

    let cpu_before = daemon.cpu_seconds()?;
    let own_cpu_before = own_cpu_seconds()?;
    let window = Instant::now();
    let lines = (scenario.rate_hz * scenario.secs).round() as u64;
    let board = Board {
        rate_hz: scenario.rate_hz,
        lines,
    }
    .start(stdin, start);
    let written = tokio::task::spawn_blocking(move || board.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the board thread panicked"))?;
    let expected = |tally: &Tally| tally.ready.load(Ordering::Relaxed) * written.lines;
    let drained = || {
        tallies
            .iter()
            .all(|(tally, _)| tally.received.load(Ordering::Relaxed) >= expected(tally))
    };
    wait_until(Duration::from_secs_f64(args.drain_secs), drained).await;
    let elapsed = window.elapsed().as_secs_f64();
    let cpu = daemon.cpu_seconds()? - cpu_before;
    let own_cpu = own_cpu_seconds()? - own_cpu_before;
    let (_, peak_rss) = daemon.memory_kib()?;
    tasks.abort_all();
    // Their sockets must be closed before the next run opens as many.
    while tasks.join_next().await.is_some() {}

    anyhow::ensure!(
        written.lines == lines,
        "the daemon stopped reading after {} of {lines} lines",
        written.lines
    );
    let connected = ready(&tallies);
    println!(
        "board: {} lines at {} Hz; {connected} clients connected in {:.2} s",
        written.lines,
        scenario.rate_hz,
        connect_time.as_secs_f64()
    );
    let per_client = if connected > 0 {
        format!(
            "{:.1} KiB",
            peak_rss.saturating_sub(held_rss) as f64 / connected as f64
        )
    } else {
        "-".to_owned()
    };
    println!(
        "daemon: cpu {cpu:.3} s over {elapsed:.2} s ({:.2}% of one core); \
         rss before clients {:.1} MiB, peak {:.1} MiB; per client {per_client}",
        100.0 * cpu / elapsed,
        bare_rss as f64 / 1024.0,
        peak_rss as f64 / 1024.0
    );
    // The clients share the daemon's machine: what they cost is what the
    // daemon could not have.
    println!(
        "clients: cpu {own_cpu:.3} s ({:.2}% of one core)",
        100.0 * own_cpu / elapsed
    );
    let mut measurement = Measurement {
        cpu,
        expected: 0,
        received: 0,
        latency: tally::histogram(),
        peak_rss_kib: peak_rss,
        bare_rss_kib: bare_rss,
        held_rss_kib: held_rss,
        clients: connected,
        idle_clients: idle_ready,
        complete: true,
        load: String::new(),
    };
    for (tally, requested) in &tallies {
        if *requested == 0 {
            continue;
        }
        measurement.complete &= report(tally, *requested, expected(tally), written);
        // Clients that never connected count as not delivered to.
        measurement.expected += requested * written.lines;
        measurement.received += tally.received.load(Ordering::Relaxed);
        // Same bounds on both sides: adding cannot fail.
        let _ = measurement.latency.add(tally.latency());
    }
    // An idle client must be held to the end: one that never connected or
    // was dropped makes the run incomplete.
    for (tally, requested) in &idle {
        let failed = tally.failed.load(Ordering::Relaxed);
        if let Some(error) = tally.first_error() {
            println!(
                "idle {}: {failed} failed; first failure: {error}",
                tally.transport.name()
            );
        }
        measurement.complete &= tally.ready.load(Ordering::Relaxed) == *requested && failed == 0;
    }
    if !measurement.complete {
        println!("{}", daemon.log_tail());
    }
    Ok(measurement)
}

/// Connects each tally's count of clients, `parallel` handshakes at a
/// time, each client a task in `tasks` that runs until the run ends; returns
/// once every one has had its snapshot or failed, or after `limit`.
async fn connect(
    tallies: &[(Arc<Tally>, u64)],
    addr: std::net::SocketAddr,
    handshakes: &Arc<Semaphore>,
    tasks: &mut JoinSet<()>,
    limit: Duration,
) {
    for (tally, count) in tallies {
        for _ in 0..*count {
            let tally = Arc::clone(tally);
            let handshakes = Arc::clone(handshakes);
            tasks.spawn(async move {
                let Ok(permit) = handshakes.acquire_owned().await else {
                    return;
                };
                let ready = {
                    let tally = Arc::clone(&tally);
                    move || {
                        tally.ready.fetch_add(1, Ordering::Relaxed);
                        drop(permit);
                    }
                };
                let ended = match tally.transport {
                    Transport::Sse => sse::client(addr, Arc::clone(&tally), ready).await,
                    Transport::Ws => ws::client(addr, Arc::clone(&tally), ready).await,
                };
                if let Err(error) = ended {
                    tally.fail(format!("{error:#}"));
                }
            });
        }
    }
    let settled = || {
        tallies.iter().all(|(tally, count)| {
            tally.ready.load(Ordering::Relaxed) + tally.failed.load(Ordering::Relaxed) >= *count
        })
    };
    wait_until(limit, settled).await;
}

/// Clients of these tallies that have had their snapshot.
fn ready(tallies: &[(Arc<Tally>, u64)]) -> u64 {
    tallies
        .iter()
        .map(|(tally, _)| tally.ready.load(Ordering::Relaxed))
        .sum()
}

/// Prints one transport's line; whether all its clients connected, stayed,
/// and received every event.
fn report(tally: &Tally, requested: u64, expected: u64, written: Written) -> bool {
    let ready = tally.ready.load(Ordering::Relaxed);
    let received = tally.received.load(Ordering::Relaxed);
    let failed = tally.failed.load(Ordering::Relaxed);
    let latency = tally.latency();
    let ms = |quantile: f64| latency.value_at_quantile(quantile) as f64 / 1000.0;
    println!(
        "{}: clients {ready}/{requested} (failed {failed}); events {received}/{expected} \
         (lost {}, resynced {}); latency ms p50 {:.3} p99 {:.3} p999 {:.3} max {:.3}",
        tally.transport.name(),
        expected.saturating_sub(received),
        tally.resynced.load(Ordering::Relaxed),
        ms(0.5),
        ms(0.99),
        ms(0.999),
        latency.max() as f64 / 1000.0,
    );
    if received < expected {
        println!(
            "{}: lines sent at {}..{} µs; events received of lines sent at {}..{} µs",
            tally.transport.name(),
            written.first_us,
            written.last_us,
            tally.first_sent.load(Ordering::Relaxed),
            tally.last_sent.load(Ordering::Relaxed),
        );
    }
    if let Some(error) = tally.first_error() {
        println!("{}: first failure: {error}", tally.transport.name());
    }
    ready == requested && failed == 0 && received == expected
}

/// Waits until `done`, checking every 10 ms, for at most `limit`.
async fn wait_until(limit: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Raises the soft limit on open files to the hard limit, for this tool
/// and so for the daemon, which inherits it. Returns the new limit.
fn raise_file_limit() -> anyhow::Result<u64> {
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    Ok(hard)
}

/// The CPU time this tool has used (user + system), in seconds.
fn own_cpu_seconds() -> anyhow::Result<f64> {
    let usage = getrusage(UsageWho::RUSAGE_SELF)?;
    let seconds =
        |time: nix::sys::time::TimeVal| time.tv_sec() as f64 + time.tv_usec() as f64 / 1e6;
    Ok(seconds(usage.user_time()) + seconds(usage.system_time()))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}
