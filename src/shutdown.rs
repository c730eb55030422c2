//! Turning SIGTERM and SIGINT into the one `CancellationToken` that the rest of
//! the daemon watches.
//!
//! The first signal cancels the token: no new batches, drain, flush, report. A
//! second signal means the person (or orchestrator) will not wait: the process
//! exits at once with [`crate::exit::FORCED`].

use futures::StreamExt;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_tokio::Signals;
use tokio_util::sync::CancellationToken;

use crate::exit;
use crate::observe::events;

/// Installs the handlers and returns the token they cancel. Must be called
/// inside a tokio runtime.
pub fn install() -> std::io::Result<CancellationToken> {
    let token = CancellationToken::new();
    let mut signals = Signals::new([SIGTERM, SIGINT])?;
    let first = token.clone();
    tokio::spawn(async move {
        let mut seen = 0;
        while let Some(signal) = signals.next().await {
            let name = if signal == SIGTERM { "SIGTERM" } else { "SIGINT" };
            seen += 1;
            if seen == 1 {
                events::shutdown_requested(name);
                first.cancel();
            } else {
                events::second_signal(name);
                std::process::exit(exit::FORCED);
            }
        }
    });
    Ok(token)
}
