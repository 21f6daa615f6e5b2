//! [`Config::from_toml`]: config text in, a checked [`Config`] or one
//! located error out.
//!
//! It runs three stages, each of which can fail with a position:
//!
//! 1. TOML syntax: toml gives a span; the key comes from whatever of the
//!    document it could still recover.
//! 2. The schema (types, unknown keys, single-value checks in
//!    `fields`): toml gives the span of the key or value.
//! 3. Checks across fields, which have no span of their own: the error points
//!    at the key it names, looked up in the document.
//!
//! The first error stops the parse: the daemon refuses to start either way,
//! and a later error might only be a consequence of the first.

use std::path::Path;

use serde::Deserialize;
use toml::de::{DeTable, Deserializer};

use crate::error::ConfigError;
use crate::locate::Document;
use crate::schema::Config;

impl Config {
    /// Parses and validates config text. `origin` is the file's path, used
    /// only in error messages: this crate does no I/O.
    ///
    /// ```
    /// use std::path::Path;
    /// use esplora_config::Config;
    ///
    /// let config = Config::from_toml("[http]\nhistory = 64\n", Path::new("bridge.toml")).unwrap();
    /// assert_eq!(config.http.history, 64);
    ///
    /// let error = Config::from_toml("[http]\nhistory = 0\n", Path::new("bridge.toml")).unwrap_err();
    /// assert_eq!(
    ///     error.to_string(),
    ///     "bridge.toml:2:11: http.history: invalid value: integer `0`, expected an integer from 1 to 1000000",
    /// );
    /// ```
    pub fn from_toml(text: &str, origin: &Path) -> Result<Config, ConfigError> {
        let (root, syntax_errors) = DeTable::parse_recoverable(text);
        let document = Document::new(text, origin, &root);
        if let Some(error) = syntax_errors.first() {
            let mut message = error.message().to_owned();
            // toml reads an unquoted address (`listen = 127.0.0.1:8080`) as a
            // malformed float, and says only that.
            if message.starts_with("invalid float") {
                message.push_str(" (an address or other text must be in quotes)");
            }
            return Err(document.error_at_span(error.span(), &message));
        }
        // The tree is kept for locating errors; deserializing consumes a copy.
        let config = Config::deserialize(Deserializer::from(root.clone()))
            .map_err(|error| document.error_at_span(error.span(), error.message()))?;
        config
            .check()
            .map_err(|(path, message)| document.error_at_key(&path, &message))?;
        Ok(config)
    }

    /// Checks that involve more than one value; returns the key to blame.
    fn check(&self) -> Result<(), (Vec<&str>, String)> {
        if self.http.token.is_some() && self.http.token_file.is_some() {
            return Err((
                vec!["http", "token_file"],
                "set either `token` or `token_file`, not both".to_owned(),
            ));
        }
        if let Some(relay) = &self.relay {
            match (&relay.secret, &relay.secret_file) {
                (Some(_), Some(_)) => {
                    return Err((
                        vec!["relay", "secret_file"],
                        "set either `secret` or `secret_file`, not both".to_owned(),
                    ));
                }
                (None, None) => {
                    return Err((
                        vec!["relay"],
                        "the relay needs its secret: set `secret` or `secret_file`".to_owned(),
                    ));
                }
                _ => {}
            }
        }
        if let Some(mqtt) = &self.mqtt
            && mqtt.password.is_some()
            && mqtt.password_file.is_some()
        {
            return Err((
                vec!["mqtt", "password_file"],
                "set either `password` or `password_file`, not both".to_owned(),
            ));
        }
        if self.history.rollup_retention < self.history.raw_retention {
            return Err((
                vec!["history", "rollup_retention"],
                "rollups must be kept at least as long as raw_retention".to_owned(),
            ));
        }
        if let Some((key, message)) = self.names.find_clash() {
            return Err((vec!["names", key], message));
        }
        // Fields are keyed by published name; a board key that is
        // published under another name would never match a field.
        for (field, described) in &self.fields {
            let published = self.names.mapped().any(|(_, name)| name == field);
            let renamed = self.names.name_of(field);
            if !published && renamed != field {
                return Err((
                    vec!["fields", field],
                    format!(
                        "fields are keyed by JSON name: key `{field}` is published as {renamed:?}"
                    ),
                ));
            }
            match (described.min, described.max) {
                (Some(min), Some(max)) if min.as_f64() >= max.as_f64() => {
                    return Err((
                        vec!["fields", field, "max"],
                        format!("max ({max}) must be above min ({min})"),
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }
}
