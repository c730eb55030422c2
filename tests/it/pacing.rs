//! The pacing modes end to end: the binary as a process against the mock
//! cluster, checked by what reaches the topic and when the broker stamped it.

use std::collections::BTreeMap;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

use crate::common::{write_file, Kafka};

const BIN: &str = env!("CARGO_BIN_EXE_kafka-feeder");

fn spawn(vars: &[(&str, &str)]) -> Child {
    Command::new(BIN)
        .env_clear()
        .env("HTTP_PORT", "0")
        .env("LOG_FORMAT", "json")
        .envs(vars.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait(mut child: Child, timeout: Duration) -> Output {
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > timeout {
            child.kill().unwrap();
            panic!("process did not exit within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

fn event<'a>(lines: &'a [serde_json::Value], name: &str) -> &'a serde_json::Value {
    lines.iter().rev().find(|l| l["event"] == name).unwrap_or_else(|| panic!("no {name:?} line in {lines:?}"))
}

/// Every message of the topic with its broker timestamp (ms), in partition order.
fn consume_timed(kafka: &Kafka, partitions: i32, expected: usize) -> Vec<(i64, serde_json::Value)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", kafka.bootstrap())
        .set("group.id", "kafka-feeder-pacing-tests")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(&kafka.topic, p, Offset::Beginning).unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let started = Instant::now();
    let mut last_new = Instant::now();
    let mut out = Vec::new();
    while started.elapsed() < Duration::from_secs(30) {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let ts = m.timestamp().to_millis().expect("a broker timestamp");
                out.push((ts, serde_json::from_slice(m.payload().unwrap_or_default()).unwrap()));
                last_new = Instant::now();
            }
            Some(Err(e)) => panic!("consumer error: {e}"),
            None if out.len() >= expected && last_new.elapsed() > Duration::from_millis(700) => break,
            None => {}
        }
    }
    out
}

#[test]
fn a_rate_of_37_5_for_20_seconds_delivers_750_and_exits_0() {
    let kafka = Kafka::start(2);
    let started = Instant::now();
    let out = wait(
        spawn(&[
            ("KAFKA_BOOTSTRAP_SERVERS", &kafka.bootstrap()),
            ("KAFKA_TOPIC", &kafka.topic),
            ("MESSAGES_PER_SECOND", "37.5"),
            ("RUN_DURATION", "20"),
        ]),
        Duration::from_secs(60),
    );
    let took = started.elapsed();
    let lines = lines(&out);
    assert_eq!(out.status.code(), Some(0), "{lines:?}");
    let stopped = event(&lines, "stopped");
    let delivered = stopped["delivered"].as_u64().unwrap();
    assert!((749..=751).contains(&delivered), "delivered {delivered}, expected 750 +/- 1");
    assert_eq!(stopped["scheduled"].as_u64(), Some(delivered), "every scheduled message delivered");
    event(&lines, "run_duration_reached");
    assert!(took >= Duration::from_secs(20), "stopped after {took:?}");
    // The progress line shows the offered load beside what was delivered.
    let progress = event(&lines, "progress");
    let offered = progress["scheduled_per_s"].as_f64().unwrap();
    assert!((offered - 37.5).abs() < 2.0, "{progress}");
    assert_eq!(consume_timed(&kafka, 2, delivered as usize).len() as u64, delivered);
}

/// A CSV of `n` rows (`id,ts,value`) whose times span 60 s with uneven gaps,
/// written out of time order.
fn replay_csv(n: usize) -> (String, BTreeMap<u64, f64>) {
    let mut offsets = BTreeMap::new();
    let mut rows = Vec::new();
    for id in 0..n as u64 {
        // Uneven gaps: from 0.1 s at the start to ~2.9 s at the end.
        let x = id as f64 / (n - 1) as f64;
        let secs = ((60.0 * x.powf(1.7)) * 1000.0).round() / 1000.0;
        offsets.insert(id, secs);
        let ms = (secs * 1000.0).round() as u64;
        rows.push(format!("{id},2024-03-01T12:{:02}:{:02}.{:03}Z,{}", ms / 60_000, ms / 1000 % 60, ms % 1000, id * 7));
    }
    // Out of order in the file: the replay sorts by time.
    rows.reverse();
    rows.swap(3, 17);
    (format!("id,ts,value\n{}\n", rows.join("\n")), offsets)
}

