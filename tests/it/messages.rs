//! Messages a pipeline can use: keys, generated fields, headers, seeded runs,
//! checked by consuming what the feeder sent to the mock cluster.

/// Java's `org.apache.kafka.common.utils.Utils.murmur2`, the hash behind the
/// Java client's default partitioner (and librdkafka's `murmur2_random`).
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h = SEED ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition the Java client picks for `key`: `toPositive(murmur2(key)) % n`.
pub fn java_partition(key: &[u8], partitions: i32) -> i32 {
    (murmur2(key) & 0x7fff_ffff) % partitions
}

#[test]
fn murmur2_matches_javas_known_values() {
    // Kafka's own UtilsTest.testMurmur2, and Akka's Murmur2Spec (checked against Kafka's).
    let cases: &[(&[u8], i32)] = &[
        (b"21", -973_932_308),
        (b"foobar", -790_332_482),
        (b"a-little-bit-long-string", -985_981_536),
        (b"a-little-bit-longer-string", -1_486_304_829),
        (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
        (b"abc", 479_470_107),
        (b"1", -1_993_445_489),
        (b"12", 126_087_238),
        (b"123", -267_702_483),
        (b"1234", -1_614_185_708),
        (b"12345", -1_188_365_604),
    ];
    for (key, want) in cases {
        assert_eq!(murmur2(key), *want, "{}", String::from_utf8_lossy(key));
    }
    assert_eq!(java_partition(b"foobar", 6), (-790_332_482i32 & 0x7fff_ffff) % 6);
}

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use kafka_feeder::exit;
use kafka_feeder::observe::events::Stats;
use kafka_feeder::run::{self, AppError};
use rdkafka::message::Headers as _;
use rdkafka::Message;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::common::{self, config, write_file, Kafka};

/// A message as a consumer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumed {
    pub partition: i32,
    pub key: Option<String>,
    pub headers: Vec<(String, String)>,
    pub payload: String,
}

impl Consumed {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.payload).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.payload))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Every message of the topic, in partition order, once `expected` have come
/// and nothing more arrives for a moment.
pub async fn consume(kafka: &Kafka, partitions: i32, expected: usize) -> Vec<Consumed> {
    let (bootstrap, topic) = (kafka.bootstrap(), kafka.topic.clone());
    tokio::task::spawn_blocking(move || {
        let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
        let mut out = common::consume_with(&bootstrap, &topic, partitions, expected, Duration::from_secs(30), |m| {
            let headers = m.headers().map_or_else(Vec::new, |h| {
                h.iter().map(|h| (h.key.to_owned(), text(h.value.unwrap_or_default()))).collect()
            });
            Consumed {
                partition: m.partition(),
                key: m.key().map(text),
                headers,
                payload: text(m.payload().unwrap_or_default()),
            }
        });
        out.sort_by_key(|c| c.partition); // stable: order within a partition is kept
        out
    })
    .await
    .unwrap()
}

/// Runs the daemon to `MAX_MESSAGES` with `vars` on top of a fast schedule.
pub async fn run(
    kafka: &Kafka,
    dataset: &str,
    max: u64,
    vars: &[(&str, &str)],
) -> kafka_feeder::pacing::schedule::Outcome {
    let bootstrap = kafka.bootstrap();
    let max = max.to_string();
    let mut all = vec![
        ("KAFKA_BOOTSTRAP_SERVERS", bootstrap.as_str()),
        ("KAFKA_TOPIC", kafka.topic.as_str()),
        ("DATASET_URI", dataset),
        ("PRODUCE_INTERVAL", "0.002"),
        ("MIN_RECORDS_PER_BATCH", "100"),
        ("MAX_RECORDS_PER_BATCH", "900"),
        ("MAX_MESSAGES", max.as_str()),
    ];
    all.extend_from_slice(vars);
    let outcome = run::run(&config(&all), Arc::new(Stats::new("none")), CancellationToken::new()).await.unwrap();
    assert_eq!((outcome.totals.failed, outcome.undelivered), (0, 0));
    outcome
}

pub fn is_v4(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok_and(|u| u.get_version_num() == 4 && u.hyphenated().to_string() == s)
}

