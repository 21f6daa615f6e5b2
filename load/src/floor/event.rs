//! The events: board lines diffed and encoded once per transport.
//!
//! A line is `k:v` fields separated by commas (the load tool's board).
//! Each field that changed since the last line goes into a delta, under
//! the bridge's names (`u` is `user`, which carries the load tool's send
//! time); `n`, the board's sequence number, is not published. The JSON is
//! then framed once for each transport: as an SSE event with its `id:`
//! line inside one HTTP/1.1 chunk, and as one unmasked WebSocket text
//! frame. Every client of a transport is sent those very bytes.
//!
//! The [`Publisher`] keeps the state, numbers the events, and hands each to
//! every worker in order, under one lock, so that a snapshot taken under
//! that lock and the events that follow it agree on where it starts.

use std::fmt::Write as _;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use mio::Waker;

/// One event, as the bytes each transport sends.
#[derive(Debug)]
pub struct Encoded {
    pub seq: u64,
    /// An HTTP/1.1 chunk holding `id:`, `event:` and `data:` lines.
    pub sse: Vec<u8>,
    /// One unmasked WebSocket text frame.
    pub ws: Vec<u8>,
}

impl Encoded {
    fn new(seq: u64, kind: &str, json: &str) -> Encoded {
        let event = format!("id: {seq}\nevent: {kind}\ndata: {json}\n\n");
        let mut sse = format!("{:x}\r\n", event.len()).into_bytes();
        sse.extend_from_slice(event.as_bytes());
        sse.extend_from_slice(b"\r\n");
        Encoded {
            seq,
            sse,
            ws: ws_text_frame(json.as_bytes()),
        }
    }
}

/// A WebSocket text frame from the server: FIN, opcode 1, no mask.
pub fn ws_text_frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(payload.len() + 10);
    frame.push(0x81);
    match u16::try_from(payload.len()) {
        Ok(len) if len < 126 => frame.push(len as u8),
        Ok(len) => {
            frame.push(126);
            frame.extend_from_slice(&len.to_be_bytes());
        }
        Err(_) => {
            frame.push(127);
            frame.extend_from_slice(&(payload.len() as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(payload);
    frame
}

/// The bridge's name for a board key.
fn name(key: &str) -> &str {
    match key {
        "s" => "slider",
        "x" => "accel_x",
        "y" => "accel_y",
        "z" => "accel_z",
        "j" => "joystick_x",
        "k" => "joystick_y",
        "l" => "light",
        "m" => "microphone",
        "t" => "temperature",
        "u" => "user",
        "b" => "buttons",
        other => other,
    }
}

/// Where the workers are, to hand them each event.
struct Subscriber {
    events: Sender<Arc<Encoded>>,
    waker: Arc<Waker>,
}

#[derive(Default)]
struct State {
    seq: u64,
    /// Each field's name and its value's text, in the order first seen.
    values: Vec<(String, String)>,
    /// The snapshot of the current state, made when a client first asks.
    snapshot: Option<Arc<Encoded>>,
    subscribers: Vec<Subscriber>,
}

/// The state and the event numbering, shared by the stdin reader and the
/// workers.
#[derive(Default)]
pub struct Publisher {
    state: Mutex<State>,
}

impl Publisher {
    /// Adds a worker: it is sent every event from now on.
    pub fn add(&self, events: Sender<Arc<Encoded>>, waker: Arc<Waker>) {
        self.lock().subscribers.push(Subscriber { events, waker });
    }

    /// Takes one board line; publishes a delta if any field changed.
    pub fn line(&self, line: &[u8]) {
        let Ok(line) = std::str::from_utf8(line) else {
            return;
        };
        let mut state = self.lock();
        let mut changed = String::new();
        for field in line.trim_end().split(',') {
            let Some((key, value)) = field.split_once(':') else {
                continue;
            };
            if key == "n" || value.parse::<i64>().is_err() {
                continue;
            }
            let name = name(key);
            match state.values.iter_mut().find(|(known, _)| known == name) {
                Some((_, old)) if old == value => continue,
                Some((_, old)) => value.clone_into(old),
                None => state.values.push((name.to_owned(), value.to_owned())),
            }
            let comma = if changed.is_empty() { "" } else { "," };
            let _ = write!(changed, "{comma}\"{name}\":{value}");
        }
        if changed.is_empty() {
            return;
        }
        state.seq += 1;
        state.snapshot = None;
        let json = format!(
            r#"{{"type":"delta","seq":{},"ts_ms":{},"values":{{{changed}}}}}"#,
            state.seq,
            now_ms()
        );
        let event = Arc::new(Encoded::new(state.seq, "delta", &json));
        for subscriber in &state.subscribers {
            if subscriber.events.send(Arc::clone(&event)).is_ok() {
                let _ = subscriber.waker.wake();
            }
        }
    }

    /// The snapshot of the state as of the latest event.
    pub fn snapshot(&self) -> Arc<Encoded> {
        let mut state = self.lock();
        if let Some(snapshot) = &state.snapshot {
            return Arc::clone(snapshot);
        }
        let mut values = String::new();
        for (name, value) in &state.values {
            let comma = if values.is_empty() { "" } else { "," };
            let _ = write!(values, "{comma}\"{name}\":{value}");
        }
        let json = format!(
            r#"{{"type":"snapshot","seq":{},"ts_ms":{},"board":"connected","values":{{{values}}}}}"#,
            state.seq,
            now_ms()
        );
        let snapshot = Arc::new(Encoded::new(state.seq, "snapshot", &json));
        state.snapshot = Some(Arc::clone(&snapshot));
        snapshot
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_their_length() {
        assert_eq!(ws_text_frame(b"hi"), b"\x81\x02hi");
        let long = ws_text_frame(&[b'a'; 300]);
        assert_eq!(&long[..4], &[0x81, 126, 1, 44]);
        assert_eq!(long.len(), 304);
    }

    #[test]
    fn an_sse_event_is_one_chunk_with_its_id() {
        let event = Encoded::new(7, "delta", "{}");
        let text = String::from_utf8(event.sse).unwrap();
        assert_eq!(text, "1d\r\nid: 7\nevent: delta\ndata: {}\n\n\r\n");
    }

    #[test]
    fn only_changed_fields_make_a_delta() {
        let publisher = Publisher::default();
        publisher.line(b"s:1,u:5,n:0");
        publisher.line(b"s:1,u:6,n:1");
        publisher.line(b"s:1,u:6,n:2");
        let snapshot = publisher.snapshot();
        assert_eq!(snapshot.seq, 2);
        let ws = String::from_utf8_lossy(&snapshot.ws);
        assert!(ws.contains(r#""values":{"slider":1,"user":6}"#), "{ws}");
    }
}
