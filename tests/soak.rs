//! A bounded soak: the demo board at 1 kHz for `SOAK_SECS` (default 60)
//! while clients connect and leave at random over every transport. The
//! daemon's memory stays within a stated bound, the clients that stay and
//! keep up lose no event, and each one's rebuilt state equals
//! `/api/latest` at the end.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::common::{Daemon, memory_kb};
use rand::{Rng, SeedableRng};
use serde_json::Value;
use tokio::sync::watch;

/// What the daemon's resident memory may grow by between the end of the
/// warm-up and the end of the soak.
const GROWTH_BOUND_KB: u64 = 16 * 1024;

fn soak_time() -> Duration {
    let secs = std::env::var("SOAK_SECS")
        .ok()
        .and_then(|secs| secs.parse().ok())
        .unwrap_or(60);
    Duration::from_secs(secs)
}

/// A client's view of the state, rebuilt from the events it got.
#[derive(Default)]
struct Rebuilt {
    seq: u64,
    values: BTreeMap<String, Value>,
    events: u64,
}

impl Rebuilt {
    /// Applies one event, checking that none was skipped.
    fn apply(&mut self, event: &Value, who: &str) {
        let seq = event["seq"].as_u64().expect("every event has a seq");
        match event["type"].as_str() {
            Some("snapshot") if self.events == 0 => self.values.clear(),
            _ => assert_eq!(seq, self.seq + 1, "{who} missed an event before {event}"),
        }
        if let Some(values) = event["values"].as_object() {
            for (name, value) in values {
                self.values.insert(name.clone(), value.clone());
            }
        }
        self.seq = seq;
        self.events += 1;
    }
}

/// A client that stays for the whole soak, reading every event; once
/// `until` holds a seq, it stops there and gives its state at that seq (it
/// may have read past it by then, so it keeps its recent states).
async fn keeper(daemon: &Daemon, websocket: bool, mut until: watch::Receiver<u64>) -> Rebuilt {
    let who = if websocket {
        "the WebSocket keeper"
    } else {
        "the SSE keeper"
    };
    let mut rebuilt = Rebuilt::default();
    let mut recent = std::collections::VecDeque::new();
    let mut ws = None;
    let mut sse = None;
    if websocket {
        ws = Some(daemon.websocket("/ws").await);
    } else {
        sse = Some(daemon.events(None).await);
    }
    loop {
        let event = match (&mut ws, &mut sse) {
            (Some(ws), _) => ws.next_json().await,
            (_, Some(sse)) => sse.next_event().await.2,
            _ => unreachable!(),
        };
        rebuilt.apply(&event, who);
        recent.push_back((rebuilt.seq, rebuilt.values.clone()));
        if recent.len() > 1000 {
            recent.pop_front();
        }
        let stop = *until.borrow_and_update();
        if stop > 0 && rebuilt.seq >= stop {
            let (_, values) = recent
                .into_iter()
                .find(|(seq, _)| *seq == stop)
                .unwrap_or_else(|| panic!("{who} has no state at seq {stop}"));
            rebuilt.values = values;
            return rebuilt;
        }
    }
}

/// Clients that come and go at random until `done`: SSE and WebSocket
/// streams read for a while, long polls, and plain reads of the state.
async fn churn(base: String, seed: u64, done: watch::Receiver<bool>) -> u64 {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let http = reqwest::Client::new();
    let mut visits = 0;
    while !*done.borrow() {
        let stay = Duration::from_millis(rng.random_range(10..500));
        match rng.random_range(0..4) {
            0 => {
                if let Ok(mut response) = http.get(format!("{base}/events")).send().await {
                    let _ = tokio::time::timeout(stay, async {
                        while let Ok(Some(_)) = response.chunk().await {}
                    })
                    .await;
                }
            }
            1 => {
                let url = format!("{}/ws", base.replacen("http://", "ws://", 1));
                if let Ok((mut ws, _)) = tokio_tungstenite::connect_async(url).await {
                    use futures_util::StreamExt;
                    let _ =
                        tokio::time::timeout(stay, async { while ws.next().await.is_some() {} })
                            .await;
                }
            }
            2 => {
                let since = rng.random_range(0..1000);
                let _ = http
                    .get(format!("{base}/api/poll?since={since}&timeout=1"))
                    .send()
                    .await;
            }
            _ => {
                let _ = http.get(format!("{base}/api/latest")).send().await;
            }
        }
        visits += 1;
    }
    visits
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_1khz_demo_with_clients_coming_and_going_stays_bounded_and_exact() {
    let soak = soak_time();
    let daemon = Daemon::start(&["--input", "demo", "--replay-rate", "1000"]);
    let (stop_at, until) = watch::channel(0);
    let (finished, done) = watch::channel(false);

    let keepers = async {
        tokio::join!(
            keeper(&daemon, false, until.clone()),
            keeper(&daemon, true, until.clone())
        )
    };
    let churners = futures_util::future::join_all(
        (0..6).map(|seed| tokio::spawn(churn(daemon.base.clone(), seed, done.clone()))),
    );
    let timeline = async {
        // Warm-up: allocators and buffers settle before the baseline.
        let warm_up = (soak / 6).min(Duration::from_secs(10));
        tokio::time::sleep(warm_up).await;
        let baseline = memory_kb(daemon.pid(), "VmRSS");
        let lines_before = daemon.metric("esplora_lines_accepted_total").await;
        let started = Instant::now();
        tokio::time::sleep(soak - warm_up).await;
        let lines = daemon.metric("esplora_lines_accepted_total").await - lines_before;
        let rate = lines as f64 / started.elapsed().as_secs_f64();
        finished.send(true).unwrap();
        let latest = daemon.get_json("/api/latest").await;
        stop_at.send(latest["seq"].as_u64().unwrap()).unwrap();
        let end = memory_kb(daemon.pid(), "VmRSS");
        (baseline, end, rate, latest)
    };
    let ((sse, ws), visits, (baseline, end, rate, latest)) =
        tokio::join!(keepers, churners, timeline);
    let visits: u64 = visits.into_iter().map(|visits| visits.unwrap()).sum();
    let peak = memory_kb(daemon.pid(), "VmHWM");
    println!(
        "soak {soak:?}: {rate:.0} lines/s, {visits} client visits, {} events to each keeper; \
         VmRSS {baseline} kB -> {end} kB, VmHWM {peak} kB",
        sse.events
    );

    assert!(
        rate > 500.0,
        "the demo ran at {rate:.0} lines/s, not near 1 kHz"
    );
    assert!(visits > 100, "only {visits} client visits");
    let expected: BTreeMap<String, Value> = latest["values"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    assert_eq!(sse.values, expected, "the SSE keeper's state");
    assert_eq!(ws.values, expected, "the WebSocket keeper's state");
    assert!(
        end.saturating_sub(baseline) < GROWTH_BOUND_KB,
        "resident memory grew by {} kB (bound {GROWTH_BOUND_KB} kB)",
        end - baseline
    );
}
