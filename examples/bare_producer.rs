//! The benchmark's yardstick (`scripts/bench/run.sh`): what librdkafka alone can
//! do on this machine, and a stand-alone mock broker for runs without tansu.
//!
//! ```text
//! bare_producer produce --bootstrap HOST:PORT --topic T --dataset FILE.csv --messages N
//!               [--key-field F --fields LIST]
//! bare_producer mock-broker --topic T --partitions 6
//! ```
//!
//! `produce` loads the same CSV with kafka-feeder's own loader (so the payloads
//! are byte-identical JSON), builds an rdkafka `ThreadedProducer` (librdkafka
//! plus one thread serving delivery reports, which count into two atomics) with
//! kafka-feeder's producer defaults (`PRODUCER_DEFAULTS`), waits for the
//! broker's metadata, prints `ready`, then sends N payloads (a cheap xorshift
//! picks each record) from one thread as fast as librdkafka's queue accepts
//! them: no schedule, no sampler, no metrics, no tokio. On `QueueFull` it sleeps
//! 100 µs and retries. With `--key-field` and `--fields` (as `MESSAGE_KEY_FIELD`
//! and `MESSAGE_FIELDS`), each record is turned once, before `ready`, into the
//! message kafka-feeder would send (same bytes, same key sizes), and those are
//! sent keyed: the yardstick for the feeder's per-message building. It flushes, prints `done delivered=… failed=… seconds=…
//! rate_per_s=…` and exits 0 if every message was delivered, 1 otherwise.
//!
//! `mock-broker` runs librdkafka's mock cluster in its own process (so the
//! broker's CPU is not charged to the client being measured), creates the
//! topic, prints `bootstrap=HOST:PORT`, and runs until killed or until its
//! standard input closes.

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use kafka_feeder::dataset::{load_csv, Dataset};
use kafka_feeder::message::{parse_fields, MessageBuilder, MessageSpec};
use kafka_feeder::settings::config::PRODUCER_DEFAULTS;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::util::Timeout;
use rdkafka::ClientContext;

#[derive(Default)]
struct Counts {
    delivered: AtomicU64,
    failed: AtomicU64,
}

impl ClientContext for Counts {}

impl ProducerContext for Counts {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.delivered.fetch_add(1, Relaxed),
            Err(_) => self.failed.fetch_add(1, Relaxed),
        };
    }
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "bare_producer: {problem}\nusage:\n  bare_producer produce --bootstrap HOST:PORT --topic T --dataset FILE.csv --messages N [--key-field F --fields LIST]\n  bare_producer mock-broker [--topic T] [--partitions N] [--brokers N]"
    );
    std::process::exit(2);
}

fn args() -> (String, std::collections::HashMap<String, String>) {
    let mut it = std::env::args().skip(1);
    let mode = it.next().unwrap_or_else(|| usage("a mode is required"));
    let mut opts = std::collections::HashMap::new();
    while let Some(flag) = it.next() {
        let name = flag.strip_prefix("--").unwrap_or_else(|| usage(&format!("unexpected {flag}")));
        let value = it.next().unwrap_or_else(|| usage(&format!("--{name} needs a value")));
        opts.insert(name.to_owned(), value);
    }
    (mode, opts)
}

fn main() {
    let (mode, opts) = args();
    let get = |k: &str, default: Option<&str>| -> String {
        opts.get(k).cloned().or(default.map(str::to_owned)).unwrap_or_else(|| usage(&format!("--{k} is required")))
    };
    match mode.as_str() {
        "mock-broker" => mock_broker(
            &get("topic", Some("transactions")),
            get("partitions", Some("6")).parse().unwrap_or_else(|_| usage("--partitions is a number")),
            get("brokers", Some("1")).parse().unwrap_or_else(|_| usage("--brokers is a number")),
        ),
        "produce" => produce(
            &get("bootstrap", None),
            &get("topic", Some("transactions")),
            &get("dataset", None),
            get("messages", None).parse().unwrap_or_else(|_| usage("--messages is a number")),
            opts.get("key-field").map(String::as_str),
            opts.get("fields").map(String::as_str).unwrap_or(""),
        ),
        other => usage(&format!("unknown mode {other}")),
    }
}

