//! The broker, the producer and its recovery, batches and deliveries.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use tracing::{debug, error, info, warn};

use super::stats::{utc, RateLimit, Stats};
use crate::observe::metrics::ReasonLabel;

static FAILURE_LOG: RateLimit = RateLimit::new(Duration::from_secs(5));
static ACK_LOG: RateLimit = RateLimit::new(Duration::from_secs(5));
static BROKER_LOG: RateLimit = RateLimit::new(Duration::from_secs(10));
static REFUSAL_LOG: RateLimit = RateLimit::new(Duration::from_secs(10));

// ---- broker --------------------------------------------------------------------

pub fn waiting_for_broker(servers: &str, cause: &str, waited: Duration) {
    warn!(
        event = "waiting_for_broker",
        servers = %servers,
        error = %cause,
        waited_s = waited.as_secs(),
        "waiting for the Kafka broker"
    );
}

pub fn broker_ready(stats: &Stats, servers: &str, brokers: usize, partitions: usize, topic: &str) {
    stats.health.broker_answered();
    stats.status.broker_ready(brokers, partitions);
    info!(event = "broker_connected", servers = %servers, brokers, partitions, topic = %topic, "connected to Kafka");
}

/// A broker answered a metadata request while the daemon runs.
pub fn broker_answered(stats: &Stats) {
    stats.health.broker_answered();
}

/// Deliveries succeed (reported from the delivery callback about once a second).
pub fn delivering(stats: &Stats) {
    stats.health.delivering();
}

// ---- producer recovery -----------------------------------------------------------

/// librdkafka's fatal-error path: this producer will never deliver again.
pub fn producer_fatal(detail: &str) {
    error!(event = "producer_fatal", error = %detail, "the Kafka producer failed fatally; building a new one");
}

pub fn producer_rebuilt(stats: &Stats, reason: &str, attempt: u32) {
    stats.metrics.producer_restarts.get_or_create(&ReasonLabel { reason: label(reason) }).inc();
    stats.status.rebuilt();
    warn!(
        event = "producer_rebuilt",
        reason = %reason,
        attempt,
        "Kafka producer rebuilt with the same configuration: the old one was broken for good; messages it still held are counted failed"
    );
}

pub fn producer_rebuild_failed(e: &dyn std::error::Error) {
    error!(event = "producer_rebuild_failed", error = %e, "could not build a new Kafka producer; retrying after the next failure");
}

/// Rebuilt, and broken again without a delivery: liveness fails from now on.
pub fn producer_not_healing(stats: &Stats, reason: &str) {
    stats.health.producer_broken(Some(reason.to_owned()));
    error!(event = "producer_not_healing", reason = %reason, "the rebuilt Kafka producer is broken again without one delivery; /healthz now fails");
}

pub fn producer_gave_up(stats: &Stats, reason: &str, attempts: u32) {
    stats.health.producer_broken(Some(reason.to_owned()));
    error!(
        event = "producer_gave_up",
        reason = %reason,
        attempts,
        exit_code = crate::exit::PRODUCER_FATAL,
        "giving up: {attempts} Kafka producer rebuilds in a row without one delivery; stopping so the orchestrator restarts us"
    );
}

/// A low-cardinality metric label from a reason that may carry detail.
fn label(reason: &str) -> String {
    reason.split(|c: char| !c.is_ascii_alphanumeric()).next().unwrap_or("Other").to_owned()
}

pub fn topic_missing(topic: &str) {
    warn!(event = "topic_missing", topic = %topic, "topic {topic:?} does not exist on the broker; deliveries will fail unless the broker auto-creates topics. Create it, or set KAFKA_TOPIC");
}

/// librdkafka's error callback: a broker down, all brokers down, authentication failed.
pub fn broker_error(code: &str, reason: &str) {
    if let Some(suppressed) = BROKER_LOG.check() {
        warn!(event = "kafka_client_error", code = %code, reason = %reason, suppressed, "Kafka client error (broker unreachable or refusing us)");
    }
}

/// Why a broker refuses us, when it is a setting of ours that the operator can change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The broker closed the connection during the first request: a plaintext
    /// client against a TLS or SASL listener.
    ProtocolMismatch,
    /// SASL authentication failed: wrong user name, password or mechanism.
    Authentication,
    /// The broker refused our `AWS_MSK_IAM` token: the credentials' principal,
    /// its IAM policy, or the region.
    IamAuthentication,
    /// The broker's certificate is not trusted: an unknown CA, or a host name it does not name.
    Certificate,
    /// The TLS handshake failed otherwise: a TLS client against a plaintext listener.
    Tls,
}

