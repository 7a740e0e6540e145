//! The client address of a request: the TCP peer, unless the peer is a
//! trusted proxy (`EMBEDGATE_TRUSTED_PROXIES`), in which case it is read
//! from `X-Forwarded-For`. The limiter counts failures under it and the
//! audit log records it.
//!
//! `X-Forwarded-For` is read right to left: each trusted proxy appends the
//! address it received the request from, so the right-most address that is
//! not itself a trusted proxy is the client as the outermost trusted proxy
//! saw it. Everything to its left was written by the client and is never
//! believed. From a peer that is not trusted the header is ignored whole.
//! An entry that does not parse where the client should be (the proxy
//! chain is garbled) falls back to the peer. `Forwarded` (RFC 7239) is not
//! read.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::HeaderMap;

use super::AppState;

/// An address block: an address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` is in the block (IPv4-mapped IPv6 addresses as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::str::FromStr for Cidr {
    type Err = String;

    /// `ADDR` (a single address) or `ADDR/PREFIX`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let bad = || format!("{s:?} is not an IP address or CIDR block (such as 10.0.0.0/8 or fd00::/8)");
        let (addr, prefix) = s.split_once('/').map_or((s, None), |(a, p)| (a, Some(p)));
        let net = canonical(addr.parse::<IpAddr>().map_err(|_| bad())?);
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
        };
        Ok(Self { net, prefix })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.net, self.prefix)
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// The proxies whose `X-Forwarded-For` is believed (none by default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Cidr>);

impl std::fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, c) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

impl TrustedProxies {
    /// These blocks.
    pub fn new(blocks: Vec<Cidr>) -> Self {
        Self(blocks)
    }

    /// Parses a comma-separated list (empty items ignored).
    pub fn parse(list: &str) -> Result<Self, String> {
        list.split(',').filter(|s| !s.trim().is_empty()).map(str::parse).collect::<Result<_, _>>().map(Self)
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` is a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }

    /// The client address of a request from `peer` with these headers.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.contains(peer) {
            return peer;
        }
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(ip) = parse_hop(hop) else { return peer };
            client = ip;
            if !self.contains(ip) {
                break;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, optionally with a port
/// (`192.0.2.1:443`, `[2001:db8::1]:443`, `[2001:db8::1]`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| hop.strip_prefix('[').and_then(|h| h.strip_suffix(']')).and_then(|h| h.parse().ok()))
        .map(canonical)
}

/// The request's client address (see the module). Without `ConnectInfo`
/// (a `oneshot` test) the peer is `0.0.0.0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    /// The client address of `parts` under `trusted`.
    pub fn of(parts: &Parts, trusted: &TrustedProxies) -> Self {
        let peer =
            parts.extensions.get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        Self(trusted.client(peer, &parts.headers))
    }
}

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Self::of(parts, &state.trusted_proxies))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", axum::http::HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn proxies(list: &str) -> TrustedProxies {
        TrustedProxies::parse(list).unwrap()
    }

    #[test]
    fn blocks_parse_and_match() {
        let t = proxies("10.0.0.0/8, 192.0.2.5 ,fd00::/8,,");
        assert_eq!(t.0.len(), 3);
        assert!(t.contains(ip("10.200.3.4")));
        assert!(t.contains(ip("::ffff:10.1.1.1")), "mapped IPv4");
        assert!(t.contains(ip("192.0.2.5")));
        assert!(!t.contains(ip("192.0.2.6")));
        assert!(t.contains(ip("fd12::1")));
        assert!(!t.contains(ip("fe80::1")));
        assert!(proxies("0.0.0.0/0").contains(ip("203.0.113.9")));
        for bad in ["10.0.0.0/33", "fd00::/129", "10.0.0/8", "example.com", "10.0.0.0/x"] {
            assert!(TrustedProxies::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_spoofed_header_from_an_untrusted_peer_is_ignored() {
        let t = proxies("10.0.0.0/8");
        let spoof = xff(&["10.9.9.9, 198.51.100.1"]);
        assert_eq!(t.client(ip("203.0.113.7"), &spoof), ip("203.0.113.7"));
        // No proxies configured: never read.
        assert_eq!(TrustedProxies::default().client(ip("10.0.0.1"), &spoof), ip("10.0.0.1"));
    }

    #[test]
    fn behind_trusted_proxies_the_right_most_untrusted_address_is_the_client() {
        let t = proxies("10.0.0.0/8");
        // The client forged the first entry; the proxy appended the real peer.
        let h = xff(&["198.51.100.1, 203.0.113.7"]);
        assert_eq!(t.client(ip("10.0.0.2"), &h), ip("203.0.113.7"));
        // Two trusted hops, several header lines, ports and brackets.
        let h = xff(&["198.51.100.1", "203.0.113.7:5555, 10.1.1.1", "10.2.2.2"]);
        assert_eq!(t.client(ip("10.0.0.2"), &h), ip("203.0.113.7"));
        let h = xff(&["[2001:db8::7]:443"]);
        assert_eq!(t.client(ip("10.0.0.2"), &h), ip("2001:db8::7"));
        // No header: the proxy itself. Only trusted entries: the left-most.
        assert_eq!(t.client(ip("10.0.0.2"), &HeaderMap::new()), ip("10.0.0.2"));
        assert_eq!(t.client(ip("10.0.0.2"), &xff(&["10.3.3.3, 10.4.4.4"])), ip("10.3.3.3"));
        // Garbage where the client should be: the peer, never a guess.
        assert_eq!(t.client(ip("10.0.0.2"), &xff(&["203.0.113.7, junk"])), ip("10.0.0.2"));
        // Garbage left of the client is the client's own doing and ignored.
        assert_eq!(t.client(ip("10.0.0.2"), &xff(&["junk, 203.0.113.7"])), ip("203.0.113.7"));
    }
}
