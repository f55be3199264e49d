//! Fetches an identity provider's key set from a profile's configured `jwks_uri` (issue 21).
//!
//! The URI is configured by whoever manages clients, and the server fetches it from inside the
//! operator's network, so an unchecked fetch would let that person read the cloud metadata
//! service or an internal admin page (SSRF). Hence: https only (plain http only to loopback,
//! which never leaves the machine); public addresses only unless the operator passes
//! `--allow-private-jwks`; the address that was checked is the one connected to, so a DNS answer
//! that changes between check and connect (rebinding) gains nothing; no redirects, no proxy; a
//! timeout and a size limit, so a slow or huge answer cannot hold a token request hostage.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use gatehouse_domain::jwks::{FetchError, JwksFetcher};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::ACCEPT;
use reqwest::{Response, StatusCode, Url};

/// Real key sets are a few KiB; this leaves room for many keys and certificate chains while
/// bounding what one fetch can make the server hold.
const MAX_BODY_BYTES: usize = 256 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// A token request waits on this fetch, so it must give up well before the caller does.
const TOTAL_TIMEOUT: Duration = Duration::from_secs(5);

/// Fetches JWKS documents over one shared HTTP client (its connection pool is reused across
/// fetches); cloning shares the client.
#[derive(Clone, Debug)]
pub struct HttpJwksFetcher {
    http: reqwest::Client,
    allow_private: bool,
}

impl HttpJwksFetcher {
    /// `allow_private` is `--allow-private-jwks`: internal identity providers and tests live on
    /// private, link-local or loopback addresses, which are otherwise refused.
    pub fn new(allow_private: bool) -> Result<Self, String> {
        Self::with_timeouts(allow_private, CONNECT_TIMEOUT, TOTAL_TIMEOUT)
    }

    /// Separate from `new` only so the timeout test does not have to wait five seconds.
    fn with_timeouts(allow_private: bool, connect: Duration, total: Duration) -> Result<Self, String> {
        // reqwest is built without a provider of its own (that would be ring); aws-lc-rs is the
        // one the workspace already carries. Err only means a provider is installed already.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(concat!("gatehouse/", env!("CARGO_PKG_VERSION"), " (jwks)"))
            .connect_timeout(connect)
            .timeout(total)
            // A redirect would lead to an address that was never checked.
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would make the connection's real destination one we did not check.
            .no_proxy()
            .dns_resolver(Arc::new(CheckedResolver { allow_private }))
            // Trust the system's roots (rustls-native-certs; `SSL_CERT_FILE`/`SSL_CERT_DIR` override).
            .tls_built_in_native_certs(true)
            .build()
            .map_err(|error| format!("cannot set up the JWKS HTTP client: {error}"))?;
        Ok(Self { http, allow_private })
    }
}

#[async_trait]
impl JwksFetcher for HttpJwksFetcher {
    async fn fetch(&self, uri: &str) -> Result<serde_json::Value, FetchError> {
        let url = checked_url(uri, self.allow_private)?;
        let response = self
            .http
            .get(url)
            .header(ACCEPT, "application/jwk-set+json, application/json")
            .send()
            .await
            .map_err(|error| request_error(&error))?;
        let body = read_body(response).await?;
        parse_document(&body)
    }
}

/// Everything about `uri` that can be decided without the network. IP-literal hosts are checked
/// here because reqwest connects to them without asking the resolver.
fn checked_url(uri: &str, allow_private: bool) -> Result<Url, FetchError> {
    let refuse = |why: &str| Err(FetchError::Refused(why.to_owned()));
    let Ok(url) = Url::parse(uri) else {
        return refuse("not a URL");
    };
    if !url.username().is_empty() || url.password().is_some() {
        // Not repeated: it would put the password in the log.
        return refuse("the URL carries credentials (user:password@)");
    }
    let scheme = url.scheme();
    if scheme != "https" && scheme != "http" {
        return refuse("only https URLs are fetched");
    }
    let Some(host) = url.host_str().map(parse_host) else {
        return refuse("the URL names no host");
    };
    if scheme == "http" && !is_loopback_host(&host) {
        return refuse("plain http is allowed only to loopback (localhost, 127.0.0.0/8, ::1); use https");
    }
    if let UrlHost::Ip(ip) = host
        && !is_allowed(ip, allow_private)
    {
        return Err(FetchError::Refused(not_allowed_message(&ip.to_string(), allow_private)));
    }
    Ok(url)
}

