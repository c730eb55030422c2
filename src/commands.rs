//! The subcommands beside the run: `check` (a preflight for an init container
//! or a CI step) and `preview` (messages exactly as they would be sent, on
//! stdout, with no broker).

use std::io::Write;
use std::time::{Instant, SystemTime};

use tokio_util::sync::CancellationToken;

use crate::app::{self, AppError};
use crate::config::Config;
use crate::dataset::Dataset;
use crate::events::{self, Stats};
use crate::message::{self, Message};
use crate::pacing::replicas::mix_seed;
use crate::sampler::Sampler;
use crate::sink::KafkaSink;
use crate::source;

/// `kafka-feeder check`: the configuration (already valid when this runs), the
/// dataset (loaded, counts reported), the broker (bounded by `CHECK_TIMEOUT`),
/// the topic and the producer; then the effective configuration and the
/// expected rate. Any failure is an [`AppError`] with its exit code.
pub async fn check(config: &Config, stats: &Stats, shutdown: &CancellationToken) -> Result<(), AppError> {
    let started = Instant::now();
    let embedded = app::embedded_broker(config)?;
    let bootstrap = embedded.as_ref().map_or_else(|| config.kafka.bootstrap_servers.clone(), |c| c.bootstrap_servers());
    let dataset = load(config, stats, shutdown).await?;
    // The key column must exist and the template fit the records (exit 2, as in a run); the seed does not matter here.
    let (dataset, ..) = app::messages_for(config, dataset, 0, shutdown).await?;
    let sink = KafkaSink::for_check(config, &bootstrap)?;
    let preflight = tokio::select! {
        r = sink.preflight(config.kafka.check_timeout) => r?,
        () = shutdown.cancelled() => return Err(crate::sink::SinkError::Cancelled.into()),
    };
    drop(sink);
    drop(embedded);
    events::effective_config(&config.effective());
    let rate = config.expected_rate();
    let avg_bytes = dataset.json_bytes() as f64 / dataset.len() as f64;
    events::check_passed(&events::CheckPassed {
        servers: &bootstrap,
        topic: &config.kafka.topic,
        brokers: preflight.brokers,
        partitions: preflight.partitions,
        producer_id_assigned: preflight.producer_id_assigned,
        records: dataset.len(),
        messages_per_s: rate,
        bytes_per_s: rate * avg_bytes,
        elapsed: started.elapsed(),
    });
    Ok(())
}

/// `kafka-feeder preview [N]`: `n` messages as JSON Lines on `out`, in the
/// order a run with the same settings would send them.
pub async fn preview(
    config: &Config,
    stats: &Stats,
    n: u64,
    out: &mut impl Write,
    shutdown: &CancellationToken,
) -> Result<(), AppError> {
    let seed = config.pacing.seed.unwrap_or_else(message::os_seed);
    events::random_seed(seed, config.pacing.seed.is_some());
    let dataset = load(config, stats, shutdown).await?;
    let (dataset, mut messages, _) = app::messages_for(config, dataset, seed, shutdown).await?;
    let s = &config.schedule;
    // Seeded as a run's sampler is, so the same RANDOM_SEED shows what it sends.
    let sampler_seed = mix_seed(seed, config.pacing.replica);
    let mut sampler = Sampler::new(s.min_records_per_batch, s.max_records_per_batch, dataset.len(), Some(sampler_seed));
    let mut left = n;
    let mut line = Vec::new();
    while left > 0 {
        let k = sampler.batch_size(left);
        for &i in sampler.sample(k) {
            line.clear();
            preview_line(&mut line, messages.build(&dataset, i, SystemTime::now()));
            out.write_all(&line).map_err(AppError::Output)?;
        }
        left -= k as u64;
    }
    out.flush().map_err(AppError::Output)
}

/// One message as a consumer would see it: key and header values as JSON
/// strings (they are text), the value as sent.
fn preview_line(line: &mut Vec<u8>, m: Message<'_>) {
    let text = |b: &[u8]| serde_json::to_string(&String::from_utf8_lossy(b)).expect("a string always serializes");
    line.extend_from_slice(b"{\"key\":");
    line.extend_from_slice(m.key.map_or_else(|| "null".to_owned(), text).as_bytes());
    line.extend_from_slice(b",\"headers\":{");
    for (n, (name, value)) in m.headers.iter().enumerate() {
        if n > 0 {
            line.push(b',');
        }
        line.extend_from_slice(text(name.as_bytes()).as_bytes());
        line.push(b':');
        line.extend_from_slice(text(value).as_bytes());
    }
    line.extend_from_slice(b"},\"value\":");
    line.extend_from_slice(m.payload);
    line.extend_from_slice(b"}\n");
}

async fn load(config: &Config, stats: &Stats, shutdown: &CancellationToken) -> Result<Dataset, AppError> {
    let (dataset, summary) = source::load(&config.dataset, &config.s3, shutdown).await?;
    app::report_loaded(stats, &config.dataset.uri.to_string(), &summary, dataset.allocated_bytes());
    Ok(dataset)
}