impl Refusal {
    /// What `/readyz` says while no broker has answered.
    pub fn summary(self) -> &'static str {
        match self {
            Refusal::ProtocolMismatch => "the broker hangs up on our first request (security protocol mismatch)",
            Refusal::Authentication => "the broker refuses our SASL credentials",
            Refusal::IamAuthentication => "the broker refuses our AWS_MSK_IAM token (KAFKA_SASL_MECHANISM)",
            Refusal::Certificate => "the broker's TLS certificate is not trusted",
            Refusal::Tls => "the TLS handshake with the broker fails",
        }
    }
}

/// A broker refuses us for a reason the operator can fix: one error line (at
/// most one per 10 s) naming the setting, in place of librdkafka's retry
/// loop, and the reason in `/readyz`.
pub fn broker_refused(stats: Option<&Stats>, refusal: Refusal, detail: &str) {
    if let Some(stats) = stats {
        stats.health.broker_refused(refusal.summary());
    }
    let Some(suppressed) = REFUSAL_LOG.check() else { return };
    match refusal {
        Refusal::ProtocolMismatch => error!(
            event = "broker_protocol_mismatch",
            detail = %detail,
            suppressed,
            "the broker closed the connection during the first request: its listener probably expects TLS or SASL; set KAFKA_PRODUCER_SECURITY_PROTOCOL=SSL (or SASL_SSL, SASL_PLAINTEXT) to match it"
        ),
        Refusal::Authentication => error!(
            event = "broker_authentication_failed",
            detail = %detail,
            suppressed,
            "the broker refused our SASL credentials: check KAFKA_PRODUCER_SASL_USERNAME, KAFKA_PRODUCER_SASL_PASSWORD and KAFKA_PRODUCER_SASL_MECHANISM"
        ),
        Refusal::IamAuthentication => error!(
            event = "broker_authentication_failed",
            detail = %detail,
            suppressed,
            "the broker refused our AWS_MSK_IAM token (KAFKA_SASL_MECHANISM=AWS_MSK_IAM): check that the AWS credentials are the intended principal, that its IAM policy allows kafka-cluster:Connect on the cluster and kafka-cluster:WriteData and kafka-cluster:DescribeTopic on the topic, and that AWS_REGION is the cluster's"
        ),
        Refusal::Certificate => error!(
            event = "broker_certificate_rejected",
            detail = %detail,
            suppressed,
            "the broker's TLS certificate could not be verified: set KAFKA_PRODUCER_SSL_CA_LOCATION to the CA file that signed it, and connect by a host name the certificate names"
        ),
        Refusal::Tls => error!(
            event = "broker_tls_failed",
            detail = %detail,
            suppressed,
            "the TLS handshake with the broker failed: if its listener is plaintext, set KAFKA_PRODUCER_SECURITY_PROTOCOL=PLAINTEXT (or SASL_PLAINTEXT)"
        ),
    }
}

// ---- AWS_MSK_IAM ---------------------------------------------------------------
//
// The token is a credential: these lines give its region and expiry, never its text.

/// The first token is signed: credentials were found.
pub fn msk_iam_ready(region: &str, expires: std::time::SystemTime) {
    info!(event = "msk_iam_ready", region = %region, expires = %utc(expires), "AWS_MSK_IAM: credentials found, token signed");
}

/// librdkafka asked for a token (at startup and before each expires).
pub fn msk_iam_token(region: &str, expires: std::time::SystemTime) {
    debug!(event = "msk_iam_token", region = %region, expires = %utc(expires), "AWS_MSK_IAM token handed to librdkafka");
}

/// No token for librdkafka: it retries in 10 s; `/readyz` says why meanwhile.
pub fn msk_iam_token_failed(stats: Option<&Stats>, e: &dyn std::error::Error) {
    if let Some(stats) = stats {
        stats.health.broker_refused("no AWS_MSK_IAM token: see the msk_iam_token_failed line");
    }
    if let Some(suppressed) = REFUSAL_LOG.check() {
        error!(event = "msk_iam_token_failed", error = %e, suppressed, "cannot make the AWS_MSK_IAM token; librdkafka retries in 10 s");
    }
}

