//! Log output: human-readable text by default, one JSON object per line with
//! `LOG_FORMAT=json` (for Loki or Elasticsearch). Logs go to stdout, as
//! `docker logs` and `kubectl logs` expect.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber. `filter` is a level or a `RUST_LOG`-style filter.
pub fn init(format: LogFormat, filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stdout);
    let _ = match format {
        LogFormat::Text => {
            builder.with_target(false).with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout())).try_init()
        }
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).with_span_list(false).try_init(),
    };
}

/// Before the config is known: honour `LOG_FORMAT=json` if it is set right, so a
/// config error is still one parseable line.
pub fn init_fallback() {
    let json = std::env::var("LOG_FORMAT").is_ok_and(|v| v.trim().eq_ignore_ascii_case("json"));
    init(if json { LogFormat::Json } else { LogFormat::Text }, "info");
}
