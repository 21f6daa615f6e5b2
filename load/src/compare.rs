//! The daemon against the floor: scenarios, one run's figures, and the
//! comparison table.
//!
//! Each figure is the median over a server's runs of one scenario, taken
//! figure by figure. The ratios are the daemon's figure over the floor's,
//! both from the same invocation, so a machine that is slower this hour
//! moves both: the ratio is the number that counts (BENCHMARKS.md).

use std::fmt::{self, Write as _};
use std::str::FromStr;

use hdrhistogram::Histogram;

/// The table's head, in Markdown.
pub const HEADER: &str = "| scenario | server | CPU | CPU per event | p50 | p99 | delivered | peak RSS | per client | per idle client |\n\
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |";

/// Clients and the board's rate and length: SSE+WS@HZxSECS, and the idle
/// clients held besides (`--idle`, the same for every scenario).
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub sse: u64,
    pub ws: u64,
    pub rate_hz: f64,
    pub secs: f64,
    /// Idle clients, half SSE and half WebSocket: connected before the
    /// measured ones, and left out of every figure but memory.
    pub idle: u64,
}

impl Scenario {
    /// Every client the server holds at once.
    pub fn clients(&self) -> u64 {
        self.sse + self.ws + self.idle
    }
}

impl FromStr for Scenario {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || format!("expected SSE+WS@HZxSECS such as 250+250@100x8, got {text:?}");
        let (clients, board) = text.split_once('@').ok_or_else(bad)?;
        let (sse, ws) = clients.split_once('+').ok_or_else(bad)?;
        let (rate_hz, secs) = board.split_once('x').ok_or_else(bad)?;
        let scenario = Scenario {
            sse: sse.trim().parse().map_err(|_| bad())?,
            ws: ws.trim().parse().map_err(|_| bad())?,
            rate_hz: rate_hz.trim().parse().map_err(|_| bad())?,
            secs: secs.trim().parse().map_err(|_| bad())?,
            idle: 0,
        };
        let positive = |value: f64| value > 0.0 && value.is_finite();
        if positive(scenario.rate_hz) && positive(scenario.secs) {
            Ok(scenario)
        } else {
            Err(bad())
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} SSE + {} WS, {} Hz, {} s",
            self.sse, self.ws, self.rate_hz, self.secs
        )?;
        if self.idle > 0 {
            write!(f, ", {} idle", self.idle)?;
        }
        Ok(())
    }
}

/// What one run of one server measured.
pub struct Measurement {
    /// The server's CPU time (user + system) while the board wrote, in s.
    pub cpu: f64,
    /// Events every client asked for should have had, and those had.
    pub expected: u64,
    pub received: u64,
    /// Both transports' latencies, in µs.
    pub latency: Histogram<u64>,
    pub peak_rss_kib: u64,
    /// Before any client connected.
    pub bare_rss_kib: u64,
    /// Once the idle clients had connected, before the measured ones.
    pub held_rss_kib: u64,
    /// Measured clients connected.
    pub clients: u64,
    /// Idle clients connected.
    pub idle_clients: u64,
    /// Every client connected and received every event.
    pub complete: bool,
    /// The load average before and after the run.
    pub load: String,
}

/// The medians of one server's runs.
struct Figures {
    cpu: f64,
    cpu_per_event_us: f64,
    p50_ms: f64,
    p99_ms: f64,
    delivered: f64,
    peak_rss_mib: f64,
    per_client_kib: f64,
    /// NaN without idle clients.
    per_idle_client_kib: f64,
}

