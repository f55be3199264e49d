//! File 001's paging, shared by every listing: `page_size` and `page_number` both required and
//! at least 1, `page_size` at most 500, never clamped silently (SECURITY.md).

use std::collections::HashMap;

use gatehouse_domain::store::PageRequest;
use serde::Serialize;

use super::error::ApiError;

pub const MAX_PAGE_SIZE: u32 = 500;

/// A listing's query: the page and the other parameters, each given at most once.
pub struct ListQuery {
    pub page: PageRequest,
    params: HashMap<String, String>,
    /// The filter parameters, in the order the route declares them, to rebuild page links.
    filters: Vec<(&'static str, String)>,
}

impl ListQuery {
    /// Parses `query`, accepting `filters` besides the paging parameters; anything else is
    /// ignored.
    pub fn parse(query: &str, filters: &[&'static str]) -> Result<Self, ApiError> {
        let mut params: HashMap<String, String> = HashMap::new();
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let known = key == "page_size" || key == "page_number" || filters.contains(&key.as_ref());
            if !known {
                continue;
            }
            if params.contains_key(key.as_ref()) {
                return Err(ApiError::invalid_parameter(&key, "is given more than once"));
            }
            if value.chars().any(char::is_control) || value.len() > 200 {
                return Err(ApiError::invalid_parameter(
                    &key,
                    "must be at most 200 characters without control characters",
                ));
            }
            params.insert(key.into_owned(), value.into_owned());
        }
        let number = |name: &str, max: u32| -> Result<u32, ApiError> {
            let value = params.get(name).ok_or_else(|| ApiError::invalid_parameter(name, "is required"))?;
            match value.parse::<u32>() {
                Ok(number) if (1..=max).contains(&number) => Ok(number),
                _ if max == u32::MAX => Err(ApiError::invalid_parameter(name, "must be a whole number of at least 1")),
                _ => Err(ApiError::invalid_parameter(name, "must be a whole number from 1 to 500")),
            }
        };
        let page = PageRequest { size: number("page_size", MAX_PAGE_SIZE)?, number: number("page_number", u32::MAX)? };
        let filters = filters.iter().filter_map(|name| params.get(*name).map(|value| (*name, value.clone()))).collect();
        Ok(Self { page, params, filters })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// File 001's `meta` for a page of `count` matching items, with links under `base`.
    pub fn meta(&self, base: &str, path: &str, count: u64) -> ListMeta {
        let url = |number: u32| {
            let mut query = form_urlencoded::Serializer::new(String::new());
            query.append_pair("page_size", &self.page.size.to_string());
            query.append_pair("page_number", &number.to_string());
            for (name, value) in &self.filters {
                query.append_pair(name, value);
            }
            format!("{base}{path}?{}", query.finish())
        };
        let has_next = u64::from(self.page.number) * u64::from(self.page.size) < count;
        ListMeta {
            count,
            page_number: self.page.number,
            page_size: self.page.size,
            previous_page_url: (self.page.number > 1).then(|| url(self.page.number - 1)),
            next_page_url: has_next.then(|| url(self.page.number + 1)),
        }
    }
}

/// File 001's `meta`: `count` is the total matching, the links are null where there is no page.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ListMeta {
    count: u64,
    page_number: u32,
    page_size: u32,
    previous_page_url: Option<String>,
    next_page_url: Option<String>,
}
