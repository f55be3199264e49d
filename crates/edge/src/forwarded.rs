//! The caller's address behind proxies (seed rule 13): `X-Forwarded-For` walked right to left
//! past the proxies the operator trusts.
//!
//! Each proxy appends the address it received the request from, so the right-most entries are
//! the ones trusted proxies wrote and everything to their left was written by whoever sent the
//! request. The walk stops at the first entry that is not a trusted proxy: that is the caller.
//! An entry that does not parse also stops it, and then the caller is the last address known for
//! sure (the trusted proxy that wrote it); skipping it would hand the decision to the entries
//! the caller wrote further left.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One address as proxies write them: `192.0.2.1`, `192.0.2.1:41234`, `2001:db8::1`,
/// `[2001:db8::1]`, `[2001:db8::1]:41234`, with spaces or tabs around it. IPv4-mapped IPv6
/// addresses are the IPv4 addresses they carry. Anything else (a hostname, `unknown`, a zone
/// id, an obfuscated RFC 7239 identifier) is `None`.
pub fn parse_address(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim_matches([' ', '\t']);
    if let Ok(addr) = entry.parse::<IpAddr>() {
        return Some(canonical(addr));
    }
    if let Some(rest) = entry.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        if !after.is_empty() && !after.strip_prefix(':').is_some_and(is_port) {
            return None;
        }
        return inside.parse::<Ipv6Addr>().ok().map(|v6| canonical(IpAddr::V6(v6)));
    }
    let (host, port) = entry.split_once(':')?;
    is_port(port).then(|| host.parse::<Ipv4Addr>().ok().map(IpAddr::V4)).flatten()
}

/// IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`) are the IPv4 addresses they carry, so an
/// allow list of IPv4 blocks holds for a dual-stack listener too.
pub fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

fn is_port(text: &str) -> bool {
    // `u16::from_str` also takes a leading `+`, which no proxy writes.
    !text.is_empty() && text.len() <= 5 && text.bytes().all(|b| b.is_ascii_digit()) && text.parse::<u16>().is_ok()
}

