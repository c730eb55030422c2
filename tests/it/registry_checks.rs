//! The registry formats' checks: a given JSON Schema against the records, a
//! template's renders framed and encoded per message, reloads checked against
//! the schema in use. The registry is the one tests/it/registry.rs plays.

use std::sync::Arc;
use std::time::Duration;

use apache_avro::types::Value as Avro;
use kafka_feeder::exit;
use kafka_feeder::observe::events::Stats;
use kafka_feeder::run;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::common::{config, write_file, Kafka};
use crate::registry::{registers, Registry};

/// Runs `vars` against a mock broker until `n` messages are delivered and
/// returns the values read back, in order (one partition).
pub(crate) async fn values(kafka: &Kafka, vars: &[(&str, &str)], n: usize) -> Vec<Vec<u8>> {
    messages(kafka, vars, n).await.into_iter().map(|(_, v)| v).collect()
}

/// [`values`], with each message's key.
pub(crate) async fn messages(kafka: &Kafka, vars: &[(&str, &str)], n: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    let max = n.to_string();
    let bootstrap = kafka.bootstrap();
    let mut all = vec![
        ("KAFKA_BOOTSTRAP_SERVERS", bootstrap.as_str()),
        ("KAFKA_TOPIC", kafka.topic.as_str()),
        ("MESSAGES_PER_SECOND", "max"),
        ("MAX_MESSAGES", max.as_str()),
    ];
    all.extend_from_slice(vars);
    let outcome = run::run(&config(&all), Arc::new(Stats::new("none")), CancellationToken::new()).await.unwrap();
    assert_eq!(outcome.totals.delivered, n as u64);
    read_keyed(kafka, n).await
}

pub(crate) async fn read(kafka: &Kafka, n: usize) -> Vec<Vec<u8>> {
    read_keyed(kafka, n).await.into_iter().map(|(_, v)| v).collect()
}

async fn read_keyed(kafka: &Kafka, n: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    let (b, t) = (kafka.bootstrap(), kafka.topic.clone());
    tokio::task::spawn_blocking(move || {
        crate::common::consume_with(&b, &t, 1, n, Duration::from_secs(20), |m| {
            use rdkafka::Message;
            (m.key().unwrap_or_default().to_vec(), m.payload().unwrap_or_default().to_vec())
        })
    })
    .await
    .unwrap()
}

/// The values `base` sends as JSON and as `format` through `registry` (the
/// same RANDOM_SEED in `base`), and the body of the one registration.
pub(crate) async fn as_json_and(
    format: &str,
    registry: &Registry,
    base: &[(&str, &str)],
    n: usize,
) -> (Vec<Vec<u8>>, Vec<Vec<u8>>, Value) {
    let json_values = values(&Kafka::start(1), base, n).await;
    let vars = [base, &[("VALUE_FORMAT", format), ("SCHEMA_REGISTRY_URL", registry.url.as_str())]].concat();
    let format_values = values(&Kafka::start(1), &vars, n).await;
    let seen = registry.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    (json_values, format_values, serde_json::from_str(&seen[0].body).unwrap())
}

/// A closed port: the checks here fail before the registry is asked anything.
fn closed() -> String {
    format!("http://{}", std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap())
}

const SCHEMA: &str =
    r#"{"type":"object","properties":{"id":{"type":"integer"},"memo":{"type":"string"}},"required":["id","memo"]}"#;

/// A row whose `memo` is empty (null) does not fit a schema that wants a
/// string: it is skipped, the other row is sent; no row fitting is exit 6
/// naming the record and the field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_that_does_not_fit_a_given_json_schema_is_skipped_and_none_fitting_is_exit_6() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_file(dir.path(), "d.csv", b"id,memo\n1,\n2,split\n");
    let schema = write_file(dir.path(), "s.json", SCHEMA.as_bytes());
    let registry = Registry::start(registers).await;
    let kafka = Kafka::start(1);
    let vars = [
        ("DATASET_URI", data.as_str()),
        ("VALUE_FORMAT", "json-schema"),
        ("VALUE_SCHEMA", schema.as_str()),
        ("SCHEMA_REGISTRY_URL", registry.url.as_str()),
    ];
    for v in values(&kafka, &vars, 10).await {
        assert_eq!(&v[..5], &[0, 0, 0, 0, 41]);
        assert_eq!(serde_json::from_slice::<Value>(&v[5..]).unwrap(), json!({"id": 2, "memo": "split"}));
    }

    let none_fit = write_file(dir.path(), "n.csv", b"id,memo\n1,\n2,\n");
    let url = closed();
    let cfg = config(&[
        ("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1"),
        ("DATASET_URI", &none_fit),
        ("VALUE_FORMAT", "json-schema"),
        ("VALUE_SCHEMA", &schema),
        ("SCHEMA_REGISTRY_URL", &url),
    ]);
    let e = run::run(&cfg, Arc::new(Stats::new("none")), CancellationToken::new()).await.unwrap_err();
    assert_eq!(e.exit_code(), exit::DATASET_INVALID, "{e}");
    assert!(e.to_string().contains("no record fits the value schema (2 skipped); the first: record 0: field memo: null is not of type \"string\""), "{e}");
}

