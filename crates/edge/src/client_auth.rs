//! The parts of an OAuth request a client controls: the form body (RFC 6749 §3.2) and HTTP Basic
//! client authentication (RFC 6749 §2.3.1, `client_secret_basic`). Parsed here into plain
//! strings; what an id or secret may look like is the domain's to decide.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Why a form body was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormError {
    Empty,
    /// RFC 6749 §3.1: parameters must not be repeated.
    Repeated,
}

/// The parameters of an `application/x-www-form-urlencoded` body. A parameter given twice
/// refuses the whole body; an empty value counts as absent.
pub fn parse_form(body: &[u8]) -> Result<HashMap<String, String>, FormError> {
    if body.is_empty() {
        return Err(FormError::Empty);
    }
    let mut params = HashMap::new();
    for (key, value) in form_urlencoded::parse(body) {
        if params.contains_key(key.as_ref()) {
            return Err(FormError::Repeated);
        }
        params.insert(key.into_owned(), value.into_owned());
    }
    // Removed only now, so that "present but empty" then repeated is still refused above.
    params.retain(|_, value| !value.is_empty());
    Ok(params)
}

/// `Authorization: Basic ...` as RFC 6749 §2.3.1 has it: base64 of `id:secret`, split at the
/// first colon, each part form-urldecoded (so `+`, `%2B` and `:` in secrets work). The scheme
/// is case-insensitive. `None` for anything else.
pub fn basic(value: &str) -> Option<(String, String)> {
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((form_decode(id), form_decode(secret)))
}

/// `application/x-www-form-urlencoded` decoding of one value (`+` is a space).
fn form_decode(text: &str) -> String {
    form_urlencoded::parse(format!("v={text}").as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(raw: &str) -> String {
        format!("bAsIc {}", STANDARD.encode(raw))
    }

    #[test]
    fn basic_credentials_are_form_decoded_and_split_at_the_first_colon() {
        let (id, secret) = basic(&header("my%2Did:s%2Bcr+t:with:colons")).unwrap();
        assert_eq!((id.as_str(), secret.as_str()), ("my-id", "s+cr t:with:colons"));
        assert_eq!(basic(&header("no-colon")), None);
        assert_eq!(basic("Basic !!!"), None);
        assert_eq!(basic("Bearer abc"), None);
        assert_eq!(basic(&header(":")), Some((String::new(), String::new())));
    }

    #[test]
    fn repeated_parameters_are_refused_and_empty_ones_absent() {
        assert_eq!(parse_form(b"grant_type=a&grant_type=b"), Err(FormError::Repeated));
        assert_eq!(parse_form(b"scope=&scope=x"), Err(FormError::Repeated));
        let params = parse_form(b"grant_type=client_credentials&scope=").unwrap();
        assert!(!params.contains_key("scope"));
        assert_eq!(parse_form(b""), Err(FormError::Empty));
    }
}
