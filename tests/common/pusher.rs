//! A Pusher-protocol WebSocket subscriber, as a browser running pusher-js
//! would be: it connects, subscribes to a channel, and rebuilds the
//! daemon's state from the relayed events it receives.

use std::time::Instant;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Map, Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::WAIT;

/// The relay's default event name.
pub const EVENT: &str = "reading";

/// The state as rebuilt from relayed events.
#[derive(Debug, Default)]
pub struct Mirror {
    pub values: Map<String, Value>,
    pub board: Option<String>,
    /// Every relayed event, in order of arrival.
    pub events: Vec<Value>,
}

impl Mirror {
    fn apply(&mut self, event: &Value) {
        match event["type"].as_str() {
            Some("snapshot") => {
                self.values = event["values"].as_object().cloned().unwrap_or_default();
                self.board = event["board"].as_str().map(str::to_owned);
            }
            Some("delta") => {
                if let Some(values) = event["values"].as_object() {
                    self.values.extend(values.clone());
                }
            }
            Some("status") => self.board = event["board"].as_str().map(str::to_owned),
            _ => panic!("not an event of the interface: {event}"),
        }
        self.events.push(event.clone());
    }

    /// The `seq` of every event received, in order.
    pub fn seqs(&self) -> Vec<u64> {
        self.events
            .iter()
            .map(|event| event["seq"].as_u64().expect("every event has a seq"))
            .collect()
    }
}

pub struct Subscriber {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub socket_id: String,
    pub mirror: Mirror,
}

impl Subscriber {
    /// Connects and waits for `pusher:connection_established`.
    pub async fn connect(url: &str) -> Subscriber {
        let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .unwrap_or_else(|_| panic!("no WebSocket connection to {url} within {WAIT:?}"))
            .unwrap_or_else(|error| panic!("cannot connect to {url}: {error}"));
        let mut subscriber = Subscriber {
            ws,
            socket_id: String::new(),
            mirror: Mirror::default(),
        };
        let established = subscriber.expect("pusher:connection_established").await;
        subscriber.socket_id = established["socket_id"]
            .as_str()
            .expect("connection_established carries a socket_id")
            .to_owned();
        subscriber
    }

    /// Subscribes to `channel` (with a channel-auth signature for a private
    /// one) and waits until the server confirms.
    pub async fn subscribe(&mut self, channel: &str, auth: Option<&str>) {
        let mut data = json!({ "channel": channel });
        if let Some(auth) = auth {
            data["auth"] = json!(auth);
        }
        self.send(json!({"event": "pusher:subscribe", "data": data}))
            .await;
        self.expect("pusher_internal:subscription_succeeded").await;
    }

    /// The next relayed event, applied to the mirror.
    pub async fn next_event(&mut self) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let (name, data) = self.next_message(deadline, EVENT).await;
            if name == EVENT {
                self.mirror.apply(&data);
                return data;
            }
        }
    }

    /// Receives events until `done` holds for the mirror.
    pub async fn wait_until(&mut self, what: &str, done: impl Fn(&Mirror) -> bool) {
        let deadline = Instant::now() + WAIT;
        while !done(&self.mirror) {
            assert!(
                Instant::now() < deadline,
                "timed out after {WAIT:?} waiting for {what}; the mirror: {:?}",
                self.mirror
            );
            let (name, data) = self.next_message(deadline, what).await;
            if name == EVENT {
                self.mirror.apply(&data);
            }
        }
    }

    async fn expect(&mut self, wanted: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let (name, data) = self.next_message(deadline, wanted).await;
            if name == wanted {
                return data;
            }
            assert!(
                !name.contains("error"),
                "waiting for {wanted}, got {name}: {data}"
            );
        }
    }

    /// The next Pusher message (name and decoded data), answering pings.
    async fn next_message(&mut self, deadline: Instant, what: &str) -> (String, Value) {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let frame = tokio::time::timeout(left, self.ws.next())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "timed out after {WAIT:?} waiting for {what}; the mirror: {:?}",
                        self.mirror
                    )
                });
            let text = match frame {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Close(close))) => {
                    panic!("the server closed the WebSocket: {close:?}")
                }
                Some(Ok(_)) => continue,
                Some(Err(error)) => panic!("the WebSocket failed: {error}"),
                None => panic!("the WebSocket ended"),
            };
            let message: Value = serde_json::from_str(text.as_str())
                .unwrap_or_else(|error| panic!("not JSON ({error}): {text}"));
            let name = message["event"].as_str().unwrap_or_default().to_owned();
            if name == "pusher:ping" {
                self.send(json!({"event": "pusher:pong", "data": {}})).await;
                continue;
            }
            // Pusher sends `data` as a string of JSON.
            let data = match &message["data"] {
                Value::String(text) => {
                    serde_json::from_str(text).unwrap_or(Value::String(text.clone()))
                }
                other => other.clone(),
            };
            return (name, data);
        }
    }

    async fn send(&mut self, message: Value) {
        self.ws
            .send(Message::Text(message.to_string().into()))
            .await
            .expect("the WebSocket should take a message");
    }
}
