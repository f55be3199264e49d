//! The fuzz targets: each takes the raw bytes AFL++ (or a corpus file) gives it, runs one parser
//! of untrusted input on them (`gatehouse-edge`'s, or the domain's for access tokens, client ids
//! and client fields), and asserts what must hold for every input, not only that nothing
//! panics. A failed assertion is a crash to AFL++; a crash it finds is kept under
//! `regressions/<target>/` and replayed by `cargo test` from then on.

// A target whose own set-up fails (a key that cannot be made) must stop loudly: to AFL++ that
// is a crash to look at, not an input to skip.
#![allow(clippy::expect_used)]

use std::collections::HashMap;
use std::io::Read;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use gatehouse_domain::account::Email;
use gatehouse_domain::client::{AllowedIps, ClientName, Description, RateLimit, TokenExpiry};
use gatehouse_domain::ids::CredentialId;
use gatehouse_domain::master_key::MasterKey;
use gatehouse_domain::token::{AccessTokenClaims, KeyRing, generate_signing_key};
use gatehouse_edge::{client_auth, forwarded, original_path, paging};
use time::OffsetDateTime;

/// `original_path`: what the check accepts is a plain absolute path, and one that needs no
/// further resolution.
pub fn original_path(data: &[u8]) {
    let Ok(raw) = std::str::from_utf8(data) else { return };
    if let Ok(resolved) = original_path::resolve(raw) {
        assert!(resolved.starts_with('/'), "{raw:?} resolved to a relative path");
        let segments: Vec<&str> = resolved.split('/').skip(1).collect();
        for (index, segment) in segments.iter().enumerate() {
            assert!(!segment.is_empty() || index + 1 == segments.len(), "{raw:?}: an empty segment survived");
            assert!(*segment != "." && *segment != "..", "{raw:?}: a dot segment survived");
            assert!(!segment.ends_with(['.', ' ']), "{raw:?}: a segment Windows would trim survived");
        }
        assert!(!resolved.contains(['?', '#', ';', '\\']), "{raw:?}: a delimiter survived");
        // Resolving again what needs no decoding changes nothing: it was resolved once, fully.
        if !resolved.contains('%') && !resolved.contains(|c: char| c == ' ' || !c.is_ascii_graphic() && c != '/') {
            assert_eq!(original_path::resolve(&resolved).as_deref(), Ok(&*resolved), "{raw:?}");
        }
        // Whatever the path, a prefix match never splits a segment, and a product is decided
        // only when case and format-suffix readings agree with it.
        for prefix in ["/billing", "/supersim/"] {
            if original_path::under_prefix(&resolved, prefix) {
                let rest = &resolved[prefix.len()..];
                assert!(prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/'), "{raw:?}");
            }
        }
        let catalogue = [("/wireless/", 1), ("/wireless/admin", 2), ("/billing", 3)];
        if let Ok(Some(product)) = original_path::product_for(&resolved, catalogue) {
            let lowered = resolved.to_ascii_lowercase();
            assert_eq!(original_path::longest_prefix_match(&lowered, catalogue), Some(product), "{raw:?}");
        }
    }
    if original_path::is_valid_prefix(raw) {
        assert_eq!(original_path::resolve(raw).as_deref(), Ok(raw), "a valid prefix must resolve to itself");
    }
}

/// `forwarded`: the input is `X-Forwarded-For` header values, one per line, from a trusted peer
/// (10.0.0.1; 10.0.0.0/8 trusted). Every parsed address parses back to itself, and the caller
/// decided is what a right-to-left walk that stops at the first untrusted or unreadable entry
/// gives: never an entry the caller wrote beyond an unreadable one.
pub fn forwarded(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let peer = IpAddr::from([10, 0, 0, 1]);
    let trusts = |addr: IpAddr| matches!(addr, IpAddr::V4(v4) if v4.octets()[0] == 10);
    let values: Vec<&str> = text.split('\n').collect();
    let mut entries = Vec::new();
    for value in &values {
        for entry in value.split(',') {
            let parsed = forwarded::parse_address(entry);
            if let Some(addr) = parsed {
                assert_eq!(forwarded::parse_address(&addr.to_string()), Some(addr), "{entry:?}");
                assert_eq!(forwarded::canonical(addr), addr, "{entry:?} parsed to a mapped address");
            }
            entries.push(parsed);
        }
    }
    let decided = forwarded::caller_behind_trusted_peer(
        peer,
        values.iter().map(|value| Some(*value)),
        std::iter::empty(),
        trusts,
    );
    let mut expected = peer;
    for entry in entries.iter().rev() {
        match entry {
            Some(addr) if trusts(*addr) => expected = *addr,
            Some(addr) => {
                expected = *addr;
                break;
            }
            None => break,
        }
    }
    assert_eq!(decided, expected, "{text:?}");
}

/// `client_auth`: the first line is an `Authorization` header value, the rest a form body.
/// A body is refused only when it is empty or repeats a parameter, and what is accepted holds
/// every parameter once, none empty. Basic credentials survive a round trip through their own
/// encoding, and an id the domain accepts is exactly the text presented.
pub fn client_auth(data: &[u8]) {
    let (header, body) = match data.iter().position(|byte| *byte == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let pairs: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    match client_auth::parse_form(body) {
        Ok(params) => {
            let mut seen = HashMap::new();
            for (key, value) in &pairs {
                assert!(seen.insert(key, value).is_none(), "{body:?}: {key:?} repeated yet accepted");
            }
            assert_eq!(params.len(), pairs.iter().filter(|(_, value)| !value.is_empty()).count());
            assert!(params.values().all(|value| !value.is_empty()));
        }
        Err(client_auth::FormError::Empty) => assert!(body.is_empty()),
        Err(client_auth::FormError::Repeated) => {
            let mut keys: Vec<&String> = pairs.iter().map(|(key, _)| key).collect();
            keys.sort();
            assert!(keys.windows(2).any(|pair| pair[0] == pair[1]), "{body:?} refused as repeated");
        }
    }
    let Ok(header) = std::str::from_utf8(header) else { return };
    if let Some((id, secret)) = client_auth::basic(header) {
        let encode = |text: &str| form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
        let again = format!("Basic {}", STANDARD.encode(format!("{}:{}", encode(&id), encode(&secret))));
        assert_eq!(client_auth::basic(&again), Some((id.clone(), secret)), "{header:?}");
        if let Some(parsed) = CredentialId::parse(&id) {
            assert_eq!(parsed.as_str(), id);
            assert!(id.len() <= 64 && id.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"_-".contains(&byte)));
        }
    }
}

/// `paging`: whatever the query, an accepted page is within file 001's bounds, holds only the
/// parameters a listing knows, each within limits, and reads the same when written back.
pub fn paging(data: &[u8]) {
    let Ok(query) = std::str::from_utf8(data) else { return };
    let filters = ["target_id", "actor_id"];
    let Ok(parsed) = paging::parse(query, &filters) else { return };
    assert!((1..=paging::MAX_PAGE_SIZE).contains(&parsed.page_size), "{query:?}");
    assert!(parsed.page_number >= 1, "{query:?}");
    for (name, value) in &parsed.params {
        assert!(["page_size", "page_number"].contains(&name.as_str()) || filters.contains(&name.as_str()));
        // Counted in characters, as the OpenAPI document's `maxLength` counts them (at most
        // four bytes each, so memory stays bounded).
        assert!(value.chars().count() <= paging::MAX_VALUE_LEN && !value.chars().any(char::is_control), "{query:?}");
    }
    let mut written = form_urlencoded::Serializer::new(String::new());
    let mut names: Vec<&String> = parsed.params.keys().collect();
    names.sort();
    for name in names {
        written.append_pair(name, &parsed.params[name]);
    }
    assert_eq!(paging::parse(&written.finish(), &filters).as_ref(), Ok(&parsed), "{query:?}");
}

/// Tokens signed by one key for this process, and the ring that verifies them.
struct Signed {
    ring: KeyRing,
    tokens: Vec<String>,
    now: OffsetDateTime,
}

fn signed() -> &'static Signed {
    static SIGNED: OnceLock<Signed> = OnceLock::new();
    SIGNED.get_or_init(|| {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("a time");
        let master = MasterKey::generate();
        let key = generate_signing_key(&master, now, now).expect("a signing key");
        let issuer = "https://gatehouse.example".to_owned();
        let ring = KeyRing::load(&master, &[key], issuer.clone(), 5, now).expect("a key ring");
        let claims = |client: &str, scope: &str, client_type: &str| AccessTokenClaims {
            iss: issuer.clone(),
            sub: client.to_owned(),
            client_id: client.to_owned(),
            aud: issuer.clone(),
            iat: now.unix_timestamp(),
            exp: now.unix_timestamp() + 3600,
            jti: format!("01a2b3c4d5e6{client}"),
            scope: scope.to_owned(),
            account_id: "acc_fuzz".to_owned(),
            client_type: client_type.to_owned(),
        };
        let tokens = [claims("cli_a", "SuperSIM", "standard"), claims("cli_b", "users api_clients", "admin")]
            .iter()
            .map(|claims| ring.sign(claims, now).expect("a signature"))
            .collect();
        Signed { ring, tokens, now }
    })
}

