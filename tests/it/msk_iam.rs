//! `KAFKA_SASL_MECHANISM=AWS_MSK_IAM` as a process: what a run without AWS
//! credentials says and how it exits. (The token itself is tested against AWS's
//! Python signer in the unit tests, and end to end, verified by botocore in
//! front of a broker, in scripts/e2e scenario 15.)

use std::time::Duration;

use crate::process::{command, json_lines, wait_with_timeout};
use kafka_feeder::exit;

#[test]
fn without_credentials_it_exits_like_s3_naming_the_chain_before_connecting() {
    let child = command(&[
        ("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1"),
        ("KAFKA_SASL_MECHANISM", "AWS_MSK_IAM"),
        ("AWS_REGION", "eu-west-1"),
        // No instance-metadata call from a test (the chain's last resort).
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("LOG_FORMAT", "json"),
    ])
    .spawn()
    .unwrap();
    let out = wait_with_timeout(child, Duration::from_secs(30));
    let lines = json_lines(&out);
    assert_eq!(out.status.code(), Some(exit::ACCESS_DENIED), "{lines:#?}");
    let failed = lines.iter().find(|l| l["event"] == "failed").expect("a failed line");
    let said = failed["error"].as_str().unwrap();
    for named in ["KAFKA_SASL_MECHANISM=AWS_MSK_IAM", "AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE"]
    {
        assert!(said.contains(named), "{named} not in {said}");
    }
    assert_eq!(failed["exit_code"], exit::ACCESS_DENIED);
    assert!(
        !lines.iter().any(|l| l["event"] == "broker_connected" || l["event"] == "waiting_for_broker"),
        "{lines:#?}"
    );
}

#[test]
fn the_effective_configuration_shows_oauthbearer_and_no_secret() {
    let child = command(&[
        ("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1"),
        ("KAFKA_SASL_MECHANISM", "AWS_MSK_IAM"),
        ("AWS_REGION", "eu-west-1"),
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "msk-iam-secret-value"),
        ("AWS_SESSION_TOKEN", "msk-iam-session-value"),
        ("LOG_FORMAT", "json"),
        ("LOG_LEVEL", "debug"),
        // librdkafka's own SASL and security debugging too.
        ("KAFKA_PRODUCER_DEBUG", "security,broker,protocol"),
        ("MAX_MESSAGES", "1"),
        ("SHUTDOWN_TIMEOUT", "0"),
    ])
    .spawn()
    .unwrap();
    // Nothing listens on port 1: the run waits for a broker; a signal ends it.
    std::thread::sleep(Duration::from_secs(4));
    let _ = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let out = wait_with_timeout(child, Duration::from_secs(30));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines = json_lines(&out);
    let effective = lines.iter().find(|l| l["event"] == "effective_config").expect("effective_config");
    let settings = effective["settings"].as_str().unwrap();
    assert!(settings.contains("KAFKA_SASL_MECHANISM=AWS_MSK_IAM (env)"), "{settings}");
    assert!(settings.contains("producer.sasl.mechanism=OAUTHBEARER (KAFKA_SASL_MECHANISM)"), "{settings}");
    assert!(settings.contains("producer.security.protocol=SASL_SSL (KAFKA_SASL_MECHANISM)"), "{settings}");
    assert!(lines.iter().any(|l| l["event"] == "msk_iam_ready"), "the token was signed: {text}");
    // Neither the keys nor the token (base64 of https://kafka...), even at debug.
    for secret in ["msk-iam-secret-value", "msk-iam-session-value", "aHR0cHM6Ly9rYWZrYS", "X-Amz-Signature"] {
        assert!(!text.contains(secret) && !String::from_utf8_lossy(&out.stderr).contains(secret), "{secret} leaked");
    }
}
