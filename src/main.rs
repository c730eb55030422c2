//! The `kafka-feeder` binary: read the config, set up logging and signals, run,
//! and exit with the documented code (see `kafka_feeder::exit`).

use std::sync::Arc;

use kafka_feeder::config::Config;
use kafka_feeder::events::{self, Stats};
use kafka_feeder::{app, docs, exit, logging, shutdown};

fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("--version" | "-V") => {
            println!("kafka-feeder {}", env!("CARGO_PKG_VERSION"));
            return;
        }
        Some("--help" | "-h" | "help") => {
            print!("{}", docs::help());
            return;
        }
        Some(other) => {
            eprintln!("kafka-feeder: unknown argument {other:?}; see kafka-feeder --help");
            std::process::exit(exit::CONFIG);
        }
        None => {}
    }
    let config = match Config::from_process_env() {
        Ok(c) => c,
        Err(e) => {
            logging::init_fallback();
            events::config_invalid(&e);
            std::process::exit(exit::CONFIG);
        }
    };
    logging::init(config.logs.format, &config.logs.filter);

    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            events::run_failed(&e, exit::INTERNAL);
            std::process::exit(exit::INTERNAL);
        }
    };
    let code = runtime.block_on(async {
        let token = match shutdown::install() {
            Ok(t) => t,
            Err(e) => {
                events::run_failed(&e, exit::INTERNAL);
                return exit::INTERNAL;
            }
        };
        let stats = Arc::new(Stats::new(config.schedule.preset.map_or("none", |p| p.as_str())));
        match app::run(&config, stats, token).await {
            Ok(outcome) => app::outcome_exit_code(&outcome),
            Err(e) if e.is_cancelled() => {
                events::cancelled_before_start(&e);
                e.exit_code()
            }
            Err(e) => {
                let code = e.exit_code();
                events::run_failed(&e, code);
                code
            }
        }
    });
    // Don't wait for blocking threads (a pending metadata probe) to finish.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    std::process::exit(code);
}
