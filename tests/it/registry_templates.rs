//! A template's messages in the registry formats beyond Avro's and JSON
//! Schema's values (tests/it/registry_checks.rs): Protobuf values, derived
//! from the renders or a given `.proto`, and `KEY_FORMAT=avro` keys. The
//! registry is the one tests/it/registry.rs plays.

use std::sync::Arc;

use kafka_feeder::exit;
use kafka_feeder::observe::events::Stats;
use kafka_feeder::run;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::common::{config, write_file, Kafka};
use crate::registry::{decode_proto, registers, Registry};
use crate::registry_checks::{
    as_json_and, messages, read, rows_with_a_rare, run_with_a_misfitting_render, same_but_temp, READING,
};

const TEMPLATE: &str = r#"{"value": {"n": "{{ seq() }}", "city": "{{ city | upper }}", "temp": "{{ temp }}", "id": "{{ uuid() }}", "pick": "{{ int(1, 6) }}", "ok": "{{ temp > 10 }}", "at": {"zone": "{{ city }}", "deep": {"x": "{{ int(0, 2) }}"}}}}"#;

/// A template's values as Protobuf (the .proto derived from its renders,
/// proto3 with a nested message) decode to what the same template sends as
/// JSON with the same RANDOM_SEED.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_templates_protobuf_values_decode_to_what_it_sends_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_file(dir.path(), "d.csv", b"city,temp\nOslo,1\nRome,15.5\nLima,20\n");
    let registry = Registry::start(registers).await;
    let base = [("DATASET_URI", data.as_str()), ("MESSAGE_TEMPLATE", TEMPLATE), ("RANDOM_SEED", "7")];
    let (json_values, proto_values, registered) = as_json_and("protobuf", &registry, &base, 40).await;
    assert_eq!(registered["schemaType"], "PROTOBUF");
    let text = registered["schema"].as_str().unwrap();
    assert!(
        text.contains("  int64 n = 1;\n  string city = 2;\n  double temp = 3;\n  string id = 4;\n  int64 pick = 5;\n  bool ok = 6;\n  At at = 7;\n"),
        "derived from the renders: {text}"
    );
    for (j, p) in json_values.iter().zip(&proto_values) {
        assert_eq!(&p[..6], &[0, 0, 0, 0, 41, 0], "frame, id, message index 0");
        same_but_temp(decode_proto(text, &p[6..]), j);
    }
}

/// Row 1's `temp` is text, which the given .proto's `double` does not take,
/// and no startup render came from row 1: those messages are skipped and
/// counted, the others sent as the .proto's second message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_render_that_does_not_fit_a_given_proto_is_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let data = rows_with_a_rare("cold", dir.path());
    let schema = write_file(dir.path(), "w.proto", READING.as_bytes());
    let (registry, kafka) = (Registry::start(registers).await, Kafka::start(1));
    let proto = [("VALUE_FORMAT", "protobuf"), ("VALUE_SCHEMA", schema.as_str()), ("VALUE_SCHEMA_MESSAGE", "Reading")];
    run_with_a_misfitting_render(&kafka, &registry, &data, &proto).await;
    for v in read(&kafka, 2000).await {
        assert_eq!(&v[..7], &[0, 0, 0, 0, 41, 2, 2], "frame, id, message indexes [1]");
        let decoded = decode_proto(READING, &v[7..]);
        assert_ne!(decoded["city"], "Nowhere");
        let n: f64 = decoded["city"].as_str().unwrap()[1..].parse().unwrap();
        assert_eq!(decoded["temp"].as_f64(), Some(n), "{decoded}");
    }
}

/// KEY_FORMAT=avro with a template: its key is written as Avro, a `long`
/// when every startup render's key is a whole number (`seq()`), else a
/// `string` (`0150` stays text), registered under `<topic>-key`; each
/// decodes to the key the same run sends as text. A template without a key
/// is exit 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_templates_key_is_written_as_avro() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_file(dir.path(), "d.csv", b"city,zip\nOslo,0150\nRome,10001\n");
    for (key, schema) in [("{{ seq() * 7 }}", apache_avro::Schema::Long), ("{{ zip }}", apache_avro::Schema::String)] {
        let template = format!(r#"{{"key": "{key}", "value": {{"city": "{{{{ city }}}}"}}}}"#);
        let base = [("DATASET_URI", data.as_str()), ("MESSAGE_TEMPLATE", template.as_str()), ("RANDOM_SEED", "3")];
        let registry = Registry::start(registers).await;
        let text = messages(&Kafka::start(1), &base, 20).await;
        let vars = [&base[..], &[("KEY_FORMAT", "avro"), ("SCHEMA_REGISTRY_URL", registry.url.as_str())]].concat();
        let avro = messages(&Kafka::start(1), &vars, 20).await;
        let seen = registry.seen();
        assert!(seen[0].call.ends_with("-key/versions"), "{seen:?}");
        let body: Value = serde_json::from_str(&seen[0].body).unwrap();
        assert_eq!(body["schema"], json!(serde_json::to_string(&schema).unwrap()), "{key}");
        for ((text_key, text_value), (avro_key, value)) in text.iter().zip(&avro) {
            assert_eq!(value, text_value, "the value is the JSON, as KEY_FORMAT=string sends it");
            assert_eq!(&avro_key[..5], &[0, 0, 0, 0, 42]);
            let decoded = apache_avro::from_avro_datum(&schema, &mut &avro_key[5..], None).unwrap();
            let shown = match decoded {
                apache_avro::types::Value::Long(n) => n.to_string(),
                apache_avro::types::Value::String(s) => s,
                other => panic!("{other:?}"),
            };
            assert_eq!(shown.as_bytes(), text_key, "{key}");
        }
    }
    let registry = Registry::start(registers).await;
    let template = r#"{"value": {"city": "{{ city }}"}}"#;
    let vars = [("DATASET_URI", data.as_str()), ("MESSAGE_TEMPLATE", template), ("KEY_FORMAT", "avro")];
    let mut all = vec![("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1"), ("SCHEMA_REGISTRY_URL", registry.url.as_str())];
    all.extend_from_slice(&vars);
    let e = run::run(&config(&all), Arc::new(Stats::new("none")), CancellationToken::new()).await.unwrap_err();
    assert_eq!(e.exit_code(), exit::CONFIG, "{e}");
    assert!(
        e.to_string().starts_with("KEY_FORMAT=avro writes each message's key, and MESSAGE_TEMPLATE rendered none"),
        "{e}"
    );
}