const TEMPLATE: &str = r#"{"value": {"n": "{{ seq() }}", "city": "{{ city | upper }}", "temp": "{{ temp }}", "id": "{{ uuid() }}", "pick": "{{ int(1, 6) }}", "ok": "{{ temp > 10 }}"}}"#;

/// A template's values as Avro (schema derived from its renders) decode to
/// what the same template sends as JSON with the same RANDOM_SEED.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_templates_avro_values_decode_to_what_it_sends_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_file(dir.path(), "d.csv", b"city,temp\nOslo,1\nRome,15.5\nLima,20\n");
    let registry = Registry::start(registers).await;
    let base = [("DATASET_URI", data.as_str()), ("MESSAGE_TEMPLATE", TEMPLATE), ("RANDOM_SEED", "7")];
    let (json_values, avro_values, registered) = as_json_and("avro", &registry, &base, 40).await;
    let schema: Value = serde_json::from_str(registered["schema"].as_str().unwrap()).unwrap();
    assert_eq!(
        schema["fields"],
        json!([{"name":"n","type":"long"},{"name":"city","type":"string"},{"name":"temp","type":"double"},
               {"name":"id","type":"string"},{"name":"pick","type":"long"},{"name":"ok","type":"boolean"}]),
        "derived from the renders"
    );
    let avro = apache_avro::Schema::parse(&schema).unwrap();
    for (j, a) in json_values.iter().zip(&avro_values) {
        assert_eq!(&a[..5], &[0, 0, 0, 0, 41]);
        let Avro::Record(fields) = apache_avro::from_avro_datum(&avro, &mut &a[5..], None).unwrap() else {
            panic!("not a record")
        };
        let decoded: serde_json::Map<String, Value> =
            fields.into_iter().map(|(k, v)| (k, Value::try_from(v).unwrap())).collect();
        same_but_temp(Value::Object(decoded), j);
    }
}

/// `decoded` is the JSON `sent`, where `temp` is the same number (20 is a
/// whole number in JSON, a double in the schema).
pub(crate) fn same_but_temp(mut decoded: Value, sent: &[u8]) {
    let mut sent: Value = serde_json::from_slice(sent).unwrap();
    assert_eq!(decoded["temp"].as_f64(), Some(sent["temp"].as_f64().unwrap()));
    decoded["temp"] = Value::Null;
    sent["temp"] = Value::Null;
    assert_eq!(decoded, sent);
}

/// JSON Schema: the rendered JSON behind the frame, byte for byte what the
/// template sends as JSON; a given schema a render does not fit stops the
/// run at startup (exit 6) naming the message and the field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_templates_json_schema_values_are_its_json_and_a_misfitting_render_is_exit_6() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_file(dir.path(), "d.csv", b"city,temp\nOslo,1\nRome,15.5\n");
    let registry = Registry::start(registers).await;
    let base = [("DATASET_URI", data.as_str()), ("MESSAGE_TEMPLATE", TEMPLATE), ("RANDOM_SEED", "3")];
    let json_values = values(&Kafka::start(1), &base, 20).await;
    let vars = [&base[..], &[("VALUE_FORMAT", "json-schema"), ("SCHEMA_REGISTRY_URL", registry.url.as_str())]].concat();
    let framed = values(&Kafka::start(1), &vars, 20).await;
    for (j, f) in json_values.iter().zip(&framed) {
        assert_eq!((&f[..5], &f[5..]), (&[0, 0, 0, 0, 41][..], &j[..]));
    }

    let schema = write_file(dir.path(), "s.json", br#"{"type":"object","properties":{"pick":{"type":"string"}}}"#);
    let url = closed();
    let cfg = config(
        &[
            &vars[..3],
            &[
                ("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1"),
                ("VALUE_FORMAT", "json-schema"),
                ("SCHEMA_REGISTRY_URL", &url),
                ("VALUE_SCHEMA", &schema),
            ],
        ]
        .concat(),
    );
    let e = run::run(&cfg, Arc::new(Stats::new("none")), CancellationToken::new()).await.unwrap_err();
    assert_eq!(e.exit_code(), exit::DATASET_INVALID, "{e}");
    assert!(e.to_string().starts_with("300 of 300 messages MESSAGE_TEMPLATE rendered at startup do not fit the value schema; the first: message 1: field pick: "), "{e}");
}

