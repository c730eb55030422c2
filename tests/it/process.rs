//! The built binary as a child process, configured only by environment variables,
//! against a mock cluster and an S3 server hosted by the test.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Kafka, S3Server, ACCESS_KEY};
use kafka_feeder::exit;

const BIN: &str = env!("CARGO_BIN_EXE_kafka-feeder");

pub(crate) fn command(vars: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear().env("HTTP_PORT", "0").envs(vars.iter().copied()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

/// Waits for the child, reading its output meanwhile (a chatty child must not
/// block on a full pipe).
pub(crate) fn wait_with_timeout(mut child: Child, timeout: Duration) -> Output {
    use std::io::Read;
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let stdout = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(o) = out.as_mut() {
            let _ = o.read_to_end(&mut buf);
        }
        buf
    });
    let stderr = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(e) = err.as_mut() {
            let _ = e.read_to_end(&mut buf);
        }
        buf
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > timeout {
            child.kill().unwrap();
            panic!("process did not exit within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output { status, stdout: stdout.join().unwrap(), stderr: stderr.join().unwrap() }
}

/// The JSON log lines of a run.
pub(crate) fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

#[test]
fn sigterm_mid_run_drains_and_reports_what_reached_the_topic() {
    let kafka = Kafka::start(2);
    let bootstrap = kafka.bootstrap();
    let child = command(&[
        ("KAFKA_BOOTSTRAP_SERVERS", &bootstrap),
        ("KAFKA_TOPIC", &kafka.topic),
        ("PRODUCE_INTERVAL", "0.01"),
        ("MIN_RECORDS_PER_BATCH", "20"),
        ("MAX_RECORDS_PER_BATCH", "50"),
        ("LOG_FORMAT", "json"),
    ])
    .spawn()
    .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let out = wait_with_timeout(child, Duration::from_secs(25));
    assert_eq!(out.status.code(), Some(0), "stdout: {}", String::from_utf8_lossy(&out.stdout));

    let lines = json_lines(&out);
    let last = lines.iter().rev().find(|l| l["message"] == "stopped").expect("a final 'stopped' line");
    let delivered = last["delivered"].as_u64().unwrap();
    assert_eq!(last["undelivered"], 0);
    assert_eq!(last["failed"], 0);
    assert!(delivered > 100, "delivered only {delivered}");
    assert!(lines.iter().any(|l| l["message"]
        == "shutdown requested: no new batches, draining in-flight messages (a second signal exits at once)"));
    for l in &lines {
        assert!(l["event"].is_string(), "a log line without an event field: {l}");
        // A clean run logs no error (the drain completed: no drain_timed_out),
        // and the topic it writes to exists.
        assert_ne!(l["level"], "ERROR", "{l}");
        assert_ne!(l["event"], "topic_missing", "{l}");
    }
    for event in ["starting", "effective_config", "dataset_loaded", "broker_connected", "shutdown_requested", "stopped"]
    {
        assert!(lines.iter().any(|l| l["event"] == event), "no {event:?} line");
    }

    let messages = kafka.consume(2, delivered as usize, Duration::from_secs(20));
    assert_eq!(messages.len() as u64, delivered, "topic holds exactly what was reported delivered");
}

#[test]
fn max_messages_exits_zero_after_exactly_that_many() {
    let kafka = Kafka::start(1);
    let bootstrap = kafka.bootstrap();
    let out = wait_with_timeout(
        command(&[
            ("KAFKA_BOOTSTRAP_SERVERS", &bootstrap),
            ("KAFKA_TOPIC", &kafka.topic),
            ("PRESET", "high"),
            ("PRODUCE_INTERVAL", "0.01"),
            ("MAX_MESSAGES", "137"),
            ("PROGRESS_INTERVAL", "60"),
        ])
        .spawn()
        .unwrap(),
        Duration::from_secs(30),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("delivered=137"), "{stdout}");
    assert!(stdout.contains("MAX_MESSAGES delivered: stopping"), "{stdout}");
    // The first progress line comes a PROGRESS_INTERVAL after the start, not at it.
    assert!(!stdout.contains("event=\"progress\"") && !stdout.contains("event=progress"), "{stdout}");
    assert_eq!(kafka.consume(1, 137, Duration::from_secs(20)).len(), 137);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_s3_secret_exits_4_naming_the_object_without_the_secret() {
    let s3 = S3Server::start().await;
    s3.put("datasets", "transactions.csv", b"a\n1\n");
    let endpoint = s3.endpoint.clone();
    let out = tokio::task::spawn_blocking(move || {
        wait_with_timeout(
            command(&[
                ("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9"),
                ("DATASET_URI", "s3://datasets/transactions.csv"),
                ("KEY", ACCESS_KEY),
                ("SECRET", "definitely-wrong-secret"),
                ("ENDPOINT_URL", &endpoint),
                ("LOG_LEVEL", "debug"),
            ])
            .spawn()
            .unwrap(),
            Duration::from_secs(20),
        )
    })
    .await
    .unwrap();
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(4), "{all}");
    assert!(all.contains("access denied to s3://datasets/transactions.csv"), "{all}");
    assert!(all.contains(&s3.endpoint), "{all}");
    assert!(!all.contains("definitely-wrong-secret"), "secret leaked: {all}");
}

#[test]
fn every_bad_variable_exits_2_naming_it_without_touching_the_network() {
    let cases: &[(&str, &str)] = &[
        ("PRODUCE_INTERVAL", "abc"),
        ("PRODUCE_INTERVAL", "0"),
        ("PRODUCE_INTERVAL", "-1"),
        ("MIN_RECORDS_PER_BATCH", "0"),
        ("MAX_RECORDS_PER_BATCH", "ten"),
        ("MAX_MESSAGES", "0"),
        ("SHUTDOWN_TIMEOUT", "soon"),
        ("PRESET", "turbo"),
        ("DATASET_URI", "s3://bucket-without-key"),
        ("LOG_FORMAT", "xml"),
        ("LOG_LEVEL", "chatty"),
        ("KAFKA_TOPIC", "bad topic"),
        ("HTTP_PORT", "http"),
        ("DATASET_RETRY_TIMEOUT", "forever"),
        ("KAFKA_PRODUCER_LINGER_MS", "later"),
        ("KAFKA_PRODUCER_NOT_A_PROPERTY", "1"),
    ];
    for (var, value) in cases {
        let started = Instant::now();
        // A closed local port: any network use would wait for the broker, not exit 2.
        let out = wait_with_timeout(
            command(&[("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9"), (var, value)]).spawn().unwrap(),
            Duration::from_secs(5),
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(2), "{var}={value}: {stdout}");
        assert!(stdout.contains(var), "{var}={value}: {stdout}");
        assert_eq!(stdout.lines().count(), 1, "one line: {stdout}");
        assert!(started.elapsed() < Duration::from_secs(1), "{var}: {:?}", started.elapsed());
    }
    let out = wait_with_timeout(
        command(&[
            ("MIN_RECORDS_PER_BATCH", "9"),
            ("MAX_RECORDS_PER_BATCH", "2"),
            ("KAFKA_BOOTSTRAP_SERVERS", "k:9092"),
        ])
        .spawn()
        .unwrap(),
        Duration::from_secs(5),
    );
    assert_eq!(out.status.code(), Some(2));
    let out = wait_with_timeout(command(&[]).spawn().unwrap(), Duration::from_secs(5));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("KAFKA_BOOTSTRAP_SERVERS is not set"));
}

#[test]
fn missing_dataset_file_exits_3() {
    let out = wait_with_timeout(
        command(&[("KAFKA_BOOTSTRAP_SERVERS", "embedded"), ("DATASET_URI", "/no/such/transactions.csv")])
            .spawn()
            .unwrap(),
        Duration::from_secs(10),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(stdout.contains("/no/such/transactions.csv"), "{stdout}");
}

/// Reads stdout lines as they come (a thread per child), so a test can wait for one.
fn stream_lines(child: &mut Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

pub(crate) fn wait_for_line(rx: &std::sync::mpsc::Receiver<String>, needle: &str, timeout: Duration) -> Vec<String> {
    let started = Instant::now();
    let mut seen = Vec::new();
    while started.elapsed() < timeout {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            let found = line.contains(needle);
            seen.push(line);
            if found {
                return seen;
            }
        }
    }
    panic!("no line containing {needle:?} within {timeout:?}; saw:\n{}", seen.join("\n"));
}

pub(crate) fn kill(child: &Child, signal: &str) {
    assert!(Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap().success());
}

/// The binary producing every 50 ms to a fresh mock cluster, connected, with its stdout streamed.
pub(crate) fn running_feeder(extra: &[(&str, &str)]) -> (Kafka, Child, std::sync::mpsc::Receiver<String>) {
    let kafka = Kafka::start(1);
    let bootstrap = kafka.bootstrap();
    let mut vars = vec![
        ("KAFKA_BOOTSTRAP_SERVERS", bootstrap.as_str()),
        ("KAFKA_TOPIC", kafka.topic.as_str()),
        ("PRODUCE_INTERVAL", "0.05"),
    ];
    vars.extend_from_slice(extra);
    let mut child = command(&vars).spawn().unwrap();
    let rx = stream_lines(&mut child);
    wait_for_line(&rx, "connected to Kafka", Duration::from_secs(10));
    (kafka, child, rx)
}

#[test]
fn broker_down_at_shutdown_reports_undelivered_and_exits_8_after_the_deadline() {
    let (kafka, mut child, rx) = running_feeder(&[("SHUTDOWN_TIMEOUT", "2"), ("LOG_FORMAT", "json")]);
    std::thread::sleep(Duration::from_millis(500));
    kafka.cluster.broker_down(1).unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    let signalled = Instant::now();
    kill(&child, "-TERM");
    let lines = wait_for_line(&rx, "\"message\":\"stopped\"", Duration::from_secs(10));
    let status = child.wait().unwrap();
    let took = signalled.elapsed();
    assert_eq!(status.code(), Some(8), "{}", lines.join("\n"));
    assert!(took >= Duration::from_secs(2) && took < Duration::from_secs(5), "SIGTERM to exit took {took:?}");
    let stopped: serde_json::Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert!(stopped["undelivered"].as_u64().unwrap() > 0, "{stopped}");
    assert!(lines.iter().any(|l| l.contains("SHUTDOWN_TIMEOUT passed")), "{}", lines.join("\n"));
}

#[test]
fn second_signal_exits_at_once_with_130() {
    let (kafka, mut child, rx) = running_feeder(&[("SHUTDOWN_TIMEOUT", "60")]);
    kafka.cluster.broker_down(1).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    kill(&child, "-INT");
    wait_for_line(&rx, "shutdown requested", Duration::from_secs(5));
    let signalled = Instant::now();
    kill(&child, "-INT");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(signalled.elapsed() < Duration::from_secs(2), "{:?}", signalled.elapsed());
}

#[test]
fn waits_for_an_absent_broker_instead_of_crashing_and_stops_cleanly() {
    // A port with nothing behind it.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = command(&[("KAFKA_BOOTSTRAP_SERVERS", &format!("127.0.0.1:{port}")), ("PRODUCE_INTERVAL", "0.1")])
        .spawn()
        .unwrap();
    let rx = stream_lines(&mut child);
    wait_for_line(&rx, "waiting for the Kafka broker", Duration::from_secs(15));
    assert!(child.try_wait().unwrap().is_none(), "still running while it waits");
    kill(&child, "-TERM");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "nothing was sent, so nothing was lost");
}

#[test]
fn check_fails_naming_the_acls_when_the_broker_refuses_the_producer_id() {
    use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
    let kafka = Kafka::start(1);
    kafka.cluster.request_errors(
        RDKafkaApiKey::InitProducerId,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED; 50],
    );
    let out = command(&[
        ("KAFKA_BOOTSTRAP_SERVERS", &kafka.bootstrap()),
        ("KAFKA_TOPIC", &kafka.topic),
        ("CHECK_TIMEOUT", "3"),
    ])
    .arg("check")
    .output()
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(exit::KAFKA_UNAVAILABLE), "{text}");
    assert!(text.contains("did not accept this producer") && text.contains("IdempotentWrite"), "{text}");
}

