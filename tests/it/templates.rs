//! `MESSAGE_TEMPLATE`: the examples in examples/templates/ run through the mock
//! broker, and every message a consumer reads is checked against what its
//! template says, computed here independently of the code under test.

use std::collections::HashMap;
use std::sync::Arc;

use kafka_feeder::exit;
use kafka_feeder::observe::events::Stats;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::common::{config, write_file, Kafka};
use crate::messages::{consume, is_v4, preview, rfc3339_ms, run};

/// Python's `round(x, 2)`: the float's exact decimal value rounded to 2
/// places, ties to even (`round(85.025, 2)` is 85.02: 85.025 is 85.0249999... as a float).
fn round2(x: f64) -> f64 {
    format!("{x:.2}").parse().unwrap()
}

/// The CSV `path` as rows of column to text.
fn read_csv(path: &str) -> Vec<HashMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|row| headers.iter().zip(row.unwrap().iter()).map(|(h, v)| (h.to_owned(), v.to_owned())).collect())
        .collect()
}

/// A CSV cell as the dataset types it: a whole number, a decimal, or text.
fn cell(v: &str) -> Value {
    v.parse::<i64>().map(Value::from).or_else(|_| v.parse::<f64>().map(|f| json!(f))).unwrap_or_else(|_| json!(v))
}

