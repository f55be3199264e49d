//! The caller's address (seed rule 13): the TCP peer, or a forwarded address only when the peer
//! is a configured trusted proxy. The walk itself (right to left, stopping at the first entry
//! that is untrusted or unreadable) is `gatehouse_edge::forwarded`'s, where it is fuzzed.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use gatehouse_edge::forwarded;
use ipnet::IpNet;

/// The proxies whose forwarding headers are believed.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(nets: Vec<IpNet>) -> Self {
        Self(nets)
    }

    /// Parses a comma-separated list of addresses and CIDR blocks.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        for entry in text.split(',').map(str::trim).filter(|entry| !entry.is_empty()) {
            let net = entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("not an address or CIDR block: {entry}"))?;
            nets.push(net);
        }
        Ok(Self(nets))
    }

    /// Whether `addr` is one of the proxies.
    pub fn trusts(&self, addr: IpAddr) -> bool {
        let addr = forwarded::canonical(addr);
        self.0.iter().any(|net| net.contains(&addr))
    }

    /// The client address for a request from `peer` carrying `headers`.
    pub fn client_ip(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        let peer = forwarded::canonical(peer.ip());
        if !self.trusts(peer) {
            return peer;
        }
        forwarded::caller_behind_trusted_peer(
            peer,
            headers.get_all("x-forwarded-for").iter().map(|value| value.to_str().ok()),
            headers.get_all("x-real-ip").iter().map(|value| value.to_str().ok()),
            |addr| self.trusts(addr),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let trusted = TrustedProxies::parse("127.0.0.1, 10.0.0.0/8").unwrap();
        let proxy: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let stranger: SocketAddr = "203.0.113.7:5000".parse().unwrap();
        let spoofed = headers(&[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(trusted.client_ip(stranger, &spoofed), "203.0.113.7".parse::<IpAddr>().unwrap());
        assert_eq!(trusted.client_ip(proxy, &spoofed), "1.2.3.4".parse::<IpAddr>().unwrap());
        // The client prepends a fake hop; the right-most untrusted one is the real client.
        let chain = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.2, 10.1.1.1")]);
        assert_eq!(trusted.client_ip(proxy, &chain), "198.51.100.2".parse::<IpAddr>().unwrap());
        // An entry with a port is read, not skipped for the one left of it, which the caller wrote.
        let ported = headers(&[("x-forwarded-for", "203.0.113.7, 198.51.100.9:41234")]);
        assert_eq!(trusted.client_ip(proxy, &ported), "198.51.100.9".parse::<IpAddr>().unwrap());
        let unreadable = headers(&[("x-forwarded-for", "203.0.113.7, bogus")]);
        assert_eq!(trusted.client_ip(proxy, &unreadable), "127.0.0.1".parse::<IpAddr>().unwrap());
        let real_ip = headers(&[("x-real-ip", "198.51.100.9")]);
        assert_eq!(trusted.client_ip(proxy, &real_ip), "198.51.100.9".parse::<IpAddr>().unwrap());
        assert_eq!(trusted.client_ip(proxy, &HeaderMap::new()), "127.0.0.1".parse::<IpAddr>().unwrap());
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:80".parse().unwrap();
        assert_eq!(trusted.client_ip(mapped, &spoofed), "1.2.3.4".parse::<IpAddr>().unwrap());
        assert_eq!(TrustedProxies::default().client_ip(proxy, &spoofed), "127.0.0.1".parse::<IpAddr>().unwrap());
        assert!(TrustedProxies::parse("300.1.1.1/8").is_err());
    }
}