/// The caller's address for a request whose TCP peer is `peer`, a proxy `trusts` holds.
///
/// `forwarded_for` are the `X-Forwarded-For` header values in the order received (`None` for a
/// value that is not text); together they are one list. `real_ip` is the `X-Real-IP` values,
/// used only when there is no `X-Forwarded-For` at all, and only if there is exactly one.
pub fn caller_behind_trusted_peer<'a>(
    peer: IpAddr,
    forwarded_for: impl DoubleEndedIterator<Item = Option<&'a str>>,
    mut real_ip: impl Iterator<Item = Option<&'a str>>,
    trusts: impl Fn(IpAddr) -> bool,
) -> IpAddr {
    let mut known = canonical(peer);
    let mut any_forwarded_for = false;
    for value in forwarded_for.rev() {
        any_forwarded_for = true;
        let Some(value) = value else { return known };
        for entry in value.rsplit(',') {
            match parse_address(entry) {
                Some(addr) if trusts(addr) => known = addr,
                Some(addr) => return addr,
                None => return known,
            }
        }
    }
    if any_forwarded_for {
        // Every hop was a trusted proxy: the left-most one is where the request began.
        return known;
    }
    match (real_ip.next(), real_ip.next()) {
        (Some(Some(value)), None) => parse_address(value).unwrap_or(known),
        _ => known,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn trusted(addr: IpAddr) -> bool {
        match addr {
            IpAddr::V4(v4) => v4.octets()[0] == 10 || v4.is_loopback(),
            IpAddr::V6(v6) => v6.is_loopback(),
        }
    }

    fn caller(xff: &[&str], real_ip: &[&str]) -> IpAddr {
        caller_behind_trusted_peer(
            ip("10.0.0.1"),
            xff.iter().map(|value| Some(*value)),
            real_ip.iter().map(|value| Some(*value)),
            trusted,
        )
    }

    #[test]
    fn addresses_parse_in_every_form_proxies_write() {
        assert_eq!(parse_address("192.0.2.1"), Some(ip("192.0.2.1")));
        assert_eq!(parse_address(" 192.0.2.1:41234\t"), Some(ip("192.0.2.1")));
        assert_eq!(parse_address("2001:db8::1"), Some(ip("2001:db8::1")));
        assert_eq!(parse_address("[2001:db8::1]"), Some(ip("2001:db8::1")));
        assert_eq!(parse_address("[2001:db8::1]:443"), Some(ip("2001:db8::1")));
        assert_eq!(parse_address("::ffff:192.0.2.1"), Some(ip("192.0.2.1")));
        assert_eq!(parse_address("[::ffff:192.0.2.1]:80"), Some(ip("192.0.2.1")));
        for bad in [
            "",
            "unknown",
            "_hidden",
            "example.com",
            "192.0.2.1:",
            "192.0.2.1:+80",
            "192.0.2.1:65536",
            "192.0.2.1:80:80",
            "[192.0.2.1]",
            "[2001:db8::1",
            "[2001:db8::1]x",
            "[2001:db8::1]:",
            "fe80::1%eth0",
            "\"[2001:db8::1]\"",
            "300.1.1.1",
        ] {
            assert_eq!(parse_address(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_walk_stops_at_the_first_untrusted_or_unreadable_entry() {
        assert_eq!(caller(&["198.51.100.2"], &[]), ip("198.51.100.2"));
        // The caller prepends a claim; the right-most untrusted entry is the caller.
        assert_eq!(caller(&["6.6.6.6, 198.51.100.2, 10.1.1.1"], &[]), ip("198.51.100.2"));
        // An entry with a port is the caller, not a reason to look further left at what it wrote.
        assert_eq!(caller(&["203.0.113.7, 198.51.100.9:41234"], &[]), ip("198.51.100.9"));
        // An unreadable entry ends the walk at the last address known for sure.
        assert_eq!(caller(&["203.0.113.7, garbage"], &[]), ip("10.0.0.1"));
        assert_eq!(caller(&["203.0.113.7, unknown, 10.2.2.2"], &[]), ip("10.2.2.2"));
        assert_eq!(caller(&["203.0.113.7,"], &[]), ip("10.0.0.1"));
        assert_eq!(caller(&[""], &[]), ip("10.0.0.1"));
        // Several headers are one list, in order.
        assert_eq!(caller(&["203.0.113.7", "198.51.100.4, 10.3.3.3"], &[]), ip("198.51.100.4"));
        assert_eq!(caller(&["10.9.9.9, 10.1.1.1"], &[]), ip("10.9.9.9"));
        let unreadable = caller_behind_trusted_peer(
            ip("10.0.0.1"),
            [Some("203.0.113.7"), None].into_iter(),
            std::iter::empty(),
            trusted,
        );
        assert_eq!(unreadable, ip("10.0.0.1"));
        // X-Real-IP only without X-Forwarded-For, and only one of it.
        assert_eq!(caller(&[], &["198.51.100.8"]), ip("198.51.100.8"));
        assert_eq!(caller(&[], &["198.51.100.8:5000"]), ip("198.51.100.8"));
        assert_eq!(caller(&["198.51.100.2"], &["198.51.100.8"]), ip("198.51.100.2"));
        assert_eq!(caller(&[], &["198.51.100.8", "203.0.113.9"]), ip("10.0.0.1"));
        assert_eq!(caller(&[], &["nonsense"]), ip("10.0.0.1"));
        assert_eq!(caller(&[], &[]), ip("10.0.0.1"));
    }

    fn entry() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<std::net::Ipv4Addr>().prop_map(|a| a.to_string()),
            (any::<std::net::Ipv4Addr>(), any::<u16>()).prop_map(|(a, p)| format!("{a}:{p}")),
            any::<std::net::Ipv6Addr>().prop_map(|a| a.to_string()),
            (any::<std::net::Ipv6Addr>(), any::<u16>()).prop_map(|(a, p)| format!("[{a}]:{p}")),
            (0u8..4).prop_map(|n| format!("10.0.0.{n}")),
            prop::sample::select(vec!["unknown", "", "garbage", "1.2.3", "[::1"]).prop_map(str::to_owned),
            "[ -~]{0,12}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5_000))]

        /// Every address, written in any form a proxy writes it, parses back to itself.
        #[test]
        fn written_addresses_parse_back(addr in any::<IpAddr>(), port in any::<u16>(), bracket in any::<bool>()) {
            let written = match addr {
                IpAddr::V4(v4) => if bracket { format!("{v4}:{port}") } else { v4.to_string() },
                IpAddr::V6(v6) => if bracket { format!("[{v6}]:{port}") } else { v6.to_string() },
            };
            prop_assert_eq!(parse_address(&written), Some(canonical(addr)));
        }

        /// Whatever the caller writes to the left of what trusted proxies appended, the address
        /// decided is either one a trusted proxy vouched for or the first untrusted entry
        /// reached from the right, never an entry beyond an unreadable one.
        #[test]
        fn the_caller_cannot_reach_past_what_proxies_wrote(
            claimed in prop::collection::vec(entry(), 0..5),
            appended in prop::collection::vec(entry(), 0..4),
        ) {
            let list: Vec<String> = claimed.iter().chain(&appended).cloned().collect();
            let header = list.join(",");
            let decided = caller(&[&header], &[]);
            // The model: walk right to left over the parsed entries.
            let mut expected = ip("10.0.0.1");
            for raw in list.iter().rev() {
                match parse_address(raw) {
                    Some(addr) if trusted(addr) => expected = addr,
                    Some(addr) => { expected = addr; break; }
                    None => break,
                }
            }
            prop_assert_eq!(decided, expected);
            // And the address decided is never one left of the first unreadable entry.
            if let Some(cut) = list.iter().rposition(|raw| parse_address(raw).is_none()) {
                let beyond: Vec<IpAddr> = list[..cut].iter().filter_map(|raw| parse_address(raw)).collect();
                let after: Vec<IpAddr> = list[cut + 1..].iter().filter_map(|raw| parse_address(raw)).collect();
                prop_assert!(!beyond.contains(&decided) || after.contains(&decided) || decided == ip("10.0.0.1"));
            }
        }
    }
}
