//! Datasets as they sit in a lake, through the in-process S3 server: JSON
//! Lines, Parquet, gzip and zstd, a prefix of parts with different headers,
//! sampling. Fixtures are generated here (the `parquet` writer, flate2, zstd).

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use kafka_feeder::dataset::source;
use kafka_feeder::dataset::Dataset;
use kafka_feeder::exit;
use kafka_feeder::observe::events::Stats;
use kafka_feeder::run;
use kafka_feeder::settings::config::Config;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::common::{assert_all_are_rows, config, Kafka, S3Server, ACCESS_KEY, SECRET_KEY};

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(data, 3).unwrap()
}

/// Rows `0..n` as Parquet (several row groups), and the JSON each must become.
fn parquet(n: i64) -> (Vec<u8>, Vec<Value>) {
    let batch = RecordBatch::try_from_iter(vec![
        ("id", Arc::new(Int64Array::from_iter_values(0..n)) as ArrayRef),
        ("amount", Arc::new(Float64Array::from_iter_values((0..n).map(|i| i as f64 + 0.5)))),
        ("city", Arc::new(StringArray::from_iter((0..n).map(|i| (i % 3 != 0).then(|| format!("c{i}")))))),
        ("fraud", Arc::new(BooleanArray::from_iter((0..n).map(|i| Some(i % 2 == 0))))),
    ])
    .unwrap();
    let props = parquet::file::properties::WriterProperties::builder().set_max_row_group_row_count(Some(7)).build();
    let mut out = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let expected = (0..n)
        .map(|i| {
            let city = if i % 3 != 0 { json!(format!("c{i}")) } else { Value::Null };
            json!({"id": i, "amount": i as f64 + 0.5, "city": city, "fraud": i % 2 == 0})
        })
        .collect();
    (out, expected)
}

/// Nested JSON Lines with blank and broken lines, and the objects it holds.
fn jsonl() -> (Vec<u8>, Vec<Value>) {
    let text = "{\"id\": 1, \"user\": {\"name\": \"Ann\", \"tags\": [\"a\", \"b\"]}, \"amount\": 12.50}\n\
                \n\
                [\"not\", \"an\", \"object\"]\n\
                {\"id\": 2, \"user\": {\"name\": \"Bo\", \"tags\": []}, \"amount\": null}\n\
                {\"id\": 3, broken\n\
                {\"id\":3,\"user\":{\"name\":\"Zoë\",\"tags\":[\"ü\"]},\"amount\":-1}\n";
    let expected = vec![
        json!({"id": 1, "user": {"name": "Ann", "tags": ["a", "b"]}, "amount": 12.50}),
        json!({"id": 2, "user": {"name": "Bo", "tags": []}, "amount": null}),
        json!({"id": 3, "user": {"name": "Zoë", "tags": ["ü"]}, "amount": -1}),
    ];
    (text.as_bytes().to_vec(), expected)
}

fn s3_vars<'a>(s3: &'a S3Server, uri: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1"),
        ("DATASET_URI", uri),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
        ("AWS_ENDPOINT_URL", &s3.endpoint),
        ("DATASET_RETRY_TIMEOUT", "0"),
    ]
}

async fn load(cfg: &Config) -> Result<(Dataset, kafka_feeder::dataset::LoadSummary), source::SourceError> {
    source::load(&cfg.dataset, &cfg.s3, &CancellationToken::new()).await
}

