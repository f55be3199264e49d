//! The original request path, as a gateway passes it (`X-Original-URI`, `X-Forwarded-Uri`, or
//! the path Envoy appends to the check's), resolved to the path the product is decided on.
//!
//! Gateways and the APIs behind them do not agree on how to resolve a path: nginx decodes
//! escapes, merges `//` and removes dot segments before it picks a `location`; Envoy matches
//! routes on the raw path unless told to normalise; Go's servers (Caddy, Traefik) clean it their
//! own way; Java servers drop `;` parameters. A path that two of them could resolve differently
//! is the classic way past a path-based check (`/supersim//../wireless/x` is SuperSIM to one
//! resolver and wireless to another). So Gatehouse does not try to guess which resolution is in
//! front of it: it accepts only paths that every one of them resolves the same way, and refuses
//! the rest. What it accepts is decoded exactly once.

use std::borrow::Cow;
use std::fmt;

/// Longer than any path a gateway forwards in practice; refusing early bounds the work. Only the
/// path counts: the query is never read, whatever its length.
pub const MAX_PATH_BYTES: usize = 8 * 1024;

/// Why a path was refused. Each is a form that some gateway or upstream resolves differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathRefusal {
    TooLong,
    /// Not an origin-form path (absolute-form `http://host/...`, `*`, or empty).
    NotAbsolute,
    /// `#` in a request target: never sent by a client, read differently by servers.
    Fragment,
    /// `//`: nginx merges it, Envoy and most upstreams keep it, so `..` removes different things.
    EmptySegment,
    /// `.` or `..`: resolved by some gateways, passed through by others.
    DotSegment,
    /// `;`: a path parameter to Java servers (`/..;/`), a plain character to the rest.
    Parameter,
    /// `\`: a separator to some servers.
    Backslash,
    /// A space, a control character or a byte outside ASCII in the raw path.
    BadCharacter,
    /// `%` not followed by two hex digits.
    BadEscape,
    /// An escaped `/`, `\`, `.`, `%`, `;`, `?`, `#` or control character: decoded by some
    /// resolvers before they split segments (or twice), by others never.
    EncodedDelimiter,
    /// An escaped letter, digit, `-`, `_` or `~` (RFC 3986 §2.3: never to be escaped): nginx
    /// decodes it before routing, Envoy routes on the escape.
    EncodedUnreserved,
    /// The decoded path is not UTF-8.
    NotUtf8,
    /// A segment that ends in `.` or a space, or starts with a space (`..%20`, `...`): Windows
    /// servers trim these, which turns some of them into `..`.
    TrailingDotOrSpace,
    /// A character that Unicode compatibility folding (NFKC) turns into ASCII punctuation or
    /// letters (fullwidth forms, small forms, dot leaders): servers that fold read another path.
    CompatibilityCharacter,
}

impl PathRefusal {
    /// The reason given to the caller (403).
    pub fn reason(self) -> &'static str {
        match self {
            Self::TooLong => "the original path is too long",
            Self::NotAbsolute => "the original path must start with '/'",
            Self::Fragment => "the original path holds a '#'",
            Self::EmptySegment => "the original path holds an empty segment ('//')",
            Self::DotSegment => "the original path holds a '.' or '..' segment",
            Self::Parameter => "the original path holds a ';'",
            Self::Backslash => "the original path holds a '\\'",
            Self::BadCharacter => "the original path holds a space, a control character or a raw non-ASCII byte",
            Self::BadEscape => "the original path holds a malformed percent-escape",
            Self::EncodedDelimiter => {
                "the original path holds an escaped '/', '\\', '.', '%', ';', '?', '#' or control"
            }
            Self::EncodedUnreserved => "the original path escapes a character that must not be escaped",
            Self::NotUtf8 => "the original path does not decode to UTF-8",
            Self::TrailingDotOrSpace => "the original path has a segment ending in '.' or a space",
            Self::CompatibilityCharacter => "the original path holds a character that folds to ASCII",
        }
    }
}

