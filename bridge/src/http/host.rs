//! Which host a request names, and whether this server answers for it.
//!
//! - RFC 9112 §3.2: a request must carry exactly one `Host`, with a valid
//!   value; a request with none, two, or a malformed one is a `400`
//!   ([`requested`]). When the request target is in absolute form
//!   (`GET http://name/path`), its authority is the host and `Host` is
//!   only checked for being there, as the RFC says.
//! - DNS rebinding: a page at `http://evil.example:8080` whose name has
//!   been made to resolve to 127.0.0.1 reaches this server as a same-origin
//!   page of evil.example, and the browser lets it read every answer. What
//!   gives it away is the `Host` it sends: evil.example. So [`Hosts`] says
//!   which names the server answers for: loopback names (`localhost`,
//!   `*.localhost`, which browsers resolve to loopback themselves), loopback
//!   addresses, the listen address and the address the connection arrived
//!   at (an address is its own origin: no name was rebound), and
//!   `[http] allowed_hosts`. The router refuses any other with `421`
//!   when no token is set; with a token, the token is the guard.
//! - The WebSocket's origin check ([`Access`](super::Access)) uses the same
//!   list: a page's own origin is accepted only when its host is one of
//!   these, never just because `Origin` and `Host` agree (under DNS
//!   rebinding they do).
//!
//! The port is not compared: a rebinding page has to name this server's
//! port to reach it at all, so a port tells nothing.

use std::net::{IpAddr, SocketAddr};

use hyper::Request;
use hyper::header::HOST;
use hyper::http::uri::Authority;

/// The address a connection arrived at, put in each request's extensions
/// by the server.
#[derive(Clone, Copy)]
pub struct Arrived(pub IpAddr);

/// A host as a request names it, without its port.
#[derive(Debug, PartialEq, Eq)]
pub enum Host {
    /// A name, in lower case, without a trailing dot.
    Name(String),
    Ip(IpAddr),
}

impl Host {
    /// The host of `authority` (`name`, `name:port`, `1.2.3.4:80`,
    /// `[::1]:80`); `None` when it has none, or has user info (which a
    /// `Host` may not carry).
    pub fn of(authority: &str) -> Option<Host> {
        if authority.contains('@') {
            return None;
        }
        let authority: Authority = authority.parse().ok()?;
        let host = authority.host();
        // With no user info, the host comes first; the port, if any, must
        // be a number (the parser lets other text through).
        let port = authority.as_str().get(host.len()..)?;
        if !port.is_empty() && port.strip_prefix(':')?.parse::<u16>().is_err() {
            return None;
        }
        if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            return v6.parse().ok().map(Host::Ip);
        }
        if let Ok(ip) = host.parse() {
            return Some(Host::Ip(ip));
        }
        let name = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
        (!name.is_empty()).then_some(Host::Name(name))
    }
}

/// The address `request`'s connection arrived at, if the server noted it.
pub fn arrived<B>(request: &Request<B>) -> Option<IpAddr> {
    request.extensions().get::<Arrived>().map(|Arrived(ip)| *ip)
}

/// The host `request` is for, or why it is a `400`.
pub fn requested<B>(request: &Request<B>) -> Result<Host, &'static str> {
    let mut hosts = request.headers().get_all(HOST).iter();
    let (Some(host), None) = (hosts.next(), hosts.next()) else {
        return Err("a request needs exactly one Host header (RFC 9112, section 3.2)\n");
    };
    let from_header = host.to_str().ok().and_then(Host::of);
    let host = match request.uri().authority() {
        Some(target) => Host::of(target.as_str()),
        None => from_header,
    };
    host.ok_or("the Host header is not a valid host[:port]\n")
}

/// The hosts this server answers for (see the module's doc).
pub struct Hosts {
    listen: IpAddr,
    names: Vec<String>,
    ips: Vec<IpAddr>,
}

