//! Metrics and health against the in-process broker: the counters agree with
//! what reached the topic, injected failures are counted exactly, and every
//! metric the Grafana dashboard queries exists.

use crate::common::config;

use std::sync::Arc;
use std::time::Duration;

use crate::common::Kafka;
use kafka_feeder::observe::events::Stats;
use kafka_feeder::run;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use tokio_util::sync::CancellationToken;

use crate::common::sample;

async fn consume_count(kafka: &Kafka, partitions: i32, expected: usize) -> usize {
    let (b, t) = (kafka.bootstrap(), kafka.topic.clone());
    tokio::task::spawn_blocking(move || {
        crate::common::consume(&b, &t, partitions, expected, Duration::from_secs(20)).len()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_and_histograms_agree_with_the_topic() {
    let kafka = Kafka::start(2);
    let bootstrap = kafka.bootstrap();
    let cfg = config(&[
        ("KAFKA_BOOTSTRAP_SERVERS", &bootstrap),
        ("KAFKA_TOPIC", &kafka.topic),
        ("PRODUCE_INTERVAL", "0.005"),
        ("MIN_RECORDS_PER_BATCH", "1"),
        ("MAX_RECORDS_PER_BATCH", "30"),
        ("MAX_MESSAGES", "600"),
    ]);
    let stats = Arc::new(Stats::new("none"));
    let outcome = run::run(&cfg, Arc::clone(&stats), CancellationToken::new()).await.unwrap();
    let text = stats.metrics.encode(kafka_feeder::observe::metrics::Format::OpenMetrics);
    let consumed = consume_count(&kafka, 2, 600).await;

    assert_eq!(consumed, 600);
    assert_eq!(sample(&text, "kafka_feeder_messages_delivered_total"), consumed as f64);
    assert_eq!(sample(&text, "kafka_feeder_delivery_latency_seconds_count"), consumed as f64);
    assert_eq!(sample(&text, "kafka_feeder_batches_total"), outcome.totals.batches as f64);
    assert_eq!(sample(&text, "kafka_feeder_batch_size_records_count"), outcome.totals.batches as f64);
    assert_eq!(sample(&text, "kafka_feeder_batch_size_records_sum"), outcome.totals.sent as f64);
    assert_eq!(sample(&text, "kafka_feeder_sent_bytes_total"), outcome.totals.bytes_delivered as f64);
    assert_eq!(sample(&text, "kafka_feeder_dataset_records"), 10_000.0);
    assert!(sample(&text, "kafka_feeder_dataset_bytes") > 1e6);
    assert!(!text.contains("kafka_feeder_messages_failed_total{"), "no failures expected:\n{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_produce_errors_are_counted_exactly_by_reason() {
    let kafka = Kafka::start(1);
    let injected = 7;
    // One message per produce request, so each injected request error fails exactly one message.
    kafka.cluster.request_errors(RDKafkaApiKey::Produce, &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE; 7]);
    let bootstrap = kafka.bootstrap();
    let cfg = config(&[
        ("KAFKA_BOOTSTRAP_SERVERS", &bootstrap),
        ("KAFKA_TOPIC", &kafka.topic),
        ("PRODUCE_INTERVAL", "0.01"),
        ("MIN_RECORDS_PER_BATCH", "1"),
        ("MAX_RECORDS_PER_BATCH", "1"),
        ("MAX_MESSAGES", "50"),
        ("KAFKA_PRODUCER_LINGER_MS", "0"),
        ("KAFKA_PRODUCER_BATCH_NUM_MESSAGES", "1"),
        ("KAFKA_PRODUCER_MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION", "1"),
        ("KAFKA_PRODUCER_ENABLE_IDEMPOTENCE", "false"),
        ("NOT_DELIVERING_AFTER", "0.05"),
    ]);
    let stats = Arc::new(Stats::new("none"));
    let outcome = run::run(&cfg, Arc::clone(&stats), CancellationToken::new()).await.unwrap();
    // The deliveries after the failures ended the stretch: ready again.
    assert_eq!(stats.health.readiness(), kafka_feeder::observe::health::Status::Ok("ready"));
    let text = stats.metrics.encode(kafka_feeder::observe::metrics::Format::OpenMetrics);
    assert_eq!(outcome.totals.failed, injected, "{:?}", stats.failures_by_reason());
    assert_eq!(sample(&text, "kafka_feeder_messages_failed_total{reason=\"MessageSizeTooLarge\"}"), injected as f64);
    assert_eq!(outcome.totals.delivered, 50);
    assert_eq!(consume_count(&kafka, 1, 50).await, 50);
    assert_eq!(sample(&text, "kafka_feeder_delivery_latency_seconds_count"), 50.0);
}

/// Every `kafka_feeder_*` metric the Grafana dashboard queries is exposed, so a
/// rename cannot silently break the dashboard.
#[test]
fn every_metric_the_dashboard_queries_exists() {
    let dashboard = include_str!("../../deploy/grafana/dashboards/kafka-feeder.json");
    let json: serde_json::Value = serde_json::from_str(dashboard).expect("dashboard is JSON");
    let mut exprs = Vec::new();
    collect_exprs(&json, &mut exprs);
    assert!(exprs.len() >= 6, "dashboard has {} queries", exprs.len());

    let stats = Stats::new("high");
    // Touch the labelled families so they appear in the exposition.
    kafka_feeder::observe::events::delivery_failed(&stats, "MessageTimedOut", "test");
    let text = stats.metrics.encode(kafka_feeder::observe::metrics::Format::OpenMetrics);
    let exposed: std::collections::BTreeSet<&str> =
        text.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split(['{', ' ']).next()).collect();

    let mut queried = std::collections::BTreeSet::new();
    for expr in &exprs {
        let mut rest = expr.as_str();
        while let Some(i) = rest.find("kafka_feeder_") {
            let name: String = rest[i..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            rest = &rest[i + name.len()..];
            queried.insert(name);
        }
    }
    assert!(!queried.is_empty());
    for name in &queried {
        assert!(exposed.contains(name.as_str()), "dashboard queries {name}, which /metrics does not expose");
    }
}

fn collect_exprs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("expr", serde_json::Value::String(s)) => out.push(s.clone()),
                    _ => collect_exprs(v, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| collect_exprs(v, out)),
        _ => {}
    }
}
