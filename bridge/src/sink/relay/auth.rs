//! `POST /pusher/auth`, the route the relay adds to the local server: the
//! signature a Pusher client (pusher-js) needs to subscribe to a `private-`
//! channel of the relay, made with the relay's secret, which so never has
//! to leave the daemon.
//!
//! The request is a form, as pusher-js sends it:
//! `socket_id=1234.1234&channel_name=private-esplora`; the answer is
//! `{"auth":"<key>:<signature>"}`. A socket id that is not `digits.digits`,
//! or a channel that is not `private-`, is a 400 with a JSON `error`.
//! Encrypted (`private-encrypted-`) and presence channels need more than a
//! signature and are refused the same way. Without a `[relay]` the route
//! does not exist: 404.
//!
//! Anyone who may use the local server can get a signature: its listen
//! address (loopback by default) and its token are the gate, applied by
//! the server with its body limit before the form reaches [`route`].

use std::sync::Arc;

use hyper::StatusCode;
use serde_json::json;

use super::sign::Credentials;
use crate::sink::{Reply, Route};

/// Pusher's longest channel name.
const MAX_CHANNEL: usize = 164;

/// The route, signing with `credentials`.
pub fn route(credentials: Arc<Credentials>) -> Route {
    Route {
        path: "/pusher/auth",
        method: "POST",
        handler: Arc::new(move |form| answer(&credentials, form)),
    }
}

fn answer(credentials: &Credentials, form: &[u8]) -> Reply {
    match parse(form) {
        Ok((socket_id, channel)) => Reply {
            status: StatusCode::OK,
            json: json!({"auth": credentials.channel_auth(&socket_id, &channel)}),
        },
        Err(message) => Reply {
            status: StatusCode::BAD_REQUEST,
            json: json!({ "error": message }),
        },
    }
}

/// The form's `socket_id` and `channel_name`, checked.
fn parse(form: &[u8]) -> Result<(String, String), String> {
    let mut socket_id = None;
    let mut channel = None;
    for (name, value) in form_urlencoded::parse(form) {
        match &*name {
            "socket_id" => socket_id = Some(value.into_owned()),
            "channel_name" => channel = Some(value.into_owned()),
            _ => {}
        }
    }
    let socket_id = socket_id.ok_or("socket_id is missing")?;
    let channel = channel.ok_or("channel_name is missing")?;
    let digits =
        |part: &str| (1..=20).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_digit());
    match socket_id.split_once('.') {
        Some((left, right)) if digits(left) && digits(right) => {}
        _ => {
            return Err(format!(
                "malformed socket_id {socket_id:?}: expected digits.digits"
            ));
        }
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_-=@,.;".contains(c);
    if !channel.starts_with("private-") || channel.starts_with("private-encrypted-") {
        return Err(format!(
            "channel {channel:?} is not a private- channel (encrypted and presence channels are not offered)"
        ));
    }
    if channel.len() > MAX_CHANNEL || !channel.chars().all(allowed) {
        return Err(format!("invalid channel name {channel:?}"));
    }
    Ok((socket_id, channel))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_private_channel_and_a_socket_id_are_accepted() {
        assert_eq!(
            parse(b"socket_id=1234.1234&channel_name=private-foobar"),
            Ok(("1234.1234".to_owned(), "private-foobar".to_owned()))
        );
        // Form encoding, in any order.
        assert_eq!(
            parse(b"channel_name=private-a%3Db&socket_id=1.2"),
            Ok(("1.2".to_owned(), "private-a=b".to_owned()))
        );
    }

    #[test]
    fn malformed_input_is_refused_with_a_reason() {
        for (form, reason) in [
            (&b"channel_name=private-a"[..], "socket_id is missing"),
            (b"socket_id=1.2", "channel_name is missing"),
            (
                b"socket_id=12&channel_name=private-a",
                "malformed socket_id",
            ),
            (
                b"socket_id=1.2.3&channel_name=private-a",
                "malformed socket_id",
            ),
            (
                b"socket_id=a.1&channel_name=private-a",
                "malformed socket_id",
            ),
            (
                b"socket_id=.1&channel_name=private-a",
                "malformed socket_id",
            ),
            (
                b"socket_id=1.2&channel_name=esplora",
                "is not a private- channel",
            ),
            (
                b"socket_id=1.2&channel_name=presence-a",
                "is not a private- channel",
            ),
            (
                b"socket_id=1.2&channel_name=private-encrypted-a",
                "is not a private- channel",
            ),
            (
                b"socket_id=1.2&channel_name=private-a%20b",
                "invalid channel name",
            ),
        ] {
            let error = parse(form).unwrap_err();
            assert!(
                error.contains(reason),
                "{:?}: {error}",
                String::from_utf8_lossy(form)
            );
        }
    }
}
