//! What a gateway tells Gatehouse about the request it is guarding: the original path (which
//! decides the product) and the forwarded client address (which decides rule 13's allowed IPs).
//! Both can carry bytes the end user chose, so both are parsed here, strictly and once, by code
//! with no dependencies: the fuzz targets in `fuzz/` build this crate alone.

pub mod forwarded;
pub mod original_path;