/// librdkafka's own log lines, at their own level, under the `librdkafka` target
/// (so `LOG_LEVEL=debug` and `RUST_LOG=librdkafka=...` reach them).
pub fn librdkafka_log(level: tracing::Level, facility: &str, message: &str) {
    match level {
        tracing::Level::ERROR => error!(target: "librdkafka", event = "librdkafka", facility, "{message}"),
        tracing::Level::WARN => warn!(target: "librdkafka", event = "librdkafka", facility, "{message}"),
        tracing::Level::INFO => info!(target: "librdkafka", event = "librdkafka", facility, "{message}"),
        _ => debug!(target: "librdkafka", event = "librdkafka", facility, "{message}"),
    }
}

// ---- the loop ------------------------------------------------------------------

pub fn batch_sent(stats: &Stats, tick: u64, size: usize, bytes: usize, lag: Duration) {
    stats.batches.fetch_add(1, Relaxed);
    stats.sent.fetch_add(size as u64, Relaxed);
    stats.metrics.batches.inc();
    stats.metrics.batch_size.observe(size as f64);
    stats.metrics.sent_bytes.inc_by(bytes as u64);
    stats.metrics.schedule_lag.set(lag.as_secs_f64());
    debug!(event = "batch_sent", tick, size, lag_ms = lag.as_secs_f64() * 1e3, "batch sent");
}

/// What a batch came to, once every message has its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchCompleted {
    pub tick: u64,
    pub size: usize,
    pub delivered: usize,
    pub failed: usize,
    /// From the first enqueue to the last report.
    pub duration: Duration,
}

/// Every message of a batch has its report. `info` is `LOG_BATCHES=true`.
pub fn batch_complete(stats: &Stats, c: &BatchCompleted, info: bool) {
    stats.metrics.batch_duration.observe(c.duration.as_secs_f64());
    let duration_ms = (c.duration.as_secs_f64() * 1e4).round() / 10.0;
    // The same line at one of two levels (tracing's level is fixed per call site).
    macro_rules! line {
        ($level:ident) => {
            $level!(
                event = "batch_complete",
                tick = c.tick,
                delivered = c.delivered,
                size = c.size,
                failed = c.failed,
                duration_ms,
                "batch complete: sent {}/{} records",
                c.delivered,
                c.size
            )
        };
    }
    if info {
        line!(info);
    } else {
        line!(debug);
    }
}

pub fn delivered(stats: &Stats, bytes: usize, latency: Duration) {
    stats.delivered.fetch_add(1, Relaxed);
    stats.bytes_delivered.fetch_add(bytes as u64, Relaxed);
    stats.metrics.delivered.inc();
    stats.metrics.delivery_latency.observe(latency.as_secs_f64());
}

/// `reason` is a stable label (librdkafka's error code name); `detail` the broker's text.
pub fn delivery_failed(stats: &Stats, reason: &str, detail: &str) {
    stats.failed.fetch_add(1, Relaxed);
    stats.health.delivery_failed(reason);
    stats.metrics.failed.get_or_create(&ReasonLabel { reason: reason.to_owned() }).inc();
    *stats.failures_by_reason.lock().unwrap_or_else(|p| p.into_inner()).entry(reason.to_owned()).or_default() += 1;
    if let Some(suppressed) = FAILURE_LOG.check() {
        error!(
            event = "delivery_failed",
            reason = %reason,
            error = %detail,
            failed_total = stats.failed.load(Relaxed),
            suppressed,
            "delivery failed"
        );
    }
}

/// librdkafka refused a message outright (too large, say): it counts as sent
/// and failed, so the totals stay consistent.
pub fn send_refused(stats: &Stats, reason: &str, detail: &str) {
    stats.sent.fetch_add(1, Relaxed);
    delivery_failed(stats, reason, detail);
}

/// No successful delivery for `quiet` while messages were in flight or failing:
/// a stopped, partitioned or overloaded broker (whose TCP connection may still
/// look open).
pub fn broker_not_acknowledging(quiet: Duration, in_flight: u64, failed: u64) {
    if let Some(suppressed) = ACK_LOG.check() {
        warn!(
            event = "broker_not_acknowledging",
            stalled_s = quiet.as_secs(),
            in_flight,
            failed_since_last_delivery = failed,
            suppressed,
            "Kafka broker not acknowledging: no successful delivery while messages are in flight (broker unreachable, stopped or overloaded); they are retried until message.timeout.ms"
        );
    }
}

pub fn broker_acknowledging_again(quiet: Duration) {
    info!(event = "broker_acknowledging", stalled_s = quiet.as_secs(), "Kafka broker acknowledging again");
}
