//! `GET /status` of a run with known settings, over HTTP, against the
//! in-process broker: the settings it reports are the ones given, and its
//! counts, rates and chart follow the run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{config, Kafka};
use kafka_feeder::observe::events::Stats;
use kafka_feeder::run;
use tokio_util::sync::CancellationToken;

async fn get_json(port: u16, path: &str) -> Option<serde_json::Value> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes()).await.ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).await.ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    assert!(head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("content-type: application/json"), "{head}");
    serde_json::from_str(body).ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_the_runs_settings_counts_rates_and_chart() {
    let kafka = Kafka::start(3);
    let bootstrap = kafka.bootstrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let cfg = config(&[
        ("HTTP_PORT", &port.to_string()),
        ("KAFKA_BOOTSTRAP_SERVERS", &bootstrap),
        ("KAFKA_TOPIC", &kafka.topic),
        ("PRESET", "high"),
        ("PRODUCE_INTERVAL", "0.05"),
        ("RANDOM_SEED", "42"),
        ("MAX_MESSAGES", "1000000"),
    ]);
    let stats = Arc::new(Stats::new("high"));
    let token = CancellationToken::new();
    // The run is not Send (the embedded broker): it and the probe share this task.
    let feeding = run::run(&cfg, Arc::clone(&stats), token.clone());
    let probe = async {
        // Until the chart has a few seconds and the 10 s rate something to say.
        let started = Instant::now();
        let s = loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            assert!(started.elapsed() < Duration::from_secs(30), "no chart after 30 s");
            let Some(s) = get_json(port, "/status").await else { continue };
            if s["chart"]["delivered_per_s"].as_array().is_some_and(|c| c.len() >= 4) {
                break s;
            }
        };
        let delivered_after = stats.totals().delivered;
        token.cancel();
        (s, delivered_after)
    };
    let (outcome, (s, delivered_after)) = tokio::join!(feeding, probe);
    let outcome = outcome.unwrap();

    let r = &s["run"];
    assert_eq!(r["mode"], "interval");
    assert_eq!((r["preset"].as_str(), r["interval_s"].as_f64()), (Some("high"), Some(0.05)));
    assert_eq!(r["batch"], serde_json::json!([10, 20]));
    assert_eq!((r["seed"].as_u64(), r["seed_from"].as_str()), (Some(42), Some("RANDOM_SEED")));
    assert_eq!(r["max_messages"], 1_000_000);
    assert_eq!(r["replica"], "0 of 1");
    assert!(r["source"].as_str().unwrap().starts_with("bundled"), "{r}");
    let k = &s["kafka"];
    assert_eq!((k["servers"].as_str(), k["topic"].as_str()), (Some(bootstrap.as_str()), Some(kafka.topic.as_str())));
    assert_eq!((k["partitions"].as_u64(), k["answered_recently"].as_bool()), (Some(3), Some(true)));
    assert!(k["sasl_mechanism"].is_null());
    let d = &s["dataset"];
    assert_eq!(
        (d["records"].as_u64(), d["formats"].as_str(), d["objects"].as_u64()),
        (Some(10_000), Some("csv"), Some(1))
    );
    assert!(s["last_reload"].is_null());
    assert_eq!((s["live"]["ok"].as_bool(), s["ready"]["ok"].as_bool()), (Some(true), Some(true)), "{s}");

    // The counts are the run's at that moment: between nothing and the end.
    let t = &s["totals"];
    let delivered = t["delivered"].as_u64().unwrap();
    assert!(delivered > 0 && delivered <= delivered_after && delivered <= outcome.totals.delivered, "{t}");
    assert!(t["scheduled"].as_u64().unwrap() >= delivered && t["failed"] == 0, "{t}");
    assert!(t["bytes"].as_u64().unwrap() > delivered * 50, "{t}");
    // 15 records per 0.05 s on average: about 300 msg/s.
    let rate = s["rates"]["last_10s"].as_f64().unwrap();
    assert!((100.0..600.0).contains(&rate), "{}", s["rates"]);
    let chart: Vec<f64> =
        s["chart"]["delivered_per_s"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert!(chart.iter().filter(|&&v| v > 0.0).count() >= 2, "{chart:?}");
    assert!(chart.iter().sum::<f64>() <= delivered as f64, "{chart:?} vs {delivered}");
    assert_eq!(s["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(s["producer_rebuilds"], 0);
}
