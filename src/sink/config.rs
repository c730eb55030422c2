//! The librdkafka side of the configuration: the broker list, the topic, our
//! producer defaults and the `KAFKA_PRODUCER_*` passthrough, validated by
//! librdkafka itself, and their conversion into an rdkafka [`ClientConfig`].

use std::collections::BTreeMap;
use std::fmt;

use rdkafka::ClientConfig;

use crate::settings::env::{ConfigError, Env, Origin, Show};
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

/// What `KAFKA_SASL_MECHANISM=AWS_MSK_IAM` sets before the passthrough (which
/// may still change `security.protocol`, e.g. to SASL_PLAINTEXT for a test front).
pub const MSK_IAM_PROPERTIES: &[(&str, &str)] = &[("security.protocol", "SASL_SSL"), ("sasl.mechanism", "OAUTHBEARER")];

/// The SASL mechanisms kafka-feeder implements itself (librdkafka's own are
/// set through `KAFKA_PRODUCER_SASL_MECHANISM`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslMechanism {
    AwsMskIam,
}

impl Show for SaslMechanism {
    fn show(&self) -> String {
        super::msk_iam::MECHANISM.to_owned()
    }
}

/// `KAFKA_SASL_MECHANISM=AWS_MSK_IAM`: the region its token is signed for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MskIamSettings {
    pub region: String,
    /// `AWS_REGION`, or the broker host name.
    pub region_from: &'static str,
}

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
    /// `KAFKA_SASL_MECHANISM=AWS_MSK_IAM`.
    pub msk_iam: Option<MskIamSettings>,
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
        let mechanism = env.optional(&settings::KAFKA_SASL_MECHANISM, parse_mechanism)?;
        let msk_iam = match mechanism {
            Some(SaslMechanism::AwsMskIam) => Some(msk_iam_settings(env, &bootstrap_servers, &producer_properties)?),
            None => None,
        };
        Ok(Self { bootstrap_servers, topic, producer_properties, check_timeout, msk_iam })
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
        if self.msk_iam.is_some() {
            for (k, v) in MSK_IAM_PROPERTIES {
                cc.set(*k, *v);
            }
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
        if self.msk_iam.is_some() {
            for (k, v) in MSK_IAM_PROPERTIES {
                if !self.producer_properties.0.contains_key(*k) {
                    out.push((format!("producer.{k}"), format!("{v} ({})", settings::KAFKA_SASL_MECHANISM.name)));
                }
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

fn parse_mechanism(raw: &str) -> Result<SaslMechanism, String> {
    if raw.eq_ignore_ascii_case(super::msk_iam::MECHANISM) {
        Ok(SaslMechanism::AwsMskIam)
    } else {
        Err("not a mechanism kafka-feeder implements (librdkafka's PLAIN, SCRAM-SHA-256/512 and OAUTHBEARER are set with KAFKA_PRODUCER_SASL_MECHANISM)".into())
    }
}

/// The region the MSK token is signed for (`AWS_REGION`, else the broker host
/// name), and no other SASL mechanism asked for through the passthrough.
fn msk_iam_settings(env: &Env, servers: &str, props: &ProducerProperties) -> Result<MskIamSettings, ConfigError> {
    let other = ["sasl.mechanism", "sasl.mechanisms"]
        .iter()
        .filter_map(|k| props.0.get(*k))
        .any(|v| !v.eq_ignore_ascii_case("OAUTHBEARER"));
    if other {
        return Err(ConfigError::Conflict {
            first: settings::KAFKA_SASL_MECHANISM.name,
            second: "KAFKA_PRODUCER_SASL_MECHANISM",
            hint: "AWS_MSK_IAM is carried by librdkafka's OAUTHBEARER; unset KAFKA_PRODUCER_SASL_MECHANISM",
        });
    }
    if let Some((_, region)) = env.get(&settings::AWS_REGION) {
        return Ok(MskIamSettings { region: region.trim().to_owned(), region_from: settings::AWS_REGION.name });
    }
    match super::msk_iam::region_from_servers(servers) {
        Some(region) => Ok(MskIamSettings { region, region_from: "the broker host name" }),
        None => Err(ConfigError::Missing {
            var: settings::AWS_REGION.name,
            hint: "KAFKA_SASL_MECHANISM=AWS_MSK_IAM signs its token for the cluster's region and KAFKA_BOOTSTRAP_SERVERS names none (b-1.<cluster>.kafka.<region>.amazonaws.com); set AWS_REGION",
        }),
    }
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
            msk_iam: None,
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

    fn from(vars: &[(&str, &str)]) -> Result<KafkaSettings, ConfigError> {
        KafkaSettings::from_env(&Env::from_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap())
    }

    const MSK: &str = "b-1.feeds.x1y2z3.c2.kafka.eu-central-1.amazonaws.com:9098";

    #[test]
    fn aws_msk_iam_signs_for_aws_region_or_the_broker_host_names_region() {
        let k = from(&[("KAFKA_BOOTSTRAP_SERVERS", MSK), ("KAFKA_SASL_MECHANISM", "aws_msk_iam")]).unwrap();
        assert_eq!(
            k.msk_iam,
            Some(MskIamSettings { region: "eu-central-1".into(), region_from: "the broker host name" })
        );
        let k = from(&[
            ("KAFKA_BOOTSTRAP_SERVERS", MSK),
            ("KAFKA_SASL_MECHANISM", "AWS_MSK_IAM"),
            ("AWS_REGION", "us-west-2"),
        ])
        .unwrap();
        assert_eq!(k.msk_iam.map(|m| (m.region, m.region_from)), Some(("us-west-2".into(), "AWS_REGION")));
        let e = from(&[("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9098"), ("KAFKA_SASL_MECHANISM", "AWS_MSK_IAM")])
            .unwrap_err();
        assert!(matches!(e, ConfigError::Missing { var: "AWS_REGION", .. }), "{e}");
        assert_eq!(from(&[("KAFKA_BOOTSTRAP_SERVERS", MSK)]).unwrap().msk_iam, None);
    }

    #[test]
    fn aws_msk_iam_defaults_to_sasl_ssl_with_oauthbearer_and_the_passthrough_can_change_the_protocol() {
        let k = from(&[("KAFKA_BOOTSTRAP_SERVERS", MSK), ("KAFKA_SASL_MECHANISM", "AWS_MSK_IAM")]).unwrap();
        let cc = k.client_config(MSK);
        assert_eq!((cc.get("security.protocol"), cc.get("sasl.mechanism")), (Some("SASL_SSL"), Some("OAUTHBEARER")));
        let shown = k.effective_properties();
        assert!(
            shown.contains(&("producer.sasl.mechanism".into(), "OAUTHBEARER (KAFKA_SASL_MECHANISM)".into())),
            "{shown:?}"
        );
        let k = from(&[
            ("KAFKA_BOOTSTRAP_SERVERS", MSK),
            ("KAFKA_SASL_MECHANISM", "AWS_MSK_IAM"),
            ("KAFKA_PRODUCER_SECURITY_PROTOCOL", "SASL_PLAINTEXT"),
        ])
        .unwrap();
        assert_eq!(k.client_config(MSK).get("security.protocol"), Some("SASL_PLAINTEXT"));
        assert_eq!(from(&[("KAFKA_BOOTSTRAP_SERVERS", MSK)]).unwrap().client_config(MSK).get("sasl.mechanism"), None);
    }

    #[test]
    fn aws_msk_iam_refuses_another_mechanism_and_unknown_mechanisms() {
        let e = from(&[
            ("KAFKA_BOOTSTRAP_SERVERS", MSK),
            ("KAFKA_SASL_MECHANISM", "AWS_MSK_IAM"),
            ("KAFKA_PRODUCER_SASL_MECHANISM", "PLAIN"),
        ])
        .unwrap_err();
        assert!(matches!(e, ConfigError::Conflict { first: "KAFKA_SASL_MECHANISM", .. }), "{e}");
        let e = from(&[("KAFKA_BOOTSTRAP_SERVERS", MSK), ("KAFKA_SASL_MECHANISM", "PLAIN")]).unwrap_err();
        assert!(e.to_string().starts_with("KAFKA_SASL_MECHANISM=\"PLAIN\" is invalid"), "{e}");
        assert!(e.to_string().contains("KAFKA_PRODUCER_SASL_MECHANISM"), "{e}");
    }
}
