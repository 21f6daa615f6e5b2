//! The live page in real headless Chromium, driven over WebDriver through
//! Debian's chromedriver, which the test starts on a free port and stops:
//! the page shows the current values and they advance as lines arrive, the
//! buttons light up, the charts are drawn, the connection state follows the
//! board and the daemon, and the page reconnects by itself when the daemon
//! comes back. It lays itself out from the data: a card per field, in the
//! board's order, named in any script and never read as HTML, a card for
//! a field that appears mid-stream, and the Esplora's joystick and
//! switches only for a board that sends them.

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

/// What the page shows, read in one go: the numbers by field, the cards
/// in order (field, label, unit, range, number), whether the Esplora's card is
/// there, the lit buttons, the connection state and its text, the title
/// and subtitle, and whether the page is wider than the window.
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

/// Waits until the chart of `field` has ink on it.
async fn wait_chart(browser: &Client, field: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let inked = browser
            .execute(
                r#"
                const card = [...document.querySelectorAll('.card.field')]
                  .find(card => card.dataset.field === arguments[0]);
                if (!card) return 0;
                const canvas = card.querySelector('canvas');
                if (!canvas.width || !canvas.height) return 0;
                const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
                let inked = 0;
                for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) inked++;
                return inked;
                "#,
                vec![json!(field)],
            )
            .await
            .expect("the chart should be readable");
        if inked.as_u64().unwrap_or(0) > 100 {
            return;
        }
        assert!(Instant::now() < deadline, "the {field} chart stayed blank");
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

    let driver = Chromedriver::start();
    let profile = tempfile::tempdir().unwrap();
    let browser = driver.browser(profile.path()).await;
    browser.goto(&daemon.base).await.unwrap();

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
    wait_chart(&browser, "slider").await;

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

    let driver = Chromedriver::start();
    let profile = tempfile::tempdir().unwrap();
    let browser = driver.browser(profile.path()).await;
    browser.goto(&daemon.base).await.unwrap();
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
    wait_chart(&browser, "lux").await;

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
    wait_chart(&browser, "温度").await;

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
    let driver = Chromedriver::start();
    let profile = tempfile::tempdir().unwrap();
    let browser = driver.browser(profile.path()).await;
    browser.goto(&daemon.base).await.unwrap();
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
    let driver = Chromedriver::start();
    let profile = tempfile::tempdir().unwrap();
    let browser = driver.browser(profile.path()).await;
    browser.goto(&daemon.base).await.unwrap();
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

    let driver = Chromedriver::start();
    let profile = tempfile::tempdir().unwrap();
    let browser = driver.browser(profile.path()).await;
    browser.goto(&daemon.base).await.unwrap();
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
    wait_chart(&browser, "temp_C").await;
    browser.close().await.unwrap();
}
