//! Secrets kept in files (the relay's secret, the HTTP token), read once at
//! start-up, so that a missing or unreadable file stops the daemon before
//! anything runs, with the file's name in the error.
//!
//! The file should be readable by the service alone; a world-readable one
//! still works (refusing it would turn a permissions slip into an outage),
//! but is warned about. The secret itself never reaches a log: it goes
//! straight into a [`SecretString`], and no error here quotes the file.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, bail};
use secrecy::zeroize::Zeroize;
use secrecy::{ExposeSecret, SecretString};
use tracing::warn;

/// The secret in the file at `path`, trimmed of surrounding white space
/// (the newline an editor adds); `what` names it in errors and warnings.
pub fn read_file(path: &Path, what: &str) -> anyhow::Result<SecretString> {
    let file = path.display();
    let metadata =
        fs::metadata(path).with_context(|| format!("cannot read the {what} file {file}"))?;
    let mut text =
        fs::read_to_string(path).with_context(|| format!("cannot read the {what} file {file}"))?;
    let secret = SecretString::from(text.trim());
    text.zeroize();
    if secret.expose_secret().is_empty() {
        bail!("the {what} file {file} is empty");
    }
    let mode = metadata.permissions().mode();
    if mode & 0o004 != 0 {
        warn!(
            "the {what} file {file} is readable by every user (mode {:o}); \
             make it readable by the service only (chmod 600, or a systemd credential)",
            mode & 0o777
        );
    }
    Ok(secret)
}
