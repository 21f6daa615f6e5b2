//! `GET /api/poll` through the real binary: an answer at once when there is
//! news, a wait that wakes the moment news arrives, an empty answer at the
//! timeout, and a 400 for bad parameters.

use std::time::{Duration, Instant};

use crate::common::Daemon;
use serde_json::json;

#[tokio::test]
async fn news_is_answered_at_once() {
    let daemon = Daemon::start_fed(&["--max-rate-hz", "0"]);
    daemon.feed("s:1\ns:2\ns:3\n");
    let seq = daemon.wait_slider(3).await;

    let answer = daemon
        .get_json(&format!("/api/poll?since={}", seq - 2))
        .await;
    let events = answer["events"].as_array().unwrap();
    let got: Vec<_> = events
        .iter()
        .map(|e| (e["seq"].as_u64().unwrap(), e["values"].clone()))
        .collect();
    assert_eq!(
        got,
        [(seq - 1, json!({"slider": 2})), (seq, json!({"slider": 3}))]
    );

    // No since (a new client), or one the daemon never published: a fresh
    // snapshot to start from.
    for query in ["", "?since=999999"] {
        let answer = daemon.get_json(&format!("/api/poll{query}")).await;
        let events = answer["events"].as_array().unwrap();
        assert_eq!(events.len(), 1, "{query}: {answer}");
        assert_eq!(events[0]["type"], "snapshot");
        assert_eq!(events[0]["seq"], seq);
        assert_eq!(events[0]["values"], json!({"slider": 3}));
    }
}

#[tokio::test]
async fn a_waiting_poll_wakes_when_news_arrives() {
    let daemon = Daemon::start_fed(&["--max-rate-hz", "0"]);
    daemon.feed("s:1\n");
    let seq = daemon.wait_slider(1).await;

    let url = daemon.url(&format!("/api/poll?since={seq}&timeout=60"));
    let http = daemon.http.clone();
    let poll = tokio::spawn(async move {
        http.get(url)
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()
    });
    daemon
        .wait_metric("esplora_http_clients{transport=\"poll\"}", 1)
        .await;
    assert!(
        !poll.is_finished(),
        "the poll should wait while there is no news"
    );

    daemon.feed("s:2\n");
    let answer = tokio::time::timeout(crate::common::WAIT, poll)
        .await
        .expect("the poll should wake")
        .unwrap();
    let events = answer["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{answer}");
    assert_eq!(events[0]["seq"], seq + 1);
    assert_eq!(events[0]["values"], json!({"slider": 2}));
    daemon
        .wait_metric("esplora_http_clients{transport=\"poll\"}", 0)
        .await;
}

#[tokio::test]
async fn a_poll_with_no_news_ends_empty_at_its_timeout() {
    let daemon = Daemon::start_fed(&["--max-rate-hz", "0"]);
    daemon.feed("s:1\n");
    let seq = daemon.wait_slider(1).await;

    let started = Instant::now();
    let answer = daemon
        .get_json(&format!("/api/poll?since={seq}&timeout=1"))
        .await;
    assert_eq!(answer, json!({"events": []}));
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "answered before its timeout"
    );
}

#[tokio::test]
async fn bad_parameters_are_a_400_that_names_them() {
    let daemon = Daemon::start_fed(&[]);
    for (query, expected) in [
        ("since=abc", "since must be a whole number"),
        ("since=-1", "since must be a whole number"),
        ("since=1&timeout=61", "timeout must be 0 to 60 seconds"),
        ("since=1&timeout=1.5", "timeout must be a whole number"),
        ("since=%ZZ", "bad query"),
    ] {
        let response = daemon
            .http
            .get(daemon.url(&format!("/api/poll?{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{query}");
        let text = response.text().await.unwrap();
        assert!(text.contains(expected), "{query}: {text}");
    }
    // Parameters it does not know (a cache buster) are not an error.
    let answer = daemon.get_json("/api/poll?_=12345&timeout=0").await;
    assert!(answer["events"].is_array());
}
