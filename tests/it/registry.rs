//! The registry formats against a Schema Registry the test plays (axum on
//! 127.0.0.1:0), for what a real one will not readily do: refuse credentials,
//! answer 5xx, name a compatibility level; and the frame each message carries.
//! The real registry (Karapace) and the Python client's decoding are
//! scripts/e2e/registry.sh's.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, Method, StatusCode, Uri};
use kafka_feeder::exit;
use kafka_feeder::observe::events::Stats;
use kafka_feeder::run;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::common::{config, Kafka};

/// One request as the registry saw it: method and path, Authorization, body.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) call: String,
    auth: Option<String>,
    pub(crate) body: String,
}

type Answer = fn(&str) -> (u16, Value);

pub(crate) struct Registry {
    pub(crate) url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Registry {
    /// Answers each request (`"POST /subjects/t-value/versions"`) with `answer`.
    pub(crate) async fn start(answer: Answer) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let app = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: String| {
            let log = Arc::clone(&log);
            async move {
                let call = format!("{method} {}", uri.path_and_query().map_or("", |p| p.as_str()));
                let auth = headers.get("authorization").map(|v| v.to_str().unwrap_or_default().to_owned());
                log.lock().unwrap().push(Seen { call: call.clone(), auth, body });
                let (status, value) = answer(&call);
                (StatusCode::from_u16(status).unwrap(), value.to_string())
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Registry { url, seen }
    }

    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// Registers anything: id 41 for a value subject, 42 for a key subject.
pub(crate) fn registers(call: &str) -> (u16, Value) {
    match call {
        c if c.starts_with("POST /subjects/") && c.contains("-key/") => (200, json!({"id": 42})),
        c if c.starts_with("POST /subjects/") => (200, json!({"id": 41})),
        _ => (404, json!({"error_code": 40401, "message": "not found"})),
    }
}

pub(crate) fn dataset() -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(".csv").tempfile().unwrap();
    std::io::Write::write_all(&mut f, b"id,zip,amount,memo\n1,02134,12.5,\n2,10001,7,split\n").unwrap();
    f
}

/// Runs `n` messages of [`dataset`] through the mock broker with `extra`
/// settings and `registry`, and reads them back: the topic and (key, value)s.
pub(crate) async fn send(registry: &Registry, n: usize, extra: &[(&str, &str)]) -> (String, Vec<(Vec<u8>, Vec<u8>)>) {
    let kafka = Kafka::start(1);
    let (bootstrap, file) = (kafka.bootstrap(), dataset());
    let (uri, max) = (file.path().display().to_string(), n.to_string());
    let mut vars = vec![
        ("KAFKA_BOOTSTRAP_SERVERS", bootstrap.as_str()),
        ("KAFKA_TOPIC", kafka.topic.as_str()),
        ("DATASET_URI", uri.as_str()),
        ("SCHEMA_REGISTRY_URL", registry.url.as_str()),
        ("MESSAGES_PER_SECOND", "max"),
        ("MAX_MESSAGES", max.as_str()),
    ];
    vars.extend_from_slice(extra);
    let outcome = run::run(&config(&vars), Arc::new(Stats::new("none")), CancellationToken::new()).await.unwrap();
    assert_eq!(outcome.totals.delivered, n as u64);
    let (b, t) = (kafka.bootstrap(), kafka.topic.clone());
    let messages = tokio::task::spawn_blocking(move || {
        crate::common::consume_with(&b, &t, 1, n, Duration::from_secs(20), |m| {
            use rdkafka::Message;
            (m.key().unwrap_or_default().to_vec(), m.payload().unwrap_or_default().to_vec())
        })
    })
    .await
    .unwrap();
    assert_eq!(messages.len(), n);
    (kafka.topic.clone(), messages)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avro_values_and_keys_carry_the_registered_ids_and_the_credentials_are_sent() {
    let registry = Registry::start(registers).await;
    let extra = [
        ("VALUE_FORMAT", "avro"),
        ("KEY_FORMAT", "avro"),
        ("MESSAGE_KEY_FIELD", "id"),
        ("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO", "user:pa:ss"),
    ];
    let (topic, messages) = send(&registry, 20, &extra).await;

    let seen = registry.seen();
    let calls: Vec<&str> = seen.iter().map(|s| s.call.as_str()).collect();
    let (value_subject, key_subject) = (format!("{topic}-value"), format!("{topic}-key"));
    assert_eq!(
        calls,
        [format!("POST /subjects/{value_subject}/versions"), format!("POST /subjects/{key_subject}/versions")]
    );
    // base64("user:pa:ss"): the password may hold a colon.
    assert!(seen.iter().all(|s| s.auth.as_deref() == Some("Basic dXNlcjpwYTpzcw==")), "{seen:?}");
    let registered: Value = serde_json::from_str(&seen[0].body).unwrap();
    let schema: Value = serde_json::from_str(registered["schema"].as_str().unwrap()).unwrap();
    assert_eq!(
        schema["fields"],
        json!([{"name":"id","type":"long"},{"name":"zip","type":"string"},{"name":"amount","type":"double"},
               {"name":"memo","type":["null","string"],"default":null}])
    );
    assert_eq!(serde_json::from_str::<Value>(&seen[1].body).unwrap()["schema"], "\"long\"");

    let avro = apache_avro::Schema::parse(&schema).unwrap();
    for (key, value) in &messages {
        assert_eq!(&value[..5], &[0, 0, 0, 0, 41], "magic byte, value schema id");
        assert_eq!(&key[..5], &[0, 0, 0, 0, 42], "magic byte, key schema id");
        let id = apache_avro::from_avro_datum(&apache_avro::Schema::Long, &mut &key[5..], None).unwrap();
        let record = apache_avro::from_avro_datum(&avro, &mut &value[5..], None).unwrap();
        let apache_avro::types::Value::Record(fields) = record else { panic!("not a record") };
        assert_eq!(fields[0].1, id, "the key is the record's id");
        let zip = &fields[1].1;
        assert!(
            matches!(zip, apache_avro::types::Value::String(z) if z == "02134" || z == "10001"),
            "zip is a string in every record: {zip:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_schema_value_is_its_json_behind_the_frame() {
    let registry = Registry::start(registers).await;
    let extra = [("VALUE_FORMAT", "json-schema"), ("SUBJECT_NAME_STRATEGY", "topic_record")];
    let (topic, messages) = send(&registry, 10, &extra).await;
    let seen = registry.seen();
    // topic_record: <topic>-<the schema's title>, the title derived from the topic.
    let title = topic.replace('-', "_");
    assert_eq!(seen[0].call, format!("POST /subjects/{topic}-{title}/versions"));
    assert_eq!(serde_json::from_str::<Value>(&seen[0].body).unwrap()["schemaType"], "JSON");
    let rows = [
        json!({"id":1,"zip":"02134","amount":12.5,"memo":null}),
        json!({"id":2,"zip":"10001","amount":7,"memo":"split"}),
    ];
    for (_, value) in messages {
        assert_eq!(&value[..5], &[0, 0, 0, 0, 41]);
        let v: Value = serde_json::from_slice(&value[5..]).unwrap();
        assert!(rows.contains(&v), "{v}");
    }
}

pub(crate) fn vars<'a>(registry: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut v = vec![
        ("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1"),
        ("VALUE_FORMAT", "avro"),
        ("SCHEMA_REGISTRY_URL", registry),
        ("DATASET_RETRY_TIMEOUT", "1"),
    ];
    v.extend_from_slice(extra);
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_are_exit_4_naming_the_variable() {
    let registry = Registry::start(|_| (401, json!({"error_code": 401, "message": "Unauthorized"}))).await;
    let cfg = config(&vars(&registry.url, &[("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO", "u:wrong")]));
    let e = run::run(&cfg, Arc::new(Stats::new("none")), CancellationToken::new()).await.unwrap_err();
    assert_eq!(e.exit_code(), exit::ACCESS_DENIED, "{e}");
    assert!(e.to_string().contains("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO"), "{e}");
    assert!(!e.to_string().contains("wrong"), "no secret in the line: {e}");
    assert_eq!(registry.seen().len(), 1, "a refusal is not retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_answering_5xx_is_retried_then_exit_12_naming_the_url() {
    let registry = Registry::start(|_| (503, json!({"message": "leader not ready"}))).await;
    let cfg = config(&vars(&registry.url, &[]));
    let started = std::time::Instant::now();
    let e = run::run(&cfg, Arc::new(Stats::new("none")), CancellationToken::new()).await.unwrap_err();
    assert_eq!(e.exit_code(), exit::REGISTRY_UNREACHABLE, "{e}");
    assert!(e.to_string().contains(&registry.url) && e.to_string().contains("leader not ready"), "{e}");
    assert!(registry.seen().len() >= 2, "retried: {:?}", registry.seen());
    assert!(started.elapsed() < Duration::from_secs(5), "bounded by DATASET_RETRY_TIMEOUT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incompatible_schema_is_one_line_with_subject_level_and_message() {
    let registry = Registry::start(|call| match call {
        c if c.starts_with("POST /subjects/") => (
            409,
            json!({"error_code": 409, "message": "Schema being registered is incompatible with an earlier schema"}),
        ),
        c if c.starts_with("GET /config/") => (404, json!({"error_code": 40401, "message": "no subject config"})),
        "GET /config" => (200, json!({"compatibilityLevel": "FULL_TRANSITIVE"})),
        _ => (404, json!({})),
    })
    .await;
    let cfg = config(&vars(&registry.url, &[("KAFKA_TOPIC", "orders")]));
    let e = run::run(&cfg, Arc::new(Stats::new("none")), CancellationToken::new()).await.unwrap_err();
    assert_eq!(e.exit_code(), exit::CONFIG, "{e}");
    assert_eq!(
        e.to_string(),
        "the Schema Registry refused the schema for subject orders-value: it is not compatible (compatibility level \
         FULL_TRANSITIVE): Schema being registered is incompatible with an earlier schema"
    );
}

/// VALUE_SCHEMA from S3: that schema is registered as written (compacted), and
/// the records are encoded with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_schema_from_s3_is_the_one_registered() {
    let s3 = crate::common::S3Server::start().await;
    let avsc = r#"{"type": "record", "name": "Tx", "namespace": "shop",
                   "fields": [{"name": "id", "type": "long", "doc": "kept"}, {"name": "zip", "type": "string"}]}"#;
    s3.put("schemas", "tx.avsc", avsc.as_bytes());
    let registry = Registry::start(registers).await;
    let extra = [
        ("VALUE_FORMAT", "avro"),
        ("VALUE_SCHEMA", "s3://schemas/tx.avsc"),
        ("SUBJECT_NAME_STRATEGY", "record"),
        ("AWS_ACCESS_KEY_ID", crate::common::ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", crate::common::SECRET_KEY),
        ("AWS_ENDPOINT_URL", &s3.endpoint),
    ];
    let (_, messages) = send(&registry, 5, &extra).await;
    let seen = registry.seen();
    assert_eq!(seen[0].call, "POST /subjects/shop.Tx/versions", "the record strategy names the subject");
    let registered: Value = serde_json::from_str(&seen[0].body).unwrap();
    let schema: Value = serde_json::from_str(registered["schema"].as_str().unwrap()).unwrap();
    assert_eq!(schema, serde_json::from_str::<Value>(avsc).unwrap());
    let avro = apache_avro::Schema::parse(&schema).unwrap();
    for (_, value) in messages {
        let record = apache_avro::from_avro_datum(&avro, &mut &value[5..], None).unwrap();
        let apache_avro::types::Value::Record(fields) = record else { panic!("not a record") };
        assert_eq!(fields.len(), 2, "only the schema's fields: {fields:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_shows_the_values_as_json_without_a_registry() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let url = format!("http://{closed}");
    let file = dataset();
    let uri = file.path().display().to_string();
    let cfg = config(&vars(&url, &[("DATASET_URI", &uri), ("RANDOM_SEED", "1")]));
    let mut out = Vec::new();
    kafka_feeder::preview::preview(&cfg, &Stats::new("none"), 3, &mut out, &CancellationToken::new()).await.unwrap();
    let lines: Vec<Value> =
        out.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(|l| serde_json::from_slice(l).unwrap()).collect();
    assert_eq!(lines.len(), 3);
    assert!(lines.iter().all(|l| l["value"]["zip"].is_string()), "{lines:?}");
}

/// `preview` shows a Protobuf value as a consumer decodes it (a column the
/// message has no field for is gone; an empty cell is the field's default),
/// for the records a JSON run with the same seed shows, in the same order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_shows_protobuf_values_as_a_consumer_decodes_them_in_the_runs_order() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let url = format!("http://{closed}");
    let mut f = tempfile::Builder::new().suffix(".csv").tempfile().unwrap();
    let rows: String = (0..200).map(|i| format!("{i},z{i},{i}.5,{}\n", if i % 2 == 0 { "" } else { "m" })).collect();
    std::io::Write::write_all(&mut f, format!("id,zip,amount,memo\n{rows}").as_bytes()).unwrap();
    let mut proto = tempfile::Builder::new().suffix(".proto").tempfile().unwrap();
    std::io::Write::write_all(&mut proto, b"syntax = \"proto3\";\nmessage T { int64 id = 1; string memo = 2; }\n")
        .unwrap();
    let (uri, schema) = (f.path().display().to_string(), proto.path().display().to_string());
    let preview = |extra: &[(&str, &str)]| {
        let mut all = vec![("DATASET_URI", uri.as_str()), ("RANDOM_SEED", "7")];
        all.extend_from_slice(extra);
        let cfg = config(&vars(&url, &all));
        async move {
            let mut out = Vec::new();
            kafka_feeder::preview::preview(&cfg, &Stats::new("none"), 25, &mut out, &CancellationToken::new())
                .await
                .unwrap();
            out.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(|l| serde_json::from_slice(l).unwrap()).collect()
        }
    };
    let json: Vec<Value> = preview(&[]).await;
    let proto: Vec<Value> = preview(&[("VALUE_FORMAT", "protobuf"), ("VALUE_SCHEMA", schema.as_str())]).await;
    assert_eq!(json.len(), 25);
    let ids = |lines: &[Value]| lines.iter().map(|l| l["value"]["id"].as_i64().unwrap()).collect::<Vec<_>>();
    assert_eq!(ids(&proto), ids(&json), "the same records, in the same order");
    for (p, j) in proto.iter().zip(&json) {
        let memo = if j["value"]["memo"].is_null() { "" } else { "m" };
        assert_eq!(p["value"], json!({"id": j["value"]["id"], "memo": memo}), "{p}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_protobuf_value_is_framed_with_its_message_index_and_the_derived_proto_registered() {
    let registry = Registry::start(registers).await;
    let (topic, messages) = send(&registry, 10, &[("VALUE_FORMAT", "protobuf")]).await;
    let seen = registry.seen();
    assert_eq!(seen[0].call, format!("POST /subjects/{topic}-value/versions"));
    let body: Value = serde_json::from_str(&seen[0].body).unwrap();
    assert_eq!(body["schemaType"], "PROTOBUF");
    let text = body["schema"].as_str().unwrap();
    let name = topic.replace('-', "_");
    assert!(
        text.contains(&format!(
            "message {name} {{\n  int64 id = 1;\n  string zip = 2;\n  double amount = 3;\n  optional string memo = 4;\n}}"
        )),
        "{text}"
    );
    let mut files = protox::file::ChainFileResolver::new();
    files.add(Proto(text.to_owned()));
    let mut compiler = protox::Compiler::with_file_resolver(files);
    compiler.open_file("t.proto").unwrap();
    let message = compiler.descriptor_pool().get_message_by_name(&format!("kafka_feeder.{name}")).unwrap();
    for (_, value) in messages {
        assert_eq!(&value[..6], &[0, 0, 0, 0, 41, 0], "magic byte, value schema id, message index 0");
        let m = prost_reflect::DynamicMessage::decode(message.clone(), &value[6..]).unwrap();
        let zip = m.get_field_by_name("zip").unwrap();
        assert!(zip.as_str() == Some("02134") || zip.as_str() == Some("10001"), "{zip:?}");
    }
}

/// The registered text, for protox to compile as the test's own copy.
pub(crate) struct Proto(pub(crate) String);

/// A Protobuf value (after its frame and message indexes) of the only
/// top-level message of `text` (or the last one) as JSON, as a consumer
/// decodes it: proto names, defaults shown, an unset `optional` left out.
pub(crate) fn decode_proto(text: &str, value: &[u8]) -> Value {
    let mut files = protox::file::ChainFileResolver::new();
    files.add(Proto(text.to_owned()));
    let mut compiler = protox::Compiler::with_file_resolver(files);
    compiler.open_file("t.proto").unwrap();
    let pool = compiler.descriptor_pool();
    let message = pool.all_messages().filter(|m| m.parent_message().is_none()).last().unwrap();
    let m = prost_reflect::DynamicMessage::decode(message, value).unwrap();
    let options = prost_reflect::SerializeOptions::new()
        .use_proto_field_name(true)
        .stringify_64_bit_integers(false)
        .skip_default_fields(false);
    let mut out = Vec::new();
    m.serialize_with_options(&mut serde_json::Serializer::new(&mut out), &options).unwrap();
    serde_json::from_slice(&out).unwrap()
}

impl protox::file::FileResolver for Proto {
    fn open_file(&self, name: &str) -> Result<protox::file::File, protox::Error> {
        protox::file::File::from_source(name, &self.0)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proto_that_does_not_compile_is_exit_2_and_one_no_record_fits_exit_6() {
    let registry = Registry::start(registers).await;
    let file = dataset();
    let uri = file.path().display().to_string();
    let mut proto = tempfile::Builder::new().suffix(".proto").tempfile().unwrap();
    std::io::Write::write_all(&mut proto, b"syntax = \"proto3\";\nmessage T {\n  int64 id = 1\n}\n").unwrap();
    let path = proto.path().display().to_string();
    let extra = [("VALUE_FORMAT", "protobuf"), ("VALUE_SCHEMA", path.as_str()), ("DATASET_URI", uri.as_str())];
    let e = run::run(&config(&vars(&registry.url, &extra)), Arc::new(Stats::new("none")), CancellationToken::new())
        .await
        .unwrap_err();
    assert_eq!(e.exit_code(), exit::CONFIG, "{e}");
    assert!(e.to_string().contains(&path) && e.to_string().contains("(line 4, column 1)"), "{e}");
    // Every zip is text, which a bool does not take (an int64 would: the JSON mapping reads "02134" as 2134).
    std::fs::write(proto.path(), "syntax = \"proto3\";\nmessage T { bool zip = 1; }\n").unwrap();
    let e = run::run(&config(&vars(&registry.url, &extra)), Arc::new(Stats::new("none")), CancellationToken::new())
        .await
        .unwrap_err();
    assert_eq!(e.exit_code(), exit::DATASET_INVALID, "{e}");
    assert!(e.to_string().contains("field zip"), "{e}");
    assert!(registry.seen().is_empty(), "nothing registered: {:?}", registry.seen());
}