impl fmt::Display for PathRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

/// The path part of `raw` (query dropped), percent-decoded once, if every resolver in front of
/// Gatehouse resolves it the same way; borrowed when there was nothing to decode.
pub fn resolve(raw: &str) -> Result<Cow<'_, str>, PathRefusal> {
    let path = path_part(raw);
    if path.len() > MAX_PATH_BYTES {
        return Err(PathRefusal::TooLong);
    }
    if !path.starts_with('/') {
        return Err(PathRefusal::NotAbsolute);
    }
    // Escaped `/` and `.` are refused below, so the raw segments are the decoded ones.
    let mut segments = path.split('/').skip(1).peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        match segment {
            // A trailing slash (`/supersim/`) is the one empty segment every resolver keeps.
            "" if !last => return Err(PathRefusal::EmptySegment),
            "." | ".." => return Err(PathRefusal::DotSegment),
            _ => {}
        }
    }
    let bytes = path.as_bytes();
    let mut decoded: Option<Vec<u8>> = None;
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        let plain = match byte {
            b'%' => {
                let value = bytes
                    .get(index + 1..index + 3)
                    .and_then(|hex| Some(hex_value(hex[0])? << 4 | hex_value(hex[1])?))
                    .ok_or(PathRefusal::BadEscape)?;
                if is_unreserved(value) {
                    return Err(PathRefusal::EncodedUnreserved);
                }
                if matches!(value, b'/' | b'\\' | b'%' | b';' | b'?' | b'#') || value.is_ascii_control() {
                    return Err(PathRefusal::EncodedDelimiter);
                }
                let out = decoded.get_or_insert_with(|| {
                    let mut out = Vec::with_capacity(bytes.len());
                    out.extend_from_slice(&bytes[..index]);
                    out
                });
                out.push(value);
                index += 3;
                continue;
            }
            b'#' => return Err(PathRefusal::Fragment),
            b';' => return Err(PathRefusal::Parameter),
            b'\\' => return Err(PathRefusal::Backslash),
            b' ' | 0x80.. => return Err(PathRefusal::BadCharacter),
            _ if byte.is_ascii_control() => return Err(PathRefusal::BadCharacter),
            _ => byte,
        };
        if let Some(out) = decoded.as_mut() {
            out.push(plain);
        }
        index += 1;
    }
    let resolved = match decoded {
        None => Cow::Borrowed(path),
        Some(bytes) => String::from_utf8(bytes).map(Cow::Owned).map_err(|_| PathRefusal::NotUtf8)?,
    };
    for segment in resolved.split('/') {
        if segment.ends_with(['.', ' ']) || segment.starts_with(' ') {
            return Err(PathRefusal::TrailingDotOrSpace);
        }
    }
    if resolved.chars().any(folds_to_ascii) {
        return Err(PathRefusal::CompatibilityCharacter);
    }
    Ok(resolved)
}

/// Characters NFKC maps to ASCII punctuation or letters, in the blocks where they cluster:
/// fullwidth and halfwidth forms (`／`, `．`, `ａ`), small and vertical forms (`﹒`), and the dot
/// leaders (`․`, `‥`, `…`). Not every compatibility character, but every one that can spell a
/// separator or a dot segment, and the fullwidth alphabet that can spell a product's prefix.
fn folds_to_ascii(c: char) -> bool {
    matches!(c, '\u{FF00}'..='\u{FFEF}' | '\u{FE10}'..='\u{FE1F}' | '\u{FE50}'..='\u{FE6F}' | '\u{2024}'..='\u{2026}')
}

/// A request target without its query: the part that names the resource.
pub fn path_part(target: &str) -> &str {
    target.split_once('?').map_or(target, |(path, _query)| path)
}