/// `GET path` on the daemon's HTTP port: the status code and the body.
fn http_get(port: u16, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, text.split_once("\r\n\r\n").map_or(String::new(), |(_, body)| body.to_owned()))
}

#[test]
fn a_listener_that_hangs_up_on_the_first_request_is_named_once_and_in_readyz() {
    // What a TLS listener does to a plaintext client: accept, then close.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            drop(conn);
        }
    });
    let http = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    let mut child = command(&[
        ("KAFKA_BOOTSTRAP_SERVERS", &format!("127.0.0.1:{port}")),
        ("HTTP_PORT", &http),
        ("LOG_FORMAT", "json"),
    ])
    .spawn()
    .unwrap();
    let rx = stream_lines(&mut child);
    let seen = wait_for_line(&rx, "\"event\":\"broker_protocol_mismatch\"", Duration::from_secs(15));
    assert!(seen.last().unwrap().contains("KAFKA_PRODUCER_SECURITY_PROTOCOL"), "{seen:?}");
    let (status, body) = http_get(http.parse().unwrap(), "/readyz");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("security protocol mismatch"), "{body}");
    // librdkafka reconnects every second or so; the line does not repeat with it.
    std::thread::sleep(Duration::from_secs(3));
    kill(&child, "-TERM");
    let rest: Vec<String> = rx.iter().collect();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let again = rest.iter().filter(|l| l.contains("\"event\":\"broker_protocol_mismatch\"")).count();
    assert_eq!(again, 0, "said again within 10 s: {rest:#?}");
}

