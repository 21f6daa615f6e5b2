//! Real pseudo terminals: one standing in for the board, whose slave the
//! daemon opens through a symlink, as it would open `/dev/esplora`; and
//! one standing in for the user's terminal, for what a command shows there
//! (`export`'s progress bar).

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;

use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};
use nix::pty::{Winsize, openpty};

use super::WAIT;

/// Where the board is plugged in: a symlink in a directory of the test's
/// own, as udev makes `/dev/esplora`. Boards come and go at the same path.
pub struct Port {
    dir: tempfile::TempDir,
}

impl Port {
    pub fn new() -> Port {
        Port {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    pub fn link(&self) -> PathBuf {
        self.dir.path().join("esplora")
    }

    /// The daemon's `--input` for this port.
    pub fn input(&self) -> String {
        format!("serial:{}", self.link().display())
    }

    /// A new board at this port.
    pub fn plug_in(&self) -> Board {
        Board::at(self.link())
    }
}

/// A pseudo terminal standing in for the board, its slave reachable at the
/// port's symlink.
pub struct Board {
    master: File,
    link: PathBuf,
}

impl Board {
    fn at(link: PathBuf) -> Board {
        let pty = openpty(None, None).expect("a pseudo terminal should open");
        // Else the daemon, spawned later, would inherit the master and keep
        // the terminal alive after we close it.
        close_on_exec([&pty.master, &pty.slave]);
        let slave = nix::unistd::ttyname(&pty.slave).expect("the slave should have a name");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&slave, &link).unwrap();
        // The slave stays open in the daemon; ours is not needed.
        drop(pty.slave);
        Board {
            master: File::from(pty.master),
            link,
        }
    }

    pub fn send(&mut self, lines: &str) {
        self.master.write_all(lines.as_bytes()).unwrap();
        self.master.flush().unwrap();
    }

    /// A second handle on the board's end, to write from another thread.
    pub fn writer(&self) -> File {
        self.master.try_clone().unwrap()
    }

    /// The next line the daemon wrote to the board, without its `\n`.
    pub fn read_line(&mut self) -> String {
        self.set_nonblocking(false);
        let mut reader = self.master.try_clone().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = Vec::new();
            let mut byte = [0u8];
            while reader.read_exact(&mut byte).is_ok() && byte[0] != b'\n' {
                line.push(byte[0]);
            }
            let _ = tx.send(String::from_utf8_lossy(&line).into_owned());
        });
        rx.recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("the daemon wrote no line to the board within {WAIT:?}"))
    }

    /// Whatever the daemon has written to the board and not yet been read.
    pub fn pending(&mut self) -> Vec<u8> {
        self.set_nonblocking(true);
        let mut pending = Vec::new();
        let mut buf = [0u8; 256];
        while let Ok(n) = self.master.read(&mut buf) {
            if n == 0 {
                break;
            }
            pending.extend_from_slice(&buf[..n]);
        }
        self.set_nonblocking(false);
        pending
    }

    fn set_nonblocking(&self, on: bool) {
        let flags = OFlag::from_bits_truncate(fcntl(&self.master, FcntlArg::F_GETFL).unwrap());
        let flags = if on {
            flags | OFlag::O_NONBLOCK
        } else {
            flags - OFlag::O_NONBLOCK
        };
        fcntl(&self.master, FcntlArg::F_SETFL(flags)).unwrap();
    }

    /// Pulls the cable: the device node goes, and the daemon's reads end.
    pub fn unplug(self) {
        std::fs::remove_file(&self.link).unwrap();
        drop(self.master);
    }
}

/// Runs `command` with its stderr on a new pseudo terminal (120 columns),
/// as from a user's shell; gives its exit status and every byte it wrote
/// there, failing after [`WAIT`].
pub fn run_on_terminal(mut command: Command) -> (ExitStatus, Vec<u8>) {
    let size = Winsize {
        ws_row: 24,
        ws_col: 120,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = openpty(Some(&size), None).expect("a pseudo terminal should open");
    close_on_exec([&pty.master, &pty.slave]);
    command.stderr(Stdio::from(pty.slave));
    let mut child = command.spawn().expect("the command should start");
    // The command holds the only other slave descriptor: once the child has
    // it alone, the master reads to its end (EIO) when the child exits.
    let program = format!("{command:?}");
    drop(command);
    let mut master = File::from(pty.master);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut shown = Vec::new();
        // Ends in EIO, with what came before it kept.
        let _ = master.read_to_end(&mut shown);
        let _ = tx.send(shown);
    });
    let Ok(shown) = rx.recv_timeout(WAIT) else {
        let _ = child.kill();
        panic!("{program} did not finish within {WAIT:?}");
    };
    let status = child
        .wait()
        .expect("the command's status should be readable");
    (status, shown)
}

fn close_on_exec(fds: [&OwnedFd; 2]) {
    for fd in fds {
        fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).expect("FD_CLOEXEC should be set");
    }
}
