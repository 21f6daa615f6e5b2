//! A real pseudo terminal standing in for the board: the daemon opens its
//! slave through a symlink, as it would open `/dev/esplora`.

use std::fs::File;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::mpsc;

use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};
use nix::pty::openpty;

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
        for fd in [&pty.master, &pty.slave] {
            fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).unwrap();
        }
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
