//! Pusher's signatures: of HTTP API requests, and of private-channel
//! subscriptions. Pure functions of their inputs (the clock is an argument),
//! so the worked examples of Pusher's documentation are their tests.
//!
//! A request is signed by its query string: `auth_key`, `auth_timestamp`,
//! `auth_version=1.0`, `body_md5` (hex MD5 of the body, only when there is
//! one) and any other parameters, sorted by name and joined as
//! `name=value&...`; `auth_signature` is the hex HMAC-SHA256, under the
//! app's secret, of `METHOD\nPATH\nQUERY`. The server recomputes it, so the
//! query is built once and used both for signing and for sending.
//!
//! Values are not percent-escaped: every value signed here (the key, hex
//! digests, digits, `subscription_count`) is made of characters a URL never
//! escapes, which the config checks for the key.

use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// An app's key and secret. The secret is only ever used as an HMAC key:
/// it is not printable (`Debug` shows it redacted) and is wiped on drop.
#[derive(Debug)]
pub struct Credentials {
    key: String,
    secret: SecretString,
}

impl Credentials {
    pub fn new(key: String, secret: SecretString) -> Self {
        Credentials { key, secret }
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// The query string of a signed request, `auth_signature` included.
    /// `params` are the request's own parameters, besides the auth ones.
    pub fn signed_query(
        &self,
        method: &str,
        path: &str,
        params: &[(&str, &str)],
        body: &[u8],
        timestamp: u64,
    ) -> String {
        let timestamp = timestamp.to_string();
        let md5 = (!body.is_empty()).then(|| body_md5(body));
        let mut all: Vec<(&str, &str)> = vec![
            ("auth_key", &self.key),
            ("auth_timestamp", &timestamp),
            ("auth_version", "1.0"),
        ];
        if let Some(md5) = &md5 {
            all.push(("body_md5", md5));
        }
        all.extend_from_slice(params);
        all.sort_unstable();
        let query = all
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("&");
        let signature = self.hmac_hex(&format!("{method}\n{path}\n{query}"));
        format!("{query}&auth_signature={signature}")
    }

    /// The `auth` answer to a private-channel subscription:
    /// `key:hex HMAC-SHA256 of "socket_id:channel"`.
    pub fn channel_auth(&self, socket_id: &str, channel: &str) -> String {
        format!(
            "{}:{}",
            self.key,
            self.hmac_hex(&format!("{socket_id}:{channel}"))
        )
    }

    fn hmac_hex(&self, message: &str) -> String {
        // HMAC takes a key of any length, so this cannot fail.
        let mut mac = Hmac::<Sha256>::new_from_slice(self.secret.expose_secret().as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        mac.update(message.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// The hex MD5 of a request body, as `body_md5` carries it.
pub fn body_md5(body: &[u8]) -> String {
    hex::encode(Md5::digest(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The app of Pusher's worked examples.
    fn docs_app() -> Credentials {
        Credentials::new(
            "278d425bdf160c739803".to_owned(),
            SecretString::from("7ad3773142a6692b25b8"),
        )
    }

    const DOCS_BODY: &str =
        r#"{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}"#;

    #[test]
    fn the_body_md5_of_the_docs_example() {
        assert_eq!(
            body_md5(DOCS_BODY.as_bytes()),
            "ec365a775a4cd0599faeb73354201b6f"
        );
    }

    #[test]
    fn the_request_signature_of_the_docs_example() {
        let query = docs_app().signed_query(
            "POST",
            "/apps/3/events",
            &[],
            DOCS_BODY.as_bytes(),
            1_353_088_179,
        );
        assert_eq!(
            query,
            "auth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0\
             &body_md5=ec365a775a4cd0599faeb73354201b6f\
             &auth_signature=da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"
        );
    }

    #[test]
    fn the_channel_auth_of_the_docs_example() {
        assert_eq!(
            docs_app().channel_auth("1234.1234", "private-foobar"),
            "278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
        );
    }

    #[test]
    fn a_request_without_a_body_has_no_body_md5_and_its_params_are_sorted_in() {
        let app = docs_app();
        let query = app.signed_query(
            "GET",
            "/apps/3/channels/esplora",
            &[("info", "subscription_count")],
            b"",
            1_353_088_179,
        );
        let (signed, signature) = query.split_once("&auth_signature=").unwrap();
        assert_eq!(
            signed,
            "auth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0\
             &info=subscription_count"
        );
        assert_eq!(
            signature,
            app.hmac_hex(&format!("GET\n/apps/3/channels/esplora\n{signed}"))
        );
    }

    #[test]
    fn debug_does_not_show_the_secret() {
        let shown = format!("{:?}", docs_app());
        assert!(shown.contains("278d425bdf160c739803"), "{shown}");
        assert!(!shown.contains("7ad3773142a6692b25b8"), "{shown}");
    }
}
