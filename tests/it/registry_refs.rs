//! A VALUE_SCHEMA `.proto` that imports other `.proto` files: the imports read
//! from its folder (its prefix on S3), registered first under their import
//! paths, and the value's schema registered with references to them; the
//! registry's version followed through its references with
//! SCHEMA_AUTO_REGISTER=false; a missing import named with where it was
//! looked for. The registry is the one tests/it/registry.rs plays.

use std::sync::Arc;

use kafka_feeder::exit;
use kafka_feeder::observe::events::Stats;
use kafka_feeder::run;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::common::config;
use crate::registry::{dataset, send, vars, Registry};

const ORDERS: &str = r#"syntax = "proto3";
package shop;
import "common/money.proto";
import "google/protobuf/timestamp.proto";

message Order {
  int64 id = 1;
  string zip = 2;
  double amount = 3;
  common.Money total = 4;
  google.protobuf.Timestamp at = 5;
}
"#;

const MONEY: &str = r#"syntax = "proto3";
package common;
import "common/currency.proto";

message Money { int64 units = 1; Currency currency = 2; }
"#;

const CURRENCY: &str = "syntax = \"proto3\";\npackage common;\n\nmessage Currency { string code = 1; }\n";

/// Registers each subject with its own id; a lookup finds the version.
fn registers_files(call: &str) -> (u16, Value) {
    match call {
        "POST /subjects/common%2Fcurrency.proto/versions" => (200, json!({"id": 7})),
        "POST /subjects/common%2Fcurrency.proto" => (200, json!({"id": 7, "version": 1})),
        "POST /subjects/common%2Fmoney.proto/versions" => (200, json!({"id": 8})),
        "POST /subjects/common%2Fmoney.proto" => (200, json!({"id": 8, "version": 2})),
        c if c.starts_with("POST /subjects/") && c.ends_with("-value/versions") => (200, json!({"id": 41})),
        c if c.starts_with("POST /compatibility/subjects/") => (200, json!({"is_compatible": true})),
        _ => (404, json!({"error_code": 40401, "message": "not found"})),
    }
}

