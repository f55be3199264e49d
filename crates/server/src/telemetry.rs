//! Logging. Handlers and domain entry points use `#[instrument(skip_all)]`, so no argument (and
//! so no secret) reaches a span unless it is named; request logs carry the path, never the
//! query string or headers.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Logs to stderr at `RUST_LOG` (default `info`), in colour only on a terminal: a file, a pipe
/// or journald gets plain text, not escape codes around every field.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}
