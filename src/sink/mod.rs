//! The Kafka side: one shared rdkafka `ThreadedProducer`, the wait for a broker
//! at startup, and sending a batch of messages.
//!
//! `send_batch` only enqueues (librdkafka copies the payload into its queue), so
//! the scheduling loop is never blocked by the network. Each delivery report is
//! counted by the producer's own polling thread, in [`FeederContext::delivery`],
//! straight into [`Stats`]: no future, channel or allocation per message (a
//! `FutureProducer` costs a boxed oneshot channel and a task wake-up per
//! message, which `scripts/bench` measured at over twice librdkafka's own CPU
//! per message). The send time rides along as the message's opaque value, so
//! each delivery is still timed as it completes. When librdkafka's queue is full
//! (a slow or absent broker) the send waits for room rather than dropping a
//! record, and the loop reports the lag that causes. librdkafka's own error
//! callback (broker down, authentication failed) is logged through `events`.
//!
//! Each message is built (fresh fields, key, headers) by the
//! [`MessageBuilder`] into its reused buffer just before it is enqueued;
//! librdkafka copies it, so the buffer is free for the next. Headers are
//! rdkafka `OwnedHeaders`, created only when `MESSAGE_HEADERS` is set.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use rdkafka::client::{ClientContext, OAuthToken};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::util::Timeout;
use tokio_util::sync::CancellationToken;

mod batch;
mod check;
pub mod config;
mod diagnose;
pub mod msk_iam;
mod rebuild;
pub mod recovery;
pub mod registry;

pub use batch::{Batch, Completed};
pub use check::{CheckError, Preflight};

use crate::dataset::Dataset;
use crate::message::{Headers, MessageBuilder};
use crate::observe::events::{self, Stats};
use crate::settings::config::Config;
use msk_iam::{MskIam, MskIamError};
use rdkafka::ClientConfig;
use recovery::FatalSignal;
use secrecy::ExposeSecret;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("cannot create the Kafka producer for {servers}: {cause}")]
    Create { servers: String, cause: KafkaError },
    #[error("cannot start the embedded mock broker: {0}")]
    Embedded(KafkaError),
    #[error("stopped by a signal while waiting for the broker")]
    Cancelled,
    /// `AWS_MSK_IAM` has no credentials to sign with: exits like S3's credential failures.
    #[error(transparent)]
    Credentials(#[from] MskIamError),
}

/// Routes librdkafka's logs, errors and delivery reports into our events.
/// Every producer the sink builds (a rebuilt one too) shares one [`Shared`],
/// so deliveries keep counting into the same totals.
pub struct FeederContext {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    /// The run's counters and health, from the wait for the broker (or
    /// `attach`) on: a refusal is said by `/readyz` before any delivery.
    stats: OnceLock<Arc<Stats>>,
    deliveries: OnceLock<Deliveries>,
    /// Raised when the producer is broken for good (see [`recovery`]).
    fatal: FatalSignal,
    /// The idempotent producer's state from librdkafka's statistics (only
    /// when they are enabled, as `check` does).
    idempotence: std::sync::Mutex<Option<String>>,
    /// `security.protocol` is not plaintext.
    tls: AtomicBool,
    /// `KAFKA_SASL_MECHANISM=AWS_MSK_IAM`: makes the OAUTHBEARER tokens.
    iam: Option<Arc<MskIam>>,
}

impl FeederContext {
    /// The run's counters, once the run has handed them over.
    fn stats(&self) -> Option<&Stats> {
        self.shared.stats.get().map(|s| &**s)
    }

