//! Test support: an in-process S3 server (s3s-fs, credentials enforced) on port 0,
//! a librdkafka mock cluster with a random topic, and a consumer to read it back.
#![allow(dead_code)] // each test binary uses a different part

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::BorrowedMessage;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;

pub const ACCESS_KEY: &str = "feeder-test-key";
pub const SECRET_KEY: &str = "feeder-test-secret-value";

/// An S3 server over a temporary folder; each bucket is a subfolder.
pub struct S3Server {
    pub endpoint: String,
    pub root: tempfile::TempDir,
    _task: tokio::task::JoinHandle<()>,
}

impl S3Server {
    /// Starts on 127.0.0.1:0. Must be called inside a tokio runtime.
    pub async fn start() -> Self {
        let root = tempfile::tempdir().unwrap();
        let fs = s3s_fs::FileSystem::new(root.path()).unwrap();
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let http = ConnBuilder::new(TokioExecutor::new());
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    continue;
                };
                let conn = http.serve_connection(TokioIo::new(socket), service.clone()).into_owned();
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
        });
        Self { endpoint: format!("http://{addr}"), root, _task: task }
    }

    pub fn put(&self, bucket: &str, key: &str, body: &[u8]) {
        let path = self.root.path().join(bucket).join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    }

    pub fn create_bucket(&self, bucket: &str) {
        std::fs::create_dir_all(self.root.path().join(bucket)).unwrap();
    }
}

/// A mock Kafka cluster with one fresh topic.
pub struct Kafka {
    pub cluster: MockCluster<'static, DefaultProducerContext>,
    pub topic: String,
}

impl Kafka {
    pub fn start(partitions: i32) -> Self {
        let cluster = MockCluster::new(1).unwrap();
        let topic = format!("t-{:016x}", rand::random::<u64>());
        cluster.create_topic(&topic, partitions, 1).unwrap();
        Self { cluster, topic }
    }

    pub fn bootstrap(&self) -> String {
        self.cluster.bootstrap_servers()
    }

    /// Reads every message of the topic from the beginning until `expected` have
    /// been read and then `quiet` passes with nothing new (so extra messages are
    /// caught too), or `timeout` passes.
    pub fn consume(&self, partitions: i32, expected: usize, timeout: Duration) -> Vec<Vec<u8>> {
        consume(&self.bootstrap(), &self.topic, partitions, expected, timeout)
    }
}

pub fn consume(bootstrap: &str, topic: &str, partitions: i32, expected: usize, timeout: Duration) -> Vec<Vec<u8>> {
    consume_with(bootstrap, topic, partitions, expected, timeout, |m| m.payload().unwrap_or_default().to_vec())
}

/// Like [`consume`], keeping what `keep` takes from each message (its key, headers, partition).
pub fn consume_with<T>(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    expected: usize,
    timeout: Duration,
    mut keep: impl FnMut(&BorrowedMessage<'_>) -> T,
) -> Vec<T> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "kafka-feeder-tests")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning).unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let started = Instant::now();
    let mut last_new = Instant::now();
    let mut out = Vec::new();
    while started.elapsed() < timeout {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                out.push(keep(&m));
                last_new = Instant::now();
            }
            Some(Err(e)) => panic!("consumer error: {e}"),
            None if out.len() >= expected && last_new.elapsed() > Duration::from_millis(700) => break,
            None => {}
        }
    }
    out
}

/// A small transactions CSV with awkward cells, and the JSON each row must become,
/// written out by hand (not by the code under test).
pub fn sample_csv() -> (&'static [u8], Vec<serde_json::Value>) {
    let csv = "\u{feff}id,amount,zip,fraud,memo,city\r\n\
               1,12.50,02134,false,,Boston\r\n\
               2,7,10001,true,\"split, 3 ways\",New York\r\n\
               3,0.99,00M,false,\"said \"\"hi\"\"\nthen left\",Zürich\r\n\
               4,1e5,NaN,maybe,plain,東京\r\n";
    // One type per column: the last row's `1e5`, `NaN` and `maybe` make
    // `amount`, `zip` and `fraud` text in every row; `id` stays a number.
    let expected = vec![
        serde_json::json!({"id":1,"amount":"12.50","zip":"02134","fraud":"false","memo":null,"city":"Boston"}),
        serde_json::json!({"id":2,"amount":"7","zip":"10001","fraud":"true","memo":"split, 3 ways","city":"New York"}),
        serde_json::json!({"id":3,"amount":"0.99","zip":"00M","fraud":"false","memo":"said \"hi\"\nthen left","city":"Zürich"}),
        serde_json::json!({"id":4,"amount":"1e5","zip":"NaN","fraud":"maybe","memo":"plain","city":"東京"}),
    ];
    (Box::leak(csv.as_bytes().to_vec().into_boxed_slice()), expected)
}

/// Asserts every message is exactly one of the expected records (compared as
/// JSON values) and returns how often each was seen.
pub fn assert_all_are_rows(messages: &[Vec<u8>], expected: &[serde_json::Value]) -> HashMap<usize, usize> {
    let mut seen = HashMap::new();
    for m in messages {
        let v: serde_json::Value =
            serde_json::from_slice(m).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(m)));
        let i = expected.iter().position(|e| e == &v).unwrap_or_else(|| panic!("message is no CSV row: {v}"));
        *seen.entry(i).or_default() += 1;
    }
    seen
}

/// A config from `vars`, with the HTTP server on any free port so tests can run in parallel.
pub fn config(vars: &[(&str, &str)]) -> kafka_feeder::settings::config::Config {
    let all = std::iter::once(("HTTP_PORT", "0")).chain(vars.iter().copied());
    kafka_feeder::settings::config::Config::from_vars(all).unwrap()
}

pub fn write_file(dir: &Path, name: &str, body: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p.display().to_string()
}

/// The value of the first sample whose line starts with `prefix` (name plus labels).
pub fn sample(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(prefix) && l[prefix.len()..].starts_with(' '))
        .unwrap_or_else(|| panic!("no sample {prefix} in\n{text}"))
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// Writes a new version of the dataset at `path` (a `DATASET_RELOAD_INTERVAL`
/// run picks it up), then waits for `more` deliveries after the write.
pub async fn rewrite_and_wait(
    stats: &std::sync::Arc<kafka_feeder::observe::events::Stats>,
    path: &str,
    text: &str,
    more: u64,
    what: &str,
) {
    std::fs::write(path, text).unwrap();
    let (s, at) = (std::sync::Arc::clone(stats), stats.delivered());
    wait_until(what, move || s.delivered() >= at + more).await;
}

/// Waits (up to 20 s, else fails naming `what`) until `cond` holds.
pub async fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let t = std::time::Instant::now();
    while !cond() {
        assert!(t.elapsed() < Duration::from_secs(20), "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
