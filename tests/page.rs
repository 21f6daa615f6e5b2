//! The live page in real headless Chromium, driven over WebDriver through
//! Debian's chromedriver, which the test starts on a free port and stops:
//! the page shows the current values and they advance as lines arrive, the
//! buttons light up, the charts are drawn, the connection state follows the
//! board and the daemon, and the page reconnects by itself when the daemon
//! comes back. It lays itself out from the data: a card per field, in the
//! board's order, named in any script and never read as HTML, a card for
//! a field that appears mid-stream, and the Esplora's joystick and
//! switches only for a board that sends them. Its controls work: windows
//! from 1 min to 7 d, pause, auto or fixed ranges, the overlay chart,
//! hidden series, the crosshair, and the board's LED and tone.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use crate::common::pty::Port;
use crate::common::{Daemon, WAIT, tool};
use fantoccini::actions::{InputSource, MouseActions, PointerAction};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

/// How long a chromedriver may take to start. Longer than [`WAIT`]: the
/// page tests run side by side, beside the other tests, on two cores.
const START: Duration = Duration::from_secs(60);

/// How many headless Chromiums may start at once, each waiting its turn
/// at most [`START`]. Their start is the heavy part of a page test: 15 at
/// once on two cores under load took 7 to 11 s each, of the 60 s
/// chromedriver gives a browser; two at a time, 3 to 6 s, and the 15 tests
/// were done no later. With as many test threads as cores it never waits.
static STARTING: Semaphore = Semaphore::const_new(2);

/// A chromedriver on a port it picked itself. It runs in a process group
/// of its own, which the browsers it starts join, so that dropping it
/// stops them all even when a failed test never closed its session.
struct Chromedriver {
    child: Child,
    url: String,
}

impl Chromedriver {
    /// Starts a chromedriver, and once more if it exits without serving:
    /// it listens on `[::1]` at a port the kernel picks, then on `127.0.0.1`
    /// at the same port, and exits when that one is taken there (by a
    /// daemon of another test, say), which a second pick all but never is.
    fn start() -> Chromedriver {
        tool("chromium", "apt-get install chromium");
        let chromedriver = tool("chromedriver", "apt-get install chromium-driver");
        Chromedriver::spawn(&chromedriver).unwrap_or_else(|first| {
            let second = Chromedriver::spawn(&chromedriver)
                .unwrap_or_else(|second| panic!("chromedriver {first}, and again: {second}"));
            eprintln!("chromedriver {first}; the second one started");
            second
        })
    }

    /// A chromedriver that says its port, or how one exited without.
    fn spawn(chromedriver: &std::path::Path) -> Result<Chromedriver, String> {
        let mut child = Command::new(chromedriver)
            .arg("--port=0")
            .process_group(0)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver should start");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads to the end, so that chromedriver and its browsers never
        // block on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + START;
        let mut said = Vec::new();
        loop {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    let port = line
                        .split("started successfully on port ")
                        .nth(1)
                        .and_then(|rest| rest.trim_end_matches('.').parse::<u16>().ok());
                    if let Some(port) = port {
                        return Ok(Chromedriver {
                            child,
                            url: format!("http://127.0.0.1:{port}"),
                        });
                    }
                    said.push(line);
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let _ = child.kill();
                    let status = child
                        .wait()
                        .map_or_else(|error| error.to_string(), |status| status.to_string());
                    let last = said.last().map_or("nothing", String::as_str);
                    return Err(format!("exited ({status}) saying {last:?}"));
                }
                Err(RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("chromedriver did not say its port within {START:?}; it said {said:?}");
                }
            }
        }
    }

    async fn browser(&self, profile: &std::path::Path) -> Client {
        self.browser_with(profile, &[]).await
    }

    /// As [`Chromedriver::browser`], with more command-line switches.
    /// Downloads go to `downloads/` in the profile.
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
        let downloads = profile.join("downloads");
        let profile = format!("--user-data-dir={}", profile.display());
        args.push(&profile);
        let options = json!({
            "args": args,
            "prefs": {
                "download.default_directory": downloads,
                "download.prompt_for_download": false,
            },
        });
        let capabilities = serde_json::Map::from_iter([("goog:chromeOptions".to_owned(), options)]);
        let _turn = tokio::time::timeout(START, STARTING.acquire())
            .await
            .unwrap_or_else(|_| panic!("no turn to start a headless Chromium within {START:?}"))
            .expect("the gate is never closed");
        // Longer than chromedriver gives a browser to start (60 s), so that
        // its own error is the one told.
        let limit = START + WAIT;
        let mut session = ClientBuilder::new(HttpConnector::new());
        session.capabilities(capabilities);
        tokio::time::timeout(limit, session.connect(&self.url))
            .await
            .unwrap_or_else(|_| {
                panic!("chromedriver did not start a headless Chromium within {limit:?}")
            })
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

/// A headless Chromium, on a profile of its own, at `url`: its driver and
/// its profile (keep both while the browser is used), and the browser.
async fn open_page(url: &str) -> (Chromedriver, tempfile::TempDir, Client) {
    let driver = Chromedriver::start();
    let profile = tempfile::tempdir().unwrap();
    let browser = driver.browser(profile.path()).await;
    browser.goto(url).await.unwrap();
    (driver, profile, browser)
}

/// What the page shows, read in one go: the numbers by field, the cards
/// in order (field, label, unit, range, number), whether the Esplora's card is
/// there, the lit buttons, the connection state and its text, the title
/// and subtitle, whether the page is wider than the window, whether the
/// board's controls show, and what the footer says the charts span.
async fn shown(browser: &Client) -> Value {
    browser
        .execute(
            r#"
            const numbers = {};
            for (const el of document.querySelectorAll('[data-value]')) {
              numbers[el.dataset.value] = el.textContent;
            }
            const text = (card, selector) => card.querySelector(selector).textContent;
            const root = document.documentElement;
            return {
              numbers,
              cards: [...document.querySelectorAll('.card.field')].map(card => ({
                field: card.dataset.field,
                label: text(card, '.label'),
                unit: text(card, '.unit'),
                range: text(card, '.range'),
                number: text(card, '.number'),
              })),
              esplora: document.querySelector('.card.esplora') !== null,
              lit: [...document.querySelectorAll('[data-button].lit')].map(el => el.dataset.button).sort(),
              connection: document.body.dataset.connection,
              text: document.getElementById('connection-text').textContent,
              title: document.title,
              subtitle: document.getElementById('subtitle').textContent,
              overflows: root.scrollWidth > root.clientWidth,
              controls: !document.getElementById('board-controls').hidden,
              span: document.getElementById('span').textContent,
            };
            "#,
            vec![],
        )
        .await
        .expect("the page's state should be readable")
}

