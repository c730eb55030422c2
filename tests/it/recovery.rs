//! A fatally broken producer heals: librdkafka's fatal-error path
//! (`rd_kafka_test_fatal_error`, as an idempotence failure raises it) makes
//! the sink build a new producer; deliveries resume, the restart is counted,
//! nothing is counted twice, and the health endpoints tell the truth.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_feeder::message::{MessageBuilder, MessageSpec};
use kafka_feeder::observe::events::Stats;
use kafka_feeder::observe::health::Status;
use kafka_feeder::observe::metrics::Format;
use kafka_feeder::pacing::schedule::{self, Schedule};
use kafka_feeder::sink::KafkaSink;
use tokio_util::sync::CancellationToken;

use crate::common::{config, Kafka};

async fn until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(t.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fatal_error_rebuilds_the_producer_and_deliveries_resume() {
    let kafka = Kafka::start(1);
    let bootstrap = kafka.bootstrap();
    let cfg = config(&[("KAFKA_BOOTSTRAP_SERVERS", &bootstrap), ("KAFKA_TOPIC", &kafka.topic)]);
    let sink = Arc::new(KafkaSink::new(&cfg, &bootstrap).unwrap());
    let stats = Arc::new(Stats::new("none"));
    stats.health.dataset_loaded();
    let (stop, run) = (CancellationToken::new(), CancellationToken::new());
    tokio::spawn(Arc::clone(&sink).recover(Arc::clone(&stats), stop.clone(), run.clone()));
    let (csv, _) = crate::common::sample_csv();
    let dataset =
        kafka_feeder::dataset::reload::Live::new(kafka_feeder::dataset::load_csv(csv, "sample", None).unwrap().0);
    let looping = {
        let (sink, stats, run) = (Arc::clone(&sink), Arc::clone(&stats), run.clone());
        tokio::spawn(async move {
            let schedule = Schedule {
                shutdown_timeout: Duration::from_secs(10),
                progress_interval: Duration::from_secs(3600),
                seed: Some(1),
                ..Schedule::interval(Duration::from_millis(10), 5, 5)
            };
            let plain = MessageBuilder::new(&MessageSpec::default(), &*dataset.current(), 1).unwrap();
            schedule::run(&schedule, dataset, sink, plain, stats, run).await
        })
    };
    until("first deliveries", Duration::from_secs(10), || stats.totals().delivered > 50).await;

    sink.inject_fatal_error("test: sequence desynchronised");
    let restarts = || {
        let text = stats.metrics.encode(Format::OpenMetrics);
        text.lines().any(|l| l.starts_with("kafka_feeder_producer_restarts_total{reason=") && l.ends_with(" 1"))
    };
    until("the producer rebuild", Duration::from_secs(10), restarts).await;
    let after_rebuild = stats.totals().delivered;
    until("deliveries after the rebuild", Duration::from_secs(10), || stats.totals().delivered > after_rebuild + 100)
        .await;
    assert_eq!(stats.health.liveness(), Status::Ok("ok"), "one rebuild that helped keeps liveness");
    assert!(!sink.gave_up());

    run.cancel();
    let outcome = looping.await.unwrap();
    stop.cancel();
    let t = outcome.totals;
    assert_eq!(outcome.undelivered, 0);
    assert_eq!(t.sent, t.delivered + t.failed, "every message ends exactly once: {t:?}");
    let found = {
        let (b, topic) = (kafka.bootstrap(), kafka.topic.clone());
        tokio::task::spawn_blocking(move || {
            crate::common::consume(&b, &topic, 1, t.delivered as usize, Duration::from_secs(20))
        })
        .await
        .unwrap()
        .len() as u64
    };
    assert_eq!(found, t.delivered, "the topic holds exactly what was counted delivered");
}

/// Waits for librdkafka's threads in real time while moving tokio's paused
/// clock on, half a second a step, over the recovery's backoff.
async fn until_real(what: &str, mut cond: impl FnMut() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(t.elapsed() < Duration::from_secs(10), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
        tokio::time::advance(Duration::from_millis(500)).await;
    }
}

/// Rebuilding that never brings a delivery fails liveness after the second
/// break, and gives up after the bound: the run is ended (exit code 10).
#[tokio::test(start_paused = true)]
async fn rebuilds_without_a_delivery_fail_liveness_then_give_up() {
    let kafka = Kafka::start(1);
    let bootstrap = kafka.bootstrap();
    let cfg = config(&[("KAFKA_BOOTSTRAP_SERVERS", &bootstrap), ("KAFKA_TOPIC", &kafka.topic)]);
    let sink = Arc::new(KafkaSink::new(&cfg, &bootstrap).unwrap());
    let stats = Arc::new(Stats::new("none"));
    stats.health.loop_started(Duration::from_secs(3600));
    let (stop, run) = (CancellationToken::new(), CancellationToken::new());
    let recovering = tokio::spawn(Arc::clone(&sink).recover(Arc::clone(&stats), stop.clone(), run.clone()));
    let restarts = |stats: &Stats| {
        let text = stats.metrics.encode(Format::OpenMetrics);
        text.lines()
            .filter(|l| l.starts_with("kafka_feeder_producer_restarts_total{"))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
            .sum::<u64>()
    };
    let bound = kafka_feeder::sink::recovery::MAX_REBUILDS_IN_A_ROW as u64;
    for n in 1..=bound {
        sink.inject_fatal_error("test: fenced");
        until_real(&format!("rebuild {n}"), || restarts(&stats) == n).await;
        if n == 1 {
            assert_eq!(stats.health.liveness(), Status::Ok("ok"), "a first rebuild is given its chance");
        }
    }
    assert!(matches!(stats.health.liveness(), Status::Failing(r) if r.contains("rebuilding it has not helped")));
    assert!(!run.is_cancelled());
    sink.inject_fatal_error("test: fenced");
    until_real("giving up", || run.is_cancelled()).await;
    assert!(sink.gave_up());
    assert_eq!(restarts(&stats), bound, "no rebuild after giving up");
    recovering.await.unwrap();
    stop.cancel();
}

/// A producer the broker keeps answering without ever acknowledging (here:
/// every Produce request refused with a retriable error, as a restarted broker
/// that forgot the producer id answers `UNKNOWN_PRODUCER_ID`) is stuck: librdkafka
/// retries silently, so after `STUCK_AFTER` with the broker answering metadata
/// the sink rebuilds it, and deliveries resume.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_stuck_while_the_broker_answers_is_rebuilt() {
    use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
    let kafka = Kafka::start(1);
    let bootstrap = kafka.bootstrap();
    let cfg = config(&[
        ("KAFKA_BOOTSTRAP_SERVERS", &bootstrap),
        ("KAFKA_TOPIC", &kafka.topic),
        ("PRODUCE_INTERVAL", "0.1"),
        ("KAFKA_PRODUCER_RETRY_BACKOFF_MS", "100"),
        ("KAFKA_PRODUCER_RETRY_BACKOFF_MAX_MS", "100"),
    ]);
    let stats = Arc::new(Stats::new("none"));
    let token = CancellationToken::new();
    let drive = async {
        until("first deliveries", Duration::from_secs(10), || stats.totals().delivered > 5).await;
        // About 25 s of refusals at 10 retries a second.
        let errors = vec![RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS; 250];
        kafka.cluster.request_errors(RDKafkaApiKey::Produce, &errors);
        let stalled_at = stats.totals().delivered;
        let restarts = || {
            let text = stats.metrics.encode(Format::OpenMetrics);
            text.contains("kafka_feeder_producer_restarts_total{reason=\"NotAcknowledging\"}")
        };
        until("a rebuild of the stuck producer", Duration::from_secs(40), restarts).await;
        until("deliveries after it", Duration::from_secs(30), || stats.totals().delivered > stalled_at + 5).await;
        token.cancel();
    };
    let (outcome, ()) = tokio::join!(kafka_feeder::run::run(&cfg, Arc::clone(&stats), token.clone()), drive);
    let outcome = outcome.unwrap();
    let t = outcome.totals;
    assert_eq!(t.sent, t.delivered + t.failed + outcome.undelivered, "{t:?}");
}
