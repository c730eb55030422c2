//! The `kafka-feeder` binary: parse the command line, read the config, set up
//! logging and signals, run the command, and exit with the documented code
//! (see `kafka_feeder::exit`).

use std::sync::Arc;

use kafka_feeder::observe::events::{self, Stats};
use kafka_feeder::observe::logging;
use kafka_feeder::settings::config::Config;
use kafka_feeder::settings::docs;
use kafka_feeder::{check, exit, preview, run, shutdown};

/// What the command line asks for.
enum Command {
    Run,
    Check,
    Preview(u64),
}

const DEFAULT_PREVIEW: u64 = 10;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [] | ["run"] => Command::Run,
        ["check"] => Command::Check,
        ["preview"] => Command::Preview(DEFAULT_PREVIEW),
        ["preview", n] => match n.parse::<u64>() {
            Ok(n) if n > 0 => Command::Preview(n),
            _ => usage_error(&format!("preview takes a number of messages >= 1, not {n:?}")),
        },
        ["--version" | "-V" | "version"] => {
            println!("kafka-feeder {}", env!("CARGO_PKG_VERSION"));
            return;
        }
        ["--help" | "-h" | "help", ..] => {
            print!("{}", docs::help());
            return;
        }
        other => usage_error(&format!("unknown arguments {other:?}")),
    };
    // `preview` writes messages to stdout: its logs go to stderr.
    let logs_to_stderr = matches!(command, Command::Preview(_));
    let config = match Config::from_process_env() {
        Ok(c) => c,
        Err(e) => {
            logging::init_fallback(logs_to_stderr);
            events::config_invalid(&e);
            std::process::exit(exit::CONFIG);
        }
    };
    logging::init(config.logs.format, &config.logs.filter, logs_to_stderr);

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
        let result = match command {
            Command::Run => {
                run::run(&config, stats, token).await.map(|o| run::outcome_exit_code(&o, config.end().is_some()))
            }
            Command::Check => check::check(&config, &stats, &token).await.map(|()| exit::OK),
            Command::Preview(n) => {
                preview::preview(&config, &stats, n, &mut std::io::stdout().lock(), &token).await.map(|()| exit::OK)
            }
        };
        match result {
            Ok(code) => code,
            Err(e) if e.is_cancelled() || e.exit_code() == exit::OK => {
                // A run with an end that a signal stopped before it began did not do its work.
                let end = config.end().filter(|_| e.is_cancelled() && matches!(command, Command::Run));
                if let Some(end) = &end {
                    events::stopped_before_end(end);
                }
                events::cancelled_before_start(&e);
                if end.is_some() {
                    exit::INTERRUPTED
                } else {
                    e.exit_code()
                }
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

fn usage_error(problem: &str) -> ! {
    eprintln!("kafka-feeder: {problem}; see kafka-feeder --help");
    std::process::exit(exit::CONFIG);
}