/// Whether `prefix` is fit to be a product's path prefix: a path [`resolve`] accepts as it is,
/// with nothing escaped and no query, so it is compared with resolved paths character for
/// character. A prefix that no resolved path can match is refused when it is saved, not at
/// every check.
pub fn is_valid_prefix(prefix: &str) -> bool {
    !prefix.contains(['%', '?']) && matches!(resolve(prefix), Ok(Cow::Borrowed(resolved)) if resolved == prefix)
}

/// Whether the resolved `path` lies under `prefix`. A prefix ending in `/` matches everything
/// below it; any other prefix matches itself and what lies below it, never a longer sibling
/// (`/billing` does not match `/billing-admin`).
pub fn under_prefix(path: &str, prefix: &str) -> bool {
    if prefix.ends_with('/') {
        path.starts_with(prefix)
    } else {
        path == prefix || path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/'))
    }
}

/// Of `(prefix, value)` pairs, the value of the longest prefix `path` lies under.
pub fn longest_prefix_match<'a, T>(path: &str, prefixes: impl IntoIterator<Item = (&'a str, T)>) -> Option<T> {
    longest_where(prefixes, |prefix| under_prefix(path, prefix))
}

/// The value of the longest prefix that `matches`.
fn longest_where<'a, T>(prefixes: impl IntoIterator<Item = (&'a str, T)>, matches: impl Fn(&str) -> bool) -> Option<T> {
    prefixes
        .into_iter()
        .filter(|(prefix, _)| matches(prefix))
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(_, value)| value)
}

/// The resolved path maps to different products under routers that Gatehouse cannot tell
/// apart from in front of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AmbiguousProduct;

impl AmbiguousProduct {
    pub const REASON: &'static str =
        "the path maps to another product where letter case or a '.format' suffix is ignored";
}

/// The product for the resolved `path`: the value of the longest prefix it lies under, provided
/// the routers behind the gateway agree. Many match paths without regard to ASCII case
/// (Express, ASP.NET Core) or route `/x.json` as `/x` (Rails); where one of those readings
/// names another product (`/wireless/ADMIN` or `/wireless/admin.json` beside a
/// `/wireless/admin` product), the path is ambiguous and refused rather than guessed at.
pub fn product_for<'a, T: PartialEq>(
    path: &str,
    prefixes: impl IntoIterator<Item = (&'a str, T)> + Clone,
) -> Result<Option<T>, AmbiguousProduct> {
    let exact = longest_prefix_match(path, prefixes.clone());
    let any_case = longest_where(prefixes.clone(), |prefix| under_prefix_ignoring_case(path, prefix));
    // `/a/b.json` read as `/a/b`: a prefix of the path itself, so nothing is allocated.
    let last_segment = path.rfind('/').unwrap_or(0);
    let without_format =
        path[last_segment..].rfind('.').map(|dot| longest_prefix_match(&path[..last_segment + dot], prefixes));
    if any_case != exact || without_format.is_some_and(|product| product != exact) {
        return Err(AmbiguousProduct);
    }
    Ok(exact)
}

/// [`under_prefix`], ignoring ASCII case.
fn under_prefix_ignoring_case(path: &str, prefix: &str) -> bool {
    let Some(head) = path.as_bytes().get(..prefix.len()) else { return false };
    if !head.eq_ignore_ascii_case(prefix.as_bytes()) {
        return false;
    }
    prefix.ends_with('/') || path.len() == prefix.len() || path.as_bytes()[prefix.len()] == b'/'
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit).to_digit(16).and_then(|value| u8::try_from(value).ok())
}

