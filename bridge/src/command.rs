//! Commands from local clients to the board: which are valid, the line each
//! is written as, and the channel that carries them to the serial source.
//!
//! A command travels against the flow of readings, so it gets its own path:
//! the WebSocket handler validates a client's frame into a [`Command`] and
//! hands it to [`Commands::send`]; a bounded channel carries it, with a
//! reply slot, to the serial source, the only part that has a port to write
//! to. The source replies once the line is written (or could not be), so an
//! ack means the line reached the board's port, not merely a queue.
//!
//! Where there is no port (the demo, a replay) or the config leaves
//! commands disabled, there is no channel at all: [`Commands`] refuses at
//! once and says why. A full channel is refused too rather than waited on,
//! so a client that floods commands is told so and the board never falls
//! behind by more than [`QUEUE`] commands.

use std::fmt;
use std::time::Duration;

use thiserror::Error;
use tokio::sync::{mpsc, oneshot};

/// Commands waiting for the serial source. The board takes a command line in
/// a few milliseconds; more than this waiting means a client is flooding.
pub const QUEUE: usize = 16;

/// How long a client waits for the serial source to write its command.
const REPLY_TIMEOUT: Duration = Duration::from_secs(3);

/// A command the board's sketch understands (see `board-sketch/README.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Set the RGB LED.
    Led { red: u8, green: u8, blue: u8 },
    /// Play a tone on the buzzer.
    Tone { hz: u16, ms: u16 },
}

/// Why a command's arguments are not valid.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Invalid {
    #[error("led takes [red, green, blue], each 0 to 255; got {0:?}")]
    Led(Vec<i64>),
    #[error("tone takes 20 to 20000 Hz; got {0}")]
    Hz(i64),
    #[error("ms takes 1 to 10000 milliseconds; got {0}")]
    Ms(i64),
}

impl Command {
    /// The LED command for `[red, green, blue]`.
    pub fn led(rgb: &[i64]) -> Result<Command, Invalid> {
        let channel = |value: &i64| u8::try_from(*value).ok();
        match rgb
            .iter()
            .map(channel)
            .collect::<Option<Vec<u8>>>()
            .as_deref()
        {
            Some(&[red, green, blue]) => Ok(Command::Led { red, green, blue }),
            _ => Err(Invalid::Led(rgb.to_vec())),
        }
    }

    /// The tone command for `hz` hertz during `ms` milliseconds.
    pub fn tone(hz: i64, ms: i64) -> Result<Command, Invalid> {
        let hz = u16::try_from(hz)
            .ok()
            .filter(|hz| (20..=20_000).contains(hz))
            .ok_or(Invalid::Hz(hz))?;
        let ms = u16::try_from(ms)
            .ok()
            .filter(|ms| (1..=10_000).contains(ms))
            .ok_or(Invalid::Ms(ms))?;
        Ok(Command::Tone { hz, ms })
    }
}

/// The command as the sketch reads it, without the ending `\n`.
impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Led { red, green, blue } => write!(f, "led:{red},{green},{blue}"),
            Command::Tone { hz, ms } => write!(f, "tone:{hz},{ms}"),
        }
    }
}

/// A command on its way to the board, and where to say how it went.
#[derive(Debug)]
pub struct Request {
    pub command: Command,
    reply: oneshot::Sender<Result<(), String>>,
}

impl Request {
    /// Tells the sender how writing the command went. A sender that has
    /// stopped waiting is no reason to fail.
    pub fn reply(self, result: Result<(), String>) {
        let _ = self.reply.send(result);
    }
}

/// Why a command did not reach the board.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Refused {
    #[error("commands are disabled; set enabled = true under [commands] in the config")]
    Disabled,
    #[error("there is no board to send it to: the input is not a serial board")]
    NoBoard,
    #[error("too many commands are waiting for the board; try again")]
    Busy,
    #[error("the board did not take it: {0}")]
    Failed(String),
}

impl Refused {
    /// A short name for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Refused::Disabled => "disabled",
            Refused::NoBoard => "no_board",
            Refused::Busy => "busy",
            Refused::Failed(_) => "failed",
        }
    }
}

/// The sending side, shared by every WebSocket client.
#[derive(Debug, Clone)]
pub enum Commands {
    Disabled,
    NoBoard,
    Board(mpsc::Sender<Request>),
}

impl Commands {
    /// The sending side and, when commands can reach a board, the receiving
    /// side for the serial source.
    pub fn new(enabled: bool, serial_board: bool) -> (Commands, Inbox) {
        match (enabled, serial_board) {
            (false, _) => (Commands::Disabled, Inbox(None)),
            (true, false) => (Commands::NoBoard, Inbox(None)),
            (true, true) => {
                let (tx, rx) = mpsc::channel(QUEUE);
                (Commands::Board(tx), Inbox(Some(rx)))
            }
        }
    }