enum UrlHost<'a> {
    Ip(IpAddr),
    Name(&'a str),
}

/// `host` as `Url` serialises it: IPv6 in brackets, IPv4 already in dotted decimal (`0x7f.1` is
/// `127.0.0.1`). A name that still parses as an address is taken as one, as the connector would.
fn parse_host(host: &str) -> UrlHost<'_> {
    let bare = host.strip_prefix('[').and_then(|rest| rest.strip_suffix(']')).unwrap_or(host);
    match bare.parse::<IpAddr>() {
        Ok(ip) => UrlHost::Ip(ip),
        Err(_) => UrlHost::Name(host),
    }
}

/// Where plain http cannot be read or altered on the way: it never leaves the machine.
fn is_loopback_host(host: &UrlHost<'_>) -> bool {
    match host {
        UrlHost::Ip(IpAddr::V4(v4)) => v4.is_loopback(),
        UrlHost::Ip(IpAddr::V6(v6)) => *v6 == Ipv6Addr::LOCALHOST,
        UrlHost::Name(name) => *name == "localhost",
    }
}

fn not_allowed_message(host: &str, allow_private: bool) -> String {
    if allow_private {
        format!("{host} is not an address a server listens on")
    } else {
        format!(
            "{host} is not a public address (pass --allow-private-jwks for an identity provider on a private network)"
        )
    }
}

/// Whether a connection to `ip` may be made. Even `--allow-private-jwks` does not admit the
/// unspecified address: connecting to it reaches this machine (Linux), under a name that hides it.
fn is_allowed(ip: IpAddr, allow_private: bool) -> bool {
    if allow_private { !is_never_a_server(ip) } else { is_public(ip) }
}

/// Addresses nothing listens on: unspecified (and the rest of 0.0.0.0/8), broadcast, multicast,
/// in whatever IPv6 form carries them.
fn is_never_a_server(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.octets()[0] == 0 || v4.is_broadcast() || v4.is_multicast(),
        IpAddr::V6(v6) => {
            v6.is_unspecified()
                || v6.is_multicast()
                || embedded_ipv4(v6).is_some_and(|v4| is_never_a_server(IpAddr::V4(v4)))
        }
    }
}

/// Whether `ip` is reachable on the public internet, so that fetching from it reaches nothing
/// the internet could not reach anyway. Anything doubtful counts as not public: a refused fetch
/// is a misconfiguration the operator sees, a wrong fetch may be a leak nobody sees.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match embedded_ipv4(v6) {
            // The OS or a translator on the path delivers these to the IPv4 address.
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

/// IANA's special-purpose IPv4 ranges (RFC 6890 and later) that are not globally reachable.
const NOT_PUBLIC_V4: &[([u8; 4], u8)] = &[
    ([0, 0, 0, 0], 8),       // "this network", including the unspecified address
    ([10, 0, 0, 0], 8),      // private
    ([100, 64, 0, 0], 10),   // shared address space (carrier-grade NAT)
    ([127, 0, 0, 0], 8),     // loopback
    ([169, 254, 0, 0], 16),  // link-local, including the cloud metadata service 169.254.169.254
    ([172, 16, 0, 0], 12),   // private
    ([192, 0, 0, 0], 24),    // IETF protocol assignments
    ([192, 0, 2, 0], 24),    // documentation (TEST-NET-1)
    ([192, 88, 99, 0], 24),  // deprecated 6to4 relay anycast
    ([192, 168, 0, 0], 16),  // private
    ([198, 18, 0, 0], 15),   // benchmarking
    ([198, 51, 100, 0], 24), // documentation (TEST-NET-2)
    ([203, 0, 113, 0], 24),  // documentation (TEST-NET-3)
    ([224, 0, 0, 0], 4),     // multicast
    ([240, 0, 0, 0], 4),     // reserved, including broadcast 255.255.255.255
];

fn is_public_v4(v4: Ipv4Addr) -> bool {
    let bits = u32::from(v4);
    !NOT_PUBLIC_V4.iter().any(|&(network, length)| {
        let mask = u32::MAX.checked_shl(32 - u32::from(length)).unwrap_or(0);
        bits & mask == u32::from(Ipv4Addr::from(network)) & mask
    })
}

