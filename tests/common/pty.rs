//! A real pseudo terminal standing in for the board: the daemon opens its
//! slave through a symlink, as it would open `/dev/esplora`.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use nix::fcntl::{FcntlArg, FdFlag, fcntl};
use nix::pty::openpty;

/// A pseudo terminal whose slave is reachable at `link`, like a udev symlink.
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

    pub fn unplug(self, link: &Path) {
        std::fs::remove_file(link).unwrap();
        drop(self.master);
    }
}