#[test]
fn a_signal_before_the_runs_end_exits_11_so_a_job_does_not_count_it_done() {
    // Mid-run: MAX_MESSAGES far away.
    let (_kafka, child, rx) = running_feeder(&[("MAX_MESSAGES", "1000000"), ("LOG_FORMAT", "json")]);
    std::thread::sleep(Duration::from_millis(300));
    kill(&child, "-TERM");
    let out = wait_with_timeout(child, Duration::from_secs(20));
    let lines: Vec<String> = rx.iter().collect();
    assert_eq!(out.status.code(), Some(exit::INTERRUPTED), "{lines:#?}");
    let cut =
        lines.iter().position(|l| l.contains("\"event\":\"stopped_before_end\"")).expect("a stopped_before_end line");
    assert!(lines[cut].contains("MAX_MESSAGES=1000000"), "{}", lines[cut]);
    assert!(lines.last().unwrap().contains("\"event\":\"stopped\""), "stopped is still the last line");

    // Before starting: waiting for a broker that is not there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child =
        command(&[("KAFKA_BOOTSTRAP_SERVERS", &format!("127.0.0.1:{port}")), ("RUN_DURATION", "60")]).spawn().unwrap();
    let rx = stream_lines(&mut child);
    wait_for_line(&rx, "waiting for the Kafka broker", Duration::from_secs(15));
    kill(&child, "-TERM");
    assert_eq!(child.wait().unwrap().code(), Some(exit::INTERRUPTED));
    assert!(rx.iter().any(|l| l.contains("RUN_DURATION=60s")));
}