/// Rows 0, 2, 4, ... of 130, and row 1 whose `temp` is `odd` (empty: null):
/// the renders at startup come from 64 rows spread over the 130, never row 1.
pub(crate) fn rows_with_a_rare(odd: &str, dir: &std::path::Path) -> String {
    let mut csv = String::from("city,temp\n");
    for i in 0..130 {
        csv.push_str(&if i == 1 { format!("Nowhere,{odd}\n") } else { format!("C{i},{i}\n") });
    }
    write_file(dir, "d.csv", csv.as_bytes())
}

/// A .proto whose second message takes `temp` as a double (text other than a number does not fit).
pub(crate) const READING: &str =
    "syntax = \"proto3\";\npackage w;\nmessage Other { string x = 1; }\nmessage Reading { string city = 1; double temp = 2; }\n";

/// The binary: a render that does not fit at run time is one rate-limited
/// `values_skipped` line naming the field, and the run ends 0 (Avro, the
/// schema derived from the renders; Protobuf, a given .proto).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_time_misfit_is_a_values_skipped_line_naming_the_field() {
    for format in ["avro", "protobuf"] {
        run_time_misfit(format).await;
    }
}

async fn run_time_misfit(format: &'static str) {
    let registry = Registry::start(registers).await;
    let url = registry.url.clone();
    let out = tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let data = rows_with_a_rare(if format == "avro" { "" } else { "cold" }, dir.path());
        let proto = write_file(dir.path(), "w.proto", READING.as_bytes());
        let given: &[(&str, &str)] = match format {
            "avro" => &[],
            _ => &[("VALUE_SCHEMA", &proto), ("VALUE_SCHEMA_MESSAGE", "Reading")],
        };
        let child = crate::process::command(
            &[
                given,
                &[
                    ("KAFKA_BOOTSTRAP_SERVERS", "embedded"),
                    ("DATASET_URI", &data),
                    ("MESSAGE_TEMPLATE", r#"{"value": {"city": "{{ city }}", "temp": "{{ temp }}"}}"#),
                    ("RANDOM_SEED", "11"),
                    ("VALUE_FORMAT", format),
                    ("SCHEMA_REGISTRY_URL", &url),
                    // 100 batches of 20: row 1 comes up in several of them.
                    ("PRODUCE_INTERVAL", "0.005"),
                    ("MIN_RECORDS_PER_BATCH", "20"),
                    ("MAX_RECORDS_PER_BATCH", "20"),
                    ("MAX_MESSAGES", "2000"),
                    ("LOG_FORMAT", "json"),
                ],
            ]
            .concat(),
        )
        .spawn()
        .unwrap();
        crate::process::wait_with_timeout(child, Duration::from_secs(30))
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let lines = crate::process::json_lines(&out);
    let skipped: Vec<&Value> = lines.iter().filter(|l| l["event"] == "values_skipped").collect();
    assert_eq!(skipped.len(), 1, "{format}: one line within 10 s: {skipped:?}");
    assert!(skipped[0]["reason"].as_str().unwrap().starts_with("field temp: "), "{format}: {}", skipped[0]);
    assert_eq!(skipped[0]["level"], "WARN");
}

/// Runs 2,000 messages of the `{city, temp}` template over `data` (seed 11)
/// with `extra` settings, and checks that all were delivered and that some
/// renders (row 1's, which no startup render came from) were skipped.
pub(crate) async fn run_with_a_misfitting_render(
    kafka: &Kafka,
    registry: &Registry,
    data: &str,
    extra: &[(&str, &str)],
) {
    let bootstrap = kafka.bootstrap();
    let mut vars = vec![
        ("KAFKA_BOOTSTRAP_SERVERS", bootstrap.as_str()),
        ("KAFKA_TOPIC", kafka.topic.as_str()),
        ("DATASET_URI", data),
        ("MESSAGE_TEMPLATE", r#"{"value": {"city": "{{ city }}", "temp": "{{ temp }}"}}"#),
        ("RANDOM_SEED", "11"),
        ("SCHEMA_REGISTRY_URL", registry.url.as_str()),
        ("MESSAGES_PER_SECOND", "max"),
        ("MAX_MESSAGES", "2000"),
    ];
    vars.extend_from_slice(extra);
    let stats = Arc::new(Stats::new("none"));
    let outcome = run::run(&config(&vars), Arc::clone(&stats), CancellationToken::new()).await.unwrap();
    assert_eq!((outcome.totals.delivered, outcome.totals.failed), (2000, 0));
    assert!(stats.metrics.values_skipped.get() > 0, "row 1 was never picked: choose another RANDOM_SEED");
}

/// A render the derived schema did not foresee (row 2's `temp` is null, and
/// no startup render came from row 2) is skipped and counted, not sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_render_that_does_not_fit_at_run_time_is_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let data = rows_with_a_rare("", dir.path());
    let (registry, kafka) = (Registry::start(registers).await, Kafka::start(1));
    run_with_a_misfitting_render(&kafka, &registry, &data, &[("VALUE_FORMAT", "avro")]).await;
    let seen = registry.seen();
    let registered: Value = serde_json::from_str(&seen[0].body).unwrap();
    let schema = apache_avro::Schema::parse_str(registered["schema"].as_str().unwrap()).unwrap();
    for v in read(&kafka, 2000).await {
        let Avro::Record(fields) = apache_avro::from_avro_datum(&schema, &mut &v[5..], None).unwrap() else {
            panic!("not a record")
        };
        assert_ne!(fields[0].1, Avro::String("Nowhere".into()));
    }
}

/// A reloaded version is checked against the schema in use: one whose
/// records do not fit is refused and the records in use stay; one that fits
/// is swapped in (JSON Schema derived at startup; Avro and Protobuf encoded
/// again, nothing registered again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_is_checked_against_the_schema_in_use() {
    for format in ["json-schema", "avro", "protobuf"] {
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(dir.path(), "live.csv", b"city,temp\nOslo,1\n");
        let registry = Registry::start(registers).await;
        let kafka = Kafka::start(1);
        let bootstrap = kafka.bootstrap();
        let cfg = config(&[
            ("KAFKA_BOOTSTRAP_SERVERS", &bootstrap),
            ("KAFKA_TOPIC", &kafka.topic),
            ("DATASET_URI", &path),
            ("VALUE_FORMAT", format),
            ("SCHEMA_REGISTRY_URL", &registry.url),
            ("PRODUCE_INTERVAL", "0.01"),
            ("MIN_RECORDS_PER_BATCH", "5"),
            ("MAX_RECORDS_PER_BATCH", "5"),
            ("DATASET_RELOAD_INTERVAL", "0.1"),
        ]);
        let stats = Arc::new(Stats::new("none"));
        let token = CancellationToken::new();
        let script = async {
            let s = Arc::clone(&stats);
            crate::common::wait_until("first deliveries", move || s.delivered() >= 50).await;
            // `temp` as text: no record fits, the reload is refused.
            let refused = "deliveries after the refused reload";
            crate::common::rewrite_and_wait(&stats, &path, "city,temp\nNuuk,cold\n", 200, refused).await;
            let reloaded = "deliveries after the reload";
            crate::common::rewrite_and_wait(&stats, &path, "city,temp\nLima,20\n", 200, reloaded).await;
            token.cancel();
        };
        let (outcome, ()) = tokio::join!(run::run(&cfg, Arc::clone(&stats), token.clone()), script);
        let outcome = outcome.unwrap();
        assert_eq!((outcome.totals.failed, outcome.undelivered), (0, 0));
        assert_eq!(registry.seen().len(), 1, "{format}: registered once");
        let registered: Value = serde_json::from_str(&registry.seen()[0].body).unwrap();
        let schema = registered["schema"].as_str().unwrap().to_owned();
        let mut cities = Vec::new();
        for v in read(&kafka, outcome.totals.delivered as usize).await {
            let city = match format {
                "protobuf" => crate::registry::decode_proto(&schema, &v[6..])["city"].clone(),
                "avro" => {
                    let avro = apache_avro::Schema::parse_str(&schema).unwrap();
                    let Avro::Record(f) = apache_avro::from_avro_datum(&avro, &mut &v[5..], None).unwrap() else {
                        panic!("not a record")
                    };
                    Value::try_from(f[0].1.clone()).unwrap()
                }
                _ => serde_json::from_slice::<Value>(&v[5..]).unwrap()["city"].clone(),
            };
            if cities.last() != Some(&city) {
                cities.push(city);
            }
        }
        assert_eq!(cities, [json!("Oslo"), json!("Lima")], "{format}: Nuuk refused, Lima swapped in");
    }
}