fn mock_broker(topic: &str, partitions: i32, brokers: i32) {
    let cluster = MockCluster::new(brokers).unwrap_or_else(|e| {
        eprintln!("bare_producer: cannot start the mock cluster: {e}");
        std::process::exit(1);
    });
    cluster.create_topic(topic, partitions, 1).unwrap_or_else(|e| {
        eprintln!("bare_producer: cannot create topic {topic}: {e}");
        std::process::exit(1);
    });
    println!("bootstrap={}", cluster.bootstrap_servers());
    // Until the parent closes our stdin (or kills us).
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    if sink.is_empty() {
        // stdin was /dev/null or closed at once: run until killed.
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
}

/// Each record as kafka-feeder would send it (payload and key), built once.
type Prebuilt = Vec<(Vec<u8>, Option<Vec<u8>>)>;

fn prebuilt(dataset: &Dataset, key_field: Option<&str>, fields: &str) -> Option<Prebuilt> {
    if key_field.is_none() && fields.is_empty() {
        return None;
    }
    let spec = MessageSpec {
        key_field: key_field.map(str::to_owned),
        fields: parse_fields(fields).unwrap_or_else(|e| usage(&format!("--fields: {e}"))),
        headers: Vec::new(),
    };
    let mut b = MessageBuilder::new(&spec, dataset, 1).unwrap_or_else(|e| usage(&format!("--key-field: {e}")));
    let now = std::time::SystemTime::now();
    Some(
        (0..dataset.len())
            .map(|i| {
                let m = b.build(dataset, i, now);
                (m.payload.to_vec(), m.key.map(<[u8]>::to_vec))
            })
            .collect(),
    )
}

fn produce(bootstrap: &str, topic: &str, dataset_path: &str, messages: u64, key_field: Option<&str>, fields: &str) {
    let file = std::fs::File::open(dataset_path).unwrap_or_else(|e| {
        eprintln!("bare_producer: cannot open {dataset_path}: {e}");
        std::process::exit(1);
    });
    let size = file.metadata().ok().map(|m| m.len());
    let (dataset, summary) = load_csv(file, dataset_path, size).unwrap_or_else(|e| {
        eprintln!("bare_producer: {e}");
        std::process::exit(1);
    });
    eprintln!("bare_producer: {} records, {} bytes of JSON", summary.records, summary.json_bytes);
    let keyed = prebuilt(&dataset, key_field, fields);

    let mut cc = ClientConfig::new();
    for (k, v) in PRODUCER_DEFAULTS {
        cc.set(*k, *v);
    }
    cc.set("bootstrap.servers", bootstrap);
    let producer: ThreadedProducer<Counts> = cc.create_with_context(Counts::default()).unwrap_or_else(|e| {
        eprintln!("bare_producer: cannot create the producer: {e}");
        std::process::exit(1);
    });
    // Same readiness as kafka-feeder: a broker answered a metadata request for the topic.
    let started = Instant::now();
    while let Err(e) = producer.client().fetch_metadata(Some(topic), Timeout::After(Duration::from_secs(3))) {
        if started.elapsed() > Duration::from_secs(60) {
            eprintln!("bare_producer: no broker at {bootstrap}: {e}");
            std::process::exit(1);
        }
    }
    println!("ready");

    let n = dataset.len() as u64;
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let t0 = Instant::now();
    for _ in 0..messages {
        // xorshift64: a uniform-enough pick, no allocation, a few instructions.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let i = (x % n) as usize;
        let mut record: BaseRecord<'_, [u8], [u8]> = match &keyed {
            None => BaseRecord::to(topic).payload(dataset.get(i)),
            Some(k) => {
                let (payload, key) = &k[i];
                let record = BaseRecord::to(topic).payload(&payload[..]);
                match key {
                    Some(key) => record.key(&key[..]),
                    None => record,
                }
            }
        };
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    std::thread::sleep(Duration::from_micros(100));
                }
                Err((e, _)) => {
                    eprintln!("bare_producer: send failed: {e}");
                    producer.context().failed.fetch_add(1, Relaxed);
                    break;
                }
            }
        }
    }
    let _ = producer.flush(Timeout::After(Duration::from_secs(60)));
    let secs = t0.elapsed().as_secs_f64();
    let counts = producer.context();
    let (delivered, failed) = (counts.delivered.load(Relaxed), counts.failed.load(Relaxed));
    println!(
        "done delivered={delivered} failed={failed} seconds={secs:.3} rate_per_s={:.0}",
        delivered as f64 / secs.max(1e-9)
    );
    std::process::exit(if delivered == messages { 0 } else { 1 });
}