/// The fields of the cards in `state`, in order.
fn card_fields(state: &Value) -> Vec<&str> {
    state["cards"]
        .as_array()
        .map(|cards| {
            cards
                .iter()
                .filter_map(|card| card["field"].as_str())
                .collect()
        })
        .unwrap_or_default()
}

/// What the chart of `field` (`None`: the overlay chart) shows, read in
/// one go: whether its card shows, the range's ends, the crosshair's
/// reading (null when hidden), the range's switch, how many pixels are
/// inked, its pixels (as a data URL), and how much of its width the line
/// spans: from its leftmost opaque pixel in the card's colour to the right
/// edge, as a fraction. Null if there is no such card.
async fn chart(browser: &Client, field: Option<&str>) -> Value {
    browser
        .execute(
            r#"
            const card = arguments[0] === null
              ? document.querySelector('.card.overlay')
              : [...document.querySelectorAll('.card.field')].find(card => card.dataset.field === arguments[0]);
            if (!card) return null;
            const canvas = card.querySelector('canvas');
            const readout = card.querySelector('.readout');
            const state = {
              shown: !card.hidden,
              top: card.querySelector('.chart .top').textContent,
              bottom: card.querySelector('.chart .bottom').textContent,
              readout: readout.hidden ? null : readout.textContent,
              scale: card.querySelector('.scale')?.textContent ?? null,
              inked: 0,
              image: '',
              span: 0,
            };
            const { width, height } = canvas;
            if (!width || !height) return state;
            state.image = canvas.toDataURL();
            const pixels = canvas.getContext('2d').getImageData(0, 0, width, height).data;
            const accent = getComputedStyle(card).getPropertyValue('--accent').trim();
            const rgb = [1, 3, 5].map(i => parseInt(accent.slice(i, i + 2), 16));
            let left = width;
            for (let p = 0; p < pixels.length; p += 4) {
              if (pixels[p + 3] > 0) state.inked++;
              if (pixels[p + 3] === 255 && rgb.every((c, k) => Math.abs(pixels[p + k] - c) < 8)) {
                left = Math.min(left, (p / 4) % width);
              }
            }
            state.span = (width - left) / width;
            return state;
            "#,
            vec![json!(field)],
        )
        .await
        .expect("the chart should be readable")
}

/// Whether a chart (see [`chart`]) has ink on it.
fn inked(chart: &Value) -> bool {
    chart["inked"].as_u64().unwrap_or(0) > 100
}

