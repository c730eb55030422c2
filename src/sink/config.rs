//! The librdkafka side of the configuration: the broker list, the topic, our
//! producer defaults and the `KAFKA_PRODUCER_*` passthrough, validated by
//! librdkafka itself, and their conversion into an rdkafka [`ClientConfig`].

use std::collections::BTreeMap;
use std::fmt;

use rdkafka::ClientConfig;

use crate::settings::env::{ConfigError, Env, Origin};
use crate::settings::{self, REDACTED};

/// The value of `KAFKA_BOOTSTRAP_SERVERS` that starts librdkafka's in-process mock cluster.
pub const EMBEDDED_BROKER: &str = "embedded";

/// The topic the Python producers wrote to.
pub const DEFAULT_TOPIC: &str = "transactions";
/// Long enough for a broker on the same network, short enough for an init container.
pub const DEFAULT_CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Throughput-minded producer defaults; any of them can be overridden with
/// `KAFKA_PRODUCER_*`.
pub const PRODUCER_DEFAULTS: &[(&str, &str)] = &[
    // Exactly-once per partition on retries: a broker hiccup never duplicates records.
    ("enable.idempotence", "true"),
    // lz4 costs little CPU and halves JSON on the wire; zstd is available too.
    ("compression.type", "lz4"),
    // Batches fill for up to 20 ms: far below any interval, large enough to batch a tick.
    ("linger.ms", "20"),
    // Fail a message after 60 s of broker outage instead of librdkafka's 300 s, so
    // failures surface while someone is still watching the log.
    ("message.timeout.ms", "60000"),
    // Keyed messages go where the Java client (and Kafka Streams) would put
    // them, so co-partitioned joins work; unkeyed ones are spread at random.
    ("partitioner", "murmur2_random"),
    ("client.id", "kafka-feeder"),
];

/// librdkafka properties whose values are credentials (passwords, private keys,
/// OAuth secrets): never logged, never echoed in an error.
pub fn is_secret_property(name: &str) -> bool {
    ["password", "secret", "token", ".pem", "oauthbearer.config"].iter().any(|s| name.contains(s))
}

/// librdkafka properties from `KAFKA_PRODUCER_*`, keyed by dotted name. Its `Debug`
/// redacts secret values, so a derived `Debug` that holds it is safe to print.
#[derive(Clone, Default, PartialEq)]
pub struct ProducerProperties(pub BTreeMap<String, String>);

impl fmt::Debug for ProducerProperties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| (k, if is_secret_property(k) { REDACTED } else { v.as_str() })))
            .finish()
    }
}

/// Where and how to produce.
#[derive(Debug, Clone)]
pub struct KafkaSettings {
    pub bootstrap_servers: String,
    pub topic: String,
    /// librdkafka properties from `KAFKA_PRODUCER_*`, already translated to dotted names.
    pub producer_properties: ProducerProperties,
    /// `kafka-feeder check`'s bound on reaching the broker.
    pub check_timeout: std::time::Duration,
}

impl KafkaSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let bootstrap_servers = env.required(
            &settings::KAFKA_BOOTSTRAP_SERVERS,
            "set it to your brokers (host:port[,host:port]) or to `embedded` for the in-process test broker",
            parse_servers,
        )?;
        let topic = env.parse(&settings::KAFKA_TOPIC, || (DEFAULT_TOPIC.to_owned(), Origin::Default), parse_topic)?;
        let producer_properties = ProducerProperties(
            env.prefixed(settings::KAFKA_PRODUCER_.name).into_iter().map(|(k, v)| (k.replace('_', "."), v)).collect(),
        );
        validate_producer_properties(&producer_properties)?;
        let check_timeout = env.parse(
            &settings::CHECK_TIMEOUT,
            || (DEFAULT_CHECK_TIMEOUT, Origin::Default),
            |r| crate::settings::env::seconds(r, false),
        )?;
        Ok(Self { bootstrap_servers, topic, producer_properties, check_timeout })
    }

    pub fn is_embedded_broker(&self) -> bool {
        self.bootstrap_servers == EMBEDDED_BROKER
    }

    /// The rdkafka producer configuration: our defaults, then the passthrough.
    /// `bootstrap` is the address actually used (the mock cluster's, when embedded).
    pub fn client_config(&self, bootstrap: &str) -> ClientConfig {
        let mut cc = ClientConfig::new();
        for (k, v) in PRODUCER_DEFAULTS {
            cc.set(*k, *v);
        }
        for (k, v) in &self.producer_properties.0 {
            cc.set(k, v);
        }
        cc.set("bootstrap.servers", bootstrap);
        cc
    }

    /// Every producer property in force with its origin, secrets redacted, for
    /// the effective-configuration line.
    pub fn effective_properties(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (k, v) in &self.producer_properties.0 {
            let shown = if is_secret_property(k) { REDACTED } else { v.as_str() };
            out.push((format!("producer.{k}"), format!("{shown} ({})", Origin::Variable)));
        }
        for (k, v) in PRODUCER_DEFAULTS {
            if !self.producer_properties.0.contains_key(*k) {
                out.push((format!("producer.{k}"), format!("{v} ({})", Origin::Default)));
            }
        }
        out
    }
}

