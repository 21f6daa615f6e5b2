//! The serial source: a USB serial board, kept connected.
//!
//! Three facts about real boards shape this loop. An ATmega32u4 board such
//! as the Esplora sends nothing until the host asserts DTR, so DTR is raised
//! on every open. When a USB serial device is unplugged, Linux makes `read`
//! return `Ok(0)` rather than an error, so a zero-length read means the
//! board is gone, never "try again now" (that would spin a core). And a
//! board comes back under the same path or the same USB ids, so after a
//! disconnect the port is reopened with capped exponential backoff, for as
//! long as the daemon runs.
//!
//! Commands (see [`crate::command`]) are written by the same task, between
//! reads, so the port keeps a single owner: a `select!` waits on the read
//! half of the stream and on the command inbox at once, and writes to the
//! write half. While no port is open commands are refused, not kept: a
//! tone played a minute late is worse than none. The
//! board answers each command with an `ok:` or `err:` line; those are logged
//! here and never reach the parser, which would count them as bad readings.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use esplora_parser::{LineFramer, excerpt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_serial::{SerialPort, SerialPortBuilderExt, SerialPortType, SerialStream};
use tracing::{debug, info, warn};

use super::{Closed, SourceEvent, frame, send_all};
use crate::command::{Inbox, Request};

/// The Esplora's USB vendor and product ids (application and bootloader).
const ESPLORA_IDS: [(u16, u16); 2] = [(0x2341, 0x003c), (0x2341, 0x803c)];
const AUTO_BAUD: u32 = 115_200;

const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// A connection that lasted this long was a real one: start backoff afresh.
const STABLE: Duration = Duration::from_secs(10);
/// A command line is a few bytes; a port that cannot take them in this long
/// is stuck, and waiting longer would stall the readings too.
const WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// Which device to open.
pub enum Port {
    /// The first board with the Esplora's USB ids.
    Auto,
    Path {
        path: PathBuf,
        baud: u32,
    },
}

pub async fn run(
    port: Port,
    tx: &mpsc::Sender<SourceEvent>,
    mut inbox: Inbox,
) -> anyhow::Result<()> {
    let mut framer = LineFramer::new();
    let mut out = Vec::new();
    let mut backoff = Backoff(BACKOFF_START);
    let mut last_error = String::new();
    loop {
        let (origin, stream) = match open(&port) {
            Ok(opened) => opened,
            Err(error) => {
                // Logged once per distinct error, not once per retry.
                let error = format!("{error:#}");
                if error != last_error {
                    warn!("waiting for the board: {error}");
                    last_error = error;
                }
                backoff.wait(&mut inbox).await;
                continue;
            }
        };
        last_error.clear();
        info!(device = %origin, "board connected");
        if tx
            .send(SourceEvent::Connected {
                origin: origin.clone(),
            })
            .await
            .is_err()
        {
            return Ok(());
        }
        // The board may have been mid-line when we opened it.
        framer.resync();
        let connected = tokio::time::Instant::now();
        let reason = match read(stream, &mut framer, &mut out, tx, &mut inbox).await {
            Ok(reason) => reason,
            Err(Closed) => return Ok(()),
        };
        warn!(device = %origin, "board disconnected: {reason}");
        if tx.send(SourceEvent::Disconnected { reason }).await.is_err() {
            return Ok(());
        }
        if connected.elapsed() >= STABLE {
            backoff = Backoff(BACKOFF_START);
        }
        backoff.wait(&mut inbox).await;
    }
}

/// The pause before the next attempt to open the port, doubling up to a cap.
struct Backoff(Duration);

impl Backoff {
    /// Waits, refusing the commands that arrive meanwhile.
    async fn wait(&mut self, inbox: &mut Inbox) {
        let until = tokio::time::Instant::now() + self.0;
        self.0 = (self.0 * 2).min(BACKOFF_MAX);
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(until) => return,
                request = inbox.recv() => request.reply(Err("the board is not connected".to_owned())),
            }
        }
    }
}

/// Reads until the board goes away, and says why it did; writes commands
/// meanwhile.
async fn read(
    stream: SerialStream,
    framer: &mut LineFramer,
    out: &mut Vec<SourceEvent>,
    tx: &mpsc::Sender<SourceEvent>,
    inbox: &mut Inbox,
) -> Result<String, Closed> {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut buf = vec![0; 4096];
    loop {
        tokio::select! {
            read = reader.read(&mut buf) => match read {
                Ok(0) => return Ok("the device reported end of file (unplugged?)".to_owned()),
                Ok(n) => {
                    frame(framer, &buf[..n], out);
                    out.retain(|event| !is_reply(event));
                    send_all(tx, out).await?;
                }
                Err(error) => return Ok(format!("read failed: {error}")),
            },
            request = inbox.recv() => write(&mut writer, request).await,
        }
    }
}

/// Writes one command line and tells its sender how that went. A failed
/// write is not a disconnect by itself: if the board is gone, the read side
/// says so.
async fn write(writer: &mut (impl AsyncWriteExt + Unpin), request: Request) {
    let line = format!("{}\n", request.command);
    let written = async {
        writer.write_all(line.as_bytes()).await?;
        writer.flush().await
    };
    let result = match tokio::time::timeout(WRITE_TIMEOUT, written).await {
        Ok(Ok(())) => {
            info!(command = %request.command, "sent a command to the board");
            Ok(())
        }
        Ok(Err(error)) => Err(format!("write failed: {error}")),
        Err(_) => Err(format!("the port took no input for {WRITE_TIMEOUT:?}")),
    };
    if let Err(error) = &result {
        warn!(command = %request.command, "could not send a command to the board: {error}");
    }
    request.reply(result);
}

/// Whether a framed line is the board's reply to a command (`ok:led`,
/// `err:bad_args`); logs it if so.
fn is_reply(event: &SourceEvent) -> bool {
    let SourceEvent::Line(line) = event else {
        return false;
    };
    if line.starts_with(b"ok:") {
        debug!(reply = %excerpt(line), "the board took a command");
        true
    } else if line.starts_with(b"err:") {
        warn!(reply = %excerpt(line), "the board refused a command");
        true
    } else {
        false
    }
}

fn open(port: &Port) -> anyhow::Result<(String, SerialStream)> {
    let (path, baud) = match port {
        Port::Path { path, baud } => (path.display().to_string(), *baud),
        Port::Auto => (find_esplora()?, AUTO_BAUD),
    };
    let mut stream = tokio_serial::new(&path, baud)
        .dtr_on_open(true)
        .open_native_async()
        .with_context(|| format!("cannot open {path}"))?;
    // dtr_on_open is best effort; say so when DTR could not be raised, since
    // a 32u4 board then stays silent. A pseudo terminal has no DTR line.
    if let Err(error) = stream.write_data_terminal_ready(true) {
        debug!(device = %path, "could not raise DTR: {error}");
    }
    Ok((path, stream))
}

fn find_esplora() -> anyhow::Result<String> {
    let ports = tokio_serial::available_ports().context("cannot list serial ports")?;
    ports
        .into_iter()
        .find(|port| match &port.port_type {
            SerialPortType::UsbPort(usb) => ESPLORA_IDS.contains(&(usb.vid, usb.pid)),
            _ => false,
        })
        .map(|port| port.port_name)
        .context("no Esplora (USB 2341:003c or 2341:803c) is plugged in")
}