#[test]
fn help_lists_every_variable_with_its_default_and_exits_0() {
    for flag in ["--help", "-h"] {
        let out = command(&[]).arg(flag).output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        let help = String::from_utf8_lossy(&out.stdout);
        for s in kafka_feeder::settings::ALL {
            assert!(help.contains(s.name), "--help lacks {}", s.name);
            if !s.default.is_empty() && !s.required {
                let default = s.default.trim_start_matches('(').trim_end_matches(')');
                assert!(help.contains(&format!("[default: {default}]")), "--help lacks the default of {}", s.name);
            }
        }
        assert!(help.contains("EXIT CODES") && help.contains("130"), "{help}");
    }
    let out = command(&[]).arg("--bogus").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--help"));
}

#[test]
fn a_misspelled_variable_is_warned_about_naming_the_closest_one() {
    let out = wait_with_timeout(
        command(&[
            ("KAFKA_BOOTSTRAP_SERVERS", "embedded"),
            ("PRODUCE_INTERVALL", "0.01"),
            ("MIN_RECORD_PER_BATCH", "3"),
            ("MAX_MESSAGES", "3"),
            ("LOG_FORMAT", "json"),
        ])
        .spawn()
        .unwrap(),
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(0));
    let warned: Vec<(String, String)> = json_lines(&out)
        .iter()
        .filter(|l| l["event"] == "unknown_variable")
        .map(|l| (l["variable"].as_str().unwrap().to_owned(), l["closest"].as_str().unwrap().to_owned()))
        .collect();
    assert!(warned.contains(&("PRODUCE_INTERVALL".into(), "PRODUCE_INTERVAL".into())), "{warned:?}");
    assert!(warned.contains(&("MIN_RECORD_PER_BATCH".into(), "MIN_RECORDS_PER_BATCH".into())), "{warned:?}");
    // Teardown in order: nothing (the embedded broker going away) is logged after `stopped`.
    let last = json_lines(&out).pop().unwrap();
    assert_eq!(last["event"], "stopped", "{last}");
}