    /// Sends `command` to the board and waits until it is written.
    pub async fn send(&self, command: Command) -> Result<(), Refused> {
        let tx = match self {
            Commands::Disabled => return Err(Refused::Disabled),
            Commands::NoBoard => return Err(Refused::NoBoard),
            Commands::Board(tx) => tx,
        };
        let (reply, written) = oneshot::channel();
        tx.try_send(Request { command, reply })
            .map_err(|error| match error {
                mpsc::error::TrySendError::Full(_) => Refused::Busy,
                mpsc::error::TrySendError::Closed(_) => {
                    Refused::Failed("the serial input has stopped".to_owned())
                }
            })?;
        match tokio::time::timeout(REPLY_TIMEOUT, written).await {
            Ok(Ok(result)) => result.map_err(Refused::Failed),
            Ok(Err(_)) => Err(Refused::Failed("the serial input has stopped".to_owned())),
            Err(_) => Err(Refused::Failed(format!(
                "the port did not take it within {REPLY_TIMEOUT:?}"
            ))),
        }
    }
}

/// The receiving side, held by the serial source; empty (the default) when
/// commands cannot reach a board.
#[derive(Debug, Default)]
pub struct Inbox(Option<mpsc::Receiver<Request>>);

impl Inbox {
    /// The next command; never resolves when there are none to come.
    /// Cancel safe, so it can sit in a `select!` beside a read.
    pub async fn recv(&mut self) -> Request {
        if let Some(rx) = &mut self.0 {
            if let Some(request) = rx.recv().await {
                return request;
            }
            self.0 = None;
        }
        std::future::pending().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_commands_become_the_sketchs_lines() {
        assert_eq!(
            Command::led(&[0, 32, 255]).unwrap().to_string(),
            "led:0,32,255"
        );
        assert_eq!(Command::tone(440, 250).unwrap().to_string(), "tone:440,250");
        assert_eq!(Command::tone(20, 1).unwrap().to_string(), "tone:20,1");
        assert_eq!(
            Command::tone(20_000, 10_000).unwrap().to_string(),
            "tone:20000,10000"
        );
    }

    #[test]
    fn arguments_out_of_range_are_refused() {
        assert_eq!(
            Command::led(&[0, 256, 0]),
            Err(Invalid::Led(vec![0, 256, 0]))
        );
        assert_eq!(Command::led(&[-1, 0, 0]), Err(Invalid::Led(vec![-1, 0, 0])));
        assert_eq!(Command::led(&[1, 2]), Err(Invalid::Led(vec![1, 2])));
        assert_eq!(
            Command::led(&[1, 2, 3, 4]),
            Err(Invalid::Led(vec![1, 2, 3, 4]))
        );
        assert_eq!(Command::tone(19, 100), Err(Invalid::Hz(19)));
        assert_eq!(Command::tone(20_001, 100), Err(Invalid::Hz(20_001)));
        assert_eq!(Command::tone(440, 0), Err(Invalid::Ms(0)));
        assert_eq!(Command::tone(440, 10_001), Err(Invalid::Ms(10_001)));
        assert_eq!(Command::tone(1 << 40, 100), Err(Invalid::Hz(1 << 40)));
    }

    #[tokio::test]
    async fn without_a_board_commands_are_refused_at_once() {
        let tone = Command::tone(440, 100).unwrap();
        let (commands, _) = Commands::new(false, true);
        assert_eq!(commands.send(tone).await, Err(Refused::Disabled));
        let (commands, _) = Commands::new(true, false);
        assert_eq!(commands.send(tone).await, Err(Refused::NoBoard));
    }

    #[tokio::test]
    async fn a_command_is_acked_once_the_source_replies() {
        let (commands, mut inbox) = Commands::new(true, true);
        let board = tokio::spawn(async move {
            let request = inbox.recv().await;
            let line = request.command.to_string();
            request.reply(Ok(()));
            line
        });
        let led = Command::led(&[1, 2, 3]).unwrap();
        assert_eq!(commands.send(led).await, Ok(()));
        assert_eq!(board.await.unwrap(), "led:1,2,3");
    }

    #[tokio::test]
    async fn a_full_queue_is_refused_rather_than_waited_on() {
        let (commands, _inbox) = Commands::new(true, true);
        let Commands::Board(tx) = &commands else {
            panic!("a board was configured");
        };
        let tone = Command::tone(440, 100).unwrap();
        for _ in 0..QUEUE {
            let (reply, _) = oneshot::channel();
            tx.try_send(Request {
                command: tone,
                reply,
            })
            .unwrap();
        }
        assert_eq!(commands.send(tone).await, Err(Refused::Busy));
    }
}