fn values(d: &Dataset) -> Vec<Value> {
    d.iter().map(|r| serde_json::from_slice(r).unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_format_and_compression_loads_exactly() {
    let s3 = S3Server::start().await;
    let (pq, pq_rows) = parquet(50);
    let (jl, jl_rows) = jsonl();
    let (csv, csv_rows) = crate::common::sample_csv();
    let cases: Vec<(&str, Vec<u8>, &Vec<Value>, u64)> = vec![
        ("t.parquet", pq.clone(), &pq_rows, 0),
        ("t.parquet.zst", zstd(&pq), &pq_rows, 0),
        ("t.jsonl", jl.clone(), &jl_rows, 2),
        ("t.jsonl.gz", gzip(&jl), &jl_rows, 2),
        ("t.ndjson.zst", zstd(&jl), &jl_rows, 2),
        ("t.csv.gz", gzip(csv), &csv_rows, 0),
        ("t.csv.zst", zstd(csv), &csv_rows, 0),
    ];
    for (key, body, expected, skipped) in cases {
        s3.put("lake", key, &body);
        let uri = format!("s3://lake/{key}");
        let (d, s) = load(&config(&s3_vars(&s3, &uri))).await.unwrap_or_else(|e| panic!("{key}: {e}"));
        assert_eq!(&values(&d), expected, "{key}");
        assert_eq!(
            (s.records, s.seen, s.skipped, s.objects),
            (expected.len() as u64, expected.len() as u64, skipped, 1),
            "{key}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dataset_format_overrides_the_suffix() {
    let s3 = S3Server::start().await;
    let (jl, expected) = jsonl();
    s3.put("lake", "export.txt", &jl);
    let mut vars = s3_vars(&s3, "s3://lake/export.txt");
    vars.push(("DATASET_FORMAT", "jsonl"));
    let (d, _) = load(&config(&vars)).await.unwrap();
    assert_eq!(values(&d), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prefix_loads_every_part_with_its_own_header() {
    let s3 = S3Server::start().await;
    s3.put("lake", "daily/part-0.csv", b"id,city\n1,Oslo\n2,Rome\n");
    s3.put("lake", "daily/part-1.csv.gz", &gzip(b"city,id,extra\nLima,3,x\n"));
    s3.put("lake", "daily/part-2.csv", b"\xEF\xBB\xBFid\n4\n5\n6\n");
    s3.put("lake", "daily/_SUCCESS", b"");
    s3.put("lake", "other/part-9.csv", b"id\n99\n");
    let (d, s) = load(&config(&s3_vars(&s3, "s3://lake/daily/"))).await.unwrap();
    let mut got = values(&d);
    got.sort_by_key(|v| v["id"].as_i64());
    assert_eq!(
        got,
        vec![
            json!({"id": 1, "city": "Oslo"}),
            json!({"id": 2, "city": "Rome"}),
            json!({"city": "Lima", "id": 3, "extra": "x"}),
            json!({"id": 4}),
            json!({"id": 5}),
            json!({"id": 6}),
        ]
    );
    assert_eq!((s.records, s.objects), (6, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_folder_loads_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let (pq, pq_rows) = parquet(10);
    std::fs::write(dir.path().join("a.parquet"), &pq).unwrap();
    std::fs::write(dir.path().join("b.jsonl.zst"), zstd(&jsonl().0)).unwrap();
    let uri = format!("{}/", dir.path().display());
    let cfg = config(&[("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1"), ("DATASET_URI", &uri)]);
    let (d, s) = load(&cfg).await.unwrap();
    assert_eq!((s.records, s.objects, s.format.as_str()), (13, 2, "parquet+jsonl"));
    assert_eq!(values(&d)[..10], pq_rows[..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_prefix_is_exit_3_naming_it() {
    let s3 = S3Server::start().await;
    s3.put("lake", "other/x.csv", b"a\n1\n");
    let cfg = config(&s3_vars(&s3, "s3://lake/nothing-here/"));
    let e = run::run(&cfg, Arc::new(Stats::new("none")), CancellationToken::new()).await.unwrap_err();
    assert_eq!(e.exit_code(), exit::NOT_FOUND, "{e}");
    assert!(e.to_string().contains("s3://lake/nothing-here/"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    let uri = format!("{}/", dir.path().display());
    let cfg = config(&[("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1"), ("DATASET_URI", &uri)]);
    let e = run::run(&cfg, Arc::new(Stats::new("none")), CancellationToken::new()).await.unwrap_err();
    assert_eq!(e.exit_code(), exit::NOT_FOUND, "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_compressed_object_is_a_dataset_error() {
    let s3 = S3Server::start().await;
    s3.put("lake", "t.csv.gz", b"id\n1\n");
    let cfg = config(&s3_vars(&s3, "s3://lake/t.csv.gz"));
    let e = run::run(&cfg, Arc::new(Stats::new("none")), CancellationToken::new()).await.unwrap_err();
    assert_eq!(e.exit_code(), exit::DATASET_INVALID, "{e}");
    assert!(e.to_string().contains("s3://lake/t.csv.gz is not valid gzip data"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_guard_stops_with_a_hint_and_a_sample_fits() {
    let s3 = S3Server::start().await;
    let csv: String =
        std::iter::once("id,name\n".to_owned()).chain((0..20_000).map(|i| format!("{i},n{i}\n"))).collect();
    s3.put("lake", "big.csv", csv.as_bytes());
    let mut vars = s3_vars(&s3, "s3://lake/big.csv");
    vars.push(("DATASET_MAX_BYTES", "100K"));
    let e = run::run(&config(&vars), Arc::new(Stats::new("none")), CancellationToken::new()).await.unwrap_err();
    assert_eq!(e.exit_code(), exit::DATASET_INVALID, "{e}");
    assert!(e.to_string().contains("DATASET_MAX_RECORDS"), "{e}");

    vars.push(("DATASET_MAX_RECORDS", "1000"));
    let (d, s) = load(&config(&vars)).await.unwrap();
    assert_eq!((s.records, s.seen, d.len()), (1000, 20_000, 1000));
    let mut ids: Vec<i64> = values(&d).iter().map(|v| v["id"].as_i64().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 1000, "a sample without repeats");
    // A uniform sample of 1000 from 0..20000 has its mean near 10000 (sd ~ 183).
    let mean = ids.iter().sum::<i64>() as f64 / 1000.0;
    assert!((mean - 9999.5).abs() < 5.0 * 183.0, "mean id {mean}");

    // RANDOM_SEED makes the sample repeatable; another seed gives another one.
    let seeded = |seed: &'static str| {
        let mut v = vars.clone();
        v.push(("RANDOM_SEED", seed));
        config(&v)
    };
    let a = values(&load(&seeded("7")).await.unwrap().0);
    assert_eq!(a, values(&load(&seeded("7")).await.unwrap().0));
    assert_ne!(a, values(&load(&seeded("8")).await.unwrap().0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parquet_rows_reach_kafka_as_the_expected_json() {
    let s3 = S3Server::start().await;
    let (pq, expected) = parquet(20);
    s3.put("lake", "taxi/part-0.snappy.parquet", &pq);
    let kafka = Kafka::start(1);
    let bootstrap = kafka.bootstrap();
    let mut vars = s3_vars(&s3, "s3://lake/taxi/");
    vars[0] = ("KAFKA_BOOTSTRAP_SERVERS", &bootstrap);
    vars.extend([
        ("KAFKA_TOPIC", kafka.topic.as_str()),
        ("PRODUCE_INTERVAL", "0.01"),
        ("MIN_RECORDS_PER_BATCH", "10"),
        ("MAX_RECORDS_PER_BATCH", "10"),
        ("MAX_MESSAGES", "200"),
    ]);
    let outcome = run::run(&config(&vars), Arc::new(Stats::new("none")), CancellationToken::new()).await.unwrap();
    assert_eq!(outcome.totals.delivered, 200);
    let messages = {
        let (b, t) = (kafka.bootstrap(), kafka.topic.clone());
        tokio::task::spawn_blocking(move || crate::common::consume(&b, &t, 1, 200, Duration::from_secs(20)))
    }
    .await
    .unwrap();
    assert_eq!(messages.len(), 200);
    let seen = assert_all_are_rows(&messages, &expected);
    assert!(seen.len() > 10, "{seen:?}");
}

fn reloads(stats: &Stats, result: &str) -> u64 {
    use kafka_feeder::observe::metrics::ResultLabel;
    stats.metrics.dataset_reloads.get_or_create(&ResultLabel { result: result.into() }).get()
}

async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let t = std::time::Instant::now();
    while !cond() {
        assert!(t.elapsed() < Duration::from_secs(20), "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs the daemon on one partition with reloads every 0.1 s, calls `change`
/// once `before` messages are delivered and waits for `until` to hold, then
/// returns every message in send order.
async fn run_with_reload(
    s3: &S3Server,
    change: impl FnOnce(),
    until: impl Fn(&Stats) -> bool,
) -> (Vec<Value>, Arc<Stats>) {
    let kafka = Kafka::start(1);
    let bootstrap = kafka.bootstrap();
    let mut vars = s3_vars(s3, "s3://lake/live.jsonl");
    vars[0] = ("KAFKA_BOOTSTRAP_SERVERS", &bootstrap);
    vars.extend([
        ("KAFKA_TOPIC", kafka.topic.as_str()),
        ("PRODUCE_INTERVAL", "0.01"),
        ("MIN_RECORDS_PER_BATCH", "5"),
        ("MAX_RECORDS_PER_BATCH", "5"),
        ("DATASET_RELOAD_INTERVAL", "0.1"),
    ]);
    let cfg = config(&vars);
    let stats = Arc::new(Stats::new("none"));
    let token = CancellationToken::new();
    // run::run is not Send (it may own the embedded broker): driven here, beside the script.
    let script = async {
        wait_for("first deliveries", || stats.delivered() >= 100).await;
        change();
        wait_for("the reload", || until(&stats)).await;
        let at_reload = stats.delivered();
        wait_for("deliveries after the reload", || stats.delivered() >= at_reload + 200).await;
        token.cancel();
    };
    let (outcome, ()) = tokio::join!(run::run(&cfg, Arc::clone(&stats), token.clone()), script);
    let outcome = outcome.unwrap();
    assert_eq!((outcome.totals.failed, outcome.undelivered), (0, 0), "nothing lost");
    let n = outcome.totals.delivered as usize;
    let messages = {
        let (b, t) = (kafka.bootstrap(), kafka.topic.clone());
        tokio::task::spawn_blocking(move || crate::common::consume(&b, &t, 1, n, Duration::from_secs(20)))
    }
    .await
    .unwrap();
    assert_eq!(messages.len(), n, "every delivered message is in the topic");
    (messages.iter().map(|m| serde_json::from_slice(m).unwrap()).collect(), stats)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_swaps_datasets_between_batches() {
    let s3 = S3Server::start().await;
    s3.put("lake", "live.jsonl", b"{\"v\":1,\"i\":1}\n{\"v\":1,\"i\":2}\n");
    let (values, stats) = run_with_reload(
        &s3,
        || s3.put("lake", "live.jsonl", b"{\"v\":2,\"i\":1}\n{\"v\":2,\"i\":2}\n{\"v\":2,\"i\":3}\n"),
        |stats| reloads(stats, "swapped") >= 1,
    )
    .await;
    let versions: Vec<i64> = values.iter().map(|v| v["v"].as_i64().unwrap()).collect();
    let first_new = versions.iter().position(|&v| v == 2).expect("messages from the new version");
    assert!(first_new >= 100, "the old version was in use first");
    assert!(versions[first_new..].iter().all(|&v| v == 2), "after the swap only the new version is sent");
    assert!(values[first_new..].iter().any(|v| v["i"] == 3), "the new version's own records");
    assert_eq!(reloads(&stats, "failed"), 0);
    assert_eq!(reloads(&stats, "swapped"), 1, "unchanged versions are not reloaded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_reload_keeps_the_old_dataset() {
    let s3 = S3Server::start().await;
    s3.put("lake", "live.jsonl", b"{\"v\":1}\n");
    let (values, stats) = run_with_reload(
        &s3,
        || s3.put("lake", "live.jsonl", b"[\"not an object\"]\n"),
        |stats| reloads(stats, "failed") >= 1,
    )
    .await;
    assert!(values.iter().all(|v| v == &json!({"v": 1})), "only the old version is sent");
    assert_eq!(reloads(&stats, "swapped"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_encoding_gzip_is_decompressed_whatever_the_name() {
    let s3 = S3Server::start().await;
    s3.create_bucket("lake");
    let (csv, expected) = crate::common::sample_csv();
    let cfg = config(&s3_vars(&s3, "s3://lake/served.csv"));
    let client = source::s3_client(&cfg.s3).await;
    client
        .put_object()
        .bucket("lake")
        .key("served.csv")
        .content_encoding("gzip")
        .body(gzip(csv).into())
        .send()
        .await
        .unwrap();
    let (d, s) = load(&cfg).await.unwrap();
    assert_eq!(values(&d), expected);
    assert_eq!(s.csv_bytes, csv.len() as u64, "counted after decompression");
}