/// Each batch completes as a unit: one `batch complete` line per batch, whose
/// delivered counts add up to the final count; SIGTERM awaits the batches in
/// flight and says how many, and the topic holds every message delivered.
#[test]
fn batches_complete_as_units_and_the_drain_awaits_those_in_flight() {
    let kafka = Kafka::start(1);
    let bootstrap = kafka.bootstrap();
    let child = command(&[
        ("KAFKA_BOOTSTRAP_SERVERS", &bootstrap),
        ("KAFKA_TOPIC", &kafka.topic),
        ("PRODUCE_INTERVAL", "0.005"),
        ("MIN_RECORDS_PER_BATCH", "50"),
        ("MAX_RECORDS_PER_BATCH", "100"),
        // Messages linger 300 ms in librdkafka, so batches are in flight at SIGTERM.
        ("KAFKA_PRODUCER_LINGER_MS", "300"),
        ("LOG_BATCHES", "true"),
        ("LOG_FORMAT", "json"),
    ])
    .spawn()
    .unwrap();
    std::thread::sleep(Duration::from_millis(2000));
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let out = wait_with_timeout(child, Duration::from_secs(25));
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let lines = json_lines(&out);
    let stopped = lines.iter().find(|l| l["event"] == "stopped").expect("a stopped line");
    let (delivered, batches) = (stopped["delivered"].as_u64().unwrap(), stopped["batches"].as_u64().unwrap());
    let complete: Vec<&serde_json::Value> = lines.iter().filter(|l| l["event"] == "batch_complete").collect();
    assert_eq!(complete.len() as u64, batches, "one batch complete line per batch");
    assert_eq!(complete.iter().map(|l| l["delivered"].as_u64().unwrap()).sum::<u64>(), delivered);
    let mut ticks: Vec<u64> = complete.iter().map(|l| l["tick"].as_u64().unwrap()).collect();
    ticks.sort_unstable();
    ticks.dedup();
    assert_eq!(ticks.len() as u64, batches, "each tick's batch completes once");
    let drained = lines.iter().find(|l| l["event"] == "drained").expect("a drained line");
    assert!(drained["batches"].as_u64().unwrap() >= 1, "SIGTERM came with no batch in flight: {drained}");
    assert!(drained["messages"].as_u64().unwrap() >= 1, "{drained}");
    assert_eq!(drained["complete"], true);
    assert_eq!(stopped["undelivered"], 0);
    assert_eq!(kafka.consume(1, delivered as usize, Duration::from_secs(20)).len() as u64, delivered);
}

#[test]
fn check_passes_against_the_broker_and_fails_naming_what_is_missing() {
    let kafka = Kafka::start(2);
    let bootstrap = kafka.bootstrap();
    let ok = command(&[("KAFKA_BOOTSTRAP_SERVERS", &bootstrap), ("KAFKA_TOPIC", &kafka.topic), ("LOG_FORMAT", "json")])
        .arg("check")
        .output()
        .unwrap();
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stdout));
    let lines = json_lines(&ok);
    let passed = lines.iter().find(|l| l["event"] == "check_passed").expect("a check_passed line");
    assert_eq!(passed["partitions"], 2);
    assert_eq!(passed["records"], 10000);
    assert_eq!(passed["producer_id_assigned"], true);
    assert!(
        passed["expected_messages_per_s"].as_f64().unwrap() > 0.0
            && passed["expected_bytes_per_s"].as_f64().unwrap() > 0.0
    );
    assert!(lines.iter().any(|l| l["event"] == "effective_config"));
    assert!(kafka.consume(2, 0, Duration::from_secs(3)).is_empty(), "check produced something");

    let missing_topic = command(&[("KAFKA_BOOTSTRAP_SERVERS", &bootstrap), ("KAFKA_TOPIC", "no-such-topic")])
        .arg("check")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&missing_topic.stdout);
    assert_eq!(missing_topic.status.code(), Some(exit::KAFKA_UNAVAILABLE), "{text}");
    assert!(text.contains("topic \"no-such-topic\" does not exist"), "{text}");

    let missing_object = command(&[("KAFKA_BOOTSTRAP_SERVERS", &bootstrap), ("DATASET_URI", "/nonexistent/x.csv")])
        .arg("check")
        .output()
        .unwrap();
    assert_eq!(
        missing_object.status.code(),
        Some(exit::NOT_FOUND),
        "{}",
        String::from_utf8_lossy(&missing_object.stdout)
    );

    let t = Instant::now();
    let no_broker =
        command(&[("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9"), ("CHECK_TIMEOUT", "1")]).arg("check").output().unwrap();
    assert_eq!(no_broker.status.code(), Some(exit::KAFKA_UNAVAILABLE));
    assert!(String::from_utf8_lossy(&no_broker.stdout).contains("CHECK_TIMEOUT=1s"));
    assert!(t.elapsed() < Duration::from_secs(10), "check waited {:?}", t.elapsed());
}

