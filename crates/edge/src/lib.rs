//! The untrusted text a request carries to Gatehouse, parsed strictly and once: what a gateway
//! tells about the request it guards (the original path, which decides the product, and the
//! forwarded client address, which decides rule 13's allowed IPs), how an OAuth client
//! authenticates (Basic header, form body), and a listing's query. Each can carry bytes a caller
//! chose. The crate has two small dependencies, so the fuzz targets in `fuzz/` build it quickly.

pub mod client_auth;
pub mod forwarded;
pub mod original_path;
pub mod paging;
