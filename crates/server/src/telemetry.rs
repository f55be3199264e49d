//! Logging. Handlers and domain entry points use `#[instrument(skip_all)]`, so no argument (and
//! so no secret) reaches a span unless it is named; request logs carry the path, never the
//! query string or headers.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One line of text per event, for people.
    #[default]
    Text,
    /// One JSON object per line, for log shippers: `timestamp`, `level`, `target`, `fields`
    /// (the message and the event's fields) and `span` (the request span and its `id`).
    Json,
}

/// Logs to stderr at `RUST_LOG` (default `info`). Text is in colour only on a terminal: a file,
/// a pipe or journald gets plain text, not escape codes around every field.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).try_init(),
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(false).try_init(),
    };
}