    fn idempotence_state(&self) -> Option<String> {
        self.shared.idempotence.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Where delivery reports are counted; set once, by [`KafkaSink::attach`].
struct Deliveries {
    stats: Arc<Stats>,
    /// Readiness refresh times are counted from this instant.
    base: std::time::Instant,
    max_messages: Option<u64>,
    /// `LOG_BATCHES`: log each completed batch at info, not debug.
    log_batches: bool,
    /// Cancelled when `max_messages` have been delivered.
    done: CancellationToken,
    /// Milliseconds since `base` after which the next delivery refreshes readiness.
    next_answer_ms: AtomicU64,
}

impl ClientContext for FeederContext {
    /// librdkafka asks only when `sasl.mechanism` is OAUTHBEARER.
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    /// Runs on librdkafka's thread; [`MskIam::token`] bounds the wait for credentials.
    fn generate_oauth_token(&self, _config: Option<&str>) -> Result<OAuthToken, Box<dyn std::error::Error>> {
        let Some(iam) = &self.shared.iam else {
            return Err("kafka-feeder makes OAUTHBEARER tokens only with KAFKA_SASL_MECHANISM=AWS_MSK_IAM".into());
        };
        match iam.token() {
            Ok(t) => {
                events::msk_iam_token(iam.region(), t.expires);
                // The principal is not used by MSK (the signature names it); librdkafka needs one.
                Ok(OAuthToken {
                    token: t.value.expose_secret().to_owned(),
                    principal_name: msk_iam::MECHANISM.into(),
                    lifetime_ms: t.expires_ms(),
                })
            }
            Err(e) => {
                events::msk_iam_token_failed(self.stats(), &e);
                Err(Box::new(e))
            }
        }
    }

    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        let level = match level {
            RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical | RDKafkaLogLevel::Error => {
                tracing::Level::ERROR
            }
            RDKafkaLogLevel::Warning => tracing::Level::WARN,
            // librdkafka's info lines are a connection's life story: debugging detail.
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info | RDKafkaLogLevel::Debug => tracing::Level::DEBUG,
        };
        // A refusal gets the daemon's own line, naming the setting to change,
        // in place of librdkafka's (repeated at every reconnect).
        let refusal = diagnose::from_log(log_message, self.shared.tls.load(Relaxed));
        let level = match diagnose::with_iam(refusal, self.shared.iam.is_some()) {
            Some(refusal) => {
                events::broker_refused(self.stats(), refusal, log_message);
                tracing::Level::DEBUG
            }
            None => level,
        };
        events::librdkafka_log(level, fac, log_message);
    }

    fn stats(&self, statistics: rdkafka::Statistics) {
        if let Some(eos) = statistics.eos {
            *self.shared.idempotence.lock().unwrap_or_else(|p| p.into_inner()) = Some(eos.idemp_state);
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let code = error.rdkafka_error_code();
        let name = code.map_or_else(|| "Unknown".to_owned(), |c| format!("{c:?}"));
        if code.is_some_and(recovery::needs_new_producer) {
            // librdkafka's fatal-error path (it reports the underlying error, an
            // idempotence failure): this producer will never deliver again.
            self.shared.fatal.raise(&name);
            events::producer_fatal(reason);
        } else if self.shared.iam.is_some() && diagnose::is_token_failure(reason) {
            // Our own msk_iam_token_failed line said why, once.
        } else if let Some(refusal) = diagnose::with_iam(diagnose::from_error(code, reason), self.shared.iam.is_some())
        {
            events::broker_refused(self.stats(), refusal, reason);
        } else {
            events::broker_error(&name, reason);
        }
    }
}

impl ProducerContext for FeederContext {
    /// The batch the message belongs to (see [`Batch`]).
    type DeliveryOpaque = Arc<Batch>;

    /// Runs on the producer's polling thread, once per message.
    fn delivery(&self, result: &DeliveryResult<'_>, batch: Arc<Batch>) {
        let Some(d) = self.shared.deliveries.get() else { return };
        // One clock read per delivery (it showed in the profile): it times the
        // delivery and the batch and, at most once a second, refreshes
        // readiness, which only needs to hear from the broker every few seconds.
        let now = std::time::Instant::now();
        let completed = match result {
            Ok(message) => {
                events::delivered(&d.stats, message.payload_len(), now.saturating_duration_since(batch.started()));
                let now_ms = now.saturating_duration_since(d.base).as_millis() as u64;
                if now_ms >= d.next_answer_ms.load(Relaxed) {
                    d.next_answer_ms.store(now_ms + 1000, Relaxed);
                    events::delivering(&d.stats);
                }
                if d.max_messages.is_some_and(|max| d.stats.delivered() >= max) {
                    d.done.cancel();
                }
                batch.report(true, now)
            }
            Err((e, _message)) => {
                let reason = failure_reason(e);
                if e.rdkafka_error_code().is_some_and(recovery::needs_new_producer) {
                    self.shared.fatal.raise(&reason);
                }
                events::delivery_failed(&d.stats, &reason, &e.to_string());
                batch.report(false, now)
            }
        };
        if let Some(c) = completed {
            events::batch_complete(&d.stats, &c, d.log_batches);
        }
    }
}

/// How often the running daemon asks the broker for metadata: readiness, and
/// telling a stuck producer from a broker that is down.
pub const PROBE_EVERY: Duration = Duration::from_secs(2);

/// The producer and the topic it writes to.
pub struct KafkaSink {
    /// Swapped for a new one when the producer is broken for good.
    producer: ArcSwap<ThreadedProducer<FeederContext>>,
    /// What every producer is built from.
    client_config: ClientConfig,
    shared: Arc<Shared>,
    topic: String,
    servers: String,
    /// `enable.idempotence` in force.
    idempotent: bool,
    /// Rebuilding did not help: the run ends with [`crate::exit::PRODUCER_FATAL`].
    gave_up: AtomicBool,
    /// When the producer was last rebuilt.
    last_rebuild: std::sync::Mutex<Option<tokio::time::Instant>>,
}

impl KafkaSink {
    /// Creates the producer. `bootstrap` is where to connect (the mock cluster's
    /// address when embedded). No network call happens until the first request.
    pub fn new(config: &Config, bootstrap: &str) -> Result<Self, SinkError> {
        Self::with(config, bootstrap, &[])
    }

    /// For `check`: librdkafka's statistics on, every 50 ms, to see the
    /// idempotent producer get its id; and no topic auto-creation, which a
    /// check must not cause (a missing topic is what it reports).
    pub fn for_check(config: &Config, bootstrap: &str) -> Result<Self, SinkError> {
        Self::with(config, bootstrap, &[("statistics.interval.ms", "50"), ("allow.auto.create.topics", "false")])
    }

    fn with(config: &Config, bootstrap: &str, extra: &[(&str, &str)]) -> Result<Self, SinkError> {
        let mut cc = config.kafka.client_config(bootstrap);
        for (k, v) in extra {
            cc.set(*k, *v);
        }
        let idempotent = cc.get("enable.idempotence").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        // Our own `log` forwards to tracing; keep librdkafka's chatter at warnings
        // unless debugging.
        // `KAFKA_PRODUCER_DEBUG=...` asks librdkafka for debug contexts: let them through.
        // Info, not only warnings: the connection-level lines tell a protocol
        // mismatch (see `log`); they are logged at debug.
        cc.set_log_level(if config.kafka.producer_properties.0.contains_key("debug") {
            RDKafkaLogLevel::Debug
        } else {
            RDKafkaLogLevel::Info
        });
        let iam = match &config.kafka.msk_iam {
            Some(m) => {
                let source = crate::dataset::source::static_credentials(&config.s3)
                    .map_or(msk_iam::Source::DefaultChain, msk_iam::Source::Static);
                let clock: msk_iam::Clock = Arc::new(SystemTime::now);
                Some(Arc::new(MskIam::new(&m.region, source, clock, msk_iam::FETCH_TIMEOUT)?))
            }
            None => None,
        };
        let shared = Arc::new(Shared { iam, ..Shared::default() });
        let protocol = cc.get("security.protocol").unwrap_or("plaintext").to_ascii_lowercase();
        shared.tls.store(protocol != "plaintext", Relaxed);
        let producer = build(&cc, &shared, bootstrap)?;
        Ok(Self {
            producer: ArcSwap::from_pointee(producer),
            client_config: cc,
            shared,
            topic: config.kafka.topic.clone(),
            servers: bootstrap.to_owned(),
            idempotent,
            gave_up: AtomicBool::new(false),
            last_rebuild: std::sync::Mutex::new(None),
        })
    }

    /// With `AWS_MSK_IAM`, signs the first token now, so that a run without
    /// credentials stops before it connects, naming the credential chain.
    pub async fn first_token(&self) -> Result<(), SinkError> {
        if let Some(iam) = &self.shared.iam {
            let token = iam.first_token().await?;
            events::msk_iam_ready(iam.region(), token.expires);
        }
        Ok(())
    }

    /// Rebuilding the producer did not help and the run was ended.
    pub fn gave_up(&self) -> bool {
        self.gave_up.load(Relaxed)
    }

    /// Where delivery reports go from now on: `stats`, and `done` is cancelled
    /// once `max_messages` are delivered. One scheduling run per sink: a second
    /// call is ignored.
    pub fn attach(&self, stats: Arc<Stats>, max_messages: Option<u64>, log_batches: bool, done: CancellationToken) {
        // A run that skipped the wait for the broker (tests) hands them over here.
        let _ = self.shared.stats.set(Arc::clone(&stats));
        let d = Deliveries {
            stats,
            base: std::time::Instant::now(),
            max_messages,
            log_batches,
            done,
            next_answer_ms: AtomicU64::new(0),
        };
        let _ = self.shared.deliveries.set(d);
    }

    /// Waits until a broker answers a metadata request for the topic, logging
    /// while it waits. Returns early (with `Cancelled`) when `shutdown` fires.
    pub async fn wait_for_broker(&self, stats: &Arc<Stats>, shutdown: &CancellationToken) -> Result<(), SinkError> {
        let _ = self.shared.stats.set(Arc::clone(stats));
        let started = tokio::time::Instant::now();
        let mut delay = Duration::from_millis(200);
        loop {
            let producer = self.producer.load_full();
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
            delay = doubled(delay, Duration::from_secs(5));
        }
    }

    /// Asks the broker for metadata every few seconds while the daemon runs, so
    /// readiness reflects a broker that answers even when no batch is due.
    /// A probe under way when `stop` fires is awaited (its own timeout bounds
    /// it), so the producer is not left held by a blocking thread at teardown.
    pub async fn watch_broker(self: Arc<Self>, stats: Arc<Stats>, stop: CancellationToken) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(PROBE_EVERY) => {}
                () = stop.cancelled() => return,
            }
            let producer = self.producer.load_full();
            let topic = self.topic.clone();
            let probe = tokio::task::spawn_blocking(move || {
                producer.client().fetch_metadata(Some(&topic), Timeout::After(Duration::from_secs(2))).is_ok()
            });
            if let Ok(true) = probe.await {
                events::broker_answered(&stats);
            }
        }
    }

    /// Builds and enqueues the messages for the records at `indices` as one
    /// [`Batch`] for `tick` and returns it with how many messages were enqueued
    /// and their payload bytes; their deliveries are counted as they arrive (see
    /// [`Self::attach`]) and complete the batch. Waits (asynchronously) while
    /// librdkafka's queue is full; a message librdkafka refuses outright (too
    /// large) is counted as failed.
    pub async fn send_batch(
        &self,
        tick: u64,
        messages: &mut MessageBuilder,
        dataset: &Dataset,
        indices: &[usize],
        stats: &Stats,
    ) -> (Arc<Batch>, usize, usize) {
        let (mut sent, mut bytes) = (0, 0);
        let batch = Arc::new(Batch::new(tick, std::time::Instant::now()));
        // One load per batch: a rebuild swaps producers between batches.
        let producer = self.producer.load_full();
        // One clock read per message, only when a value is a time.
        let clock = messages.needs_time();
        let framed = messages.framed();
        for &i in indices {
            let m = messages.build(dataset, i, if clock { SystemTime::now() } else { SystemTime::UNIX_EPOCH });
            if framed && m.payload.is_empty() {
                continue; // does not fit the schema: counted below
            }
            let mut record: BaseRecord<'_, [u8], [u8], Arc<Batch>> =
                BaseRecord::with_opaque_to(&self.topic, Arc::clone(&batch)).payload(m.payload);
            if let Some(key) = m.key {
                record = record.key(key);
            }
            if !m.headers.is_empty() {
                record = record.headers(owned_headers(&m.headers));
            }
            let mut backoff = Duration::from_micros(500);
            loop {
                batch.enqueuing();
                match producer.send(record) {
                    Ok(()) => {
                        sent += 1;
                        bytes += m.payload.len();
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        batch.not_enqueued();
                        // The same message (its key, headers and batch) waits for room.
                        record = back;
                        tokio::time::sleep(backoff).await;
                        backoff = doubled(backoff, Duration::from_millis(50));
                    }
                    Err((e, _)) => {
                        batch.not_enqueued();
                        let reason = failure_reason(&e);
                        // A producer in its fatal state refuses every message at once.
                        if e.rdkafka_error_code().is_some_and(recovery::needs_new_producer) {
                            self.shared.fatal.raise(&reason);
                        }
                        events::send_refused(stats, &reason, &e.to_string());
                        break;
                    }
                }
            }
        }
        if let Some((count, why)) = messages.take_misfits() {
            events::messages_misfit(stats, count, &why.to_string());
        }
        if let Some(c) = batch.seal(std::time::Instant::now()) {
            events::batch_complete(stats, &c, self.shared.deliveries.get().is_some_and(|d| d.log_batches));
        }
        (batch, sent, bytes)
    }
}