/// `access_token`: an access token is accepted only exactly as Gatehouse signed it. The first
/// byte picks a signed token (or, when it is 0xff, the rest is the whole token); each following
/// pair of bytes is an edit (position, new byte), so the fuzzer works near valid tokens:
/// headers, claims, signature bits, base64 padding. However edited, a token that verifies is
/// byte for byte the one signed, and says what was signed.
pub fn access_token(data: &[u8]) {
    let signed = signed();
    let Some((&pick, edits)) = data.split_first() else { return };
    let (token, original) = if pick == 0xff {
        let Ok(text) = std::str::from_utf8(edits) else { return };
        (text.to_owned(), None)
    } else {
        let original = &signed.tokens[usize::from(pick) % signed.tokens.len()];
        let mut bytes = original.clone().into_bytes();
        for edit in edits.chunks_exact(2) {
            let at = usize::from(edit[0]) * 7 % bytes.len();
            bytes[at] = edit[1];
        }
        let Ok(text) = String::from_utf8(bytes) else { return };
        (text, Some(original))
    };
    if let Ok(claims) = signed.ring.verify(&token, signed.now) {
        assert!(signed.tokens.contains(&token), "an edited token verified: {token:?}");
        if let Some(original) = original {
            assert_eq!(&token, original);
        }
        assert_eq!(claims.sub, claims.client_id);
    }
}

