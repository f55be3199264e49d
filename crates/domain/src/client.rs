//! The API client (KORE, seed file 000) and the values it is made of. Every value here is parsed
//! at the edge (`ClientName::parse`, `Scopes::parse`, ...), so the rest of the domain only ever
//! sees valid data.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::account::Email;
use crate::error::ValidationError;
use crate::ids::{AccountId, ClientId, ProjectId, UserId};

/// Seed file 000: `admin` clients may hold global resources and products, `standard` clients
/// only products.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ClientType {
    Admin,
    Standard,
}

impl ClientType {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientType::Admin => "admin",
            ClientType::Standard => "standard",
        }
    }
}

impl FromStr for ClientType {
    type Err = ValidationError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "admin" => Ok(ClientType::Admin),
            "standard" => Ok(ClientType::Standard),
            _ => Err(ValidationError::new("client_type", "must be \"admin\" or \"standard\"")),
        }
    }
}

/// Global resources (DESIGN.md "Concepts"): account-wide powers only `admin` clients may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum GlobalResource {
    ApiClients,
    Users,
    Audit,
    Introspection,
}

impl GlobalResource {
    pub const ALL: [GlobalResource; 4] =
        [GlobalResource::ApiClients, GlobalResource::Users, GlobalResource::Audit, GlobalResource::Introspection];

    pub fn as_str(self) -> &'static str {
        match self {
            GlobalResource::ApiClients => "api_clients",
            GlobalResource::Users => "users",
            GlobalResource::Audit => "audit",
            GlobalResource::Introspection => "introspection",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|resource| resource.as_str() == value)
    }
}

/// Rejects control characters (including NUL) and the Unicode bidi overrides that can make a
/// name display as something other than what it is.
fn check_text(field: &'static str, value: &str) -> Result<(), ValidationError> {
    let hostile = |c: char| {
        c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
    };
    if value.chars().any(hostile) {
        return Err(ValidationError::new(field, "must not contain control characters or bidi overrides"));
    }
    Ok(())
}

/// A name as people type it: trimmed, 1 to `max_chars` characters, printable.
pub(crate) fn parse_name(value: &str, max_chars: usize) -> Result<String, ValidationError> {
    let trimmed = value.trim();
    let chars = trimmed.chars().count();
    if chars == 0 {
        return Err(ValidationError::new("name", "must not be empty"));
    }
    if chars > max_chars {
        return Err(ValidationError::new("name", format!("must be at most {max_chars} characters")));
    }
    check_text("name", trimmed)?;
    Ok(trimmed.to_owned())
}

/// A client name: 1 to 200 characters after trimming, counted in characters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ClientName(String);

impl ClientName {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        parse_name(value, Self::MAX_CHARS).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A free-text description: at most 1000 characters, may be empty.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Description(String);

impl Description {
    pub const MAX_CHARS: usize = 1000;

    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let trimmed = value.trim();
        if trimmed.chars().count() > Self::MAX_CHARS {
            return Err(ValidationError::new("description", "must be at most 1000 characters"));
        }
        check_text("description", trimmed)?;
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A client's scopes (DESIGN.md "Concepts"). Kept sorted so that responses and tokens are stable.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scopes {
    pub global_resources: BTreeSet<GlobalResource>,
    pub products: BTreeSet<String>,
}

impl Scopes {
    /// Every scope as the space-separated tokens used in `scope` (RFC 6749 §3.3).
    pub fn scope_tokens(&self) -> impl Iterator<Item = &str> {
        self.global_resources.iter().map(|resource| resource.as_str()).chain(self.products.iter().map(String::as_str))
    }

    pub fn to_scope_string(&self) -> String {
        self.scope_tokens().collect::<Vec<_>>().join(" ")
    }

    pub fn has_global(&self, resource: GlobalResource) -> bool {
        self.global_resources.contains(&resource)
    }
}

/// `token_expiry_seconds`: seed rule 5, default 3600, allowed 60 to 86400.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct TokenExpiry(u32);

impl TokenExpiry {
    pub const DEFAULT: TokenExpiry = TokenExpiry(3600);
    pub const MIN: u32 = 60;
    pub const MAX: u32 = 86_400;

    pub fn parse(seconds: i64) -> Result<Self, ValidationError> {
        match u32::try_from(seconds) {
            Ok(seconds) if (Self::MIN..=Self::MAX).contains(&seconds) => Ok(Self(seconds)),
            _ => Err(ValidationError::new("token_expiry_seconds", "must be between 60 and 86400")),
        }
    }

