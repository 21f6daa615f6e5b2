//! What each transport's clients received: counts, and latency histograms.
//!
//! Thousands of client tasks record at once, so nothing here is locked per
//! event or shared per client: counts are atomics, and each worker thread
//! records latencies into its own histogram (one per transport, made on
//! first use and locked only by that thread until the end), which
//! [`Tally::latency`] merges. A client records a whole read's events at a
//! time.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use hdrhistogram::Histogram;

/// Latencies are recorded in µs up to a minute, to 3 significant digits.
const MAX_LATENCY_US: u64 = 60_000_000;

/// The transports, as indexes into each thread's histograms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Sse = 0,
    Ws = 1,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Transport::Sse => "sse",
            Transport::Ws => "ws",
        }
    }
}

type Shared = Arc<Mutex<Histogram<u64>>>;

thread_local! {
    /// This thread's histogram for each transport, with the id of the tally
    /// it belongs to: a later run's tally on the same thread makes its own.
    static LOCAL: RefCell<[Option<(u64, Shared)>; 2]> = const { RefCell::new([None, None]) };
}

/// Numbers the tallies, one per transport per run.
static TALLIES: AtomicU64 = AtomicU64::new(0);

/// One transport's results, shared by its clients.
pub struct Tally {
    id: u64,
    pub transport: Transport,
    /// The tool's clock: send times in `u:` are µs since this instant.
    start: Instant,
    /// Clients that have had their first snapshot.
    pub ready: AtomicU64,
    /// Deltas received that carry a send time, over all clients.
    pub received: AtomicU64,
    /// The earliest and the latest send time received, to tell which
    /// events a loss was of.
    pub first_sent: AtomicU64,
    pub last_sent: AtomicU64,
    /// Snapshots after the first: the daemon resynced a client that lagged.
    pub resynced: AtomicU64,
    /// Clients whose connection failed or ended before the run did.
    pub failed: AtomicU64,
    first_error: Mutex<Option<String>>,
    histograms: Mutex<Vec<Shared>>,
}

impl Tally {
    pub fn new(transport: Transport, start: Instant) -> Tally {
        Tally {
            id: TALLIES.fetch_add(1, Ordering::Relaxed),
            transport,
            start,
            ready: AtomicU64::new(0),
            received: AtomicU64::new(0),
            first_sent: AtomicU64::new(u64::MAX),
            last_sent: AtomicU64::new(0),
            resynced: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            first_error: Mutex::new(None),
            histograms: Mutex::new(Vec::new()),
        }
    }

    /// µs since the tool started: what a line's `u:` carries.
    pub fn now_us(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// Records deltas sent at `sent_us`, all received at `now_us`.
    pub fn record(&self, now_us: u64, sent_us: &[u64]) {
        if sent_us.is_empty() {
            return;
        }
        self.received
            .fetch_add(sent_us.len() as u64, Ordering::Relaxed);
        let (first, last) = sent_us.iter().fold((u64::MAX, 0), |(lo, hi), &sent| {
            (lo.min(sent), hi.max(sent))
        });
        self.first_sent.fetch_min(first, Ordering::Relaxed);
        self.last_sent.fetch_max(last, Ordering::Relaxed);
        let histogram = LOCAL.with(|local| {
            let mut local = local.borrow_mut();
            let slot = &mut local[self.transport as usize];
            match slot {
                Some((id, histogram)) if *id == self.id => Arc::clone(histogram),
                _ => {
                    let histogram = Arc::new(Mutex::new(histogram()));
                    self.lock_histograms().push(Arc::clone(&histogram));
                    *slot = Some((self.id, Arc::clone(&histogram)));
                    histogram
                }
            }
        });
        let mut histogram = histogram.lock().unwrap_or_else(PoisonError::into_inner);
        for &sent in sent_us {
            histogram.saturating_record(now_us.saturating_sub(sent).max(1));
        }
    }

    /// Counts a client that failed, keeping the first reason for the report.
    pub fn fail(&self, error: impl std::fmt::Display) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let mut first = self
            .first_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if first.is_none() {
            *first = Some(error.to_string());
        }
    }

    pub fn first_error(&self) -> Option<String> {
        self.first_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Every thread's latencies, merged.
    pub fn latency(&self) -> Histogram<u64> {
        let mut merged = histogram();
        for histogram in self.lock_histograms().iter() {
            let histogram = histogram.lock().unwrap_or_else(PoisonError::into_inner);
            // Same bounds on both sides: adding cannot fail.
            let _ = merged.add(&*histogram);
        }
        merged
    }

    fn lock_histograms(&self) -> std::sync::MutexGuard<'_, Vec<Shared>> {
        self.histograms
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// An empty latency histogram, in µs.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
        .unwrap_or_else(|error| panic!("histogram bounds: {error}"))
}

/// The send time a delta's JSON carries in its `user` field (the line's
/// `u:`), if it has one.
///
/// A full JSON parse per event per client would cost the tool more than the
/// daemon spends sending it; the hub's JSON is compact and `"user":` can
/// only be the key of that field, so a search and an integer parse suffice.
pub fn send_time(json: &[u8]) -> Option<u64> {
    const KEY: &[u8] = b"\"user\":";
    let at = memchr::memmem::find(json, KEY)? + KEY.len();
    let digits = json[at..]
        .iter()
        .take_while(|byte| byte.is_ascii_digit())
        .count();
    std::str::from_utf8(&json[at..at + digits])
        .ok()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_send_time_is_found_in_a_delta() {
        let delta = br#"{"type":"delta","seq":7,"ts_ms":1,"values":{"accel_x":-3,"user":1234567}}"#;
        assert_eq!(send_time(delta), Some(1_234_567));
        assert_eq!(send_time(br#"{"values":{"superuser":5}}"#), None);
        assert_eq!(send_time(br#"{"values":{"user":-1}}"#), None);
    }

    #[test]
    fn latencies_from_every_thread_are_merged() {
        let tally = Arc::new(Tally::new(Transport::Ws, Instant::now()));
        let threads: Vec<_> = (0..3u64)
            .map(|i| {
                let tally = Arc::clone(&tally);
                std::thread::spawn(move || tally.record(1000 * (i + 2), &[1000, 1000]))
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let latency = tally.latency();
        assert_eq!(latency.len(), 6);
        assert_eq!(tally.received.load(Ordering::Relaxed), 6);
        assert!(latency.equivalent(latency.max(), 3000));
        assert!(latency.equivalent(latency.min(), 1000));
    }

    #[test]
    fn a_later_tally_on_the_same_thread_keeps_its_own_latencies() {
        let first = Tally::new(Transport::Sse, Instant::now());
        first.record(2000, &[1000]);
        let second = Tally::new(Transport::Sse, Instant::now());
        second.record(5000, &[1000]);
        assert_eq!(first.latency().len(), 1);
        assert_eq!(second.latency().len(), 1);
        assert!(second.latency().equivalent(second.latency().max(), 4000));
    }
}