/// The binary: SIGHUP reloads a JSON Schema dataset after the check (a
/// version whose records do not fit is refused, naming the field; one that
/// fits is swapped in), and an Avro one, its records encoded again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_json_schema_records_after_the_check_and_avro_records_encoded_again() {
    use crate::process::{kill, running_feeder, wait_for_line};
    let registry = Registry::start(registers).await;
    let url = registry.url.clone();
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(dir.path(), "t.csv", b"city,temp\nOslo,1\n");
        let vars = [("DATASET_URI", path.as_str()), ("LOG_FORMAT", "json"), ("SCHEMA_REGISTRY_URL", url.as_str())];
        let (_kafka, mut child, rx) = running_feeder(&[&vars[..], &[("VALUE_FORMAT", "json-schema")]].concat());
        // The handler is installed as the loop starts, just after "connected".
        std::thread::sleep(Duration::from_millis(500));
        std::fs::write(&path, b"city,temp\nNuuk,cold\n").unwrap();
        kill(&child, "-HUP");
        let lines = wait_for_line(&rx, "\"event\":\"dataset_reload_failed\"", Duration::from_secs(10));
        let failed: Value = serde_json::from_str(lines.last().unwrap()).unwrap();
        assert!(
            failed["error"].as_str().unwrap().contains("record 0: field temp: \"cold\" is not of type"),
            "{failed}"
        );
        std::fs::write(&path, b"city,temp\nLima,20\n").unwrap();
        kill(&child, "-HUP");
        wait_for_line(&rx, "\"event\":\"dataset_reloaded\"", Duration::from_secs(10));
        kill(&child, "-TERM");
        assert_eq!(child.wait().unwrap().code(), Some(0));

        let (_kafka, mut child, rx) = running_feeder(&[&vars[..], &[("VALUE_FORMAT", "avro")]].concat());
        std::thread::sleep(Duration::from_millis(500));
        std::fs::write(&path, b"city,temp\nNuuk,cold\n").unwrap();
        kill(&child, "-HUP");
        let lines = wait_for_line(&rx, "\"event\":\"dataset_reload_failed\"", Duration::from_secs(10));
        assert!(lines.last().unwrap().contains("field temp: "), "{}", lines.last().unwrap());
        std::fs::write(&path, b"city,temp\nQuito,14\n").unwrap();
        kill(&child, "-HUP");
        let lines = wait_for_line(&rx, "\"event\":\"dataset_reloaded\"", Duration::from_secs(10));
        assert!(lines.iter().any(|l| l.contains("\"event\":\"values_encoded\"")), "encoded again: {lines:?}");
        assert!(child.try_wait().unwrap().is_none(), "still running after SIGHUP");
        kill(&child, "-TERM");
        assert_eq!(child.wait().unwrap().code(), Some(0));
    })
    .await
    .unwrap();
}

/// A synthetic run (DATASET_URI=none) of a bundled example, nested object and
/// all, as Avro: what it sends as JSON with the same seed (but the send time).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synthetic_template_example_as_avro_decodes_to_its_json() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/templates/traffic-events.json");
    let registry = Registry::start(registers).await;
    let base = [("DATASET_URI", "none"), ("MESSAGE_TEMPLATE", example), ("RANDOM_SEED", "5")];
    let (json_values, avro_values, registered) = as_json_and("avro", &registry, &base, 50).await;
    let schema = apache_avro::Schema::parse_str(registered["schema"].as_str().unwrap()).unwrap();
    for (j, a) in json_values.iter().zip(&avro_values) {
        let mut decoded = Value::try_from(apache_avro::from_avro_datum(&schema, &mut &a[5..], None).unwrap()).unwrap();
        let mut sent: Value = serde_json::from_slice(j).unwrap();
        decoded["reported_at"] = Value::Null;
        sent["reported_at"] = Value::Null;
        assert_eq!(decoded, sent);
    }
}
