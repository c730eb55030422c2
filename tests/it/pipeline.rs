//! In-process integration: S3 (s3s-fs, credentials enforced) → the daemon's
//! `run::run` → a librdkafka mock cluster, read back by a consumer.

use crate::common::config;

use std::sync::Arc;
use std::time::Duration;

use crate::common::{assert_all_are_rows, sample_csv, Kafka, S3Server, ACCESS_KEY, SECRET_KEY};
use kafka_feeder::dataset::load_csv;
use kafka_feeder::dataset::source::SourceError;
use kafka_feeder::exit;
use kafka_feeder::message::{MessageBuilder, MessageSpec};
use kafka_feeder::observe::events::Stats;
use kafka_feeder::pacing::schedule::{self, Schedule};
use kafka_feeder::run::{self, AppError};
use kafka_feeder::sink::KafkaSink;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loads_from_s3_with_python_aliases_and_delivers_exactly_max_messages() {
    let s3 = S3Server::start().await;
    let (csv, expected) = sample_csv();
    s3.put("datasets", "in/transactions.csv", csv);
    let kafka = Kafka::start(3);
    let bootstrap = kafka.bootstrap();
    let cfg = config(&[
        ("KAFKA_BOOTSTRAP_SERVERS", &bootstrap),
        ("KAFKA_TOPIC", &kafka.topic),
        ("DATASET_URI", "s3://datasets/in/transactions.csv"),
        ("KEY", ACCESS_KEY),
        ("SECRET", SECRET_KEY),
        ("ENDPOINT_URL", &s3.endpoint),
        ("PRODUCE_INTERVAL", "0.01"),
        ("MIN_RECORDS_PER_BATCH", "5"),
        ("MAX_RECORDS_PER_BATCH", "15"),
        ("MAX_MESSAGES", "250"),
    ]);
    let stats = Arc::new(Stats::new("none"));
    let outcome = run::run(&cfg, stats, CancellationToken::new()).await.unwrap();
    assert_eq!(outcome.totals.delivered, 250);
    assert_eq!((outcome.totals.failed, outcome.undelivered), (0, 0));
    assert_eq!(run::outcome_exit_code(&outcome, true), exit::OK);

    let messages = {
        let (b, t) = (kafka.bootstrap(), kafka.topic.clone());
        tokio::task::spawn_blocking(move || crate::common::consume(&b, &t, 3, 250, Duration::from_secs(20)))
    }
    .await
    .unwrap();
    assert_eq!(messages.len(), 250, "messages in the topic");
    let seen = assert_all_are_rows(&messages, &expected);
    // 250 draws from 4 rows: each row appears (probability of a miss ~ 4 * 0.75^250).
    assert_eq!(seen.len(), 4, "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secret_is_access_denied_naming_bucket_and_key() {
    let s3 = S3Server::start().await;
    s3.put("datasets", "t.csv", b"a\n1\n");
    let cfg = config(&[
        ("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1"),
        ("DATASET_URI", "s3://datasets/t.csv"),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", "wrong-secret"),
        ("AWS_ENDPOINT_URL", &s3.endpoint),
    ]);
    let e = run::run(&cfg, Arc::new(Stats::new("none")), CancellationToken::new()).await.unwrap_err();
    assert!(matches!(e, AppError::Source(SourceError::AccessDenied { .. })), "{e:?}");
    assert_eq!(e.exit_code(), exit::ACCESS_DENIED);
    let msg = e.to_string();
    assert!(msg.contains("s3://datasets/t.csv") && msg.contains(&s3.endpoint), "{msg}");
    assert!(!msg.contains("wrong-secret"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_bucket_and_key_and_unknown_access_key_have_their_own_codes() {
    let s3 = S3Server::start().await;
    s3.put("datasets", "t.csv", b"a\n1\n");
    let run = |uri: &str, key: &str| {
        let cfg = config(&[
            ("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1"),
            ("DATASET_URI", uri),
            ("KEY", key),
            ("SECRET", SECRET_KEY),
            ("ENDPOINT_URL", &s3.endpoint),
        ]);
        async move { run::run(&cfg, Arc::new(Stats::new("none")), CancellationToken::new()).await.unwrap_err() }
    };
    let e = run("s3://no-such-bucket/t.csv", ACCESS_KEY).await;
    assert_eq!(e.exit_code(), exit::NOT_FOUND, "{e}");
    assert!(e.to_string().starts_with("bucket \"no-such-bucket\""), "{e}");
    let e = run("s3://datasets/missing.csv", ACCESS_KEY).await;
    assert_eq!(e.exit_code(), exit::NOT_FOUND, "{e}");
    assert!(e.to_string().starts_with("key s3://datasets/missing.csv not found"), "{e}");
    let e = run("s3://datasets/t.csv", "unknown-key").await;
    assert_eq!(e.exit_code(), exit::ACCESS_DENIED, "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_only_object_is_a_dataset_error() {
    let s3 = S3Server::start().await;
    s3.put("datasets", "empty.csv", b"id,amount\n");
    let cfg = config(&[
        ("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1"),
        ("DATASET_URI", "s3://datasets/empty.csv"),
        ("KEY", ACCESS_KEY),
        ("SECRET", SECRET_KEY),
        ("ENDPOINT_URL", &s3.endpoint),
    ]);
    let e = run::run(&cfg, Arc::new(Stats::new("none")), CancellationToken::new()).await.unwrap_err();
    assert_eq!(e.exit_code(), exit::DATASET_INVALID, "{e}");
    assert!(e.to_string().contains("s3://datasets/empty.csv"), "{e}");
}

/// With time paused, N ticks of the schedule make exactly N batches, each of a
/// size within MIN..=MAX, and every message sent is delivered.
#[tokio::test(start_paused = true)]
async fn n_ticks_make_n_batches_within_bounds() {
    let kafka = Kafka::start(1);
    let (csv, expected) = sample_csv();
    let (dataset, _) = load_csv(csv, "sample", None).unwrap();
    let cfg = config(&[("KAFKA_BOOTSTRAP_SERVERS", &kafka.bootstrap()), ("KAFKA_TOPIC", &kafka.topic)]);
    let sink = Arc::new(KafkaSink::new(&cfg, &kafka.bootstrap()).unwrap());
    let (min, max, n) = (3u32, 8u32, 25u64);
    let schedule = Schedule {
        shutdown_timeout: Duration::from_secs(10),
        progress_interval: Duration::from_secs(3600),
        seed: Some(3),
        ..Schedule::interval(Duration::from_secs(1), min, max)
    };
    let stats = Arc::new(Stats::new("none"));
    let token = CancellationToken::new();
    let stopper = token.clone();
    tokio::spawn(async move {
        // Ticks fire at 0 s, 1 s, ... (n - 1) s; stop half an interval after the last.
        tokio::time::sleep(Duration::from_millis(n * 1000 - 500)).await;
        stopper.cancel();
    });
    let plain = MessageBuilder::new(&MessageSpec::default(), &dataset, 3).unwrap();
    let outcome = schedule::run(
        &schedule,
        kafka_feeder::dataset::reload::Live::new(dataset),
        sink,
        plain,
        Arc::clone(&stats),
        token,
    )
    .await;
    assert_eq!(outcome.ticks, n);
    assert_eq!(outcome.totals.batches, n);
    let sent = outcome.totals.sent;
    assert!((n * min as u64..=n * max as u64).contains(&sent), "sent {sent}");
    // Not every batch the same size: sizes really are drawn.
    assert!(sent != n * min as u64 && sent != n * max as u64, "sent {sent}");
    assert_eq!(outcome.totals.delivered, sent);
    assert_eq!(outcome.undelivered, 0);

    let messages = {
        let (b, t) = (kafka.bootstrap(), kafka.topic.clone());
        tokio::task::spawn_blocking(move || crate::common::consume(&b, &t, 1, sent as usize, Duration::from_secs(20)))
    }
    .await
    .unwrap();
    assert_eq!(messages.len() as u64, sent);
    assert_all_are_rows(&messages, &expected);
}

/// A message larger than the broker accepts fails, is counted with its reason,
/// and the loop goes on delivering the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_messages_are_counted_as_failures_not_crashes() {
    let kafka = Kafka::start(1);
    let dir = tempfile::tempdir().unwrap();
    let big = "x".repeat(2000);
    let csv = format!("id,blob\n1,small\n2,{big}\n");
    let path = crate::common::write_file(dir.path(), "t.csv", csv.as_bytes());
    let bootstrap = kafka.bootstrap();
    let cfg = config(&[
        ("KAFKA_BOOTSTRAP_SERVERS", &bootstrap),
        ("KAFKA_TOPIC", &kafka.topic),
        ("DATASET_URI", &path),
        ("PRODUCE_INTERVAL", "0.01"),
        ("MIN_RECORDS_PER_BATCH", "4"),
        ("MAX_RECORDS_PER_BATCH", "4"),
        ("MAX_MESSAGES", "40"),
        // librdkafka refuses messages over message.max.bytes at enqueue time.
        ("KAFKA_PRODUCER_MESSAGE_MAX_BYTES", "1000"),
    ]);
    let stats = Arc::new(Stats::new("none"));
    let outcome = run::run(&cfg, Arc::clone(&stats), CancellationToken::new()).await.unwrap();
    assert_eq!(outcome.totals.delivered, 40);
    assert!(outcome.totals.failed > 0);
    assert_eq!(stats.failures_by_reason().get("MessageSizeTooLarge"), Some(&outcome.totals.failed));
    assert_eq!(run::outcome_exit_code(&outcome, true), exit::UNDELIVERED);
    let messages = {
        let (b, t) = (kafka.bootstrap(), kafka.topic.clone());
        tokio::task::spawn_blocking(move || crate::common::consume(&b, &t, 1, 40, Duration::from_secs(20)))
    }
    .await
    .unwrap();
    assert_eq!(messages.len(), 40);
    assert!(messages.iter().all(|m| m == br#"{"id":1,"blob":"small"}"#));
}

/// A full librdkafka queue makes the send wait, never drop a record: with room
/// for 5 messages and batches of 50, every message is delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_producer_queue_waits_and_drops_nothing() {
    let kafka = Kafka::start(1);
    let bootstrap = kafka.bootstrap();
    let cfg = config(&[
        ("KAFKA_BOOTSTRAP_SERVERS", &bootstrap),
        ("KAFKA_TOPIC", &kafka.topic),
        ("KAFKA_PRODUCER_QUEUE_BUFFERING_MAX_MESSAGES", "5"),
        ("PRODUCE_INTERVAL", "0.01"),
        ("MIN_RECORDS_PER_BATCH", "50"),
        ("MAX_RECORDS_PER_BATCH", "50"),
    ]);
    let stats = Arc::new(Stats::new("none"));
    let token = CancellationToken::new();
    let stopper = token.clone();
    let watched = Arc::clone(&stats);
    // Stop once five batches went out (or after 30 s), not after a fixed time
    // that a loaded machine spends starting up.
    tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while watched.totals().batches < 5 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stopper.cancel();
    });
    let outcome = run::run(&cfg, Arc::clone(&stats), token).await.unwrap();
    let t = outcome.totals;
    assert!(outcome.ticks >= 5, "{outcome:?}");
    // Every tick's 50 records were enqueued, however often the queue was full.
    assert_eq!(t.sent, outcome.ticks * 50, "{outcome:?}");
    assert_eq!((t.delivered, t.failed, outcome.undelivered), (t.sent, 0, 0), "{t:?}");
    let found = {
        let (b, topic) = (kafka.bootstrap(), kafka.topic.clone());
        let n = t.sent as usize;
        tokio::task::spawn_blocking(move || crate::common::consume(&b, &topic, 1, n, Duration::from_secs(20)))
    }
    .await
    .unwrap();
    assert_eq!(found.len() as u64, t.sent);
}