/// RFC 3986 §2.3.
fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn canonical_paths_resolve_to_themselves_and_escapes_are_decoded_once() {
        assert_eq!(resolve("/supersim/v1/Sims?page=2").unwrap(), "/supersim/v1/Sims");
        assert!(matches!(resolve("/supersim/v1/Sims").unwrap(), Cow::Borrowed(_)));
        assert_eq!(resolve("/supersim/").unwrap(), "/supersim/");
        assert_eq!(resolve("/").unwrap(), "/");
        assert_eq!(resolve("/files/My%20Sim/caf%C3%A9").unwrap(), "/files/My Sim/café");
        // A query may say anything: it is the upstream's, never the product's.
        assert_eq!(resolve("/supersim/x?next=/../wireless//;%2e").unwrap(), "/supersim/x");
        assert_eq!(resolve("/a%2Bb").unwrap(), "/a+b", "an escaped reserved character is data");
    }

    #[test]
    fn paths_that_resolvers_disagree_on_are_refused() {
        use PathRefusal::*;
        for (raw, refusal) in [
            // Empty segments that `..` would remove instead of the product, where a gateway merges
            // `//` and the upstream does not.
            ("/supersim//../wireless/x", EmptySegment),
            ("/supersim/.//../wireless/x", DotSegment),
            ("/supersim/..;/wireless/x", Parameter),
            ("/supersim/x;/wireless", Parameter),
            ("/supersim/..", DotSegment),
            ("/supersim/../wireless/x", DotSegment),
            ("/supersim/./x", DotSegment),
            ("//supersim/x", EmptySegment),
            ("/supersim/%2e%2e/wireless/x", EncodedUnreserved),
            // Windows servers trim trailing dots and spaces: `.. ` and `...` become `..`.
            ("/supersim/..%20/wireless/x", TrailingDotOrSpace),
            ("/supersim/.../wireless/x", TrailingDotOrSpace),
            ("/supersim/x./y", TrailingDotOrSpace),
            // NFKC folds the fullwidth full stop and letters to ASCII.
            ("/supersim/%EF%BC%8E%EF%BC%8E/wireless", CompatibilityCharacter),
            ("/%EF%BD%93upersim/x", CompatibilityCharacter),
            // Decoded twice (Envoy's path route once did), this was `..`.
            ("/wireless/%252e%252e/supersim/x", EncodedDelimiter),
            ("/supersim%2f..%2fwireless", EncodedDelimiter),
            ("/supersim%5c..%5cwireless", EncodedDelimiter),
            ("/%73upersim/x", EncodedUnreserved),
            ("/a%00b", EncodedDelimiter),
            ("/a%zz", BadEscape),
            ("/a%2", BadEscape),
            ("/a%C3%28", NotUtf8),
            ("/a\\..\\wireless", Backslash),
            ("/a b", BadCharacter),
            ("/a\tb", BadCharacter),
            ("/café", BadCharacter),
            ("/a#b", Fragment),
            ("http://gateway/supersim/x", NotAbsolute),
            ("relative", NotAbsolute),
            ("", NotAbsolute),
            ("?product=SuperSIM", NotAbsolute),
        ] {
            assert_eq!(resolve(raw), Err(refusal), "{raw:?}");
        }
        assert_eq!(resolve(&format!("/{}", "a".repeat(MAX_PATH_BYTES))), Err(TooLong));
        // The query's length is not the path's.
        assert!(resolve(&format!("/supersim/x?{}", "q".repeat(2 * MAX_PATH_BYTES))).is_ok());
    }

    #[test]
    fn prefixes_match_whole_segments() {
        assert!(under_prefix("/billing", "/billing"));
        assert!(under_prefix("/billing/x", "/billing"));
        assert!(!under_prefix("/billing-admin", "/billing"));
        assert!(under_prefix("/supersim/x", "/supersim/"));
        assert!(!under_prefix("/supersim", "/supersim/"));
        let catalogue = [("/wireless/", "W"), ("/wireless/admin", "A"), ("/supersim/", "S")];
        assert_eq!(longest_prefix_match("/wireless/admin/x", catalogue), Some("A"));
        assert_eq!(longest_prefix_match("/wireless/x", catalogue), Some("W"));
        assert_eq!(longest_prefix_match("/other", catalogue), None);
        // Routers that ignore case or a format suffix would pick the nested product: refused.
        assert_eq!(product_for("/wireless/x", catalogue), Ok(Some("W")));
        assert_eq!(product_for("/wireless/admin/x.json", catalogue), Ok(Some("A")));
        assert_eq!(product_for("/wireless/ADMIN/users", catalogue), Err(AmbiguousProduct));
        assert_eq!(product_for("/wireless/admin.json", catalogue), Err(AmbiguousProduct));
        assert_eq!(product_for("/Supersim/x", catalogue), Err(AmbiguousProduct));
        assert_eq!(product_for("/other/x.json", catalogue), Ok(None));
        assert!(is_valid_prefix("/supersim/") && is_valid_prefix("/billing") && is_valid_prefix("/"));
        for bad in ["/a//b", "/a/../b", "/a;b", "/a%20b", "/a?b", "a", "/a/./"] {
            assert!(!is_valid_prefix(bad), "{bad}");
        }
    }

    // The resolvers in front of Gatehouse, modelled from their documented behaviour.

    /// Percent-decodes every escape; `None` if one is malformed (nginx answers 400).
    fn decode_all(path: &str) -> Option<Vec<u8>> {
        let bytes = path.as_bytes();
        let mut out = Vec::new();
        let mut index = 0;
        while index < bytes.len() {
            if bytes[index] == b'%' {
                let hex = bytes.get(index + 1..index + 3)?;
                out.push(hex_value(hex[0])? << 4 | hex_value(hex[1])?);
                index += 3;
            } else {
                out.push(bytes[index]);
                index += 1;
            }
        }
        Some(out)
    }

    /// RFC 3986 §5.2.4 over `/`-separated segments, optionally merging empty ones first.
    fn remove_dots(path: &[u8], merge_slashes: bool) -> Option<String> {
        let path = String::from_utf8(path.to_vec()).ok()?;
        let mut out: Vec<&str> = Vec::new();
        let parts: Vec<&str> = path.split('/').skip(1).collect();
        for (index, segment) in parts.iter().enumerate() {
            let last = index + 1 == parts.len();
            match *segment {
                "" if merge_slashes && !last => {}
                "." => {
                    if last {
                        out.push("");
                    }
                }
                ".." => {
                    // nginx refuses a path that climbs above the root; Go's cleaner stops there.
                    out.pop()?;
                    if last {
                        out.push("");
                    }
                }
                other => out.push(other),
            }
        }
        Some(format!("/{}", out.join("/")))
    }

    /// nginx: decodes, merges slashes, removes dot segments, then matches `location`s.
    fn nginx(raw: &str) -> Option<String> {
        let path = raw.split('?').next()?;
        remove_dots(&decode_all(path)?, true)
    }

    /// An upstream that decodes and resolves dots but keeps empty segments (most frameworks).
    fn upstream(raw: &str) -> Option<String> {
        let path = raw.split('?').next()?;
        remove_dots(&decode_all(path)?, false)
    }

    /// Envoy without `normalize_path`: routes on the raw path.
    fn envoy_raw(raw: &str) -> Option<String> {
        raw.split('?').next().map(str::to_owned)
    }

    /// A Java servlet container: drops `;` parameters from each segment, then resolves dots.
    fn servlet(raw: &str) -> Option<String> {
        let path = raw.split('?').next()?;
        let stripped: Vec<&str> = path.split('/').map(|segment| segment.split(';').next().unwrap_or("")).collect();
        remove_dots(&decode_all(&stripped.join("/"))?, false)
    }

    /// Express or ASP.NET Core: routes without regard to ASCII case.
    fn case_insensitive(raw: &str) -> Option<String> {
        upstream(raw).map(|path| path.to_ascii_lowercase())
    }

    /// Rails: `/x.json` is routed as `/x`.
    fn format_suffix(raw: &str) -> Option<String> {
        let path = upstream(raw)?;
        let stripped = path
            .rsplit_once('/')
            .and_then(|(head, last)| last.rsplit_once('.').map(|(stem, _)| format!("{head}/{stem}")));
        Some(stripped.unwrap_or(path))
    }

    const CATALOGUE: [(&str, &str); 4] =
        [("/supersim/", "SuperSIM"), ("/wireless/", "Wireless"), ("/wireless/admin", "Admin"), ("/billing", "Billing")];

    fn product(path: &str) -> Option<&'static str> {
        longest_prefix_match(path, CATALOGUE)
    }

    fn tricky_path() -> impl Strategy<Value = String> {
        let segment = prop::sample::select(vec![
            "supersim",
            "wireless",
            "admin",
            "billing",
            "billing-admin",
            "x",
            "",
            ".",
            "..",
            "%2e",
            "%2E%2e",
            "%2f",
            "%252e",
            ";",
            "..;",
            "a;b",
            "%73upersim",
            "%20",
            "~",
            "%7E",
            "\\",
            "caf%C3%A9",
            "%",
            "%zz",
            "#",
            "?",
            "ADMIN",
            "Admin",
            "admin.json",
            "SuperSIM",
            "x.json",
            "..%20",
            "%EF%BC%8E",
        ]);
        let query = prop::sample::select(vec!["", "?product=SuperSIM", "?a=/../wireless", "?"]);
        (prop::collection::vec(segment, 0..7), query)
            .prop_map(|(segments, query)| format!("/{}{query}", segments.join("/")))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        /// For any path Gatehouse accepts, every resolver in front of or behind it maps the path
        /// to the same product as Gatehouse does (or to none where Gatehouse finds none).
        #[test]
        fn an_accepted_path_means_one_product_to_every_resolver(raw in tricky_path()) {
            if let Ok(resolved) = resolve(&raw)
                && let Ok(decided) = product_for(&resolved, CATALOGUE)
            {
                for (name, resolver) in [
                    ("nginx", nginx as fn(&str) -> Option<String>),
                    ("upstream", upstream),
                    ("envoy", envoy_raw),
                    ("servlet", servlet),
                    ("case-insensitive", case_insensitive),
                    ("format suffix", format_suffix),
                ] {
                    let theirs = resolver(&raw);
                    prop_assert_eq!(theirs.as_deref().and_then(product), decided, "{} on {:?}", name, raw);
                }
            }
        }

        /// Nothing panics, and what comes out is a plain absolute path.
        #[test]
        fn resolution_is_total_and_its_output_is_canonical(raw in any::<String>()) {
            if let Ok(resolved) = resolve(&raw) {
                prop_assert!(resolved.starts_with('/'));
                let segments: Vec<&str> = resolved.split('/').skip(1).collect();
                for (index, segment) in segments.iter().enumerate() {
                    prop_assert!(!segment.is_empty() || index + 1 == segments.len(), "{:?}", raw);
                    prop_assert!(*segment != "." && *segment != "..", "{:?}", raw);
                }
            }
        }

        /// No false refusals: an ordinary path made of unreserved characters passes unchanged.
        #[test]
        fn ordinary_paths_pass_unchanged(
            segments in prop::collection::vec("[A-Za-z0-9_~-]([A-Za-z0-9._~-]{0,11}[A-Za-z0-9_~-])?", 0..6),
            trailing in any::<bool>(),
        ) {
            let raw = format!("/{}{}", segments.join("/"), if trailing && !segments.is_empty() { "/" } else { "" });
            let expected = raw.clone();
            // A segment of dots only is a dot segment, refused on purpose.
            prop_assume!(!segments.iter().any(|segment| segment == "." || segment == ".."));
            prop_assert_eq!(resolve(&raw), Ok(Cow::Owned(expected)));
        }
    }
}
