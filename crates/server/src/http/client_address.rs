//! The caller's address (seed rule 13): the TCP peer, or a forwarded address only when the peer
//! is a configured trusted proxy. `X-Forwarded-For` is read right to left and the right-most
//! address that is not itself a trusted proxy wins, so a client cannot choose its address by
//! prepending entries.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
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

    fn trusts(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        self.0.iter().any(|net| net.contains(&addr))
    }

    /// The client address for a request from `peer` carrying `headers`.
    pub fn client_ip(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer.ip());
        if !self.trusts(peer) {
            return peer;
        }
        let forwarded: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .filter_map(|entry| entry.trim().parse::<IpAddr>().ok())
            .map(canonical)
            .collect();
        if let Some(untrusted) = forwarded.iter().rev().find(|addr| !self.trusts(**addr)) {
            return *untrusted;
        }
        if let Some(first) = forwarded.first() {
            return *first;
        }
        headers
            .get("x-real-ip")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<IpAddr>().ok())
            .map(canonical)
            .unwrap_or(peer)
    }
}

/// IPv4-mapped IPv6 addresses are the IPv4 addresses they carry.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
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
        let real_ip = headers(&[("x-real-ip", "198.51.100.9")]);
        assert_eq!(trusted.client_ip(proxy, &real_ip), "198.51.100.9".parse::<IpAddr>().unwrap());
        assert_eq!(trusted.client_ip(proxy, &HeaderMap::new()), "127.0.0.1".parse::<IpAddr>().unwrap());
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:80".parse().unwrap();
        assert_eq!(trusted.client_ip(mapped, &spoofed), "1.2.3.4".parse::<IpAddr>().unwrap());
        assert_eq!(TrustedProxies::default().client_ip(proxy, &spoofed), "127.0.0.1".parse::<IpAddr>().unwrap());
        assert!(TrustedProxies::parse("300.1.1.1/8").is_err());
    }
}
