//! `kafka-feeder check`: a preflight for an init container or a CI step.

use std::time::Instant;

use tokio_util::sync::CancellationToken;

use crate::observe::events;
use crate::observe::events::Stats;
use crate::run::{self, AppError};
use crate::settings::config::Config;
use crate::sink::KafkaSink;

/// `kafka-feeder check`: the configuration (already valid when this runs), the
/// dataset (loaded, counts reported), the broker (bounded by `CHECK_TIMEOUT`),
/// the topic and the producer; then the effective configuration and the
/// expected rate. Any failure is an [`AppError`] with its exit code.
pub async fn check(config: &Config, stats: &Stats, shutdown: &CancellationToken) -> Result<(), AppError> {
    let started = Instant::now();
    let embedded = run::embedded_broker(config)?;
    let bootstrap = embedded.as_ref().map_or_else(|| config.kafka.bootstrap_servers.clone(), |c| c.bootstrap_servers());
    let dataset = run::load_dataset(config, stats, crate::message::registry::Purpose::Check, shutdown).await?;
    // The key column must exist and the template fit the records (exit 2, as in a run); the seed does not matter here.
    let (dataset, ..) =
        run::messages_for(config, dataset, 0, crate::message::registry::Purpose::Check, shutdown).await?;
    let sink = KafkaSink::for_check(config, &bootstrap)?;
    sink.first_token().await?;
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
        bytes_per_s: rate.map(|r| r * avg_bytes),
        elapsed: started.elapsed(),
    });
    Ok(())
}
