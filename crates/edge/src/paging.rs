//! File 001's paging, shared by every listing: `page_size` and `page_number` both required and
//! at least 1, `page_size` at most 500, never clamped silently; every parameter a listing knows
//! given at most once, at most 200 characters, without control characters.

use std::collections::HashMap;

pub const MAX_PAGE_SIZE: u32 = 500;
/// The longest value of a listing's parameter.
pub const MAX_VALUE_LEN: usize = 200;

/// A listing's query: the page and the known parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListQuery {
    pub page_size: u32,
    pub page_number: u32,
    /// The paging parameters and the filters, as given.
    pub params: HashMap<String, String>,
}

/// A parameter that was refused, and why (for the error message; never its value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamError {
    pub name: String,
    pub problem: &'static str,
}

/// Parses `query`, accepting `filters` besides the paging parameters; anything else is ignored.
pub fn parse(query: &str, filters: &[&str]) -> Result<ListQuery, ParamError> {
    let mut params: HashMap<String, String> = HashMap::new();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        let known = key == "page_size" || key == "page_number" || filters.contains(&key.as_ref());
        if !known {
            continue;
        }
        let refuse = |problem| Err(ParamError { name: key.to_string(), problem });
        if params.contains_key(key.as_ref()) {
            return refuse("is given more than once");
        }
        if value.chars().any(char::is_control) || value.chars().count() > MAX_VALUE_LEN {
            return refuse("must be at most 200 characters without control characters");
        }
        params.insert(key.into_owned(), value.into_owned());
    }
    let number = |name: &str, max: u32| -> Result<u32, ParamError> {
        let refuse = |problem| ParamError { name: name.to_owned(), problem };
        let value = params.get(name).ok_or_else(|| refuse("is required"))?;
        match value.parse::<u32>() {
            Ok(number) if (1..=max).contains(&number) => Ok(number),
            _ if max == u32::MAX => Err(refuse("must be a whole number of at least 1")),
            _ => Err(refuse("must be a whole number from 1 to 500")),
        }
    };
    let page_size = number("page_size", MAX_PAGE_SIZE)?;
    let page_number = number("page_number", u32::MAX)?;
    Ok(ListQuery { page_size, page_number, params })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_numbers_are_required_and_never_clamped() {
        let parsed = parse("page_size=500&page_number=3&other=x", &[]).unwrap();
        assert_eq!((parsed.page_size, parsed.page_number), (500, 3));
        assert!(!parsed.params.contains_key("other"));
        for (query, name) in [
            ("page_number=1", "page_size"),
            ("page_size=501&page_number=1", "page_size"),
            ("page_size=0&page_number=1", "page_size"),
            ("page_size=1&page_number=0", "page_number"),
            ("page_size=1&page_number=-1", "page_number"),
            ("page_size=1&page_size=2&page_number=1", "page_size"),
        ] {
            assert_eq!(parse(query, &[]).unwrap_err().name, name, "{query}");
        }
        let long = format!("page_size=1&page_number=1&target_id={}", "x".repeat(201));
        assert_eq!(parse(&long, &["target_id"]).unwrap_err().name, "target_id");
        assert!(parse("page_size=1&page_number=1&target_id=%0A", &["target_id"]).is_err());
    }
}
