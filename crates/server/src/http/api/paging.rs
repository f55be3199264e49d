//! File 001's paging, shared by every listing (the parsing itself is `gatehouse_edge::paging`,
//! where it is fuzzed), and the `meta` of a page.

use std::collections::HashMap;

use gatehouse_domain::store::PageRequest;
use gatehouse_edge::paging;
use serde::Serialize;

use super::error::ApiError;

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
        let parsed =
            paging::parse(query, filters).map_err(|error| ApiError::invalid_parameter(&error.name, error.problem))?;
        let page = PageRequest { size: parsed.page_size, number: parsed.page_number };
        let params = parsed.params;
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