/// Readings for every sensor of the lookup every 5 minutes, in file order by sensor.
fn metr_la_readings(
    dir: &std::path::Path,
    sensors: &[HashMap<String, String>],
) -> (String, Vec<(String, String, String)>) {
    let mut rows = Vec::new();
    for (s, sensor) in sensors.iter().enumerate() {
        for t in 0..30 {
            let minute = t * 5;
            let ts = format!("2012-03-01 {:02}:{:02}:00", 6 + minute / 60, minute % 60);
            // Whole and fractional speeds, some under 25 and 45 mph.
            let speed = if (s + t) % 3 == 0 {
                format!("{}", 15 + (s * 7 + t * 3) % 55)
            } else {
                format!("{}.{}", 15 + (s * 5 + t) % 55, t % 10 + 1)
            };
            rows.push((ts, sensor["sensor_id"].clone(), speed));
        }
    }
    let mut csv = String::from("timestamp,sensor_id,speed_mph\n");
    for (ts, id, speed) in &rows {
        csv.push_str(&format!("{ts},{id},{speed}\n"));
    }
    (write_file(dir, "readings.csv", csv.as_bytes()), rows)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metr_la_replay_sends_each_reading_as_its_reference_transform() {
    let sensors = read_csv("examples/templates/metr-la-sensors.csv");
    let dir = tempfile::tempdir().unwrap();
    let (dataset, mut rows) = metr_la_readings(dir.path(), &sensors);
    let kafka = Kafka::start(1);
    let bootstrap = kafka.bootstrap();
    let cfg = config(&[
        ("KAFKA_BOOTSTRAP_SERVERS", &bootstrap),
        ("KAFKA_TOPIC", &kafka.topic),
        ("DATASET_URI", &dataset),
        ("MESSAGE_TEMPLATE", "examples/templates/metr-la.json"),
        ("REPLAY_TIME_FIELD", "timestamp"),
        ("REPLAY_SPEED", "max"),
    ]);
    let outcome = kafka_feeder::run::run(&cfg, Arc::new(Stats::new("none")), CancellationToken::new()).await.unwrap();
    assert_eq!((outcome.totals.delivered, outcome.totals.failed), (rows.len() as u64, 0));
    let messages = consume(&kafka, 1, rows.len()).await;
    assert_eq!(messages.len(), rows.len());

    // A replay sends in time order, ties in file order: the k-th message is the k-th row so sorted.
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let by_id: HashMap<&str, &HashMap<String, String>> = sensors.iter().map(|s| (s["sensor_id"].as_str(), s)).collect();
    for (k, (m, (ts, id, speed))) in messages.iter().zip(&rows).enumerate() {
        let t = chrono::NaiveDateTime::parse_from_str(ts, "%Y-%m-%d %H:%M:%S").unwrap().and_utc();
        let mph: f64 = speed.parse().unwrap();
        let sensor = by_id[id.as_str()];
        let want = json!({
            "event_id": format!("EVT_{id}_{}_{}", t.timestamp_millis(), k + 1),
            "sensor_id": id,
            "timestamp": t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "speed_mph": cell(speed),
            "speed_kmh": round2(mph * 1.609344),
            "congestion": if mph < 25.0 { "heavy" } else if mph < 45.0 { "moderate" } else { "free" },
            "coordinates": {"latitude": cell(&sensor["latitude"]), "longitude": cell(&sensor["longitude"])},
            "metadata": {"highway": sensor["highway"], "direction": sensor["direction"], "lanes": cell(&sensor["lanes"])},
            "sent_at": "",
        });
        let mut got = m.json();
        assert!(rfc3339_ms(got["sent_at"].as_str().unwrap()).is_some(), "{got}");
        got["sent_at"] = json!("");
        assert_eq!(got, want, "message {k}");
        assert_eq!(m.key.as_deref(), Some(id.as_str()));
        assert_eq!(m.headers, [("source".to_owned(), "metr-la-replay".to_owned())]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sales_totals_are_computed_from_the_shown_fields_and_products_come_from_the_catalog() {
    let catalog: HashMap<String, HashMap<String, String>> =
        read_csv("examples/templates/products.csv").into_iter().map(|p| (p["product_id"].clone(), p)).collect();
    let kafka = Kafka::start(1);
    let n = 3_000;
    let vars = [("MESSAGE_TEMPLATE", "examples/templates/sales.json"), ("RANDOM_SEED", "11")];
    run(&kafka, "none", n, &vars).await;
    let messages = consume(&kafka, 1, n as usize).await;
    assert_eq!(messages.len(), n as usize);
    let mut discounts = HashMap::new();
    for m in &messages {
        let v = m.json();
        let product = &catalog[v["product_id"].as_str().unwrap()];
        assert_eq!(v["product_name"], product["name"].as_str(), "{v}");
        assert_eq!(v["category"], product["category"].as_str(), "{v}");
        let price: f64 = product["unit_price"].parse().unwrap();
        assert_eq!(v["unit_price"].as_f64(), Some(price), "{v}");
        let (q, d) = (v["quantity"].as_i64().unwrap(), v["discount"].as_f64().unwrap());
        assert!((1..=5).contains(&q), "{v}");
        assert_eq!(v["total_price"].as_f64(), Some(round2(q as f64 * price * (1.0 - d))), "{v}");
        *discounts.entry(v["discount"].to_string()).or_insert(0) += 1;
        assert_eq!(m.key.as_deref(), v["product_id"].as_str());
        assert!(is_v4(v["sale_id"].as_str().unwrap()) && v["customer"]["email"].as_str().unwrap().contains('@'));
        assert!(rfc3339_ms(v["timestamp"].as_str().unwrap()).is_some());
    }
    assert_eq!(discounts.len(), 4, "{discounts:?}");
    assert!(discounts["0"] > discounts["0.05"] && discounts["0.05"] > discounts["0.2"], "{discounts:?}");

    // The same seed previews the same messages (times aside).
    let shown = tokio::task::spawn_blocking(move || {
        preview(
            "3000",
            &[
                vars[0],
                vars[1],
                ("DATASET_URI", "none"),
                ("MIN_RECORDS_PER_BATCH", "100"),
                ("MAX_RECORDS_PER_BATCH", "900"),
            ],
        )
    })
    .await
    .unwrap();
    let untimed = |mut v: Value| {
        v["timestamp"] = Value::Null;
        v
    };
    let sent: Vec<Value> = messages.iter().map(|m| untimed(m.json())).collect();
    let shown: Vec<Value> = shown.into_iter().map(|l| untimed(l["value"].clone())).collect();
    assert!(sent == shown, "preview differs from the run with the same seed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taxi_cells_and_rush_hours_follow_the_coordinates_and_the_pickup_time() {
    let kafka = Kafka::start(1);
    run(&kafka, "none", 1_000, &[("MESSAGE_TEMPLATE", "examples/templates/taxi.json")]).await;
    for m in consume(&kafka, 1, 1_000).await {
        let v = m.json();
        let (lat, lon) = (v["pickup"]["latitude"].as_f64().unwrap(), v["pickup"]["longitude"].as_f64().unwrap());
        assert!((40.70..=40.80).contains(&lat) && (-74.02..=-73.93).contains(&lon), "{v}");
        let cell = format!("{}_{}", ((lat - 40.70) / 0.01) as i64, ((lon + 74.02) / 0.01) as i64);
        assert_eq!(v["cell_id"], cell.as_str(), "{v}");
        let t = chrono::DateTime::parse_from_rfc3339(v["pickup_time"].as_str().unwrap()).unwrap();
        let rush = [7, 8, 9, 16, 17, 18, 19].contains(&chrono::Timelike::hour(&t));
        assert_eq!(v["is_rush_hour"], rush, "{v}");
        assert_eq!(m.key.as_deref(), v["trip_id"].as_str());
        assert!((1..=4).contains(&v["passengers"].as_i64().unwrap()));
        assert!(["card", "cash", "app"].contains(&v["payment_type"].as_str().unwrap()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_events_are_synthesized_within_their_bounds() {
    let kafka = Kafka::start(1);
    run(&kafka, "none", 1_000, &[("MESSAGE_TEMPLATE", "examples/templates/traffic-events.json")]).await;
    let mut types = HashMap::new();
    for m in consume(&kafka, 1, 1_000).await {
        let v = m.json();
        let kind = v["event_type"].as_str().unwrap();
        *types.entry(kind.to_owned()).or_insert(0) += 1;
        let blocked = v["lanes_blocked"].as_i64().unwrap();
        if ["accident", "closure"].contains(&kind) {
            assert!((1..=3).contains(&blocked), "{v}");
        } else {
            assert_eq!(blocked, 0, "{v}");
        }
        let (lat, lon) = (v["location"]["latitude"].as_f64().unwrap(), v["location"]["longitude"].as_f64().unwrap());
        assert!((33.95..=34.25).contains(&lat) && (-118.50..=-118.10).contains(&lon), "{v}");
        let (road, city) = (v["road"].as_str().unwrap(), v["city"].as_str().unwrap());
        assert_eq!(v["description"], format!("{} on {road} near {city}", kind.to_uppercase()));
        assert_eq!(m.key.as_deref(), Some(city));
        assert!(is_v4(v["event_id"].as_str().unwrap()) && (1..=5).contains(&v["severity"].as_i64().unwrap()));
        assert!(rfc3339_ms(v["reported_at"].as_str().unwrap()).is_some());
    }
    assert_eq!(types.len(), 5, "{types:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_template_stops_the_run_before_it_connects() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = write_file(dir.path(), "r.csv", b"sensor_id,speed_mph\n1,60\n");
    let run = |template: String| {
        let cfg = config(&[
            ("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1"),
            ("DATASET_URI", &dataset),
            ("MESSAGE_TEMPLATE", &template),
        ]);
        async move {
            kafka_feeder::run::run(&cfg, Arc::new(Stats::new("none")), CancellationToken::new()).await.unwrap_err()
        }
    };
    let e = run(r#"{"value": {"kmh": "{{ speed_mhp * 1.6 }}"}}"#.into()).await;
    assert_eq!(e.exit_code(), exit::CONFIG);
    assert!(
        e.to_string().contains(
            "unknown name `speed_mhp`; it is neither a column, a var nor a function. Columns: sensor_id, speed_mph"
        ),
        "{e}"
    );
    let e = run(r#"{"lookups": {"s": {"uri": "/nonexistent/s.csv", "key": "id"}}, "value": 1}"#.into()).await;
    assert_eq!(e.exit_code(), exit::NOT_FOUND, "{e}");
    assert!(e.to_string().starts_with("MESSAGE_TEMPLATE lookup \"s\": cannot read /nonexistent/s.csv"), "{e}");
    let e =
        run(r#"{"lookups": {"s": {"uri": "examples/templates/products.csv", "key": "id"}}, "value": 1}"#.into()).await;
    assert_eq!(e.exit_code(), exit::CONFIG, "{e}");
    assert!(
        e.to_string()
            .contains("no row has the key column \"id\"; its columns are product_id, name, category, unit_price"),
        "{e}"
    );
    let e = run(r#"{"value": "{{ 1 // (speed_mph - 60) }}"}"#.into()).await;
    assert_eq!(e.exit_code(), exit::DATASET_INVALID, "{e}");
    let e = run(dir.path().join("missing.json").display().to_string()).await;
    assert_eq!(e.exit_code(), exit::NOT_FOUND, "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synthetic_run_paces_like_any_other_and_replicas_draw_their_own_values() {
    let mut ids: Vec<std::collections::HashSet<String>> = Vec::new();
    for index in ["0", "1"] {
        let kafka = Kafka::start(1);
        let bootstrap = kafka.bootstrap();
        let cfg = config(&[
            ("KAFKA_BOOTSTRAP_SERVERS", &bootstrap),
            ("KAFKA_TOPIC", &kafka.topic),
            ("DATASET_URI", "none"),
            ("MESSAGE_TEMPLATE", "examples/templates/traffic-events.json"),
            ("RANDOM_SEED", "3"),
            ("MESSAGES_PER_SECOND", "2000"),
            ("ARRIVALS", "poisson"),
            ("REPLICAS", "2"),
            ("REPLICA_INDEX", index),
            ("MAX_MESSAGES", "300"),
        ]);
        let outcome =
            kafka_feeder::run::run(&cfg, Arc::new(Stats::new("none")), CancellationToken::new()).await.unwrap();
        assert_eq!((outcome.totals.delivered, outcome.totals.failed), (300, 0));
        let got: std::collections::HashSet<String> =
            consume(&kafka, 1, 300).await.iter().map(|m| m.json()["event_id"].as_str().unwrap().to_owned()).collect();
        assert_eq!(got.len(), 300, "ids repeat within a replica");
        ids.push(got);
    }
    assert!(ids[0].is_disjoint(&ids[1]), "two replicas with one RANDOM_SEED drew the same ids");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reloaded_dataset_goes_through_the_template_and_new_columns_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "live.csv", b"city,temp_c\nOslo,1\nRome,15\n");
    let kafka = Kafka::start(1);
    let bootstrap = kafka.bootstrap();
    let template = r#"{"key": "{{ city }}", "value": {"city": "{{ city | upper }}", "temp_f": "{{ temp_c * 9 / 5 + 32 }}", "n": "{{ seq() }}"}}"#;
    let cfg = config(&[
        ("KAFKA_BOOTSTRAP_SERVERS", &bootstrap),
        ("KAFKA_TOPIC", &kafka.topic),
        ("DATASET_URI", &path),
        ("MESSAGE_TEMPLATE", template),
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
        let reloaded = "deliveries after the reload";
        crate::common::rewrite_and_wait(&stats, &path, "city,temp_c\nLima,20\n", 200, reloaded).await;
        // Other columns: refused, Lima stays.
        let refused = "deliveries after the refused reload";
        crate::common::rewrite_and_wait(&stats, &path, "town,temp\nNuuk,-5\n", 200, refused).await;
        token.cancel();
    };
    let (outcome, ()) = tokio::join!(kafka_feeder::run::run(&cfg, Arc::clone(&stats), token.clone()), script);
    let outcome = outcome.unwrap();
    assert_eq!((outcome.totals.failed, outcome.undelivered), (0, 0));
    let messages = consume(&kafka, 1, outcome.totals.delivered as usize).await;
    let want: HashMap<&str, Value> = [("Oslo", json!(33.8)), ("Rome", json!(59.0)), ("Lima", json!(68.0))].into();
    let mut seen = Vec::new();
    for (k, m) in messages.iter().enumerate() {
        let v = m.json();
        let city = m.key.as_deref().unwrap();
        assert_eq!(
            (&v["city"], &v["temp_f"], &v["n"]),
            (&json!(city.to_uppercase()), &want[city], &json!(k + 1)),
            "{v}"
        );
        if seen.last() != Some(&city) {
            seen.push(city);
        }
    }
    assert_eq!(seen.last(), Some(&"Lima"), "the reloaded record was sent and kept after the refused version");
    assert!(!messages.iter().any(|m| m.payload.contains("NUUK") || m.payload.contains("Nuuk")));
}