fn body(seen: &crate::registry::Seen) -> Value {
    serde_json::from_str(&seen.body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_from_s3_are_registered_first_and_the_value_refers_to_them() {
    let s3 = crate::common::S3Server::start().await;
    s3.put("schemas", "shop/orders.proto", ORDERS.as_bytes());
    s3.put("schemas", "shop/common/money.proto", MONEY.as_bytes());
    s3.put("schemas", "shop/common/currency.proto", CURRENCY.as_bytes());
    let registry = Registry::start(registers_files).await;
    let extra = [
        ("VALUE_FORMAT", "protobuf"),
        ("VALUE_SCHEMA", "s3://schemas/shop/orders.proto"),
        ("AWS_ACCESS_KEY_ID", crate::common::ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", crate::common::SECRET_KEY),
        ("AWS_ENDPOINT_URL", &s3.endpoint),
    ];
    let (topic, messages) = send(&registry, 6, &extra).await;
    let seen = registry.seen();
    let calls: Vec<&str> = seen.iter().map(|s| s.call.as_str()).collect();
    let value = format!("POST /subjects/{topic}-value/versions");
    assert_eq!(
        calls,
        [
            "POST /subjects/common%2Fcurrency.proto/versions",
            "POST /subjects/common%2Fcurrency.proto",
            "POST /subjects/common%2Fmoney.proto/versions",
            "POST /subjects/common%2Fmoney.proto",
            value.as_str(),
        ],
        "each file after the files it imports, the value last; Google's timestamp.proto not registered"
    );
    assert_eq!(body(&seen[0]), json!({"schema": CURRENCY, "schemaType": "PROTOBUF"}), "no references: it imports none");
    assert_eq!(
        body(&seen[2]),
        json!({"schema": MONEY, "schemaType": "PROTOBUF",
               "references": [{"name": "common/currency.proto", "subject": "common/currency.proto", "version": 1}]})
    );
    assert_eq!(
        body(&seen[4]),
        json!({"schema": ORDERS, "schemaType": "PROTOBUF",
               "references": [{"name": "common/money.proto", "subject": "common/money.proto", "version": 2}]}),
        "the value's own import only, at the version the lookup found"
    );
    for (_, value) in messages {
        assert_eq!(&value[..6], &[0, 0, 0, 0, 41, 0], "the value schema's id, message index 0");
    }
    std::fs::remove_file(s3.root.path().join("schemas/shop/common/currency.proto")).unwrap();
    let mut vars = vars(&registry.url, &extra);
    let file = dataset();
    let uri = file.path().display().to_string();
    vars.push(("DATASET_URI", &uri));
    let e = run::run(&config(&vars), Arc::new(Stats::new("none")), CancellationToken::new()).await.unwrap_err();
    assert_eq!(e.exit_code(), exit::CONFIG, "{e}");
    assert!(
        e.to_string().starts_with(
            "VALUE_SCHEMA s3://schemas/shop/orders.proto imports \"common/currency.proto\" (imported by \
             common/money.proto), looked for at s3://schemas/shop/common/currency.proto: "
        ),
        "the same prefix on S3: {e}"
    );
}

/// `kafka-feeder check` with VALUE_SCHEMA orders.proto and its imports in a folder, against `registry`.
async fn check_with(registry: &Registry) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("common")).unwrap();
    std::fs::write(dir.path().join("orders.proto"), ORDERS).unwrap();
    std::fs::write(dir.path().join("common/money.proto"), MONEY).unwrap();
    std::fs::write(dir.path().join("common/currency.proto"), CURRENCY).unwrap();
    let (file, path) = (dataset(), dir.path().join("orders.proto").display().to_string());
    let uri = file.path().display().to_string();
    let extra = [
        ("KAFKA_BOOTSTRAP_SERVERS", "embedded"),
        ("KAFKA_TOPIC", "orders"),
        ("VALUE_FORMAT", "protobuf"),
        ("VALUE_SCHEMA", path.as_str()),
        ("DATASET_URI", uri.as_str()),
    ];
    let cfg = config(&vars(&registry.url, &extra));
    kafka_feeder::check::check(&cfg, &Stats::new("none"), &CancellationToken::new()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_with_no_import_registered_yet_tests_what_it_can_and_registers_nothing() {
    // Nothing registered: every lookup and compatibility test finds no subject.
    let registry = Registry::start(|_| (404, json!({"error_code": 40401, "message": "Subject not found"}))).await;
    check_with(&registry).await;
    let calls: Vec<String> = registry.seen().into_iter().map(|s| s.call).collect();
    assert_eq!(
        calls,
        [
            "POST /subjects/common%2Fcurrency.proto",
            "POST /compatibility/subjects/common%2Fcurrency.proto/versions/latest?verbose=true",
        ],
        "currency.proto imports nothing: looked up, then tested; money.proto and the value refer to versions \
         that do not exist yet, so the registration tests them"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_tests_the_value_with_references_to_the_registered_imports() {
    let registry = Registry::start(registers_files).await;
    check_with(&registry).await;
    let seen = registry.seen();
    let calls: Vec<&str> = seen.iter().map(|s| s.call.as_str()).collect();
    assert_eq!(
        calls,
        [
            "POST /subjects/common%2Fcurrency.proto",
            "POST /subjects/common%2Fmoney.proto",
            "POST /compatibility/subjects/orders-value/versions/latest?verbose=true",
        ],
        "found, not registered; the value tested"
    );
    assert_eq!(
        body(&seen[2])["references"],
        json!([{"name": "common/money.proto", "subject": "common/money.proto", "version": 2}])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_import_is_exit_2_naming_value_schema_the_import_and_where_it_was_looked_for() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("orders.proto");
    std::fs::write(&main, ORDERS).unwrap();
    let registry = Registry::start(registers_files).await;
    let (file, path) = (dataset(), main.display().to_string());
    let uri = file.path().display().to_string();
    let extra = [("VALUE_FORMAT", "protobuf"), ("VALUE_SCHEMA", path.as_str()), ("DATASET_URI", uri.as_str())];
    let fails = || async {
        let cfg = config(&vars(&registry.url, &extra));
        run::run(&cfg, Arc::new(Stats::new("none")), CancellationToken::new()).await.unwrap_err()
    };
    let e = fails().await;
    assert_eq!(e.exit_code(), exit::CONFIG, "{e}");
    let folder = dir.path().display();
    assert_eq!(
        e.to_string(),
        format!(
            "VALUE_SCHEMA {path} imports \"common/money.proto\", looked for at {folder}/common/money.proto: \
             No such file or directory (os error 2); imports are read from VALUE_SCHEMA's folder: put the file there"
        )
    );
    std::fs::create_dir_all(dir.path().join("common")).unwrap();
    std::fs::write(dir.path().join("common/money.proto"), MONEY).unwrap();
    let e = fails().await.to_string();
    assert!(
        e.starts_with(&format!(
            "VALUE_SCHEMA {path} imports \"common/currency.proto\" (imported by common/money.proto), looked for at \
             {folder}/common/currency.proto: "
        )),
        "{e}"
    );
    std::fs::write(
        dir.path().join("common/currency.proto"),
        "syntax = \"proto3\";\nmessage Currency { Nope c = 1; }\n",
    )
    .unwrap();
    let e = fails().await.to_string();
    assert!(e.starts_with(&format!("VALUE_SCHEMA {path} is not a valid schema: common/currency.proto: ")), "{e}");
    assert!(e.contains("Nope") && e.contains("(line 2, column"), "the compiler's message and position: {e}");
    assert!(registry.seen().is_empty(), "nothing registered: {:?}", registry.seen());
}

/// SCHEMA_AUTO_REGISTER=false: the latest version and what its references name.
fn holds_versions(call: &str) -> (u16, Value) {
    let latest = |references: Value| json!({"id": 50, "version": 3, "schemaType": "PROTOBUF", "schema": ORDERS, "references": references});
    match call {
        "GET /subjects/orders-value/versions/latest" => (200, latest(json!([]))),
        c if c.ends_with("-value/versions/latest") => {
            (200, latest(json!([{"name": "common/money.proto", "subject": "money", "version": 1}])))
        }
        "GET /subjects/money/versions/1" => (
            200,
            json!({"id": 51, "version": 1, "schemaType": "PROTOBUF", "schema": MONEY,
                   "references": [{"name": "common/currency.proto", "subject": "currency", "version": 4}]}),
        ),
        "GET /subjects/currency/versions/4" => {
            (200, json!({"id": 52, "version": 4, "schemaType": "PROTOBUF", "schema": CURRENCY}))
        }
        _ => (404, json!({"error_code": 40401, "message": "not found"})),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registrys_version_is_compiled_with_what_its_references_name() {
    let registry = Registry::start(holds_versions).await;
    let extra = [("VALUE_FORMAT", "protobuf"), ("SCHEMA_AUTO_REGISTER", "false")];
    let (topic, messages) = send(&registry, 4, &extra).await;
    let calls: Vec<String> = registry.seen().into_iter().map(|s| s.call).collect();
    assert_eq!(
        calls,
        [
            format!("GET /subjects/{topic}-value/versions/latest"),
            "GET /subjects/money/versions/1".into(),
            "GET /subjects/currency/versions/4".into(),
        ],
        "nothing registered"
    );
    for (_, value) in messages {
        assert_eq!(&value[..6], &[0, 0, 0, 0, 50, 0], "the latest version's id");
    }
    let cfg = config(&vars(
        &registry.url,
        &[("VALUE_FORMAT", "protobuf"), ("SCHEMA_AUTO_REGISTER", "false"), ("KAFKA_TOPIC", "orders")],
    ));
    let e = run::run(&cfg, Arc::new(Stats::new("none")), CancellationToken::new()).await.unwrap_err();
    assert_eq!(e.exit_code(), exit::CONFIG, "{e}");
    assert!(
        e.to_string().starts_with(
            "the Schema Registry's version of subject orders-value imports \"common/money.proto\", and no reference \
             of it names that file"
        ),
        "{e}"
    );
}
