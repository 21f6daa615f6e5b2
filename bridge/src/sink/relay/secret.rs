//! The relay's secret: taken from the config, or read from `secret_file`
//! once at start-up, so that a missing or unreadable file stops the daemon
//! before anything runs, with the file's name in the error.
//!
//! The file should be readable by the service alone; a world-readable one
//! still works (refusing it would turn a permissions slip into an outage),
//! but is warned about. The secret itself never reaches a log: it goes
//! straight into a [`SecretString`], and no error here quotes the file.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, bail};
use esplora_config::RelayConfig;
use secrecy::zeroize::Zeroize;
use secrecy::{ExposeSecret, SecretString};
use tracing::warn;

/// The secret of `config`: inline, or the content of its `secret_file`
/// with surrounding white space (the newline an editor adds) removed.
pub fn load(config: &RelayConfig) -> anyhow::Result<SecretString> {
    match (&config.secret, &config.secret_file) {
        (Some(secret), _) => Ok(SecretString::from(secret.as_str())),
        (None, Some(path)) => read(path),
        // The config crate refuses a relay without a secret.
        (None, None) => bail!("the relay has no secret: set relay.secret or relay.secret_file"),
    }
}

fn read(path: &Path) -> anyhow::Result<SecretString> {
    let file = path.display();
    let metadata =
        fs::metadata(path).with_context(|| format!("cannot read the relay secret file {file}"))?;
    let mut text = fs::read_to_string(path)
        .with_context(|| format!("cannot read the relay secret file {file}"))?;
    let secret = SecretString::from(text.trim());
    text.zeroize();
    if secret.expose_secret().is_empty() {
        bail!("the relay secret file {file} is empty");
    }
    let mode = metadata.permissions().mode();
    if mode & 0o004 != 0 {
        warn!(
            "the relay secret file {file} is readable by every user (mode {:o}); \
             make it readable by the service only (chmod 600, or a systemd credential)",
            mode & 0o777
        );
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn config(secret: Option<&str>, secret_file: Option<&Path>) -> RelayConfig {
        RelayConfig {
            url: "http://127.0.0.1:6001".to_owned(),
            app_id: "app-id".to_owned(),
            key: "app-key".to_owned(),
            secret: secret.map(str::to_owned),
            secret_file: secret_file.map(Path::to_path_buf),
            channel: "esplora".to_owned(),
            event: "reading".to_owned(),
            max_rate_hz: 10.0,
            daily_message_budget: None,
        }
    }

    #[test]
    fn an_inline_secret_is_used_as_is() {
        let secret = load(&config(Some("s3cret"), None)).unwrap();
        assert_eq!(secret.expose_secret(), "s3cret");
    }

    #[test]
    fn a_secret_file_is_read_and_trimmed() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(b"s3cret\n").unwrap();
        let secret = load(&config(None, Some(file.path()))).unwrap();
        assert_eq!(secret.expose_secret(), "s3cret");
    }

    #[test]
    fn a_missing_file_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay-secret");
        let error = load(&config(None, Some(&path))).unwrap_err();
        let text = format!("{error:#}");
        assert!(
            text.starts_with(&format!(
                "cannot read the relay secret file {}",
                path.display()
            )),
            "{text}"
        );
    }

    #[test]
    fn an_empty_file_is_an_error() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(b"\n").unwrap();
        let error = load(&config(None, Some(file.path()))).unwrap_err();
        assert!(error.to_string().ends_with("is empty"), "{error}");
    }
}