fn parse_servers(raw: &str) -> Result<String, String> {
    if raw == EMBEDDED_BROKER {
        return Ok(raw.to_owned());
    }
    for server in raw.split(',') {
        let server = server.trim();
        let host_port = server.rsplit_once("://").map_or(server, |(_, hp)| hp);
        let ok = match host_port.rsplit_once(':') {
            Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0),
            None => false,
        };
        if !ok {
            return Err(format!("{server:?} is not host:port"));
        }
    }
    Ok(raw.to_owned())
}

fn parse_topic(raw: &str) -> Result<String, String> {
    if raw.len() > 249
        || !raw.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        || raw == "."
        || raw == ".."
    {
        return Err("not a legal Kafka topic name".into());
    }
    Ok(raw.to_owned())
}

/// Asks librdkafka itself to accept every property, without creating a client,
/// so that a typo fails at startup with the variable's name and no network call.
fn validate_producer_properties(props: &ProducerProperties) -> Result<(), ConfigError> {
    for (name, value) in &props.0 {
        let mut cc = ClientConfig::new();
        cc.set(name, value);
        if let Err(e) = cc.create_native_config() {
            let var = format!("{}{}", settings::KAFKA_PRODUCER_.name, name.to_ascii_uppercase().replace('.', "_"));
            let secret = is_secret_property(name);
            let mut problem = format!("librdkafka rejects property {name:?}: {e}");
            let shown = if secret {
                problem = problem.replace(value.as_str(), REDACTED);
                REDACTED.to_owned()
            } else {
                value.clone()
            };
            return Err(ConfigError::Invalid {
                var,
                value: shown,
                problem,
                accepted: settings::KAFKA_PRODUCER_.accepted.to_owned(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The settings table states the producer defaults in words (`--help`,
    /// docs/configuration.md, `.env.example`); they must say what the code sets.
    #[test]
    fn the_documented_producer_defaults_are_the_ones_in_force() {
        let said = settings::KAFKA_PRODUCER_.default;
        for (k, v) in PRODUCER_DEFAULTS {
            assert!(said.contains(&format!("{k}={v}")), "KAFKA_PRODUCER_ default does not say {k}={v}: {said}");
        }
        assert_eq!(
            said.matches('=').count(),
            PRODUCER_DEFAULTS.len(),
            "it names a default the code does not set: {said}"
        );
    }

    fn settings(servers: &str, props: &[(&str, &str)]) -> KafkaSettings {
        KafkaSettings {
            bootstrap_servers: servers.into(),
            topic: "t".into(),
            producer_properties: ProducerProperties(
                props.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ),
            check_timeout: std::time::Duration::from_secs(1),
        }
    }

    #[test]
    fn ports_start_at_1_and_topic_names_stop_at_249_characters() {
        assert!(parse_servers("h:1,k:65535").is_ok());
        assert!(parse_servers("h:0").is_err());
        assert!(parse_topic(&"a".repeat(249)).is_ok());
        assert!(parse_topic(&"a".repeat(250)).is_err());
    }

    #[test]
    fn debug_output_redacts_secret_properties() {
        let s = settings("h:1", &[("sasl.password", "hunter2"), ("linger.ms", "5")]);
        let shown = format!("{s:?}");
        assert!(shown.contains("\"linger.ms\": \"5\""), "{shown}");
        assert!(!shown.contains("hunter2") && shown.contains(REDACTED), "{shown}");
    }

    #[test]
    fn only_the_word_embedded_starts_the_embedded_broker() {
        assert!(settings(EMBEDDED_BROKER, &[]).is_embedded_broker());
        assert!(!settings("localhost:9092", &[]).is_embedded_broker());
    }

    #[test]
    fn a_property_set_by_a_variable_is_shown_once_with_its_origin() {
        let shown = settings("h:1", &[("linger.ms", "5")]).effective_properties();
        let linger: Vec<_> = shown.iter().filter(|(k, _)| k == "producer.linger.ms").collect();
        assert_eq!(linger.len(), 1, "{shown:?}");
        assert!(linger[0].1.starts_with("5 "), "{shown:?}");
        assert_eq!(shown.len(), PRODUCER_DEFAULTS.len(), "the other defaults, each once: {shown:?}");
    }
}