/// Inside 2000::/3, the only globally routed unicast space, the ranges that are still not public.
/// 2002::/16 (6to4) is not here: `embedded_ipv4` judges it by the IPv4 address it carries.
const NOT_PUBLIC_V6: &[([u16; 8], u8)] = &[
    ([0x2001, 0, 0, 0, 0, 0, 0, 0], 23), // IETF protocol assignments, including Teredo 2001::/32
    ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), // documentation
    ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20), // documentation (RFC 9637)
];

/// An allow-list: everything outside 2000::/3 (loopback, unspecified, unique-local fc00::/7,
/// link-local fe80::/10, multicast, discard-only, local NAT64 64:ff9b:1::/48, ...) is not public.
fn is_public_v6(v6: Ipv6Addr) -> bool {
    let bits = u128::from(v6);
    let in_network = |network: [u16; 8], length: u8| {
        let mask = u128::MAX.checked_shl(128 - u32::from(length)).unwrap_or(0);
        bits & mask == u128::from(Ipv6Addr::from(network)) & mask
    };
    in_network([0x2000, 0, 0, 0, 0, 0, 0, 0], 3)
        && !NOT_PUBLIC_V6.iter().any(|&(network, length)| in_network(network, length))
}

/// The IPv4 address an IPv6 one is delivered to: IPv4-mapped `::ffff:a.b.c.d` (a dual-stack
/// socket connects to the IPv4 address), IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`
/// and 6to4 `2002:AABB:CCDD::`.
fn embedded_ipv4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let [s0, s1, s2, s3, s4, s5, s6, s7] = v6.segments();
    let from_pair = |high: u16, low: u16| Ipv4Addr::from((u32::from(high) << 16) | u32::from(low));
    match (s0, s1, s2, s3, s4, s5) {
        (0, 0, 0, 0, 0, 0xffff) => Some(from_pair(s6, s7)),
        // `::` and `::1` are IPv6's own unspecified and loopback addresses, judged as IPv6.
        (0, 0, 0, 0, 0, 0) if v6 != Ipv6Addr::UNSPECIFIED && v6 != Ipv6Addr::LOCALHOST => Some(from_pair(s6, s7)),
        (0x64, 0xff9b, 0, 0, 0, 0) => Some(from_pair(s6, s7)),
        (0x2002, ..) => Some(from_pair(s1, s2)),
        _ => None,
    }
}

/// Resolves names for the client and hands it only the addresses that pass the check, so the
/// connection goes to exactly what was checked: a second DNS answer is never asked for.
struct CheckedResolver {
    allow_private: bool,
}

