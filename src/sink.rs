//! The Kafka side: one shared rdkafka `FutureProducer`, the wait for a broker at
//! startup, and sending a batch of borrowed payloads.
//!
//! `send_batch` only enqueues (librdkafka copies the payload into its queue) and
//! returns the delivery futures, so the scheduling loop is never blocked by the
//! network; the caller awaits them elsewhere. When librdkafka's queue is full
//! (a slow or absent broker) the send waits for room rather than dropping a
//! record, and the loop reports the lag that causes. librdkafka's own error
//! callback (broker down, authentication failed) is logged through `events`.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer, ProducerContext};
use rdkafka::util::Timeout;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::dataset::Dataset;
use crate::events::{self, Stats};

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("cannot create the Kafka producer for {servers}: {cause}")]
    Create { servers: String, cause: KafkaError },
    #[error("cannot start the embedded mock broker: {0}")]
    Embedded(KafkaError),
    #[error("stopped by a signal while waiting for the broker")]
    Cancelled,
}

/// Routes librdkafka's logs and errors into our events.
#[derive(Clone, Default)]
pub struct FeederContext;

impl ClientContext for FeederContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        match level {
            RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical | RDKafkaLogLevel::Error => {
                tracing::error!(target: "librdkafka", facility = fac, "{log_message}")
            }
            RDKafkaLogLevel::Warning => {
                tracing::warn!(target: "librdkafka", facility = fac, "{log_message}")
            }
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", facility = fac, "{log_message}")
            }
            RDKafkaLogLevel::Debug => {
                tracing::debug!(target: "librdkafka", facility = fac, "{log_message}")
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let code = error.rdkafka_error_code().map_or_else(|| "Unknown".to_owned(), |c| format!("{c:?}"));
        events::broker_error(&code, reason);
    }
}

impl ProducerContext for FeederContext {
    // Delivery results go to the futures; nothing to do per message here.
    type DeliveryOpaque = ();
    fn delivery(&self, _: &rdkafka::producer::DeliveryResult<'_>, _: Self::DeliveryOpaque) {}
}

/// The producer and the topic it writes to.
pub struct KafkaSink {
    producer: FutureProducer<FeederContext>,
    topic: String,
    servers: String,
}

impl KafkaSink {
    /// Creates the producer. `bootstrap` is where to connect (the mock cluster's
    /// address when embedded). No network call happens until the first request.
    pub fn new(config: &Config, bootstrap: &str) -> Result<Self, SinkError> {
        let mut cc = config.client_config(bootstrap);
        // Our own `log` forwards to tracing; keep librdkafka's chatter at warnings
        // unless debugging.
        cc.set_log_level(if config.log_filter.contains("debug") || config.log_filter.contains("trace") {
            RDKafkaLogLevel::Info
        } else {
            RDKafkaLogLevel::Warning
        });
        let producer = cc
            .create_with_context(FeederContext)
            .map_err(|cause| SinkError::Create { servers: bootstrap.to_owned(), cause })?;
        Ok(Self { producer, topic: config.topic.clone(), servers: bootstrap.to_owned() })
    }

    /// Waits until a broker answers a metadata request for the topic, logging
    /// while it waits. Returns early (with `Cancelled`) when `shutdown` fires.
    pub async fn wait_for_broker(&self, stats: &Stats, shutdown: &CancellationToken) -> Result<(), SinkError> {
        let started = tokio::time::Instant::now();
        let mut delay = Duration::from_millis(200);
        loop {
            let producer = self.producer.clone();
            let topic = self.topic.clone();
            let probe = tokio::task::spawn_blocking(move || {
                producer.client().fetch_metadata(Some(&topic), Timeout::After(Duration::from_secs(3)))
            });
            let result = tokio::select! {
                r = probe => r,
                () = shutdown.cancelled() => return Err(SinkError::Cancelled),
            };
            match result {
                Ok(Ok(md)) => {
                    let partitions =
                        md.topics().first().map_or(0, |t| if t.error().is_some() { 0 } else { t.partitions().len() });
                    events::broker_ready(stats, &self.servers, md.brokers().len(), partitions, &self.topic);
                    if partitions == 0 {
                        events::topic_missing(&self.topic);
                    }
                    return Ok(());
                }
                Ok(Err(e)) => events::waiting_for_broker(&self.servers, &e.to_string(), started.elapsed()),
                Err(e) => events::waiting_for_broker(&self.servers, &e.to_string(), started.elapsed()),
            }
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = shutdown.cancelled() => return Err(SinkError::Cancelled),
            }
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }

    /// Asks the broker for metadata every few seconds while the daemon runs, so
    /// readiness reflects a broker that answers even when no batch is due.
    pub async fn watch_broker(self: Arc<Self>, stats: Arc<Stats>, stop: CancellationToken) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(10)) => {}
                () = stop.cancelled() => return,
            }
            let producer = self.producer.clone();
            let topic = self.topic.clone();
            let probe = tokio::task::spawn_blocking(move || {
                producer.client().fetch_metadata(Some(&topic), Timeout::After(Duration::from_secs(5))).is_ok()
            });
            if let Ok(true) = probe.await {
                stats.health.broker_answered();
            }
        }
    }

    /// Enqueues the records at `indices` and returns their delivery futures with
    /// their sizes. Waits (asynchronously) while librdkafka's queue is full;
    /// a record librdkafka refuses outright (too large) is counted as failed.
    pub async fn send_batch(
        &self,
        dataset: &Dataset,
        indices: &[usize],
        stats: &Stats,
        out: &mut Vec<(DeliveryFuture, usize)>,
    ) {
        for &i in indices {
            let payload = dataset.get(i);
            let mut backoff = Duration::from_micros(500);
            loop {
                let record: FutureRecord<'_, (), [u8]> = FutureRecord::to(&self.topic).payload(payload);
                match self.producer.send_result(record) {
                    Ok(fut) => {
                        out.push((fut, payload.len()));
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_millis(50));
                    }
                    Err((e, _)) => {
                        // Counted as sent and failed, so totals stay consistent.
                        stats.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        events::delivery_failed(stats, &failure_reason(&e), &e.to_string());
                        break;
                    }
                }
            }
        }
    }

    /// Flushes librdkafka's queue, blocking a worker thread for at most `timeout`.
    pub async fn flush(self: &Arc<Self>, timeout: Duration) {
        let this = Arc::clone(self);
        let _ = tokio::task::spawn_blocking(move || this.producer.flush(Timeout::After(timeout))).await;
    }
}

/// A stable, low-cardinality label for a failure (for counts and metrics).
pub fn failure_reason(e: &KafkaError) -> String {
    match e.rdkafka_error_code() {
        Some(code) => format!("{code:?}"),
        None => "Other".to_owned(),
    }
}
