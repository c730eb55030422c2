//! The `kafka-feeder` binary: read the config, set up logging and signals, run,
//! and exit with the documented code (see `kafka_feeder::exit`).

use std::sync::Arc;

use kafka_feeder::config::Config;
use kafka_feeder::events::{self, Stats};
use kafka_feeder::{app, exit, logging, shutdown};

fn main() {
    if std::env::args().nth(1).is_some_and(|a| a == "--version" || a == "-V") {
        println!("kafka-feeder {}", env!("CARGO_PKG_VERSION"));
        return;
    }
    let config = match Config::from_process_env() {
        Ok(c) => c,
        Err(e) => {
            logging::init_fallback();
            events::config_invalid(&e);
            std::process::exit(exit::CONFIG);
        }
    };
    logging::init(config.log_format, &config.log_filter);

    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            std::process::exit(exit::INTERNAL);
        }
    };
    let code = runtime.block_on(async {
        let token = match shutdown::install() {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "cannot install signal handlers");
                return exit::INTERNAL;
            }
        };
        match app::run(&config, Arc::new(Stats::new(config.preset.map_or("none", |p| p.as_str()))), token).await {
            Ok(outcome) => app::outcome_exit_code(&outcome),
            Err(e) if e.is_cancelled() => {
                tracing::info!("{e}");
                e.exit_code()
            }
            Err(e) => {
                let code = e.exit_code();
                tracing::error!(error = %error_chain(&e), exit_code = code, "{e}");
                code
            }
        }
    });
    // Don't wait for blocking threads (a pending metadata probe) to finish.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    std::process::exit(code);
}

/// `error: cause: cause`, so the log line carries the whole chain.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = c.source();
    }
    s
}