    pub fn seconds(self) -> u32 {
        self.0
    }
}

impl Default for TokenExpiry {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// An address, or a block `address/length`, read as strictly as the standard library reads an
/// address alone: no leading zeros in an octet or in the length (ipnet's own parser allows them
/// in a block, so `010.0.0.0/8` was taken while `010.0.0.1` was refused, and an octet that
/// reads as octal elsewhere is a classic source of allow-list mistakes).
fn parse_net(entry: &str) -> Option<IpNet> {
    let Some((address, length)) = entry.split_once('/') else {
        return entry.parse::<IpAddr>().ok().map(IpNet::from);
    };
    let canonical = length.bytes().all(|byte| byte.is_ascii_digit()) && (length == "0" || !length.starts_with('0'));
    let length = length.parse::<u8>().ok().filter(|_| canonical)?;
    IpNet::new(address.parse::<IpAddr>().ok()?, length).ok().map(|net| net.trunc())
}

/// Seed rule 13: addresses and CIDR blocks a client may call from; empty means any address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowedIps(Vec<IpNet>);

impl AllowedIps {
    pub const MAX_ENTRIES: usize = 100;

    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, ValidationError> {
        if entries.len() > Self::MAX_ENTRIES {
            return Err(ValidationError::new("allowed_ips", "must hold at most 100 entries"));
        }
        let mut nets = Vec::with_capacity(entries.len());
        for entry in entries {
            let net = parse_net(entry.as_ref().trim()).ok_or_else(|| {
                ValidationError::new("allowed_ips", "each entry must be an IPv4 or IPv6 address or CIDR block")
            })?;
            let net = ipv4_if_mapped(net);
            if !nets.contains(&net) {
                nets.push(net);
            }
        }
        Ok(Self(nets))
    }

    /// Empty allows every address. IPv4-mapped IPv6 peers (`::ffff:a.b.c.d`) are matched as the
    /// IPv4 address they are.
    pub fn allows(&self, addr: IpAddr) -> bool {
        if self.0.is_empty() {
            return true;
        }
        let addr = match addr {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        };
        self.0.iter().any(|net| net.contains(&addr))
    }

    /// The canonical text of each entry: a bare address for a single host, CIDR otherwise.
    pub fn to_strings(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|net| if net.prefix_len() == net.max_prefix_len() { net.addr().to_string() } else { net.to_string() })
            .collect()
    }
}

impl Serialize for AllowedIps {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_strings().serialize(serializer)
    }
}

/// An IPv4-mapped IPv6 entry (`::ffff:192.0.2.1`, `::ffff:10.0.0.0/104`) as the IPv4 entry it
/// means: peers are matched as IPv4 addresses (see `AllowedIps::allows`), so kept as IPv6 it
/// would never match anyone.
fn ipv4_if_mapped(net: IpNet) -> IpNet {
    if let IpNet::V6(v6) = net
        && let Some(v4) = v6.addr().to_ipv4_mapped()
        && let Some(prefix) = v6.prefix_len().checked_sub(96)
        && let Ok(mapped) = ipnet::Ipv4Net::new(v4, prefix)
    {
        return IpNet::V4(mapped.trunc());
    }
    net
}

/// Seed rule 12: `{"requests_per_second", "burst"}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RateLimit {
    pub requests_per_second: u32,
    pub burst: u32,
}

impl RateLimit {
    pub const MAX: u32 = 1_000_000;

    pub fn parse(requests_per_second: i64, burst: i64) -> Result<Self, ValidationError> {
        let in_range = |value: i64| u32::try_from(value).ok().filter(|v| (1..=Self::MAX).contains(v));
        let requests_per_second = in_range(requests_per_second)
            .ok_or_else(|| ValidationError::new("rate_limit.requests_per_second", "must be between 1 and 1000000"))?;
        let burst =
            in_range(burst).ok_or_else(|| ValidationError::new("rate_limit.burst", "must be between 1 and 1000000"))?;
        Ok(Self { requests_per_second, burst })
    }
}

