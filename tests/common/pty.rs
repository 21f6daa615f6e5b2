//! A real pseudo terminal standing in for the board: the daemon opens its
//! slave through a symlink, as it would open `/dev/esplora`.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::mpsc;

use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};
use nix::pty::openpty;

use super::WAIT;

/// A pseudo terminal standing in for the board, its slave reachable at a
/// symlink, as udev would make one.
pub struct Board {
    master: File,
}

impl Board {
    pub fn plug_in(link: &Path) -> Board {
        let pty = openpty(None, None).expect("a pseudo terminal should open");
        // Else the daemon, spawned later, would inherit the master and keep
        // the terminal alive after we close it.
        for fd in [&pty.master, &pty.slave] {
            fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).unwrap();
        }
        let slave = nix::unistd::ttyname(&pty.slave).expect("the slave should have a name");
        let _ = std::fs::remove_file(link);
        std::os::unix::fs::symlink(&slave, link).unwrap();
        // The slave stays open in the daemon; ours is not needed.
        drop(pty.slave);
        Board {
            master: File::from(pty.master),
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

    pub fn unplug(self, link: &Path) {
        std::fs::remove_file(link).unwrap();
        drop(self.master);
    }
}