impl Hosts {
    /// The loopback hosts, `listen`'s address, and `allowed` (names and
    /// addresses, as `[http] allowed_hosts` holds them).
    pub fn new(listen: SocketAddr, allowed: &[String]) -> Hosts {
        let mut names = Vec::new();
        let mut ips = Vec::new();
        for host in allowed {
            // The config has checked each: a name, an address, or an IPv6
            // address in brackets, none with a port.
            let bare = host
                .strip_prefix('[')
                .and_then(|rest| rest.strip_suffix(']'))
                .unwrap_or(host);
            match bare.parse() {
                Ok(ip) => ips.push(ip),
                Err(_) => names.push(host.to_ascii_lowercase()),
            }
        }
        Hosts {
            listen: listen.ip(),
            names,
            ips,
        }
    }

    /// Whether the server answers requests for `host` on a connection that
    /// arrived at `arrived`.
    pub fn answers(&self, host: &Host, arrived: Option<IpAddr>) -> bool {
        match host {
            Host::Name(name) => {
                name == "localhost"
                    || name.ends_with(".localhost")
                    || self.names.iter().any(|allowed| allowed == name)
            }
            Host::Ip(ip) => {
                let ip = ip.to_canonical();
                ip.is_loopback()
                    || ip == self.listen.to_canonical()
                    || arrived.is_some_and(|arrived| arrived.to_canonical() == ip)
                    || self.ips.iter().any(|allowed| allowed.to_canonical() == ip)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(target: &str, hosts: &[&str]) -> Request<()> {
        let mut request = Request::builder().uri(target);
        for host in hosts {
            request = request.header(HOST, *host);
        }
        request.body(()).unwrap()
    }

    fn name(name: &str) -> Host {
        Host::Name(name.to_owned())
    }

    #[test]
    fn a_request_names_exactly_one_valid_host() {
        assert_eq!(
            requested(&request("/", &["Example.COM.:8080"])),
            Ok(name("example.com"))
        );
        assert_eq!(
            requested(&request("/", &["[::1]:8080"])),
            Ok(Host::Ip("::1".parse().unwrap()))
        );
        assert_eq!(
            requested(&request("/", &["127.0.0.1"])),
            Ok(Host::Ip("127.0.0.1".parse().unwrap()))
        );
        // An absolute target wins over Host.
        assert_eq!(
            requested(&request("http://evil.example/api/latest", &["127.0.0.1"])),
            Ok(name("evil.example"))
        );
        for hosts in [
            &[][..],
            &["127.0.0.1", "127.0.0.1"],
            &[""],
            &["a b"],
            &["user@127.0.0.1"],
            &["127.0.0.1:port"],
            &["[::1"],
        ] {
            assert!(requested(&request("/", hosts)).is_err(), "{hosts:?}");
        }
    }

    #[test]
    fn loopback_the_listen_and_arrival_addresses_and_allowed_hosts_are_answered() {
        let hosts = Hosts::new(
            "10.0.0.5:8080".parse().unwrap(),
            &[
                "bridge.lan".to_owned(),
                "[fd00::7]".to_owned(),
                "192.168.1.9".to_owned(),
            ],
        );
        let ip = |text: &str| Host::Ip(text.parse().unwrap());
        let arrived = Some("172.16.0.3".parse().unwrap());
        for host in [
            name("localhost"),
            name("app.localhost"),
            name("bridge.lan"),
            ip("127.0.0.1"),
            ip("127.1.2.3"),
            ip("::1"),
            ip("::ffff:127.0.0.1"),
            ip("10.0.0.5"),
            ip("172.16.0.3"),
            ip("fd00::7"),
            ip("192.168.1.9"),
        ] {
            assert!(hosts.answers(&host, arrived), "{host:?}");
        }
        for host in [
            name("evil.example"),
            name("localhost.evil.example"),
            name("notlocalhost"),
            name("lan"),
            ip("10.0.0.6"),
            ip("8.8.8.8"),
        ] {
            assert!(!hosts.answers(&host, arrived), "{host:?}");
        }
    }
}