pub fn rfc3339_ms(s: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    (s.len() == 24 && s.ends_with('Z')).then_some((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

fn epoch_ms(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_fresh_ids_timestamps_and_headers_on_every_message() {
    let kafka = Kafka::start(3);
    let n = 10_000;
    let start = epoch_ms(SystemTime::now());
    run(
        &kafka,
        "bundled",
        n,
        &[
            ("MESSAGE_KEY_FIELD", "transaction_id"),
            ("MESSAGE_FIELDS", "transaction_id=uuid(),timestamp=now(),seq=seq(),source=kafka-feeder"),
            ("MESSAGE_HEADERS", "run=it-1,message_id=uuid(),sent_ms=now_ms(),seq=seq()"),
        ],
    )
    .await;
    let end = epoch_ms(SystemTime::now());
    let messages = consume(&kafka, 3, n as usize).await;
    assert_eq!(messages.len(), n as usize);

    let mut ids = HashSet::new();
    let mut seqs = HashSet::new();
    for m in &messages {
        let v = m.json();
        let id = v["transaction_id"].as_str().unwrap();
        assert_eq!(m.key.as_deref(), Some(id), "the key is the message's field");
        assert!(is_v4(id), "{id}");
        assert!(ids.insert(id.to_owned()), "{id} repeats");
        let ts = rfc3339_ms(v["timestamp"].as_str().unwrap()).unwrap_or_else(|| panic!("{v}"));
        assert!((start..=end).contains(&ts), "{ts} outside {start}..={end}");
        assert_eq!(v["source"], "kafka-feeder");
        assert!(v["merchant"].is_string() && v["amount"].is_number(), "the record's other fields stay: {v}");

        let names: Vec<&str> = m.headers.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["run", "message_id", "sent_ms", "seq"]);
        assert_eq!(m.header("run"), Some("it-1"));
        let header_id = m.header("message_id").unwrap();
        assert!(is_v4(header_id) && header_id != id);
        let sent: i64 = m.header("sent_ms").unwrap().parse().unwrap();
        assert!((start..=end).contains(&sent));
        assert_eq!(sent, ts, "one clock reading per message");
        assert_eq!(m.header("seq").unwrap(), v["seq"].to_string());
        assert!(seqs.insert(v["seq"].as_u64().unwrap()));
    }
    assert_eq!(seqs, (1..=n).collect::<HashSet<_>>(), "seq() is 1..=n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_seed_repeats_a_run_and_another_does_not() {
    let mut runs = Vec::new();
    for (seed, fields) in
        [("7", "transaction_id=uuid()"), ("7", "transaction_id=uuid()"), ("8", "transaction_id=uuid()"), ("7", "")]
    {
        let kafka = Kafka::start(1);
        run(&kafka, "bundled", 3_000, &[("RANDOM_SEED", seed), ("MESSAGE_FIELDS", fields)]).await;
        let messages: Vec<String> = consume(&kafka, 1, 3_000).await.into_iter().map(|m| m.payload).collect();
        assert_eq!(messages.len(), 3_000);
        runs.push(messages);
    }
    // One partition keeps the order: the same records in the same order, the same uuids.
    assert!(runs[0] == runs[1], "seed 7 twice gave different runs");
    let multiset = |r: &[String]| {
        let mut m: HashMap<String, usize> = HashMap::new();
        for p in r {
            let mut v: Value = serde_json::from_str(p).unwrap();
            v["transaction_id"] = Value::Null;
            *m.entry(v.to_string()).or_default() += 1;
        }
        m
    };
    assert_ne!(multiset(&runs[0]), multiset(&runs[2]), "seed 8 picked the same records as seed 7");
    assert_ne!(runs[0][0], runs[2][0]);
    // uuid() has its own random stream: without it, seed 7 picks the same records.
    let without_ids = |r: &[String]| -> Vec<Value> {
        r.iter()
            .map(|p| {
                let mut v: Value = serde_json::from_str(p).unwrap();
                v["transaction_id"] = Value::Null;
                v
            })
            .collect()
    };
    assert!(without_ids(&runs[0]) == without_ids(&runs[3]), "adding uuid() changed the records picked");
    // `preview` with the same settings shows what the run sent.
    let shown = tokio::task::spawn_blocking(|| {
        preview(
            "3000",
            &[
                ("RANDOM_SEED", "7"),
                ("MESSAGE_FIELDS", "transaction_id=uuid()"),
                ("MIN_RECORDS_PER_BATCH", "100"),
                ("MAX_RECORDS_PER_BATCH", "900"),
            ],
        )
    })
    .await
    .unwrap();
    let shown: Vec<Value> = shown.into_iter().map(|l| l["value"].clone()).collect();
    let sent: Vec<Value> = runs[0].iter().map(|p| serde_json::from_str(p).unwrap()).collect();
    assert!(shown == sent, "preview differs from the run with the same seed");
}

/// A dataset with many keys: 500 accounts, some rows with none.
fn accounts_csv(dir: &std::path::Path) -> String {
    let mut csv = String::from("account,amount\n");
    for i in 0..2_000 {
        if i % 100 == 7 {
            csv.push_str(",1.00\n"); // an empty cell is null: no key
        } else {
            csv.push_str(&format!("acct-{:03},{}.50\n", i % 500, i));
        }
    }
    let dir = dir.to_owned();
    write_file(&dir, "accounts.csv", csv.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_key_lands_in_the_partition_the_java_client_picks() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = accounts_csv(dir.path());
    let partitions = 6;
    let kafka = Kafka::start(partitions);
    run(&kafka, &dataset, 5_000, &[("MESSAGE_KEY_FIELD", "account")]).await;
    let messages = consume(&kafka, partitions, 5_000).await;
    assert_eq!(messages.len(), 5_000);
    let mut placed: HashMap<String, HashSet<i32>> = HashMap::new();
    let mut unkeyed = 0;
    for m in &messages {
        let v = m.json();
        assert!(m.headers.is_empty(), "headers without MESSAGE_HEADERS: {:?}", m.headers);
        match &m.key {
            Some(k) => {
                assert_eq!(v["account"], k.as_str());
                placed.entry(k.clone()).or_default().insert(m.partition);
            }
            None => {
                assert_eq!(v["account"], Value::Null);
                unkeyed += 1;
            }
        }
    }
    assert!(unkeyed > 0, "rows with an empty account are sent without a key");
    assert!(placed.len() > 400, "{} keys seen", placed.len());
    for (key, parts) in &placed {
        let want = java_partition(key.as_bytes(), partitions);
        assert_eq!(parts, &HashSet::from([want]), "key {key}");
    }
    // And the partitions are all used.
    let used: HashSet<i32> = placed.values().flatten().copied().collect();
    assert_eq!(used.len(), partitions as usize);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_producer_partitioner_still_overrides_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = accounts_csv(dir.path());
    let partitions = 6;
    let kafka = Kafka::start(partitions);
    run(&kafka, &dataset, 2_000, &[("MESSAGE_KEY_FIELD", "account"), ("KAFKA_PRODUCER_PARTITIONER", "consistent")])
        .await;
    let messages = consume(&kafka, partitions, 2_000).await;
    // librdkafka's `consistent` is CRC32: still one partition per key, but not Java's.
    let moved = messages
        .iter()
        .filter_map(|m| m.key.as_ref().map(|k| (k, m.partition)))
        .filter(|(k, p)| java_partition(k.as_bytes(), partitions) != *p)
        .count();
    assert!(moved > 0, "every key landed where murmur2 would put it: the override was ignored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_key_column_is_a_config_error_listing_the_columns() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = write_file(dir.path(), "t.csv", b"id,amount\n1,2\n");
    let cfg = config(&[
        ("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1"),
        ("DATASET_URI", &dataset),
        ("MESSAGE_KEY_FIELD", "acount"),
    ]);
    let e = run::run(&cfg, Arc::new(Stats::new("none")), CancellationToken::new()).await.unwrap_err();
    assert_eq!(e.exit_code(), exit::CONFIG, "{e}");
    let msg = e.to_string();
    assert_eq!(
        msg,
        "MESSAGE_KEY_FIELD=\"acount\" is invalid: no record has this field; \
         expected a column of the dataset (id, amount) or a field set by MESSAGE_FIELDS"
    );
    assert!(matches!(e, AppError::Messages(_)), "{e:?}");
}

/// The binary, configured by `vars`, run to exit: its JSON log lines and exit code.
async fn run_binary(vars: Vec<(String, String)>) -> (Vec<Value>, Option<i32>) {
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kafka-feeder"))
            .env_clear()
            .env("HTTP_PORT", "0")
            .env("LOG_FORMAT", "json")
            .envs(vars)
            .output()
            .unwrap();
        let lines = String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        (lines, out.status.code())
    })
    .await
    .unwrap()
}

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_logged_seed_repeats_a_run() {
    let run = |kafka: &Kafka, seed: Option<&str>| {
        let (bootstrap, topic) = (kafka.bootstrap(), kafka.topic.clone());
        let mut v = vars(&[
            ("KAFKA_BOOTSTRAP_SERVERS", &bootstrap),
            ("KAFKA_TOPIC", &topic),
            ("PRODUCE_INTERVAL", "0.005"),
            ("MIN_RECORDS_PER_BATCH", "1"),
            ("MAX_RECORDS_PER_BATCH", "50"),
            ("MAX_MESSAGES", "500"),
            ("MESSAGE_FIELDS", "transaction_id=uuid(),timestamp=now_s()"),
        ]);
        v.extend(seed.map(|s| ("RANDOM_SEED".to_owned(), s.to_owned())));
        run_binary(v)
    };
    let first = Kafka::start(1);
    let (lines, code) = run(&first, None).await;
    assert_eq!(code, Some(0));
    let seeded = lines.iter().find(|l| l["event"] == "random_seed").expect("a random_seed line");
    assert_eq!(seeded["origin"], "os");
    let seed = seeded["seed"].as_u64().unwrap().to_string();
    let indexed = lines.iter().find(|l| l["event"] == "messages_indexed").expect("a messages_indexed line");
    assert_eq!(indexed["fields"], "transaction_id (replaced), timestamp (replaced)");
    let effective = lines.iter().find(|l| l["event"] == "effective_config").unwrap()["settings"].to_string();
    assert!(effective.contains("MESSAGE_FIELDS=transaction_id=uuid(),timestamp=now_s() (env)"), "{effective}");
    assert!(effective.contains("RANDOM_SEED=unset (default)"), "{effective}");
    assert!(effective.contains("producer.partitioner=murmur2_random (default)"), "{effective}");

    let second = Kafka::start(1);
    let (lines, code) = run(&second, Some(&seed)).await;
    assert_eq!(code, Some(0));
    let seeded = lines.iter().find(|l| l["event"] == "random_seed").unwrap();
    assert_eq!((seeded["origin"].as_str(), seeded["seed"].to_string()), (Some("RANDOM_SEED"), seed));

    // The records and their ids repeat; now_s() need not (a run may straddle a second).
    let records = |ms: Vec<Consumed>| -> Vec<Value> {
        ms.into_iter()
            .map(|m| {
                let mut v = m.json();
                v["timestamp"] = Value::Null;
                v
            })
            .collect()
    };
    let (a, b) = (records(consume(&first, 1, 500).await), records(consume(&second, 1, 500).await));
    assert_eq!(a.len(), 500);
    assert!(a == b, "the logged seed did not repeat the run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_key_column_exits_2_from_the_binary() {
    let (lines, code) =
        run_binary(vars(&[("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1"), ("MESSAGE_KEY_FIELD", "acount_id")])).await;
    assert_eq!(code, Some(2));
    let failed = lines.iter().find(|l| l["level"] == "ERROR").expect("an error line").to_string();
    assert!(failed.contains("MESSAGE_KEY_FIELD=") && failed.contains("account_id, merchant"), "{failed}");
}

/// `kafka-feeder preview N` with `vars`: its JSON lines.
pub fn preview(n: &str, vars: &[(&str, &str)]) -> Vec<Value> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kafka-feeder"))
        .env_clear()
        .env("KAFKA_BOOTSTRAP_SERVERS", "embedded")
        .envs(vars.iter().copied())
        .args(["preview", n])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect()
}

#[test]
fn preview_shows_keys_headers_and_generated_fields_and_follows_the_seed() {
    let vars = [
        ("RANDOM_SEED", "5"),
        ("MESSAGE_KEY_FIELD", "transaction_id"),
        ("MESSAGE_FIELDS", "transaction_id=uuid(),timestamp=now(),source=kafka-feeder"),
        ("MESSAGE_HEADERS", "run=r\"1,seq=seq()"),
    ];
    let lines = preview("20", &vars);
    assert_eq!(lines.len(), 20);
    for (n, l) in lines.iter().enumerate() {
        let value = &l["value"];
        assert_eq!(l["key"], value["transaction_id"], "{l}");
        assert!(is_v4(l["key"].as_str().unwrap()));
        assert!(rfc3339_ms(value["timestamp"].as_str().unwrap()).is_some(), "{l}");
        assert_eq!(value["source"], "kafka-feeder");
        assert_eq!(l["headers"], serde_json::json!({"run": "r\"1", "seq": (n + 1).to_string()}));
    }
    // The same seed shows the same messages (times aside).
    let strip = |ls: Vec<Value>| -> Vec<Value> {
        ls.into_iter()
            .map(|mut l| {
                l["value"]["timestamp"] = Value::Null;
                l
            })
            .collect()
    };
    assert!(strip(lines) == strip(preview("20", &vars)));
    // Replicas sharing one RANDOM_SEED generate different ids.
    let ids = |index: &str| -> Vec<Value> {
        let vars = [("REPLICAS", "2"), ("REPLICA_INDEX", index), vars[0], vars[2]];
        preview("5", &vars).into_iter().map(|l| l["value"]["transaction_id"].clone()).collect()
    };
    let (zero, one) = (ids("0"), ids("1"));
    assert!(zero == ids("0"));
    assert!(zero.iter().all(|id| !one.contains(id)), "{zero:?} {one:?}");
    // Without MESSAGE_KEY_FIELD: no key.
    assert!(preview("3", &[]).iter().all(|l| l["key"].is_null() && l["headers"] == serde_json::json!({})));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_reload_keys_and_fields_follow_the_new_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "live.jsonl", b"{\"k\":\"old-1\",\"n\":0}\n{\"k\":\"old-2\",\"n\":0}\n");
    let kafka = Kafka::start(1);
    let bootstrap = kafka.bootstrap();
    let cfg = config(&[
        ("KAFKA_BOOTSTRAP_SERVERS", &bootstrap),
        ("KAFKA_TOPIC", &kafka.topic),
        ("DATASET_URI", &path),
        ("PRODUCE_INTERVAL", "0.01"),
        ("MIN_RECORDS_PER_BATCH", "5"),
        ("MAX_RECORDS_PER_BATCH", "5"),
        ("DATASET_RELOAD_INTERVAL", "0.1"),
        ("MESSAGE_KEY_FIELD", "k"),
        ("MESSAGE_FIELDS", "n=seq()"),
    ]);
    let stats = Arc::new(Stats::new("none"));
    let token = CancellationToken::new();
    let script = async {
        let s = Arc::clone(&stats);
        crate::common::wait_until("first deliveries", move || s.delivered() >= 100).await;
        // The new version: other keys, the replaced field elsewhere, a longer record.
        let new = "{\"extra\":\"a \\\"quoted\\\" value\",\"n\":\"x\",\"k\":\"new-1\"}\n{\"n\":1,\"k\":\"new-2\",\"z\":[1,2]}\n";
        crate::common::rewrite_and_wait(&stats, &path, new, 300, "deliveries after the reload").await;
        token.cancel();
    };
    let (outcome, ()) = tokio::join!(run::run(&cfg, Arc::clone(&stats), token.clone()), script);
    let outcome = outcome.unwrap();
    assert_eq!((outcome.totals.failed, outcome.undelivered), (0, 0));
    let messages = consume(&kafka, 1, outcome.totals.delivered as usize).await;
    let mut new_keys = HashSet::new();
    for m in &messages {
        let v = m.json();
        assert_eq!(m.key.as_deref(), v["k"].as_str(), "{v}");
        assert!(v["n"].is_u64(), "the seq() field is spliced in every version: {v}");
        if let Some(k) = m.key.as_deref().filter(|k| k.starts_with("new")) {
            new_keys.insert(k.to_owned());
            assert_eq!(v.as_object().unwrap().len(), 3, "{v}");
        }
    }
    assert_eq!(new_keys.len(), 2, "the reloaded records were sent: {new_keys:?}");
}