/// An API client as the domain sees it. Its secret is never part of it: only the store holds the
/// secret's hash, and only the token endpoint reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    pub client_id: ClientId,
    pub account_id: AccountId,
    pub name: ClientName,
    pub description: Description,
    /// The owner's email, as the API shows it.
    pub client_owner: Email,
    /// The owner: ownership is judged by user id, since users of different accounts may share
    /// an email.
    pub client_owner_id: UserId,
    pub client_type: ClientType,
    /// File 001: `true`, `false`, or `null` for a client that has never been locked.
    pub locked: Option<bool>,
    pub enabled: bool,
    pub scopes: Scopes,
    pub token_expiry: TokenExpiry,
    pub allowed_ips: AllowedIps,
    pub rate_limit: Option<RateLimit>,
    pub date_created: OffsetDateTime,
    pub date_updated: OffsetDateTime,
    /// Bumped by every change; the HTTP layer's `ETag`.
    pub version: i64,
    /// Bumped by every key renewal; tokens minted under an earlier generation are refused
    /// (seed rule 8).
    pub secret_generation: i64,
    /// When the current secret expires, if it does. Read with the client, never written with
    /// it: the secrets' own writes set it.
    pub secret_expires_at: Option<OffsetDateTime>,
    /// Whether it has a logo (seed file 002). Read with the client; the logo's own writes set it.
    pub has_logo: bool,
    /// The project it belongs to, if any (seed file 002): then only the project's members
    /// among developers see it.
    pub project_id: Option<ProjectId>,
}

impl Client {
    pub fn is_locked(&self) -> bool {
        self.locked == Some(true)
    }
}

impl fmt::Display for ClientType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `client_fields` fuzz target: an IPv4-mapped entry was kept as IPv6 and never
    /// allowed anyone, the address it names included.
    #[test]
    fn ipv4_mapped_entries_allow_the_ipv4_addresses_they_name() {
        let allowed = AllowedIps::parse(&["::ffff:192.0.2.1", "::ffff:10.0.0.0/104", "::ffff:0:0/95"]).unwrap();
        // Wider than the mapped range: an IPv6 block, as written.
        assert_eq!(allowed.to_strings(), ["192.0.2.1", "10.0.0.0/8", "::fffe:0:0/95"]);
        assert!(allowed.allows("192.0.2.1".parse().unwrap()));
        assert!(allowed.allows("::ffff:192.0.2.1".parse().unwrap()));
        assert!(allowed.allows("10.200.0.1".parse().unwrap()));
        assert!(!allowed.allows("192.0.2.2".parse().unwrap()));
    }

    #[test]
    fn names_are_trimmed_and_counted_in_characters() {
        assert_eq!(ClientName::parse("  ok  ").unwrap().as_str(), "ok");
        assert!(ClientName::parse("   ").is_err());
        assert!(ClientName::parse(&"é".repeat(200)).is_ok());
        assert!(ClientName::parse(&"é".repeat(201)).is_err());
        assert!(ClientName::parse("a\u{0000}b").is_err());
        assert!(ClientName::parse("evil\u{202E}gnp.exe").is_err());
        let hostile = "Robert'); DROP TABLE clients;-- <script>alert(1)</script> 🦀";
        assert_eq!(ClientName::parse(hostile).unwrap().as_str(), hostile);
    }

    #[test]
    fn token_expiry_bounds() {
        assert!(TokenExpiry::parse(59).is_err());
        assert!(TokenExpiry::parse(60).is_ok());
        assert!(TokenExpiry::parse(86_400).is_ok());
        assert!(TokenExpiry::parse(86_401).is_err());
        assert!(TokenExpiry::parse(-1).is_err());
    }

    #[test]
    fn allowed_ips_parse_and_match() {
        let ips = AllowedIps::parse(&["10.0.0.0/8", "2001:db8::1", "192.168.1.7/24"]).unwrap();
        assert_eq!(ips.to_strings(), vec!["10.0.0.0/8", "2001:db8::1", "192.168.1.0/24"]);
        assert!(ips.allows("10.1.2.3".parse().unwrap()));
        assert!(ips.allows("::ffff:10.1.2.3".parse().unwrap()));
        assert!(ips.allows("192.168.1.200".parse().unwrap()));
        assert!(!ips.allows("11.0.0.1".parse().unwrap()));
        assert!(AllowedIps::parse(&["300.1.1.1/8"]).is_err());
        assert!(AllowedIps::parse(&["10.0.0.0/33"]).is_err());
        assert!(AllowedIps::default().allows("203.0.113.9".parse().unwrap()));
    }

    #[test]
    fn blocks_are_read_as_strictly_as_addresses() {
        for refused in
            ["010.0.0.0/8", "10.0.0.0/08", "2001:db8::/032", "10.0.0.0/+8", "10.0.0.0/", "/8", "10.0.0.0/8/8"]
        {
            assert!(AllowedIps::parse(&[refused]).is_err(), "{refused}");
        }
        for taken in ["0.0.0.0/0", "::/0", "::1:192.0.2.1", "1::2:192.0.2.1/128", "::ffff:0:192.0.2.1", " 10.0.0.0/8 "]
        {
            assert!(AllowedIps::parse(&[taken]).is_ok(), "{taken}");
        }
    }
}