#[test]
fn preview_prints_messages_as_json_lines_on_stdout_and_logs_on_stderr() {
    let out = command(&[("KAFKA_BOOTSTRAP_SERVERS", "embedded")]).args(["preview", "5"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let sample = kafka_feeder::dataset::source::BUNDLED_SAMPLE;
    let (dataset, _) = kafka_feeder::dataset::load_csv(sample, "sample", None).unwrap();
    let records: std::collections::HashSet<String> =
        dataset.iter().map(|r| serde_json::from_slice::<serde_json::Value>(r).unwrap().to_string()).collect();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    assert_eq!(lines.len(), 5, "{stdout}");
    for l in &lines {
        assert!(records.contains(&l["value"].to_string()), "not a dataset record: {l}");
        assert!(l.get("key").is_some() && l["headers"].is_object(), "{l}");
    }
    assert!(String::from_utf8_lossy(&out.stderr).contains("dataset loaded"), "logs go to stderr");
    let bad = command(&[("KAFKA_BOOTSTRAP_SERVERS", "embedded")]).args(["preview", "many"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(exit::CONFIG));
}

#[test]
fn sighup_reloads_the_dataset_at_once_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = crate::common::write_file(dir.path(), "t.csv", b"id\n1\n2\n");
    let (_kafka, mut child, rx) = running_feeder(&[("DATASET_URI", &path), ("LOG_FORMAT", "json")]);
    // The handler is installed as the loop starts, just after "connected".
    std::thread::sleep(Duration::from_millis(500));
    std::fs::write(&path, b"id\n1\n2\n3\n").unwrap();
    kill(&child, "-HUP");
    let lines = wait_for_line(&rx, "\"event\":\"dataset_reloaded\"", Duration::from_secs(10));
    let reloaded: serde_json::Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert_eq!(reloaded["trigger"], "SIGHUP", "{reloaded}");
    let loaded =
        lines.iter().rev().find(|l| l.contains("\"event\":\"dataset_loaded\"")).expect("a load line for the reload");
    let loaded: serde_json::Value = serde_json::from_str(loaded).unwrap();
    assert_eq!((loaded["records"].as_u64(), loaded["of"].as_u64()), (Some(3), Some(3)), "{loaded}");
    assert!(child.try_wait().unwrap().is_none(), "still running after SIGHUP");
    kill(&child, "-TERM");
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn sighup_during_a_replay_is_answered_with_a_line_and_the_replay_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let rows: String = (0..200).map(|i| format!("{i},2026-01-01T00:{:02}:{:02}Z\n", i / 60, i % 60)).collect();
    let path = crate::common::write_file(dir.path(), "r.csv", format!("id,ts\n{rows}").as_bytes());
    let kafka = Kafka::start(1);
    let bootstrap = kafka.bootstrap();
    let mut child = command(&[
        ("KAFKA_BOOTSTRAP_SERVERS", &bootstrap),
        ("KAFKA_TOPIC", &kafka.topic),
        ("DATASET_URI", &path),
        ("REPLAY_TIME_FIELD", "ts"),
        ("REPLAY_SPEED", "10"),
        ("LOG_FORMAT", "json"),
    ])
    .spawn()
    .unwrap();
    let rx = stream_lines(&mut child);
    wait_for_line(&rx, "\"event\":\"replay_ready\"", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(500));
    kill(&child, "-HUP");
    wait_for_line(&rx, "\"event\":\"sighup_ignored\"", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(300));
    assert!(child.try_wait().unwrap().is_none(), "still running after SIGHUP");
    kill(&child, "-TERM");
    // A SIGTERM before the replay's end is exit 11 (interrupted), which SIGHUP's default would not give.
    assert_eq!(child.wait().unwrap().code(), Some(exit::INTERRUPTED));
}
