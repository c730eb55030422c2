//! What a person or a scraper sees of the run: every log line and counter
//! ([`events`], the one place either changes), the Prometheus metrics
//! ([`metrics`]), liveness and readiness ([`health`]), the HTTP server for
//! `/healthz`, `/readyz`, `/metrics` and the status ([`http`]), `/status` and
//! the page at `/` for a person ([`status`]), and the log output format
//! ([`logging`]).

pub mod events;
pub mod health;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod status;