/// Waits until the chart of `field` (`None`: the overlay) shows what
/// `check` wants.
async fn wait_chart(
    browser: &Client,
    field: Option<&str>,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let state = chart(browser, field).await;
        if !state.is_null() && check(&state) {
            return state;
        }
        assert!(
            Instant::now() < deadline,
            "the {field:?} chart never showed {what}; it shows {}",
            json!({ "top": state["top"], "bottom": state["bottom"], "readout": state["readout"],
                    "scale": state["scale"], "inked": state["inked"], "span": state["span"] })
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Waits until the chart of `field` has ink on it.
async fn wait_ink(browser: &Client, field: &str) {
    wait_chart(browser, Some(field), "ink", inked).await;
}

/// Clicks what `selector` picks, as a user would.
async fn click(browser: &Client, selector: &str) {
    browser
        .find(Locator::Css(selector))
        .await
        .unwrap_or_else(|error| panic!("nothing to click at {selector}: {error}"))
        .click()
        .await
        .unwrap_or_else(|error| panic!("{selector} cannot be clicked: {error}"));
}

/// Waits for `count` animation frames: the page has drawn since.
async fn frames(browser: &Client, count: u32) {
    browser
        .execute_async(
            r#"
            const done = arguments[arguments.length - 1];
            let left = arguments[0];
            const next = () => (left-- > 0 ? requestAnimationFrame(next) : done());
            next();
            "#,
            vec![json!(count)],
        )
        .await
        .expect("the page should draw frames");
}

/// Waits until the page has asked `/api/history` for what `check` wants
/// (the query's parameters) and had its answer; gives the last such query.
async fn wait_history_query(browser: &Client, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let queries = browser
            .execute(
                r#"
                return performance.getEntriesByType('resource')
                  .map(entry => new URL(entry.name))
                  .filter(url => url.pathname === '/api/history')
                  .map(url => Object.fromEntries(url.searchParams));
                "#,
                vec![],
            )
            .await
            .expect("the page's requests should be readable");
        let queries = queries.as_array().cloned().unwrap_or_default();
        if let Some(query) = queries.iter().rev().find(|query| check(query)) {
            return query.clone();
        }
        assert!(
            Instant::now() < deadline,
            "the page never asked /api/history for {what}; it asked {queries:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
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
    format!("127.0.0.1:{}", crate::common::server::free_port())
}

#[tokio::test]
async fn the_page_follows_the_board_live() {
    let listen = free_address();
    let args = ["--listen", &listen, "--max-rate-hz", "0"];
    let daemon = Daemon::start_fed(&args);
    daemon.feed("s:100,x:3,j:0,k:0,l:600,t:22,b:0\n");
    daemon.wait_slider(100).await;

    let (_driver, _profile, browser) = open_page(&daemon.base).await;

    let state = wait_page(&browser, "the current values", |s| {
        s["numbers"]["slider"] == "100"
    })
    .await;
    assert_eq!(state["title"], "Esplora · live");
    assert!(state["esplora"].as_bool().unwrap(), "the Esplora's card");
    assert_eq!(
        card_fields(&state),
        [
            "slider",
            "accel_x",
            "joystick_x",
            "joystick_y",
            "light",
            "temperature"
        ],
        "a card per field but the buttons, in the board's order"
    );
    assert_eq!(state["numbers"]["light"], "600");
    assert_eq!(state["numbers"]["accel_x"], "3");
    assert_eq!(state["numbers"]["temperature"], "22");
    assert_eq!(
        (state["connection"].as_str(), state["text"].as_str()),
        (Some("live"), Some("Live"))
    );
    assert_eq!(state["lit"], json!([]));
    assert_eq!(
        state["controls"], false,
        "no LED or tone controls where commands are disabled"
    );
    assert_eq!(state["span"], "every chart shows the last 1 min");

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
    wait_ink(&browser, "slider").await;

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

    let (_driver, _profile, browser) = open_page(&daemon.base).await;
    let refused = browser.source().await.unwrap();
    assert!(refused.contains("a token is needed"), "{refused}");

    browser
        .goto(&format!("{}/?token={TOKEN}", daemon.base))
        .await
        .unwrap();
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

/// A sketch for the Arduino Serial Plotter, with three fields and no
/// description of them: a card each, in the sketch's order, named by the
/// field and scaled by its data; no joystick or switches. Fields that
/// appear mid-stream get their cards, named in any script and shown as
/// text, never read as HTML; the layout fits a desktop and a phone.
#[tokio::test]
async fn the_page_lays_itself_out_for_any_sketch() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bridge.toml");
    std::fs::write(
        &config,
        "[names]\n\
         c = \"température\"\n\
         h = \"hum_%\"\n\
         q = \"µT\"\n\
         w = \"温度\"\n\
         e = \"<b id=injected>bold</b>\"\n",
    )
    .unwrap();
    let daemon = Daemon::start_fed(&["--config", config.to_str().unwrap(), "--max-rate-hz", "0"]);
    daemon.feed("temp:23,hum:41,lux:512\n");

    let (_driver, _profile, browser) = open_page(&daemon.base).await;
    let state = wait_page(&browser, "three cards and their values", |s| {
        s["cards"].as_array().is_some_and(|c| c.len() == 3) && s["numbers"]["lux"] == "512"
    })
    .await;
    assert_eq!(
        state["cards"],
        json!([
            {"field": "temp", "label": "temp", "unit": "", "range": "", "number": "23"},
            {"field": "hum", "label": "hum", "unit": "", "range": "", "number": "41"},
            {"field": "lux", "label": "lux", "unit": "", "range": "", "number": "512"},
        ])
    );
    assert_eq!(
        state["esplora"], false,
        "no joystick or switches for a plotter sketch"
    );
    assert_eq!(state["title"], "Sketch · live");
    assert_eq!(state["subtitle"], "3 fields · live from the board");
    assert_eq!(state["connection"], "live");
    daemon.feed("temp:24,hum:42,lux:500\ntemp:25,hum:40,lux:530\n");
    wait_page(&browser, "temp at 25", |s| s["numbers"]["temp"] == "25").await;
    wait_ink(&browser, "lux").await;

    // New fields, mid-stream, named in five scripts and one HTML tag.
    // A negative number is written with a typographic minus.
    daemon.feed("temp:-4,c:21,h:55,q:7,w:8,e:1\n");
    let state = wait_page(&browser, "eight cards, temp at -4", |s| {
        s["cards"].as_array().is_some_and(|c| c.len() == 8) && s["numbers"]["temp"] == "−4"
    })
    .await;
    assert_eq!(
        card_fields(&state),
        [
            "temp",
            "hum",
            "lux",
            "température",
            "hum_%",
            "µT",
            "温度",
            "<b id=injected>bold</b>"
        ]
    );
    let labels: Vec<&str> = state["cards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|card| card["label"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        card_fields(&state),
        "each card is labelled with its field's name"
    );
    assert_eq!(state["subtitle"], "8 fields · live from the board");
    let injected = browser
        .execute(
            "return document.getElementById('injected') === null",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(injected, true, "a field's name is text, not HTML");
    assert_eq!(state["overflows"], false, "the page fits 1280 wide");
    wait_ink(&browser, "温度").await;

    // On a phone the cards stack, and nothing is wider than the screen.
    browser.set_window_size(390, 844).await.unwrap();
    let state = wait_page(&browser, "the page fitting 390 wide", |s| {
        s["overflows"] == false
    })
    .await;
    assert_eq!(card_fields(&state).len(), 8);
    let columns = browser
        .execute(
            "return new Set([...document.querySelectorAll('.card.field')].map(c => c.offsetLeft)).size",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(columns, 1, "one column of cards on a phone");
    browser.close().await.unwrap();
}

/// The demo board is an Esplora: the joystick and switches get their card,
/// first, and every other field a card of its own.
#[tokio::test]
async fn the_demo_board_gets_the_esplora_card() {
    let daemon = Daemon::start(&["--input", "demo"]);
    let (_driver, _profile, browser) = open_page(&daemon.base).await;
    let state = wait_page(&browser, "the demo's cards", |s| {
        s["cards"].as_array().is_some_and(|c| c.len() == 10) && s["esplora"] == true
    })
    .await;
    assert_eq!(
        card_fields(&state),
        [
            "slider",
            "accel_x",
            "accel_y",
            "accel_z",
            "joystick_x",
            "joystick_y",
            "light",
            "microphone",
            "temperature",
            "user"
        ]
    );
    assert_eq!(state["title"], "Esplora · live");
    assert_eq!(state["subtitle"], "11 fields · live from the board");
    let layout = browser
        .execute(
            r#"
            const esplora = document.querySelector('.card.esplora');
            return {
              first: document.getElementById('grid').querySelector('.card') === esplora,
              stick: !esplora.querySelector('.stick-figure').hidden,
              pad: !esplora.querySelector('.pad-figure').hidden,
            };
            "#,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(layout, json!({"first": true, "stick": true, "pad": true}));
    assert_eq!(state["overflows"], false);
    browser.close().await.unwrap();
}

/// The page's own number writing and chart ranges, run in the browser from
/// the modules the daemon serves: decimals, the sign of a value that rounds
/// to zero, and tidy ranges from the data, the config, or both.
#[tokio::test]
async fn the_page_writes_numbers_and_ranges_tidily() {
    let daemon = Daemon::start_fed(&[]);
    let (_driver, _profile, browser) = open_page(&daemon.base).await;
    let results = browser
        .execute_async(
            r#"
            const done = arguments[arguments.length - 1];
            Promise.all([import('/fields.js'), import('/chart.js')]).then(([fields, chart]) => done({
              written: [[23.47, 1], [-0.02, 1], [-4, 0], [512, 2]].map(([v, d]) => fields.formatNumber(v, d)),
              decimals: [512, 23.5, 0.125, 1e-7].map(fields.decimalsOf),
              ranges: [
                chart.axisRange(0, 1023, { minSpan: 4 }),
                chart.axisRange(22, 22, { minSpan: 4 }),
                chart.axisRange(3, 40, { min: -10, max: 50, minSpan: 1 }),
                chart.axisRange(-20, 40, { min: -10, max: 50, minSpan: 1 }),
                chart.axisRange(21.3, 21.9, { minSpan: 0.04 }),
              ],
            }), (error) => done({ error: String(error) }));
            "#,
            vec![],
        )
        .await
        .expect("the page's modules should load");
    assert_eq!(results["written"], json!(["23.5", "0.0", "−4", "512.00"]));
    assert_eq!(results["decimals"], json!([0, 1, 3, 6]));
    assert_eq!(
        results["ranges"],
        json!([
            {"low": 0, "high": 1200, "step": 200, "decimals": 0},
            {"low": 20, "high": 24, "step": 2, "decimals": 0},
            {"low": -10, "high": 50, "step": 10, "decimals": 0},
            {"low": -20, "high": 50, "step": 20, "decimals": 0},
            {"low": 21.3, "high": 21.9, "step": 0.1, "decimals": 1},
        ])
    );
    browser.close().await.unwrap();
}

/// A plotter sketch whose fields the config describes: each card shows
/// the configured label, unit, range and decimals; a field the config
/// does not describe is shown with the decimals its values came with.
#[tokio::test]
async fn described_fields_show_their_label_unit_range_and_decimals() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bridge.toml");
    std::fs::write(
        &config,
        "[fields.\"temp_C\"]\n\
         label = \"Temperature\"\n\
         unit = \"°C\"\n\
         min = -10\n\
         max = 50\n\
         decimals = 1\n\
         [fields.\"hum_%\"]\n\
         label = \"Humidity\"\n\
         unit = \"%\"\n\
         min = 0\n\
         max = 100\n\
         decimals = 0\n",
    )
    .unwrap();
    let daemon = Daemon::start_fed(&["--config", config.to_str().unwrap(), "--max-rate-hz", "0"]);
    daemon.feed("temp_C:23.47 hum_%:41.2 lux:512\n");

    let (_driver, _profile, browser) = open_page(&daemon.base).await;
    let state = wait_page(&browser, "three described cards", |s| {
        s["cards"].as_array().is_some_and(|c| c.len() == 3) && s["numbers"]["lux"] == "512"
    })
    .await;
    assert_eq!(
        state["cards"],
        json!([
            {"field": "temp_C", "label": "Temperature", "unit": "°C", "range": "−10 – 50 °C", "number": "23.5"},
            {"field": "hum_%", "label": "Humidity", "unit": "%", "range": "0 – 100 %", "number": "41"},
            {"field": "lux", "label": "lux", "unit": "", "range": "", "number": "512"},
        ])
    );
    assert_eq!(state["esplora"], false);

    // A value that rounds to zero has no sign; an undescribed field keeps
    // the most decimals it has shown, so that its number does not jump.
    daemon.feed("temp_C:-0.02 hum_%:40.6 lux:7.25\ntemp_C:-0.02 hum_%:40.6 lux:500\n");
    let state = wait_page(&browser, "lux at 500", |s| s["numbers"]["lux"] == "500.00").await;
    assert_eq!(state["numbers"]["temp_C"], "0.0");
    assert_eq!(state["numbers"]["hum_%"], "41");
    wait_ink(&browser, "temp_C").await;
    browser.close().await.unwrap();
}

/// Pause freezes every chart while the data moves on: the numbers and
/// `/api/latest` follow the board, the paused chart's pixels stay as they
/// were, and resuming shows what came meanwhile.
#[tokio::test]
async fn pause_freezes_the_charts_while_the_data_moves_on() {
    let daemon = Daemon::start_fed(&["--max-rate-hz", "0"]);
    daemon.feed("level:10\n");
    let (_driver, _profile, browser) = open_page(&daemon.base).await;
    wait_page(&browser, "level at 10", |s| s["numbers"]["level"] == "10").await;
    daemon.feed("level:12\n");
    wait_page(&browser, "level at 12", |s| s["numbers"]["level"] == "12").await;
    wait_ink(&browser, "level").await;

    click(&browser, "#pause").await;
    frames(&browser, 3).await;
    let frozen = chart(&browser, Some("level")).await;
    let state = shown(&browser).await;
    assert!(
        state["span"].as_str().unwrap().starts_with("paused at "),
        "{}",
        state["span"]
    );

    daemon.feed("level:50\n");
    daemon
        .wait_for("/api/latest at 50", || async {
            (daemon.get_json("/api/latest").await["values"]["level"] == 50).then_some(())
        })
        .await;
    wait_page(&browser, "the number at 50", |s| {
        s["numbers"]["level"] == "50"
    })
    .await;
    frames(&browser, 5).await;
    let paused = chart(&browser, Some("level")).await;
    assert_eq!(
        (&paused["top"], &paused["bottom"]),
        (&frozen["top"], &frozen["bottom"])
    );
    assert!(
        paused["image"] == frozen["image"],
        "a paused chart stays as it was"
    );

    click(&browser, "#pause").await;
    let resumed = wait_chart(&browser, Some("level"), "the range up to 50", |c| {
        c["top"].as_str().and_then(|top| top.parse::<f64>().ok()) >= Some(50.0)
    })
    .await;
    assert!(resumed["image"] != frozen["image"]);
    let state = shown(&browser).await;
    assert_eq!(state["span"], "every chart shows the last 1 min");
    browser.close().await.unwrap();
}

/// A window from the selector rescales the charts (the same line spans a
/// tenth of the width at 10 min that it spans at 1 min) and asks
/// `/api/history` for that window, in that window's step; the browser
/// keeps the choice for the next load.
#[tokio::test]
async fn switching_windows_rescales_the_charts() {
    let daemon = Daemon::start_fed(&["--max-rate-hz", "0"]);
    daemon.feed("level:10\n");
    let (_driver, _profile, browser) = open_page(&daemon.base).await;
    wait_page(&browser, "level at 10", |s| s["numbers"]["level"] == "10").await;
    daemon.feed("level:12\n");
    // The line grows from the left as time passes: 6% of a minute is 3.6 s.
    let minute = wait_chart(&browser, Some("level"), "a line over 6% wide", |c| {
        c["span"].as_f64() >= Some(0.06)
    })
    .await;
    let minute = minute["span"].as_f64().unwrap();

    click(&browser, "button[data-window='600000']").await;
    let ten = wait_chart(&browser, Some("level"), "a line a tenth as wide", |c| {
        c["span"]
            .as_f64()
            .is_some_and(|span| span > 0.0 && span < minute / 4.0)
    })
    .await;
    assert!(inked(&ten));
    let state = shown(&browser).await;
    assert_eq!(state["span"], "every chart shows the last 10 min");
    let asked = wait_history_query(&browser, "10 min", |q| q["step"] == "1000").await;
    assert_eq!(
        (&asked["to"], &asked["format"]),
        (&json!("now"), &json!("json"))
    );
    let from: i64 = asked["from"].as_str().unwrap().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(
        (now - 600_000 - from).abs() < 60_000,
        "from is 10 min ago: {from}, now {now}"
    );

    click(&browser, "button[data-window='604800000']").await;
    wait_page(&browser, "the 7 d window", |s| {
        s["span"] == "every chart shows the last 7 d"
    })
    .await;
    wait_ink(&browser, "level").await;
    wait_history_query(&browser, "7 d", |q| q["step"] == "900000").await;

    click(&browser, "button[data-window='60000']").await;
    wait_chart(&browser, Some("level"), "the minute's line again", |c| {
        c["span"].as_f64() >= Some(minute)
    })
    .await;

    // The browser keeps the window chosen: a reload opens on it.
    click(&browser, "button[data-window='86400000']").await;
    browser.refresh().await.unwrap();
    wait_page(&browser, "the 24 h window after a reload", |s| {
        s["span"] == "every chart shows the last 24 h"
    })
    .await;
    wait_history_query(&browser, "24 h", |q| q["step"] == "120000").await;
    let pressed = browser
        .execute(
            "return [...document.querySelectorAll('#windows [aria-pressed=true]')].map(b => b.textContent)",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(pressed, json!(["24 h"]));
    browser.close().await.unwrap();
}

/// The controls of the charts: a configured range is fixed and can be let
/// go; an automatic one can be fixed where it is; chosen fields are drawn
/// together on the overlay chart; a hidden series leaves the page and the
/// overlay; the crosshair reads the time and the value under the pointer.
#[tokio::test]
async fn the_chart_controls_work() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bridge.toml");
    std::fs::write(
        &config,
        "[fields.\"temp_C\"]\nlabel = \"Temperature\"\nunit = \"°C\"\nmin = -10\nmax = 50\ndecimals = 1\n",
    )
    .unwrap();
    let daemon = Daemon::start_fed(&["--config", config.to_str().unwrap(), "--max-rate-hz", "0"]);
    daemon.feed("temp_C:23.47 lux:512\n");
    let (_driver, _profile, browser) = open_page(&daemon.base).await;
    wait_page(&browser, "two cards", |s| s["numbers"]["lux"] == "512").await;

    // The configured range is fixed; let go, it follows the values.
    let temp = wait_chart(&browser, Some("temp_C"), "the configured range", |c| {
        c["top"] == "50" && c["bottom"] == "−10"
    })
    .await;
    assert_eq!(temp["scale"], "Y fixed");
    let temp_switch = ".card.field[data-field='temp_C'] .scale";
    click(&browser, temp_switch).await;
    wait_chart(&browser, Some("temp_C"), "a range around 23.5", |c| {
        let end = |key: &str| c[key].as_str().and_then(|v| v.parse::<f64>().ok());
        c["scale"] == "Y auto" && end("top") < Some(30.0) && end("bottom") > Some(20.0)
    })
    .await;
    click(&browser, temp_switch).await;
    wait_chart(
        &browser,
        Some("temp_C"),
        "the configured range again",
        |c| c["top"] == "50" && c["scale"] == "Y fixed",
    )
    .await;

    // An automatic range fixed where it is stays when a value leaves it.
    let lux = wait_chart(&browser, Some("lux"), "an automatic range", |c| {
        c["scale"] == "Y auto" && inked(c)
    })
    .await;
    click(&browser, ".card.field[data-field='lux'] .scale").await;
    daemon.feed("lux:900\n");
    wait_page(&browser, "lux at 900", |s| s["numbers"]["lux"] == "900").await;
    frames(&browser, 3).await;
    let fixed = chart(&browser, Some("lux")).await;
    assert_eq!(
        (&fixed["scale"], &fixed["top"], &fixed["bottom"]),
        (&json!("Y fixed"), &lux["top"], &lux["bottom"])
    );
    click(&browser, ".card.field[data-field='lux'] .scale").await;
    wait_chart(&browser, Some("lux"), "a range up to 900", |c| {
        c["top"].as_str().and_then(|v| v.parse::<f64>().ok()) >= Some(900.0)
    })
    .await;

    // Both on the overlay chart, then lux hidden: off the page and the overlay.
    let legend = || async {
        browser
            .execute(
                "return [...document.querySelectorAll('.card.overlay .legend-item')].map(item => item.textContent)",
                vec![],
            )
            .await
            .unwrap()
    };
    assert_eq!(chart(&browser, None).await["shown"], false);
    click(&browser, ".card.field[data-field='temp_C'] .overlay-switch").await;
    click(&browser, ".card.field[data-field='lux'] .overlay-switch").await;
    wait_chart(&browser, None, "the overlay drawn", |c| {
        c["shown"] == true && inked(c)
    })
    .await;
    assert_eq!(legend().await, json!(["Temperature", "lux"]));
    click(&browser, ".series-switch[data-series='lux']").await;
    assert_eq!(chart(&browser, Some("lux")).await["shown"], false);
    assert_eq!(legend().await, json!(["Temperature"]));
    click(&browser, ".series-switch[data-series='lux']").await;
    assert_eq!(chart(&browser, Some("lux")).await["shown"], true);
    assert_eq!(legend().await, json!(["Temperature", "lux"]));

    // The crosshair, near the right edge of the temperature's chart: once
    // the time under it is past the first reading, it reads that.
    let canvas = browser
        .find(Locator::Css(".card.field[data-field='temp_C'] canvas"))
        .await
        .unwrap();
    let (_, _, width, _) = canvas.rectangle().await.unwrap();
    let pointer = MouseActions::new("mouse".to_owned()).then(PointerAction::MoveToElement {
        element: canvas,
        duration: None,
        x: width / 2.0 - 10.0,
        y: 0.0,
    });
    browser.perform_actions(pointer).await.unwrap();
    let read = wait_chart(&browser, Some("temp_C"), "a reading", |c| {
        c["readout"].as_str().is_some_and(|r| !r.ends_with('–'))
    })
    .await;
    let readout = read["readout"].as_str().unwrap();
    let (time, value) = readout.split_once(" · ").expect("a time and a value");
    assert_eq!(value, "23.5 °C", "{readout}");
    assert!(
        time.len() == 10 && time.matches(':').count() == 2,
        "a time with tenths: {readout}"
    );
    browser.close().await.unwrap();
}

/// With commands enabled, the page shows the board's controls: a colour
/// picked on the LED picker and the tone button reach a pty board as
/// command lines, and the page says they were sent; they fit a phone.
#[tokio::test]
async fn the_led_picker_and_the_tone_button_command_the_board() {
    let port = Port::new();
    let mut board = port.plug_in();
    let input = port.input();
    let daemon = Daemon::start(&["--input", &input, "--max-rate-hz", "0", "--enable-commands"]);
    daemon.wait_board("connected").await;
    let (_driver, _profile, browser) = open_page(&daemon.base).await;
    wait_page(&browser, "the board's controls", |s| s["controls"] == true).await;

    // A colour input opens the system's picker, which WebDriver cannot
    // reach: the test sets the colour and tells the page, as the picker does.
    browser
        .execute(
            r#"
            const led = document.getElementById('led');
            led.value = '#0020ff';
            led.dispatchEvent(new Event('input', { bubbles: true }));
            "#,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(board.read_line(), "led:0,32,255");
    let said = || async {
        browser
            .execute(
                "return document.getElementById('command-state').textContent",
                vec![],
            )
            .await
            .unwrap()
    };
    daemon
        .wait_for("the page saying the LED command was sent", || async {
            (said().await == "sent led:0,32,255").then_some(())
        })
        .await;

    let hz = browser.find(Locator::Id("tone-hz")).await.unwrap();
    hz.clear().await.unwrap();
    hz.send_keys("880").await.unwrap();
    click(&browser, "#tone").await;
    assert_eq!(board.read_line(), "tone:880,200");
    daemon
        .wait_for("the page saying the tone was sent", || async {
            (said().await == "sent tone:880,200").then_some(())
        })
        .await;

    // The toolbar with the board's controls fits a phone.
    browser.set_window_size(390, 844).await.unwrap();
    wait_page(&browser, "the page fitting 390 wide", |s| {
        s["overflows"] == false && s["controls"] == true
    })
    .await;
    browser.close().await.unwrap();
}

/// Where history meets live events, run in the browser on a board of the
/// page's own modules: a history answer fills the charts (the value from
/// before the window, the buckets with changes, a break from the daemon's
/// stop, and its start before the changes of the bucket it falls in), and
/// of the live events that came while it was awaited, one that history
/// holds is not taken twice, and those it does not hold (one newer than its
/// last change, one the store had not yet written) are taken, in the same
/// buckets as history's; a snapshot adds no change, but resumes a line
/// broken by the restart.
#[tokio::test]
async fn history_and_live_events_join_with_no_gap_and_no_duplicate() {
    let daemon = Daemon::start_fed(&[]);
    let (_driver, _profile, browser) = open_page(&daemon.base).await;
    let traces = browser
        .execute_async(
            r#"
            const done = arguments[arguments.length - 1];
            import('/board.js').then(({ Board }) => {
              const grid = document.createElement('main');
              grid.innerHTML = '<p class="empty"></p>';
              const board = new Board(grid, () => {});
              const step = 100;
              const t0 = Math.floor(Date.now() / step) * step - 1000;
              const column = (values) => values.map(v => v ?? null);
              const empty = Array(10).fill(null);
              const counts = (at) => empty.map((_, i) => at[i] ?? 0);
              const answer = {
                from: t0, to: t0 + 1000, step, source: 'raw',
                t: empty.map((_, i) => t0 + i * step),
                fields: {
                  held: { min: empty, max: empty, mean: empty, last: empty, count: counts({}) },
                  moved: {
                    min: column([, 2, , , , , 20]), max: column([, 2, , , , , 30]),
                    mean: column([, 2, , , , , 25]), last: column([, 2, , , , , 30]),
                    count: counts({ 1: 1, 6: 2 }),
                  },
                  lagged: {
                    min: column([, , 4]), max: column([, , 5]), mean: column([, , 4.5]),
                    last: column([, , 5]), count: counts({ 2: 2 }),
                  },
                },
                before: { held: 7, moved: 1, lagged: null },
                marks: [{ t_ms: t0 + 350, kind: 'daemon_stop' }, { t_ms: t0 + 630, kind: 'daemon_start' }],
              };
              const events = [
                ['delta', { ts_ms: t0 + 620, values: { moved: 25 } }],
                ['delta', { ts_ms: t0 + 650, values: { lagged: 6 } }],
                ['delta', { ts_ms: t0 + 810, values: { moved: 31 } }],
                ['snapshot', { ts_ms: t0 + 820, values: { held: 7, moved: 31, lagged: 6 } }],
                ['delta', { ts_ms: t0 + 850, values: { moved: 35 } }],
              ];
              board.history(answer, events, step);
              const traces = {};
              for (const [name, { trace, value }] of board.cards) {
                traces[name] = {
                  times: trace.times.map(t => t - t0),
                  lows: trace.lows, highs: trace.highs, values: trace.values, shown: value,
                };
              }
              done(traces);
            }, (error) => done({ error: String(error) }));
            "#,
            vec![],
        )
        .await
        .expect("the page's modules should load");
    assert_eq!(
        traces,
        json!({
            "held": {
                "times": [0, 350, 800], "values": [7, null, 7],
                "lows": [7, null, 7], "highs": [7, null, 7], "shown": 7,
            },
            "moved": {
                "times": [0, 100, 350, 600, 800], "values": [1, 2, null, 30, 35],
                "lows": [1, 2, null, 20, 31], "highs": [1, 2, null, 30, 35], "shown": 35,
            },
            "lagged": {
                "times": [200, 350, 600], "values": [5, null, 6],
                "lows": [4, null, 6], "highs": [5, null, 6], "shown": 6,
            },
        })
    );
    browser.close().await.unwrap();
}

/// A config file in `dir` with `[history]` in `dir` and `more` after it;
/// its path, as the daemon's `--config` takes it.
fn history_config(dir: &std::path::Path, more: &str) -> String {
    let config = dir.join("bridge.toml");
    let store = dir.join("history.sqlite");
    std::fs::write(
        &config,
        format!(
            "[history]\npath = {:?}\n{more}",
            store.display().to_string()
        ),
    )
    .unwrap();
    config.display().to_string()
}

/// Waits until the store holds `changes` changes of `field` in the last
/// minute, as `/api/history` counts them (a field not yet stored is a 400).
async fn wait_stored(daemon: &Daemon, field: &str, changes: u64) {
    let url = daemon.url(&format!("/api/history?fields={field}&from=-1m"));
    daemon
        .wait_for(&format!("{changes} changes of {field} stored"), || async {
            let response = daemon.http.get(&url).send().await.ok()?;
            let answer: Value = response.error_for_status().ok()?.json().await.ok()?;
            let stored: u64 = answer["fields"][field]["count"]
                .as_array()
                .map(|counts| counts.iter().filter_map(Value::as_u64).sum())
                .unwrap_or(0);
            (stored >= changes).then_some(())
        })
        .await;
}

/// The points of `field`'s chart on the page, read from its board:
/// `[time, low, high, value]` each, a gap with null values.
async fn page_points(browser: &Client, field: &str) -> Vec<Value> {
    let points = browser
        .execute_async(
            r#"
            const done = arguments[arguments.length - 1];
            import('/app.js').then(({ board }) => {
              const trace = board.cards.get(arguments[0])?.trace;
              if (!trace) return done([]);
              done(trace.times.slice(trace.head).map((t, i) => {
                const at = trace.head + i;
                return [t, trace.lows[at], trace.highs[at], trace.values[at]];
              }));
            });
            "#,
            vec![json!(field)],
        )
        .await
        .expect("the page's board should be readable");
    points.as_array().cloned().unwrap_or_default()
}

/// The points before the first break (the lowest and highest value among
/// them, and the last), and the points after it.
fn split_at_break(points: &[Value]) -> ((f64, f64, f64), &[Value]) {
    let at = points
        .iter()
        .position(|point| point[3].is_null())
        .unwrap_or_else(|| panic!("no break in {points:?}"));
    let before = &points[..at];
    let number = |point: &Value, i: usize| point[i].as_f64().unwrap();
    let low = before
        .iter()
        .map(|p| number(p, 1))
        .fold(f64::INFINITY, f64::min);
    let high = before
        .iter()
        .map(|p| number(p, 2))
        .fold(f64::NEG_INFINITY, f64::max);
    let last = before.last().map_or(f64::NAN, |point| number(point, 3));
    ((low, high, last), &points[at + 1..])
}

/// The charts come back: a page opened on a restarted daemon (the same
/// store, no reading since) shows the earlier readings at once, and a page
/// left open across the restart fills its chart again when it reconnects;
/// both break the line where the daemon was away, and go on with the new
/// daemon's readings.
#[tokio::test]
async fn charts_are_backfilled_after_a_daemon_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = history_config(dir.path(), "");
    let listen = free_address();
    let args = [
        "--config",
        &config,
        "--listen",
        &listen,
        "--max-rate-hz",
        "0",
    ];
    let daemon = Daemon::start_fed(&args);
    daemon.feed("level:10\nlevel:20\nlevel:15\n");
    wait_stored(&daemon, "level", 3).await;

    let driver = Chromedriver::start();
    let profile = tempfile::tempdir().unwrap();
    let open = driver.browser(profile.path()).await;
    open.goto(&daemon.base).await.unwrap();
    wait_page(&open, "level at 15", |s| s["numbers"]["level"] == "15").await;
    wait_ink(&open, "level").await;

    // Killed, restarted on the same store, with no reading since.
    drop(daemon);
    wait_page(&open, "reconnecting", |s| s["connection"] == "reconnecting").await;
    let daemon = Daemon::start_fed(&args);
    // A page opened now finds the restart in the store.
    daemon
        .wait_for("the restart stored", || async {
            let marks = daemon.get_json("/api/history?from=-1m").await["marks"].clone();
            let starts = marks
                .as_array()?
                .iter()
                .filter(|mark| mark["kind"] == "daemon_start")
                .count();
            (starts == 2).then_some(())
        })
        .await;
    let other = tempfile::tempdir().unwrap();
    let fresh = driver.browser(other.path()).await;
    fresh.goto(&daemon.base).await.unwrap();
    for browser in [&open, &fresh] {
        wait_page(browser, "the stored level", |s| {
            s["numbers"]["level"] == "15" && s["connection"] != "reconnecting"
        })
        .await;
        wait_ink(browser, "level").await;
        let points = page_points(browser, "level").await;
        let (stored, after) = split_at_break(&points);
        assert_eq!(
            stored,
            (10.0, 20.0, 15.0),
            "the stored readings, then the break at the restart: {points:?}"
        );
        assert!(after.is_empty(), "nothing after the break yet: {points:?}");
    }

    // The new daemon's readings go on from the break.
    daemon.feed("level:30\n");
    for browser in [&open, &fresh] {
        wait_page(browser, "level at 30", |s| s["numbers"]["level"] == "30").await;
        let points = page_points(browser, "level").await;
        let (stored, after) = split_at_break(&points);
        assert_eq!(stored, (10.0, 20.0, 15.0), "{points:?}");
        let after: Vec<&Value> = after.iter().map(|point| &point[3]).collect();
        assert_eq!(after, [&json!(30)], "{points:?}");
    }
    open.close().await.unwrap();
    fresh.close().await.unwrap();
}

/// "Download CSV" saves exactly what `/api/history` gives for the window,
/// the fields and the step on screen (a hidden series left out), on a
/// daemon with a token: the page's own requests carry it.
#[tokio::test]
async fn the_downloaded_csv_is_what_api_history_gives() {
    const TOKEN: &str = "csv-token-0123456789";
    let dir = tempfile::tempdir().unwrap();
    let config = history_config(dir.path(), &format!("[http]\ntoken = \"{TOKEN}\"\n"));
    let daemon = Daemon::start_fed(&["--config", &config, "--max-rate-hz", "0"]).authorized(TOKEN);
    daemon.feed("volts:1,amps:2.5,watts:3\nvolts:4,amps:-1.25\n");
    wait_stored(&daemon, "volts", 2).await;

    let (_driver, profile, browser) = open_page(&format!("{}/?token={TOKEN}", daemon.base)).await;
    wait_page(&browser, "volts at 4", |s| s["numbers"]["volts"] == "4").await;
    click(&browser, ".series-switch[data-series='watts']").await;
    click(&browser, "#download").await;

    let query = wait_history_query(&browser, "the CSV", |q| q["format"] == "csv").await;
    assert_eq!(
        (&query["fields"], &query["step"]),
        (&json!("volts,amps"), &json!("100")),
        "the series and the step on screen"
    );
    let number = |key: &str| query[key].as_str().unwrap().parse::<i64>().unwrap();
    assert_eq!(
        number("to") - number("from"),
        60_000,
        "the window on screen"
    );

    let downloads = profile.path().join("downloads");
    let deadline = Instant::now() + WAIT;
    let saved = loop {
        let done = std::fs::read_dir(&downloads).ok().and_then(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .find(|path| path.extension().is_some_and(|ext| ext == "csv"))
        });
        if let Some(path) = done {
            break path;
        }
        assert!(
            Instant::now() < deadline,
            "no CSV was saved in {downloads:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let saved = std::fs::read_to_string(saved).unwrap();
    let params: Vec<String> = ["fields", "from", "to", "step", "format"]
        .iter()
        .map(|key| format!("{key}={}", query[key].as_str().unwrap()))
        .collect();
    let expected = daemon
        .get_text(&format!("/api/history?{}", params.join("&")))
        .await;
    assert_eq!(saved, expected);
    assert!(
        saved.starts_with("time,volts.min,volts.max,volts.mean,volts.last,volts.count,amps.min,"),
        "{saved}"
    );
    assert!(saved.contains(",-1.25,"), "the readings are in it: {saved}");
    browser.close().await.unwrap();
}

/// Where history meets live events, against the real store: the chart
/// holds the stored readings from before the page opened and the live ones
/// after, in the very buckets `/api/history` gives for the same stretch
/// (the same lowest, highest and last value), and no other point.
#[tokio::test]
async fn the_chart_holds_what_history_holds_across_the_join() {
    let dir = tempfile::tempdir().unwrap();
    let config = history_config(dir.path(), "");
    let daemon = Daemon::start_fed(&["--config", &config, "--max-rate-hz", "0"]);
    daemon.feed("level:1\nlevel:5\nlevel:3\n");
    wait_stored(&daemon, "level", 3).await;

    let (_driver, _profile, browser) = open_page(&daemon.base).await;
    wait_page(&browser, "level at 3", |s| s["numbers"]["level"] == "3").await;
    wait_history_query(&browser, "the minute", |q| q["format"] == "json").await;
    daemon.feed("level:4\nlevel:-2\n");
    wait_page(&browser, "level at -2", |s| s["numbers"]["level"] == "−2").await;
    daemon.feed("level:6\n");
    wait_page(&browser, "level at 6", |s| s["numbers"]["level"] == "6").await;
    wait_stored(&daemon, "level", 6).await;

    let points = page_points(&browser, "level").await;
    assert!(
        points.iter().all(|point| !point[3].is_null()),
        "no break: {points:?}"
    );
    let from = points[0][0].as_i64().expect("a point");
    let answer = daemon
        .get_json(&format!(
            "/api/history?fields=level&from={from}&to=now&step=100"
        ))
        .await;
    let level = &answer["fields"]["level"];
    let stored: Vec<Value> = (0..level["count"].as_array().unwrap().len())
        .filter(|&i| level["count"][i].as_u64() > Some(0))
        .map(|i| {
            json!([
                answer["t"][i],
                level["min"][i],
                level["max"][i],
                level["last"][i]
            ])
        })
        .collect();
    assert_eq!(points, stored);
    assert!(
        stored.len() >= 2,
        "readings from history and from live: {stored:?}"
    );
    browser.close().await.unwrap();
}
