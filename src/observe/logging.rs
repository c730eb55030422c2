//! Log output: human-readable text by default, one JSON object per line with
//! `LOG_FORMAT=json` (for Loki or Elasticsearch). Logs go to stdout, as
//! `docker logs` and `kubectl logs` expect, except for `preview`, whose stdout
//! is the messages: its logs go to stderr.

use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use crate::settings::config::LogFormat;

/// Installs the global subscriber. `filter` is a level or a `RUST_LOG`-style filter.
pub fn init(format: LogFormat, filter: &str, to_stderr: bool) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let writer = BoxMakeWriter::new(move || -> Box<dyn std::io::Write> {
        if to_stderr {
            Box::new(std::io::stderr())
        } else {
            Box::new(std::io::stdout())
        }
    });
    let terminal = if to_stderr {
        std::io::IsTerminal::is_terminal(&std::io::stderr())
    } else {
        std::io::IsTerminal::is_terminal(&std::io::stdout())
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    // The status page lists the last warning lines, as logged.
    let recent = super::status::recent::RecentLines;
    let _ = match format {
        LogFormat::Text => builder.with_target(false).with_ansi(terminal).finish().with(recent).try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .finish()
            .with(recent)
            .try_init(),
    };
}

/// Before the config is known: honour `LOG_FORMAT=json` if it is set right, so a
/// config error is still one parseable line.
pub fn init_fallback(to_stderr: bool) {
    let json = std::env::var("LOG_FORMAT").is_ok_and(|v| v.trim().eq_ignore_ascii_case("json"));
    init(if json { LogFormat::Json } else { LogFormat::Text }, "info", to_stderr);
}
