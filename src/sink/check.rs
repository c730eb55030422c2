//! The preflight of `kafka-feeder check`: a broker answers within a bound, the
//! topic exists with partitions, and the broker accepts this producer (the
//! idempotent producer gets its producer id). Nothing is produced.

use std::time::{Duration, Instant};

use rdkafka::producer::Producer;
use rdkafka::util::Timeout;

use super::KafkaSink;

/// Why the preflight failed; each names what to fix. All exit with
/// [`crate::exit::KAFKA_UNAVAILABLE`].
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("no Kafka broker at {servers} answered within CHECK_TIMEOUT={timeout_s}s: {cause}; check KAFKA_BOOTSTRAP_SERVERS, the network and the KAFKA_PRODUCER_SECURITY_PROTOCOL/SASL/SSL settings")]
    Unreachable { servers: String, timeout_s: f64, cause: String },
    #[error("topic {topic:?} does not exist on {servers}: create it, or set KAFKA_TOPIC to an existing topic")]
    TopicMissing { topic: String, servers: String },
    #[error("the broker at {servers} refuses topic {topic:?}: {cause}; check this client's ACLs for the topic")]
    Topic { topic: String, servers: String, cause: String },
    #[error("the broker at {servers} did not accept this producer: {cause}; check the ACLs (Write on the topic, IdempotentWrite on the cluster) or set KAFKA_PRODUCER_ENABLE_IDEMPOTENCE=false")]
    Producer { servers: String, cause: String },
}

/// What the preflight found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preflight {
    pub brokers: usize,
    pub partitions: usize,
    /// The broker assigned this (idempotent) producer its id.
    pub producer_id_assigned: bool,
    pub elapsed: Duration,
}

/// What the metadata says is wrong with the topic, if anything: missing (an
/// unknown-topic error, or no partitions), or refused for another reason.
fn topic_problem(
    topic: &str,
    servers: &str,
    partitions: usize,
    error: Option<rdkafka::types::RDKafkaRespErr>,
) -> Option<CheckError> {
    let (topic, servers) = (topic.to_owned(), servers.to_owned());
    match error {
        Some(rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) => {
            Some(CheckError::TopicMissing { topic, servers })
        }
        Some(e) => {
            Some(CheckError::Topic { topic, servers, cause: rdkafka::error::RDKafkaErrorCode::from(e).to_string() })
        }
        None if partitions == 0 => Some(CheckError::TopicMissing { topic, servers }),
        None => None,
    }
}

impl KafkaSink {
    /// Runs the preflight, bounded by `timeout` in all.
    pub async fn preflight(&self, timeout: Duration) -> Result<Preflight, CheckError> {
        let started = Instant::now();
        let unreachable = |cause: String| CheckError::Unreachable {
            servers: self.servers.clone(),
            timeout_s: timeout.as_secs_f64(),
            cause,
        };
        let (producer, topic) = (self.producer.load_full(), self.topic.clone());
        let md = tokio::task::spawn_blocking(move || {
            producer.client().fetch_metadata(Some(&topic), Timeout::After(timeout)).map(|md| {
                let t = md.topics().first();
                (md.brokers().len(), t.map_or(0, |t| t.partitions().len()), t.and_then(|t| t.error()))
            })
        })
        .await
        .map_err(|e| unreachable(e.to_string()))?
        .map_err(|e| unreachable(e.to_string()))?;
        let (brokers, partitions, topic_error) = md;
        if let Some(e) = topic_problem(&self.topic, &self.servers, partitions, topic_error) {
            return Err(e);
        }
        let producer_id_assigned = if self.idempotent {
            self.await_producer_id(started + timeout).await?;
            true
        } else {
            false
        };
        Ok(Preflight { brokers, partitions, producer_id_assigned, elapsed: started.elapsed() })
    }

    /// The idempotent producer asks for its id as soon as a broker is up; its
    /// state shows in librdkafka's statistics, a refusal as a fatal error.
    async fn await_producer_id(&self, deadline: Instant) -> Result<(), CheckError> {
        loop {
            if let Some((code, reason)) = self.producer.load().client().fatal_error() {
                return Err(CheckError::Producer {
                    servers: self.servers.clone(),
                    cause: format!("{code:?}: {reason}"),
                });
            }
            let state = self.producer.load().context().idempotence_state();
            if state.as_deref() == Some("Assigned") {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let cause = format!(
                    "no producer id within CHECK_TIMEOUT (idempotent producer state: {})",
                    state.as_deref().unwrap_or("unknown")
                );
                return Err(CheckError::Producer { servers: self.servers.clone(), cause });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::types::RDKafkaRespErr::*;

    #[test]
    fn a_topic_is_missing_without_partitions_and_refused_with_any_other_error() {
        assert!(topic_problem("t", "b:9092", 3, None).is_none());
        assert!(matches!(topic_problem("t", "b:9092", 0, None), Some(CheckError::TopicMissing { .. })));
        let missing = topic_problem("t", "b:9092", 0, Some(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)).unwrap();
        assert_eq!(
            missing.to_string(),
            "topic \"t\" does not exist on b:9092: create it, or set KAFKA_TOPIC to an existing topic"
        );
        let refused = topic_problem("t", "b:9092", 0, Some(RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED)).unwrap();
        assert!(matches!(&refused, CheckError::Topic { cause, .. } if cause.contains("authorization")), "{refused}");
    }
}
