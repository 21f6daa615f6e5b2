//! A real Mosquitto broker for the MQTT tests, started from Debian's
//! `mosquitto` on a free loopback port with a generated config (anonymous,
//! or with a password file), killed when dropped; and [`Watcher`], an MQTT
//! client (rumqttc) that subscribes to everything and keeps what arrives.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

use super::WAIT;
use super::server::Server;

pub const INSTALL: &str = "apt-get install mosquitto mosquitto-clients";

pub struct Mosquitto {
    server: Server,
    pub port: u16,
    /// With [`Mosquitto::start_tls`]: the TLS listener's port and the CA
    /// file its certificate is signed by.
    pub tls: Option<(u16, PathBuf)>,
}

impl Mosquitto {
    /// Starts a broker; with `login`, only that user and password get in.
    pub async fn start(login: Option<(&str, &str)>) -> Mosquitto {
        Self::start_with(login, false).await
    }

    /// Starts a broker with a second listener, on TLS, whose certificate
    /// (for `localhost`) is signed by a CA this makes with `openssl`.
    pub async fn start_tls() -> Mosquitto {
        Self::start_with(None, true).await
    }

    async fn start_with(login: Option<(&str, &str)>, tls: bool) -> Mosquitto {
        let server = Server::new("mosquitto");
        let dir = server.dir();
        let port = server.port;
        let mut config = format!(
            "listener {port} 127.0.0.1\npersistence false\nlog_dest stderr\nlog_type all\n"
        );
        let tls = tls.then(|| {
            let tls_port = super::server::free_port();
            let ca = make_certificates(dir);
            let path = |name: &str| dir.join(name).display().to_string();
            config.push_str(&format!(
                "listener {tls_port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\n",
                path("ca.pem"),
                path("server.pem"),
                path("server.key")
            ));
            (tls_port, ca)
        });
        match login {
            Some((user, password)) => {
                let file = dir.join("passwords");
                let status = Command::new(tool("mosquitto_passwd"))
                    .args(["-b", "-c"])
                    .arg(&file)
                    .args([user, password])
                    .status()
                    .expect("mosquitto_passwd should run");
                assert!(status.success(), "mosquitto_passwd failed: {status}");
                config.push_str(&format!(
                    "allow_anonymous false\npassword_file {}\n",
                    file.display()
                ));
            }
            None => config.push_str("allow_anonymous true\n"),
        }
        std::fs::write(dir.join("mosquitto.conf"), config)
            .expect("the mosquitto config should be writable");
        let mut broker = Mosquitto { server, port, tls };
        broker.restart().await;
        broker
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// Kills it, as a crash would.
    pub fn stop(&mut self) {
        self.server.stop();
    }

    /// Starts it (again) on the same port and waits until it takes
    /// connections.
    pub async fn restart(&mut self) {
        let mut command = Command::new(tool("mosquitto"));
        command
            .arg("-c")
            .arg(self.server.dir().join("mosquitto.conf"));
        self.server
            .start(&mut command, |port| async move {
                tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .is_ok()
            })
            .await;
    }
}

/// A Mosquitto program: `mosquitto` is in /usr/sbin, often not on a
/// user's `PATH`.
fn tool(name: &str) -> PathBuf {
    let sbin = PathBuf::from("/usr/sbin").join(name);
    if sbin.is_file() {
        return sbin;
    }
    super::tool(name, INSTALL)
}

/// A CA and a server certificate for `localhost` signed by it, made with
/// the `openssl` command line in `dir`; returns the CA's file.
fn make_certificates(dir: &std::path::Path) -> PathBuf {
    let openssl = |args: &[&str]| {
        let output = Command::new(super::tool("openssl", "apt-get install openssl"))
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl should run");
        assert!(
            output.status.success(),
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "1",
                "-subj",
                "/CN=esplora test CA",
            ],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=localhost",
            ],
        ]
        .concat(),
    );
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .expect("the extension file should be writable");
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "1",
        "-extfile",
        "san.ext",
    ]);
    // Mosquitto started as root reads its files as the `mosquitto` user.
    use std::os::unix::fs::PermissionsExt;
    for (path, mode) in [(dir.to_path_buf(), 0o755), (dir.join("server.key"), 0o644)] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .expect("the test's own files");
    }
    dir.join("ca.pem")
}