/// The next wait of a backoff: twice the last, at most `cap`.
fn doubled(last: Duration, cap: Duration) -> Duration {
    last.saturating_mul(2).min(cap)
}

/// A new producer from `cc` whose context shares `shared`.
fn build(cc: &ClientConfig, shared: &Arc<Shared>, servers: &str) -> Result<ThreadedProducer<FeederContext>, SinkError> {
    cc.create_with_context(FeederContext { shared: Arc::clone(shared) })
        .map_err(|cause| SinkError::Create { servers: servers.to_owned(), cause })
}

/// librdkafka's copy of a message's headers (it owns and frees them once sent).
fn owned_headers(headers: &Headers<'_>) -> OwnedHeaders {
    headers.iter().fold(OwnedHeaders::new_with_capacity(headers.len()), |h, (key, value)| {
        h.insert(Header { key, value: Some(value) })
    })
}

/// A stable, low-cardinality label for a failure (for counts and metrics).
pub fn failure_reason(e: &KafkaError) -> String {
    match e.rdkafka_error_code() {
        Some(code) => format!("{code:?}"),
        None => "Other".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backoff_doubles_up_to_its_cap() {
        let ms = Duration::from_millis;
        assert_eq!(doubled(ms(200), ms(5000)), ms(400));
        assert_eq!(doubled(ms(4000), ms(5000)), ms(5000));
        assert_eq!(doubled(Duration::MAX, ms(50)), ms(50));
    }

    #[test]
    fn a_failure_is_labelled_by_its_librdkafka_code() {
        let e = KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge);
        assert_eq!(failure_reason(&e), "MessageSizeTooLarge");
        assert_eq!(failure_reason(&KafkaError::Canceled), "Other");
    }
}
