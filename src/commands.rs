//! The subcommands beside the run: `check` (a preflight for an init container
//! or a CI step) and `preview` (messages exactly as they would be sent, on
//! stdout, with no broker).

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use crate::app::{self, AppError};
use crate::config::Config;
use crate::dataset::Dataset;
use crate::events::{self, Stats};
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
    let dataset = load(config, stats, shutdown).await?;
    let s = &config.schedule;
    let mut sampler = Sampler::new(s.min_records_per_batch, s.max_records_per_batch, dataset.len(), None);
    let mut left = n;
    let mut line = Vec::new();
    while left > 0 {
        let k = sampler.batch_size(left);
        for &i in sampler.sample(k) {
            line.clear();
            preview_line(&mut line, &dataset, i);
            out.write_all(&line).map_err(AppError::Output)?;
        }
        left -= k as u64;
    }
    out.flush().map_err(AppError::Output)
}

/// One message as a consumer would see it: key, headers, value.
fn preview_line(line: &mut Vec<u8>, dataset: &Dataset, i: usize) {
    line.extend_from_slice(b"{\"key\":null,\"headers\":{},\"value\":");
    line.extend_from_slice(dataset.get(i));
    line.extend_from_slice(b"}\n");
}

async fn load(config: &Config, stats: &Stats, shutdown: &CancellationToken) -> Result<Arc<Dataset>, AppError> {
    let (dataset, summary) = source::load(&config.dataset, &config.s3, shutdown).await?;
    app::report_loaded(stats, &config.dataset.uri.to_string(), &summary, dataset.allocated_bytes());
    Ok(Arc::new(dataset))
}