/// `client_fields`: a `/v1` client body as JSON. Whatever the domain accepts for a field is
/// within its documented bounds and reads back as itself.
pub fn client_fields(data: &[u8]) {
    let Ok(serde_json::Value::Object(body)) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    if let Some(name) = body.get("name").and_then(|value| value.as_str())
        && let Ok(parsed) = ClientName::parse(name)
    {
        assert!(!parsed.as_str().trim().is_empty() && parsed.as_str().chars().count() <= 200, "{name:?}");
        assert_eq!(ClientName::parse(parsed.as_str()).ok().as_ref(), Some(&parsed));
    }
    if let Some(description) = body.get("description").and_then(|value| value.as_str())
        && let Ok(parsed) = Description::parse(description)
    {
        assert_eq!(Description::parse(parsed.as_str()).ok().as_ref(), Some(&parsed));
    }
    if let Some(seconds) = body.get("token_expiry_seconds").and_then(|value| value.as_i64())
        && let Ok(expiry) = TokenExpiry::parse(seconds)
    {
        assert!((60..=86_400).contains(&i64::from(expiry.seconds())), "{seconds}");
    }
    if let Some(limit) = body.get("rate_limit")
        && let (Some(rps), Some(burst)) = (limit["requests_per_second"].as_i64(), limit["burst"].as_i64())
        && let Ok(parsed) = RateLimit::parse(rps, burst)
    {
        assert_eq!(RateLimit::parse(rps, burst).ok(), Some(parsed));
        assert!(rps > 0 && burst > 0, "{limit}");
    }
    if let Some(owner) = body.get("client_owner").and_then(|value| value.as_str())
        && let Ok(email) = Email::parse(owner)
    {
        assert_eq!(Email::parse(email.as_str()).ok().as_ref(), Some(&email));
        assert!(!email.as_str().chars().any(|c| c.is_control() || c.is_whitespace()), "{owner:?}");
    }
    if let Some(entries) = body.get("allowed_ips").and_then(|value| value.as_array()) {
        let texts: Vec<&str> = entries.iter().filter_map(|entry| entry.as_str()).collect();
        if let Ok(allowed) = AllowedIps::parse(&texts) {
            let written = allowed.to_strings();
            assert!(written.len() <= texts.len() && written.len() <= AllowedIps::MAX_ENTRIES);
            let again = AllowedIps::parse(&written).expect("written entries parse");
            assert_eq!(again, allowed, "{texts:?}");
            for text in &written {
                let addr: IpAddr = text.split('/').next().and_then(|addr| addr.parse().ok()).expect("an address");
                assert!(allowed.allows(addr), "{text} does not allow its own address");
            }
        }
    }
}

/// Every file under `dir`, sorted; none if it does not exist.
pub fn corpus_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|entry| entry.path()).filter(|path| path.is_file()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

/// The plain (not instrumented) binary: runs `target` on each file named on the command line,
/// or on standard input, so a crash AFL++ saved can be replayed under a debugger.
pub fn replay_main(target: fn(&[u8])) {
    let paths: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if paths.is_empty() {
        let mut input = Vec::new();
        if std::io::stdin().read_to_end(&mut input).is_ok() {
            target(&input);
        }
        return;
    }
    for path in paths {
        let files = if path.is_dir() { corpus_files(&path) } else { vec![path] };
        for file in files {
            eprintln!("replaying {}", file.display());
            match std::fs::read(&file) {
                Ok(input) => target(&input),
                Err(error) => eprintln!("cannot read {}: {error}", file.display()),
            }
        }
    }
}
