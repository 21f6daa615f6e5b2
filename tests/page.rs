//! The live page in real headless Chromium, driven over WebDriver through
//! Debian's chromedriver, which the test starts on a free port and stops:
//! the page shows the current values and they advance as lines arrive, the
//! buttons light up, the charts are drawn, the connection state follows the
//! board and the daemon, and the page reconnects by itself when the daemon
//! comes back.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use crate::common::{Daemon, WAIT, tool};
use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::{Value, json};

/// A chromedriver on a port it picked itself. It runs in a process group
/// of its own, which the browsers it starts join, so that dropping it
/// stops them all even when a failed test never closed its session.
struct Chromedriver {
    child: Child,
    url: String,
}

impl Chromedriver {
    fn start() -> Chromedriver {
        tool("chromium", "apt-get install chromium");
        let mut child = Command::new(tool("chromedriver", "apt-get install chromium-driver"))
            .arg("--port=0")
            .process_group(0)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver should start");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(port) = line
                    .split("started successfully on port ")
                    .nth(1)
                    .and_then(|rest| rest.trim_end_matches('.').parse::<u16>().ok())
                {
                    let _ = tx.send(port);
                }
            }
        });
        let port = match rx.recv_timeout(WAIT) {
            Ok(port) => port,
            Err(_) => {
                let _ = child.kill();
                panic!("chromedriver did not say its port within {WAIT:?}");
            }
        };
        Chromedriver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    async fn browser(&self, profile: &std::path::Path) -> Client {
        self.browser_with(profile, &[]).await
    }

    /// As [`Chromedriver::browser`], with more command-line switches.
    async fn browser_with(&self, profile: &std::path::Path, switches: &[&str]) -> Client {
        let mut args = vec![
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--window-size=1280,900",
        ];
        args.extend_from_slice(switches);
        let profile = format!("--user-data-dir={}", profile.display());
        args.push(&profile);
        let options = json!({ "args": args });
        let capabilities = serde_json::Map::from_iter([("goog:chromeOptions".to_owned(), options)]);
        ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("chromedriver should start a headless Chromium")
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        if let Ok(group) = i32::try_from(self.child.id()) {
            let _ = killpg(Pid::from_raw(group), Signal::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

/// What the page shows, read in one go: the numbers by field, the lit
/// buttons, the connection state and its text.
async fn shown(browser: &Client) -> Value {
    browser
        .execute(
            r#"
            const numbers = {};
            for (const el of document.querySelectorAll('[id^="value-"]')) {
              numbers[el.id.slice(6)] = el.textContent;
            }
            return {
              numbers,
              lit: [...document.querySelectorAll('[data-button].lit')].map(el => el.dataset.button).sort(),
              connection: document.body.dataset.connection,
              text: document.getElementById('connection-text').textContent,
            };
            "#,
            vec![],
        )
        .await
        .expect("the page's state should be readable")
}

/// Waits until the page shows what `check` wants.
async fn wait_page(browser: &Client, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let state = shown(browser).await;
        if check(&state) {
            return state;
        }
        assert!(
            Instant::now() < deadline,
            "the page never showed {what}; it shows {state}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn free_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

#[tokio::test]
async fn the_page_follows_the_board_live() {
    let listen = free_address();
    let args = ["--listen", &listen, "--max-rate-hz", "0"];
    let daemon = Daemon::start_fed(&args);
    daemon.feed("s:100,x:3,j:0,k:0,l:600,t:22,b:0\n");
    daemon.wait_slider(100).await;

    let driver = Chromedriver::start();
    let profile = tempfile::tempdir().unwrap();
    let browser = driver.browser(profile.path()).await;
    browser.goto(&daemon.base).await.unwrap();
    assert_eq!(browser.title().await.unwrap(), "Esplora · live");

    let state = wait_page(&browser, "the current values", |s| {
        s["numbers"]["slider"] == "100"
    })
    .await;
    assert_eq!(state["numbers"]["light"], "600");
    assert_eq!(state["numbers"]["accel_x"], "3");
    assert_eq!(state["numbers"]["temperature"], "22");
    assert_eq!(
        (state["connection"].as_str(), state["text"].as_str()),
        (Some("live"), Some("Live"))
    );
    assert_eq!(state["lit"], json!([]));

    // New lines move the numbers, and light the buttons they press
    // (5 = bit 0, down, and bit 2, up).
    daemon.feed("s:200,l:610,b:5\n");
    let state = wait_page(&browser, "the slider at 200", |s| {
        s["numbers"]["slider"] == "200"
    })
    .await;
    assert_eq!(state["numbers"]["light"], "610");
    assert_eq!(state["numbers"]["buttons"], "5");
    assert_eq!(state["lit"], json!(["0", "2"]));
    daemon.feed("s:300,b:16\n");
    let state = wait_page(&browser, "the slider at 300", |s| {
        s["numbers"]["slider"] == "300"
    })
    .await;
    assert_eq!(state["lit"], json!(["4"]), "the joystick's push switch");

    // The slider's chart is drawn on the next animation frames.
    let deadline = Instant::now() + WAIT;
    loop {
        let inked = browser
            .execute(
                r#"
                const canvas = document.querySelector('[data-field="slider"] canvas');
                const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
                let inked = 0;
                for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) inked++;
                return inked;
                "#,
                vec![],
            )
            .await
            .unwrap();
        if inked.as_u64().unwrap() > 100 {
            break;
        }
        assert!(Instant::now() < deadline, "the slider chart stayed blank");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // The capture ends: the board is gone, the last values stay.
    daemon.end_input();
    let state = wait_page(&browser, "the board disconnected", |s| {
        s["connection"] == "board-disconnected"
    })
    .await;
    assert_eq!(state["text"], "Board disconnected");
    assert_eq!(state["numbers"]["slider"], "300");

    // The daemon goes away, and comes back: the page reconnects by itself.
    drop(daemon);
    let state = wait_page(&browser, "reconnecting", |s| {
        s["connection"] == "reconnecting"
    })
    .await;
    assert_eq!(state["text"], "Reconnecting…");
    let daemon = Daemon::start_fed(&args);
    daemon.feed("s:400\n");
    let state = wait_page(&browser, "live values from the new daemon", |s| {
        s["numbers"]["slider"] == "400" && s["connection"] == "live"
    })
    .await;
    assert_eq!(state["text"], "Live");

    browser.close().await.unwrap();
}

/// With `[http] token`, the page opened as `/?token=TOKEN` loads its script
/// and follows `/events` (by the cookie that answer sets); without the
/// token it gets nothing.
#[tokio::test]
async fn the_page_works_with_a_token() {
    const TOKEN: &str = "page-token-0123456789";
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bridge.toml");
    std::fs::write(&config, format!("[http]\ntoken = \"{TOKEN}\"\n")).unwrap();
    let daemon = Daemon::start_fed(&["--config", config.to_str().unwrap(), "--max-rate-hz", "0"])
        .authorized(TOKEN);
    daemon.feed("s:100,l:600\n");
    daemon.wait_slider(100).await;

    let driver = Chromedriver::start();
    let profile = tempfile::tempdir().unwrap();
    let browser = driver.browser(profile.path()).await;
    browser.goto(&daemon.base).await.unwrap();
    let refused = browser.source().await.unwrap();
    assert!(refused.contains("a token is needed"), "{refused}");

    browser
        .goto(&format!("{}/?token={TOKEN}", daemon.base))
        .await
        .unwrap();
    assert_eq!(browser.title().await.unwrap(), "Esplora · live");
    wait_page(&browser, "the current values", |s| {
        s["numbers"]["slider"] == "100" && s["connection"] == "live"
    })
    .await;
    daemon.feed("s:200\n");
    wait_page(&browser, "the slider at 200", |s| {
        s["numbers"]["slider"] == "200"
    })
    .await;
    browser.close().await.unwrap();
}

/// The page works at `http://localhost:PORT/` as at `127.0.0.1`; under a
/// name made to resolve to 127.0.0.1 (DNS rebinding, simulated with
/// Chromium's resolver rules) it gets nothing, and neither does a
/// WebSocket opened from that page.
#[tokio::test]
async fn the_page_works_at_localhost_and_not_under_a_rebound_name() {
    let daemon = Daemon::start_fed(&["--max-rate-hz", "0"]);
    daemon.feed("s:100,l:600\n");
    daemon.wait_slider(100).await;
    let port = daemon.base.rsplit(':').next().unwrap().to_owned();

    let driver = Chromedriver::start();
    let profile = tempfile::tempdir().unwrap();
    let browser = driver
        .browser_with(
            profile.path(),
            &["--host-resolver-rules=MAP evil.example 127.0.0.1"],
        )
        .await;
    browser
        .goto(&format!("http://localhost:{port}/"))
        .await
        .unwrap();
    assert_eq!(browser.title().await.unwrap(), "Esplora · live");
    wait_page(&browser, "live values at localhost", |s| {
        s["numbers"]["slider"] == "100" && s["connection"] == "live"
    })
    .await;

    browser
        .goto(&format!("http://evil.example:{port}/"))
        .await
        .unwrap();
    let refused = browser.source().await.unwrap();
    assert!(
        refused.contains("does not answer for that Host"),
        "{refused}"
    );
    // The rebound page's own script: every read is refused.
    let reads = browser
        .execute_async(
            r#"
            const done = arguments[arguments.length - 1];
            (async () => {
              const latest = await fetch('/api/latest').then(r => r.status, () => 'failed');
              const ws = await new Promise(resolve => {
                const socket = new WebSocket(`ws://${location.host}/ws`);
                socket.onopen = () => resolve('open');
                socket.onerror = () => resolve('refused');
              });
              done({latest, ws});
            })();
            "#,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(reads, json!({"latest": 421, "ws": "refused"}));
    browser.close().await.unwrap();
}