impl Figures {
    fn of(runs: &[Measurement]) -> Figures {
        let each = |figure: &dyn Fn(&Measurement) -> f64| median(runs.iter().map(figure).collect());
        let ms = |quantile: f64| {
            move |run: &Measurement| run.latency.value_at_quantile(quantile) as f64 / 1000.0
        };
        Figures {
            cpu: each(&|run| run.cpu),
            cpu_per_event_us: each(&|run| 1e6 * run.cpu / run.received.max(1) as f64),
            p50_ms: each(&ms(0.5)),
            p99_ms: each(&ms(0.99)),
            delivered: each(&|run| 100.0 * run.received as f64 / run.expected.max(1) as f64),
            peak_rss_mib: each(&|run| run.peak_rss_kib as f64 / 1024.0),
            per_client_kib: each(&|run| {
                run.peak_rss_kib.saturating_sub(run.held_rss_kib) as f64 / run.clients.max(1) as f64
            }),
            per_idle_client_kib: each(&|run| match run.idle_clients {
                0 => f64::NAN,
                idle => run.held_rss_kib.saturating_sub(run.bare_rss_kib) as f64 / idle as f64,
            }),
        }
    }
}

/// `value` to one decimal followed by `unit`, or `-` when there is none
/// (NaN).
fn shown(value: f64, unit: &str) -> String {
    if value.is_nan() {
        "-".to_owned()
    } else {
        format!("{value:.1}{unit}")
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// The scenario's three rows (bridge, floor, ratio) and a line with each
/// run's load, in Markdown.
pub fn report(scenario: &Scenario, bridge: &[Measurement], floor: &[Measurement]) -> String {
    let (b, f) = (Figures::of(bridge), Figures::of(floor));
    let row = |name: &str, x: &Figures| {
        format!(
            "| | {name} | {:.2} s | {:.2} µs | {:.1} ms | {:.1} ms | {:.2}% | {:.1} MiB | {:.1} KiB | {} |\n",
            x.cpu,
            x.cpu_per_event_us,
            x.p50_ms,
            x.p99_ms,
            x.delivered,
            x.peak_rss_mib,
            x.per_client_kib,
            shown(x.per_idle_client_kib, " KiB")
        )
    };
    let ratio = |a: f64, b: f64| a / b;
    let mut text = format!(
        "| {scenario} (median of {}) | | | | | | | | | |\n",
        bridge.len()
    );
    text.push_str(&row("bridge", &b));
    text.push_str(&row("floor", &f));
    let _ = writeln!(
        text,
        "| | **bridge / floor** | {:.2}× | **{:.2}×** | {:.2}× | **{:.2}×** | | {:.1}× | {:.1}× | {} |",
        ratio(b.cpu, f.cpu),
        ratio(b.cpu_per_event_us, f.cpu_per_event_us),
        ratio(b.p50_ms, f.p50_ms),
        ratio(b.p99_ms, f.p99_ms),
        ratio(b.peak_rss_mib, f.peak_rss_mib),
        ratio(b.per_client_kib, f.per_client_kib),
        shown(ratio(b.per_idle_client_kib, f.per_idle_client_kib), "×"),
    );
    let loads = |runs: &[Measurement]| {
        runs.iter()
            .map(|run| run.load.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    };
    let _ = writeln!(
        text,
        "| | load (1/5/15 min, before / after) | bridge: {} | floor: {} | | | | | | |",
        loads(bridge),
        loads(floor)
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scenario_reads_and_prints() {
        let scenario: Scenario = "250+250@100x8".parse().unwrap();
        assert_eq!(
            scenario,
            Scenario {
                sse: 250,
                ws: 250,
                rate_hz: 100.0,
                secs: 8.0,
                idle: 0,
            }
        );
        assert_eq!(scenario.to_string(), "250 SSE + 250 WS, 100 Hz, 8 s");
        let held = Scenario {
            idle: 50_000,
            ..scenario
        };
        assert_eq!(
            held.to_string(),
            "250 SSE + 250 WS, 100 Hz, 8 s, 50000 idle"
        );
        assert_eq!(held.clients(), 50_500);
        assert!("250+250@0x8".parse::<Scenario>().is_err());
        assert!("250@100x8".parse::<Scenario>().is_err());
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