/// A resolved name whose addresses were all refused; told apart from a failed lookup so the
/// fetch is reported as refused, not as unreachable.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct NotAllowed(String);

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if found.is_empty() {
                return Err(format!("{host} resolves to no address").into());
            }
            let allowed: Vec<SocketAddr> =
                found.iter().copied().filter(|address| resolved_allowed(&host, address.ip(), allow_private)).collect();
            if allowed.is_empty() {
                let shown = found.first().map(|address| address.ip().to_string()).unwrap_or_default();
                let message = not_allowed_message(&format!("{host} ({shown})"), allow_private);
                return Err(Box::new(NotAllowed(message)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// `localhost` may be fetched over plain http, so it must really be this machine whatever the
/// hosts file says.
fn resolved_allowed(host: &str, ip: IpAddr, allow_private: bool) -> bool {
    is_allowed(ip, allow_private) && (host != "localhost" || ip.is_loopback())
}

/// A request that did not produce a response: refused by the resolver's check, or unreachable.
fn request_error(error: &reqwest::Error) -> FetchError {
    let mut reason = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(refusal) = cause.downcast_ref::<NotAllowed>() {
            return FetchError::Refused(refusal.0.clone());
        }
        // The error's own text repeats the URL; the innermost cause is the useful part.
        reason = cause.to_string();
        source = cause.source();
    }
    if error.is_timeout() {
        reason = "timed out".to_owned();
    }
    FetchError::Failed(reason)
}

/// The body of a 200, read no further than the limit, since a server that sends no
/// Content-Length could otherwise make us buffer without end.
async fn read_body(mut response: Response) -> Result<Vec<u8>, FetchError> {
    let status = response.status();
    if status != StatusCode::OK {
        let note = if status.is_redirection() { " (redirects are not followed)" } else { "" };
        return Err(FetchError::Failed(format!("HTTP {status}{note}")));
    }
    let too_large = || FetchError::Failed(format!("the body is larger than {} KiB", MAX_BODY_BYTES / 1024));
    if response.content_length().is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|error| request_error(&error))? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The parse error's position only: its text never quotes the body, which is not ours to log.
fn parse_document(body: &[u8]) -> Result<serde_json::Value, FetchError> {
    let document: serde_json::Value = serde_json::from_slice(body).map_err(|error| {
        FetchError::Failed(format!("the body is not JSON (line {}, column {})", error.line(), error.column()))
    })?;
    if !document.is_object() {
        return Err(FetchError::Failed("the body is not a JSON object".to_owned()));
    }
    Ok(document)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    const JWKS: &str = r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","x":"AA","y":"AA"}]}"#;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn ok_response(body: &[u8]) -> Vec<u8> {
        response("200 OK", "", body)
    }

    fn response(status: &str, extra_headers: &str, body: &[u8]) -> Vec<u8> {
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra_headers}Connection: close\r\n\r\n",
            body.len()
        );
        [head.as_bytes(), body].concat()
    }

    /// A server on 127.0.0.1 that answers every connection with `response` once it has read the
    /// request head; the counter is how many connections it accepted.
    async fn canned(response: Vec<u8>) -> (SocketAddr, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        let response = Arc::new(response);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(answer(stream, Arc::clone(&response)));
            }
        });
        (address, accepted)
    }

    async fn answer(mut stream: TcpStream, response: Arc<Vec<u8>>) {
        let mut head = Vec::new();
        let mut buffer = [0u8; 1024];
        while !head.windows(4).any(|window| window == b"\r\n\r\n") && head.len() < 64 * 1024 {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(read) => head.extend_from_slice(&buffer[..read]),
            }
        }
        // The client may hang up mid-body (the size limit); that is the point, not an error.
        let _ = stream.write_all(&response).await;
        let _ = stream.shutdown().await;
    }

    fn fetcher(allow_private: bool) -> HttpJwksFetcher {
        HttpJwksFetcher::new(allow_private).unwrap()
    }

    async fn fetch(allow_private: bool, uri: &str) -> Result<serde_json::Value, FetchError> {
        fetcher(allow_private).fetch(uri).await
    }

    fn refused(result: Result<serde_json::Value, FetchError>) -> String {
        match result {
            Err(FetchError::Refused(why)) => why,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    fn failed(result: Result<serde_json::Value, FetchError>) -> String {
        match result {
            Err(FetchError::Failed(why)) => why,
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn public_addresses_are_public() {
        for text in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.216.34",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.1",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "2a00:1450:4001::1",
            "2001:200::1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "::8.8.8.8",
        ] {
            assert!(is_public(ip(text)), "{text}");
        }
    }

    #[test]
    fn loopback_private_link_local_and_special_addresses_are_not_public() {
        for text in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "10.255.255.255",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "127.255.0.1",
            "169.254.169.254",
            "169.254.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.1",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "100::1",
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:2::1",
            "2001:db8::1",
            "3fff::1",
            "64:ff9b:1::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::ffff:0.0.0.0",
            "::127.0.0.1",
            "::169.254.169.254",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::",
            "2002:c0a8:101::1",
        ] {
            assert!(!is_public(ip(text)), "{text}");
        }
    }

    #[test]
    fn private_addresses_are_allowed_only_when_the_operator_says_so_and_unspecified_never() {
        for text in ["127.0.0.1", "::1", "10.1.2.3", "169.254.169.254", "fd00::1", "::ffff:127.0.0.1"] {
            assert!(!is_allowed(ip(text), false), "{text}");
            assert!(is_allowed(ip(text), true), "{text}");
        }
        for text in ["0.0.0.0", "::", "::ffff:0.0.0.0", "0.0.0.1", "255.255.255.255", "224.0.0.1", "ff02::1"] {
            assert!(!is_allowed(ip(text), true), "{text}");
            assert!(!is_allowed(ip(text), false), "{text}");
        }
        assert!(is_allowed(ip("8.8.8.8"), false) && is_allowed(ip("8.8.8.8"), true));
    }

    #[test]
    fn uris_are_checked_before_any_request() {
        for (uri, allow_private) in [
            ("https://idp.example.com/.well-known/jwks.json", false),
            ("https://idp.example.com:8443/keys?tenant=a", false),
            ("https://8.8.8.8/jwks", false),
            ("https://10.1.2.3/jwks", true),
            ("https://[fd00::1]/jwks", true),
            ("http://127.0.0.1:8080/jwks", true),
            ("http://127.1.2.3/jwks", true),
            ("http://[::1]:8080/jwks", true),
            ("http://localhost:8080/jwks", true),
            ("http://LOCALHOST/jwks", true),
            // A name is judged by what it resolves to, at connection time.
            ("http://localhost/jwks", false),
        ] {
            assert!(checked_url(uri, allow_private).is_ok(), "{uri}");
        }
        for (uri, allow_private) in [
            ("not a url", true),
            ("/jwks", true),
            ("ftp://idp.example.com/jwks", true),
            ("file:///etc/passwd", true),
            ("ws://localhost/jwks", true),
            ("http://example.com/jwks", true),
            ("http://10.0.0.1/jwks", true),
            ("http://[::ffff:127.0.0.1]/jwks", true),
            ("http://localhost.example.com/jwks", true),
            ("https://127.0.0.1/jwks", false),
            ("https://0x7f.1/jwks", false),
            ("https://2130706433/jwks", false),
            ("https://[::1]/jwks", false),
            ("https://169.254.169.254/latest/meta-data/", false),
            ("https://[::ffff:169.254.169.254]/", false),
            ("https://[::ffff:a9fe:a9fe]/", false),
            ("https://10.0.0.1/jwks", false),
            ("https://192.168.0.1/jwks", false),
            ("https://[fe80::1]/jwks", false),
            ("https://0.0.0.0/jwks", true),
            ("https://[::]/jwks", true),
            ("http://0.0.0.0/jwks", true),
            ("https://224.0.0.1/jwks", true),
        ] {
            refused(checked_url(uri, allow_private).map(|_| serde_json::Value::Null));
        }
    }

    #[test]
    fn credentials_in_the_uri_are_refused_and_not_repeated() {
        for uri in [
            "https://admin:hunter2@idp.example.com/jwks",
            "https://admin@idp.example.com/jwks",
            "https://:hunter2@idp.example.com/",
        ] {
            let why = refused(checked_url(uri, true).map(|_| serde_json::Value::Null));
            assert!(why.contains("credentials") && !why.contains("hunter2"), "{uri}: {why}");
        }
    }

    #[tokio::test]
    async fn a_key_set_is_fetched_from_loopback_when_private_addresses_are_allowed() {
        let (address, _) = canned(ok_response(JWKS.as_bytes())).await;
        let document = fetch(true, &format!("http://{address}/jwks")).await.unwrap();
        assert_eq!(document, serde_json::from_str::<serde_json::Value>(JWKS).unwrap());
        // By name too, through the checking resolver.
        let by_name = fetch(true, &format!("http://localhost:{}/jwks", address.port())).await.unwrap();
        assert_eq!(by_name, document);
    }

    #[tokio::test]
    async fn loopback_is_refused_without_allow_private_and_never_contacted() {
        let (address, accepted) = canned(ok_response(JWKS.as_bytes())).await;
        let why = refused(fetch(false, &format!("http://{address}/jwks")).await);
        assert!(why.contains("--allow-private-jwks"), "{why}");
        // A name that resolves to loopback is refused by the resolver, before connecting.
        let why = refused(fetch(false, &format!("http://localhost:{}/jwks", address.port())).await);
        assert!(why.contains("localhost") && why.contains("not a public address"), "{why}");
        refused(fetch(false, &format!("https://127.0.0.1:{}/jwks", address.port())).await);
        assert_eq!(accepted.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn plain_http_and_the_metadata_service_are_refused_before_any_network() {
        // Refused by the URI alone: these tests must never send a packet off this machine.
        let why = refused(fetch(true, "http://example.com/jwks").await);
        assert!(why.contains("https"), "{why}");
        refused(fetch(false, "https://169.254.169.254/latest/meta-data/").await);
        refused(fetch(false, "https://[::ffff:169.254.169.254]/").await);
        refused(fetch(true, "https://0.0.0.0/jwks").await);
        refused(fetch(true, "https://user:pass@127.0.0.1/jwks").await);
    }

    #[tokio::test]
    async fn a_redirect_fails_and_is_not_followed() {
        let (elsewhere, followed) = canned(ok_response(JWKS.as_bytes())).await;
        let location = format!("Location: http://{elsewhere}/jwks\r\n");
        let (address, _) = canned(response("302 Found", &location, b"")).await;
        let why = failed(fetch(true, &format!("http://{address}/jwks")).await);
        assert!(why.contains("302"), "{why}");
        assert_eq!(followed.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_status_other_than_200_fails() {
        for status in ["404 Not Found", "500 Internal Server Error", "204 No Content"] {
            let (address, _) = canned(response(status, "", JWKS.as_bytes())).await;
            let why = failed(fetch(true, &format!("http://{address}/jwks")).await);
            assert!(why.contains(&status[..3]), "{status}: {why}");
        }
    }

    #[tokio::test]
    async fn a_body_over_the_limit_fails_with_or_without_a_content_length() {
        // No Content-Length: the body runs until the server closes, and must be cut off.
        let mut unbounded = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n".to_vec();
        unbounded.extend(std::iter::repeat_n(b' ', MAX_BODY_BYTES + 1024));
        let (address, _) = canned(unbounded).await;
        let why = failed(fetch(true, &format!("http://{address}/jwks")).await);
        assert!(why.contains("larger"), "{why}");

        let declared = b"HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\nConnection: close\r\n\r\n{}".to_vec();
        let (address, _) = canned(declared).await;
        let why = failed(fetch(true, &format!("http://{address}/jwks")).await);
        assert!(why.contains("larger"), "{why}");
    }

    #[tokio::test]
    async fn a_body_of_exactly_the_limit_is_read() {
        let frame = br#"{"keys":[],"pad":""}"#;
        let padding = "x".repeat(MAX_BODY_BYTES - frame.len());
        let body = format!(r#"{{"keys":[],"pad":"{padding}"}}"#);
        assert_eq!(body.len(), MAX_BODY_BYTES);
        let (address, _) = canned(ok_response(body.as_bytes())).await;
        let document = fetch(true, &format!("http://{address}/jwks")).await.unwrap();
        assert_eq!(document["keys"], serde_json::json!([]));
    }

    #[tokio::test]
    async fn a_body_that_is_not_a_json_object_fails_without_being_quoted() {
        for body in ["<html>secret internal page</html>", "[1,2,3]", "\"keys\"", ""] {
            let (address, _) = canned(ok_response(body.as_bytes())).await;
            let why = failed(fetch(true, &format!("http://{address}/jwks")).await);
            assert!(!why.contains("secret"), "{body}: {why}");
        }
    }

    #[tokio::test]
    async fn a_server_that_never_answers_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        let fetcher =
            HttpJwksFetcher::with_timeouts(true, Duration::from_millis(300), Duration::from_millis(500)).unwrap();
        let started = Instant::now();
        let why = failed(fetcher.fetch(&format!("http://{address}/jwks")).await);
        assert!(why.contains("timed out"), "{why}");
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn an_unreachable_server_fails() {
        let address = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
        // The listener is dropped: nothing listens on the port any more.
        failed(fetch(true, &format!("http://{address}/jwks")).await);
    }

    #[tokio::test]
    async fn https_to_a_server_that_does_not_speak_tls_fails() {
        // Answers in plain HTTP at once, where the client expects a TLS ServerHello.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let _ = stream.write_all(&ok_response(JWKS.as_bytes())).await;
            }
        });
        let started = Instant::now();
        let why = failed(fetch(true, &format!("https://{address}/jwks")).await);
        assert!(!why.contains("timed out") && started.elapsed() < Duration::from_secs(2), "{why}");
    }

    #[tokio::test]
    async fn one_fetcher_serves_many_fetches_and_is_shareable() {
        fn assert_shareable<T: Send + Sync + 'static>() {}
        assert_shareable::<HttpJwksFetcher>();
        let (address, accepted) = canned(ok_response(JWKS.as_bytes())).await;
        let shared: Arc<dyn JwksFetcher> = Arc::new(fetcher(true));
        for _ in 0..3 {
            shared.fetch(&format!("http://{address}/jwks")).await.unwrap();
        }
        assert!(accepted.load(Ordering::SeqCst) >= 1);
    }
}