/// One message as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub topic: String,
    pub payload: String,
    pub retain: bool,
}

/// Every message received on the subscribed topics, in order.
#[derive(Debug, Default)]
pub struct Messages {
    pub all: Vec<Received>,
}

impl Messages {
    /// The last payload on `topic`.
    pub fn latest(&self, topic: &str) -> Option<&str> {
        self.all
            .iter()
            .rev()
            .find(|m| m.topic == topic)
            .map(|m| m.payload.as_str())
    }

    pub fn count(&self, topic: &str) -> usize {
        self.all.iter().filter(|m| m.topic == topic).count()
    }

    /// The last payload of every topic under `prefix/`.
    pub fn under(&self, prefix: &str) -> HashMap<String, String> {
        let mut map = HashMap::new();
        for message in &self.all {
            if let Some(rest) = message.topic.strip_prefix(prefix) {
                map.insert(rest.to_owned(), message.payload.clone());
            }
        }
        map
    }
}

/// An MQTT client subscribed to `#`, keeping everything it receives.
pub struct Watcher {
    pub client: AsyncClient,
    messages: Arc<Mutex<Messages>>,
    task: tokio::task::JoinHandle<()>,
}

impl Watcher {
    /// Connects (as `login`, if given), subscribes to `#`, and waits for
    /// the subscription to be acknowledged.
    pub async fn connect(port: u16, login: Option<(&str, &str)>) -> Watcher {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let id = format!(
            "watcher-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let mut options = MqttOptions::new(id, "127.0.0.1", port);
        options.set_max_packet_size(1 << 20, 1 << 20);
        if let Some((user, password)) = login {
            options.set_credentials(user, password);
        }
        let (client, mut eventloop) = AsyncClient::new(options, 64);
        client
            .subscribe("#", QoS::AtLeastOnce)
            .await
            .expect("the subscription should queue");
        let messages = Arc::new(Mutex::new(Messages::default()));
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, eventloop.poll()).await {
                Ok(Ok(Event::Incoming(Packet::SubAck(_)))) => break,
                Ok(Ok(Event::Incoming(Packet::Publish(publish)))) => {
                    messages.lock().unwrap().all.push(received(&publish));
                }
                Ok(Ok(_)) => {}
                Ok(Err(error)) => panic!("the watcher cannot connect to the broker: {error}"),
                Err(_) => panic!("the watcher got no SUBACK within {WAIT:?}"),
            }
        }
        let kept = Arc::clone(&messages);
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::Publish(publish))) => {
                        kept.lock().unwrap().all.push(received(&publish));
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        });
        Watcher {
            client,
            messages,
            task,
        }
    }

    /// Waits until `check` finds what it wants in the messages.
    pub async fn wait_for<T>(&self, what: &str, check: impl Fn(&Messages) -> Option<T>) -> T {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(found) = check(&self.messages.lock().unwrap()) {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {WAIT:?} waiting for {what}; received: {:#?}",
                self.messages
                    .lock()
                    .unwrap()
                    .all
                    .iter()
                    .rev()
                    .take(20)
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn with<T>(&self, read: impl FnOnce(&Messages) -> T) -> T {
        read(&self.messages.lock().unwrap())
    }

    pub async fn publish(&self, topic: &str, payload: &str) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload.as_bytes().to_vec())
            .await
            .expect("the publish should queue");
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn received(publish: &rumqttc::Publish) -> Received {
    Received {
        topic: publish.topic.clone(),
        payload: String::from_utf8_lossy(&publish.payload).into_owned(),
        retain: publish.retain,
    }
}