#[test]
fn a_replay_at_speed_20_keeps_the_original_spacing_divided_by_20() {
    let kafka = Kafka::start(1);
    let dir = tempfile::tempdir().unwrap();
    let (csv, offsets) = replay_csv(41);
    let path = write_file(dir.path(), "replay.csv", csv.as_bytes());
    let out = wait(
        spawn(&[
            ("KAFKA_BOOTSTRAP_SERVERS", &kafka.bootstrap()),
            ("KAFKA_TOPIC", &kafka.topic),
            ("DATASET_URI", &path),
            ("REPLAY_TIME_FIELD", "ts"),
            ("REPLAY_SPEED", "20"),
        ]),
        Duration::from_secs(60),
    );
    let lines = lines(&out);
    assert_eq!(out.status.code(), Some(0), "a replay is a job: exit 0 after the last record; {lines:?}");
    event(&lines, "replay_finished");
    assert_eq!(event(&lines, "replay_ready")["records"], 41);
    assert_eq!(event(&lines, "stopped")["delivered"], 41);

    let got = consume_timed(&kafka, 1, 41);
    let ids: Vec<u64> = got.iter().map(|(_, v)| v["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, (0..41).collect::<Vec<_>>(), "in the order of the time field");
    // The broker stamps each message when the daemon hands it over, so a busy
    // machine (2 cores shared with builds and the other tests: stalls of 50 ms
    // and more seen) shows up in the stamps. What pacing decides is checked so
    // that such stalls do not fail it but a pacing error does:
    // - the stamps follow the original offsets / 20 (least squares slope 1 +- 2%:
    //   a wrong speed fails, 3 s from first to last);
    // - most consecutive gaps (the median) within 5 ms of the original gap / 20
    //   (offsets taken from the wrong record fail); on an idle machine all are
    //   (BENCHMARKS.md, "Pacing": p99 of the error). At a load average of 13 on
    //   this 2-core machine, 10 to 15 of the 40 gaps were 5 to 12 ms off.
    let points: Vec<(f64, f64)> = got
        .iter()
        .map(|(ts, v)| (offsets[&v["id"].as_u64().unwrap()] * 1000.0 / 20.0, (ts - got[0].0) as f64))
        .collect();
    let n = points.len() as f64;
    let (mx, my) = (points.iter().map(|p| p.0).sum::<f64>() / n, points.iter().map(|p| p.1).sum::<f64>() / n);
    let slope = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum::<f64>()
        / points.iter().map(|p| (p.0 - mx).powi(2)).sum::<f64>();
    assert!((0.98..=1.02).contains(&slope), "broker time / (original offset / 20) = {slope}");
    let mut off = Vec::new();
    for w in got.windows(2) {
        let (a, b) = (w[0].1["id"].as_u64().unwrap(), w[1].1["id"].as_u64().unwrap());
        let expected_ms = (offsets[&b] - offsets[&a]) * 1000.0 / 20.0;
        let actual_ms = (w[1].0 - w[0].0) as f64;
        if (actual_ms - expected_ms).abs() > 5.0 {
            off.push(format!("{a}->{b}: {actual_ms} ms, expected {expected_ms:.1}"));
        }
    }
    assert!(off.len() < 20, "most gaps more than 5 ms off: {off:?}");
}

#[test]
fn three_replicas_replay_a_file_so_the_topic_holds_every_row_once() {
    let kafka = Kafka::start(3);
    let dir = tempfile::tempdir().unwrap();
    let (csv, _) = replay_csv(100);
    let path = write_file(dir.path(), "replay.csv", csv.as_bytes());
    let bootstrap = kafka.bootstrap();
    // Each replica learns its index a different way: REPLICA_INDEX, an Indexed
    // Job's JOB_COMPLETION_INDEX, a StatefulSet pod's HOSTNAME.
    let index_vars = [("REPLICA_INDEX", "0"), ("JOB_COMPLETION_INDEX", "1"), ("HOSTNAME", "kafka-feeder-2")];
    let children: Vec<Child> = index_vars
        .iter()
        .map(|&index| {
            spawn(&[
                ("KAFKA_BOOTSTRAP_SERVERS", &bootstrap),
                ("KAFKA_TOPIC", &kafka.topic),
                ("DATASET_URI", &path),
                ("REPLAY_TIME_FIELD", "ts"),
                ("REPLAY_SPEED", "30"),
                ("REPLICAS", "3"),
                index,
            ])
        })
        .collect();
    let mut shares = Vec::new();
    for child in children {
        let out = wait(child, Duration::from_secs(60));
        let lines = lines(&out);
        assert_eq!(out.status.code(), Some(0), "{lines:?}");
        shares.push(event(&lines, "stopped")["delivered"].as_u64().unwrap());
    }
    assert_eq!(shares, [34, 33, 33], "positions i, i+3, ... of 100 records");
    let mut ids: Vec<u64> = consume_timed(&kafka, 3, 100).iter().map(|(_, v)| v["id"].as_u64().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, (0..100).collect::<Vec<_>>(), "every row exactly once");
}

use crate::common::sample;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_schedule_shows_its_entry_and_the_offered_load_in_the_metrics() {
    use std::sync::Arc;

    use kafka_feeder::{observe::events::Stats, run};
    use tokio_util::sync::CancellationToken;

    let kafka = Kafka::start(1);
    let cfg = crate::common::config(&[
        ("KAFKA_BOOTSTRAP_SERVERS", &kafka.bootstrap()),
        ("KAFKA_TOPIC", &kafka.topic),
        ("PRESET_SCHEDULE", "00:00=200/s,12:00=200/s"),
        ("RUN_DURATION", "1.5"),
    ]);
    let stats = Arc::new(Stats::new("none"));
    let outcome = run::run(&cfg, Arc::clone(&stats), CancellationToken::new()).await.unwrap();
    let text = stats.metrics.encode(kafka_feeder::observe::metrics::Format::OpenMetrics);
    // 200/s for 1.5 s: messages 0..=300 (one entry or the other is in force, never both).
    let active = ["00:00=200/s", "12:00=200/s"]
        .map(|e| sample(&text, &format!("kafka_feeder_schedule_entry_active{{entry=\"{e}\"}}")));
    assert_eq!(active.iter().sum::<f64>(), 1.0, "{active:?}");
    let scheduled = sample(&text, "kafka_feeder_messages_scheduled_total");
    assert!((299.0..=301.0).contains(&scheduled), "{scheduled}");
    assert_eq!(scheduled, sample(&text, "kafka_feeder_messages_delivered_total"));
    assert_eq!(outcome.totals.scheduled as f64, scheduled);
}

/// At 0.01 msg/s nothing is due for 100 s: the loop still proves it is alive,
/// so a liveness probe does not restart a healthy pod.
#[tokio::test(start_paused = true)]
async fn a_slow_rate_stays_alive_between_messages() {
    use std::sync::Arc;

    use kafka_feeder::message::{MessageBuilder, MessageSpec};
    use kafka_feeder::observe::events::Stats;
    use kafka_feeder::observe::health::Status;
    use kafka_feeder::pacing::rate::{Arrivals, Rate};
    use kafka_feeder::pacing::schedule::{self, Pacing, Schedule};
    use kafka_feeder::sink::KafkaSink;
    use tokio_util::sync::CancellationToken;

    let kafka = Kafka::start(1);
    let (csv, _) = crate::common::sample_csv();
    let (dataset, _) = kafka_feeder::dataset::load_csv(csv, "sample", None).unwrap();
    let cfg = crate::common::config(&[("KAFKA_BOOTSTRAP_SERVERS", &kafka.bootstrap()), ("KAFKA_TOPIC", &kafka.topic)]);
    let sink = Arc::new(KafkaSink::new(&cfg, &kafka.bootstrap()).unwrap());
    let schedule = Schedule {
        pacing: Pacing::Rate { rate: Rate::PerSecond(0.01), arrivals: Arrivals::Steady },
        run_duration: Some(Duration::from_secs(150)),
        progress_interval: Duration::from_secs(3600),
        ..Schedule::interval(Duration::from_secs(1), 1, 1)
    };
    let stats = Arc::new(Stats::new("none"));
    let watcher = {
        let stats = Arc::clone(&stats);
        tokio::spawn(async move {
            let mut seen = Vec::new();
            for _ in 0..14 {
                tokio::time::sleep(Duration::from_secs(10)).await;
                seen.push(stats.health.liveness());
            }
            seen
        })
    };
    let plain = MessageBuilder::new(&MessageSpec::default(), &dataset, 1).unwrap();
    let outcome = schedule::run(
        &schedule,
        kafka_feeder::dataset::reload::Live::new(dataset),
        sink,
        plain,
        Arc::clone(&stats),
        CancellationToken::new(),
    )
    .await;
    // Messages at 0 and 100 s.
    assert_eq!(outcome.totals.scheduled, 2);
    for status in watcher.await.unwrap() {
        assert!(matches!(status, Status::Ok(_)), "{status:?}");
    }
}

#[test]
fn preview_of_a_replay_shows_the_records_in_time_order_and_loops_with_replay_loop() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, _) = replay_csv(41);
    let path = write_file(dir.path(), "replay.csv", csv.as_bytes());
    let ids = |n: &str, looping: &str| {
        let mut child = Command::new(BIN);
        child.env_clear().env("LOG_FORMAT", "json").env("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1");
        child.env("DATASET_URI", &path).env("REPLAY_TIME_FIELD", "ts").env("REPLAY_LOOP", looping);
        let out = child.args(["preview", n]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8(out.stdout).unwrap();
        let values =
            stdout.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["value"]["id"].clone());
        values.map(|v| v.as_u64().unwrap()).collect::<Vec<_>>()
    };
    assert_eq!(ids("5", "false"), vec![0, 1, 2, 3, 4], "the first five by time, as a replay sends them");
    assert_eq!(ids("50", "false"), (0..41).collect::<Vec<_>>(), "one pass without REPLAY_LOOP");
    let looped: Vec<u64> = (0..41).chain(0..4).collect();
    assert_eq!(ids("45", "true"), looped, "REPLAY_LOOP starts again");
}

#[test]
fn a_time_field_that_is_no_column_exits_2_and_one_without_times_exits_6() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "t.csv", b"id,when\n1,soon\n2,later\n");
    let run = |field: &str| {
        wait(
            spawn(&[("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1"), ("DATASET_URI", &path), ("REPLAY_TIME_FIELD", field)]),
            Duration::from_secs(30),
        )
    };
    let out = run("ts");
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stdout));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("the dataset has no such column; its columns are id, when"), "{text}");
    let out = run("when");
    assert_eq!(out.status.code(), Some(6), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no row holds a time there"));
}
