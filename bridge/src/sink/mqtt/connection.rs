//! The broker connection: the client's options from `[mqtt]` (address,
//! TLS, credentials, the Last Will), and the task that drives rumqttc's
//! event loop and tells the sink what happened on the link.
//!
//! rumqttc reconnects by itself when its event loop is polled after an
//! error; [`drive`] puts a backoff between attempts (doubling, with jitter,
//! up to [`MAX_BACKOFF`]) and logs an outage when it starts, not at every
//! attempt. A broker that refuses the credentials will refuse them again:
//! that is logged once, as an error, and retried only every
//! [`REFUSED_RETRY`].

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use esplora_config::MqttConfig;
use rand::Rng;
use rumqttc::{
    ConnectReturnCode, ConnectionError, Event, EventLoop, LastWill, MqttOptions, Outgoing, Packet,
    QoS, TlsConfiguration, Transport,
};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use secrecy::ExposeSecret;
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

const FIRST_BACKOFF: Duration = Duration::from_millis(250);
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
pub const REFUSED_RETRY: Duration = Duration::from_secs(60);
const KEEP_ALIVE: Duration = Duration::from_secs(30);

/// What happened on the link.
#[derive(Debug)]
pub enum Link {
    /// The broker accepted the connection (again).
    Up,
    /// The connection is lost; rumqttc is trying again.
    Down,
    /// A message on a subscribed topic.
    Message { topic: String, payload: Bytes },
}

/// The client's options: everything that can fail on a bad config fails
/// here, at start-up (a missing password or CA file).
pub fn options(
    config: &MqttConfig,
    client_id: &str,
    will_topic: &str,
    qos: QoS,
) -> anyhow::Result<MqttOptions> {
    let (tls, authority) = match config.url.split_once("://") {
        Some(("mqtts", rest)) => (true, rest),
        Some((_, rest)) => (false, rest),
        None => bail!("mqtt.url {:?} has no scheme", config.url),
    };
    let authority = authority.trim_end_matches('/');
    let (host, port) = split_host_port(authority, if tls { 8883 } else { 1883 })
        .with_context(|| format!("mqtt.url {:?}: expected HOST[:PORT]", config.url))?;
    let mut options = MqttOptions::new(client_id, host, port);
    options
        .set_keep_alive(KEEP_ALIVE)
        .set_clean_session(true)
        .set_last_will(LastWill::new(will_topic, "offline", qos, true));
    let password = match (&config.password, &config.password_file) {
        (Some(password), _) => Some(password.clone()),
        (None, Some(path)) => Some(
            crate::secret::read_file(path, "MQTT password")?
                .expose_secret()
                .to_owned(),
        ),
        (None, None) => None,
    };
    if config.username.is_some() || password.is_some() {
        options.set_credentials(
            config.username.clone().unwrap_or_default(),
            password.unwrap_or_default(),
        );
    }
    if tls {
        options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            tls_config(config.ca_file.as_deref())?,
        )));
    }
    Ok(options)
}

fn split_host_port(authority: &str, default: u16) -> Option<(String, u16)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(port) => port.parse().ok()?,
            None if after.is_empty() => default,
            None => return None,
        };
        return Some((host.to_owned(), port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Some((host.to_owned(), port.parse().ok()?)),
        None => Some((authority.to_owned(), default)),
    }
}

/// rustls with ring (as reqwest uses), checking the broker against
/// `ca_file`, else the system's roots.
fn tls_config(ca_file: Option<&Path>) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            for cert in CertificateDer::pem_file_iter(path)
                .with_context(|| format!("cannot read the MQTT CA file {}", path.display()))?
            {
                let cert = cert
                    .with_context(|| format!("the MQTT CA file {} is not PEM", path.display()))?;
                roots
                    .add(cert)
                    .with_context(|| format!("a bad certificate in {}", path.display()))?;
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            for cert in native.certs {
                let _ = roots.add(cert);
            }
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("cannot set up TLS for MQTT")?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Polls the event loop until the client disconnects or the sink is gone,
/// reporting to `links`.
pub async fn drive(mut eventloop: EventLoop, links: mpsc::Sender<Link>, url: String) {
    let mut failures = 0_u32;
    let mut up = false;
    // The outage being logged: none, or its reason.
    let mut logged: Option<String> = None;
    loop {
        let polled = eventloop.poll().await;
        let link = match polled {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                failures = 0;
                up = true;
                if logged.take().is_some() {
                    info!(%url, "connected to the MQTT broker again");
                } else {
                    info!(%url, "connected to the MQTT broker");
                }
                Link::Up
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => Link::Message {
                topic: publish.topic,
                payload: publish.payload,
            },
            Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
            Ok(_) => continue,
            Err(error) => {
                let refused = matches!(
                    error,
                    ConnectionError::ConnectionRefused(
                        ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized
                    )
                );
                let reason = error.to_string();
                let wait = if refused {
                    REFUSED_RETRY
                } else {
                    let ceiling = FIRST_BACKOFF
                        .saturating_mul(1 << failures.min(16))
                        .min(MAX_BACKOFF);
                    ceiling.mul_f64(rand::rng().random_range(0.5..=1.0))
                };
                failures = failures.saturating_add(1);
                if logged.as_deref() != Some(reason.as_str()) {
                    if refused {
                        error!(
                            %url,
                            "the MQTT broker refused the credentials ({reason}); \
                             trying again every {REFUSED_RETRY:?} (logged once)"
                        );
                    } else {
                        warn!(%url, "no MQTT broker connection ({reason}); retrying with backoff");
                    }
                    logged = Some(reason);
                } else {
                    debug!("MQTT broker still unreachable; next try in {wait:.1?}");
                }
                let was_up = std::mem::take(&mut up);
                if was_up && links.send(Link::Down).await.is_err() {
                    return;
                }
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = links.closed() => return,
                }
                continue;
            }
        };
        if links.send(link).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_ports() {
        assert_eq!(split_host_port("h", 1883), Some(("h".to_owned(), 1883)));
        assert_eq!(split_host_port("h:99", 1883), Some(("h".to_owned(), 99)));
        assert_eq!(
            split_host_port("[::1]:99", 1883),
            Some(("::1".to_owned(), 99))
        );
        assert_eq!(
            split_host_port("[::1]", 8883),
            Some(("::1".to_owned(), 8883))
        );
        assert_eq!(split_host_port("h:x", 1883), None);
    }
}
