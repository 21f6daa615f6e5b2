//! The relay's secret: taken from the config, or read from `secret_file`
//! once at start-up (see [`crate::secret`]), so that a missing or
//! unreadable file stops the daemon before anything runs, with the file's
//! name in the error.

use anyhow::bail;
use esplora_config::RelayConfig;
use secrecy::SecretString;

use crate::secret;

/// The secret of `config`: inline, or the content of its `secret_file`
/// with surrounding white space (the newline an editor adds) removed.
pub fn load(config: &RelayConfig) -> anyhow::Result<SecretString> {
    match (&config.secret, &config.secret_file) {
        (Some(secret), _) => Ok(SecretString::from(secret.as_str())),
        (None, Some(path)) => secret::read_file(path, "relay secret"),
        // The config crate refuses a relay without a secret.
        (None, None) => bail!("the relay has no secret: set relay.secret or relay.secret_file"),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::path::Path;

    use secrecy::ExposeSecret;

    use super::*;

    fn config(secret: Option<&str>, secret_file: Option<&Path>) -> RelayConfig {
        RelayConfig {
            url: vec!["http://127.0.0.1:6001".to_owned()],
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
