//! Tests of the MSK IAM token: against AWS's Python signer, the refresh with an
//! injected clock, and the bounded wait for credentials.

use super::*;
use secrecy::ExposeSecret;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};

/// The Python signer's tokens for fixed inputs, made by `scripts/msk_iam_tokens.py`.
/// `MSK_IAM_TOKENS` names a file it regenerated in this run (scripts/test.sh).
fn fixtures() -> (String, serde_json::Value) {
    match std::env::var("MSK_IAM_TOKENS") {
        Ok(path) => {
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("MSK_IAM_TOKENS={path}: {e}"));
            (path, serde_json::from_str(&text).unwrap())
        }
        Err(_) => (
            "tests/fixtures/msk_iam_tokens.json".into(),
            serde_json::from_str(include_str!("../../tests/fixtures/msk_iam_tokens.json")).unwrap(),
        ),
    }
}

/// The token's URL: the part before `?`, and each `name=value` as written (still encoded).
fn decoded(token: &str) -> (String, Vec<(String, String)>) {
    let url = String::from_utf8(base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).unwrap()).unwrap();
    let (base, query) = url.split_once('?').unwrap();
    let params =
        query.split('&').map(|p| p.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).unwrap()).collect();
    (base.to_owned(), params)
}

fn at(text: &str) -> SystemTime {
    let t = text.parse::<jiff::Timestamp>().unwrap();
    UNIX_EPOCH + Duration::from_nanos(t.as_nanosecond() as u64)
}

fn credentials(case: &serde_json::Value) -> Credentials {
    Credentials::new(
        case["access_key_id"].as_str().unwrap(),
        case["secret_access_key"].as_str().unwrap(),
        case["session_token"].as_str().map(str::to_owned),
        None,
        "test",
    )
}

#[test]
fn tokens_are_the_python_signers_but_for_the_user_agent() {
    let (from, doc) = fixtures();
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 3, "{from}");
    assert!(cases.iter().any(|c| c["session_token"].is_string()) && cases.iter().any(|c| c["session_token"].is_null()));
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let ours =
            sign(&credentials(case), case["region"].as_str().unwrap(), at(case["time"].as_str().unwrap())).unwrap();
        let (our_base, mut our_params) = decoded(ours.value.expose_secret());
        let (their_base, mut their_params) = decoded(case["token"].as_str().unwrap());
        assert_eq!(our_base, their_base, "{name} ({from})");
        // The User-Agent is added after signing, last, and names the client.
        let (ua, our_ua) = our_params.pop().unwrap();
        let (their_ua_name, their_ua) = their_params.pop().unwrap();
        assert_eq!((ua.as_str(), their_ua_name.as_str()), ("User-Agent", "User-Agent"), "{name}");
        assert_eq!(our_ua, "kafka-feeder%2F".to_owned() + env!("CARGO_PKG_VERSION"), "{name}");
        assert!(their_ua.starts_with("aws-msk-iam-sasl-signer-python%2F"), "{name}: {their_ua}");
        // Every signed parameter, its encoding, its place, and the signature.
        assert_eq!(our_params, their_params, "{name} ({from}): signed parameters differ");
        assert!(our_params.iter().any(|(k, _)| k == "X-Amz-Signature"), "{name}");
        assert_eq!(
            case["session_token"].is_string(),
            our_params.iter().any(|(k, _)| k == "X-Amz-Security-Token"),
            "{name}: the session token is signed when there is one"
        );
        assert_eq!(ours.expires_ms(), case["expiry_ms"].as_i64().unwrap(), "{name}: expiry");
    }
}

#[test]
fn the_token_names_the_action_service_and_expiry_the_broker_checks() {
    let c = Credentials::new("AKID", "secret", None, None, "test");
    let t = sign(&c, "ap-southeast-2", at("2024-01-02T03:04:05Z")).unwrap();
    let (base, params) = decoded(t.value.expose_secret());
    assert_eq!(base, "https://kafka.ap-southeast-2.amazonaws.com/");
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("Action"), Some("kafka-cluster%3AConnect"));
    assert_eq!(get("X-Amz-Expires"), Some("900"));
    assert_eq!(get("X-Amz-Credential"), Some("AKID%2F20240102%2Fap-southeast-2%2Fkafka-cluster%2Faws4_request"));
    assert_eq!(params.first().map(|(k, _)| k.as_str()), Some("Action"));
    assert!(!t.value.expose_secret().contains('=') && !t.value.expose_secret().contains('+'), "base64url, no padding");
    assert!(!format!("{t:?}").contains(t.value.expose_secret()), "Debug shows no token");
}

#[test]
fn a_presigned_token_dies_with_its_session() {
    let start = at("2024-01-02T03:04:05Z");
    let mut c = Credentials::new("ASIA", "secret", Some("session".into()), Some(start + Duration::from_secs(120)), "t");
    assert_eq!(sign(&c, "eu-west-1", start).unwrap().expires, start + Duration::from_secs(120));
    *c.expiry_mut() = None;
    assert_eq!(sign(&c, "eu-west-1", start).unwrap().expires, start + EXPIRES_IN);
}

#[test]
fn the_region_is_read_from_an_msk_broker_host_name() {
    let r = |s: &str| region_from_servers(s);
    assert_eq!(
        r("b-1.feeds.x1y2z3.c2.kafka.eu-west-1.amazonaws.com:9098,b-2.feeds.x1y2z3.c2.kafka.eu-west-1.amazonaws.com:9098")
            .as_deref(),
        Some("eu-west-1")
    );
    assert_eq!(r("boot-abc.c1.kafka-serverless.us-east-2.amazonaws.com:9098").as_deref(), Some("us-east-2"));
    assert_eq!(r("localhost:9092,b-1.c.kafka.us-gov-west-1.amazonaws.com:9098").as_deref(), Some("us-gov-west-1"));
    assert_eq!(r("SASL_SSL://B-1.C.KAFKA.AP-SOUTH-1.AMAZONAWS.COM:9098").as_deref(), Some("ap-south-1"));
    assert_eq!(r("kafka.example.com:9092"), None);
    assert_eq!(r("127.0.0.1:9092"), None);
    assert_eq!(r("b-1.kafka.not_a_region.amazonaws.com:9098"), None);
}

/// A clock the test sets, in whole seconds since the epoch.
fn test_clock(start: u64) -> (Arc<AtomicU64>, Clock) {
    let now = Arc::new(AtomicU64::new(start));
    let n = Arc::clone(&now);
    (now, Arc::new(move || UNIX_EPOCH + Duration::from_secs(n.load(SeqCst))))
}

/// Static credentials that count how often they are asked for.
#[derive(Debug, Clone)]
struct Counting(Arc<AtomicUsize>, Option<SystemTime>);

impl ProvideCredentials for Counting {
    fn provide_credentials<'a>(&'a self) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        self.0.fetch_add(1, SeqCst);
        aws_credential_types::provider::future::ProvideCredentials::ready(Ok(Credentials::new(
            "AKID", "secret", None, self.1, "test",
        )))
    }
}

#[test]
fn a_token_is_reused_while_fresh_and_replaced_before_it_expires() {
    let t0 = 1_714_564_800;
    let (now, clock) = test_clock(t0);
    let fetched = Arc::new(AtomicUsize::new(0));
    let source = Source::Provider(SharedCredentialsProvider::new(Counting(Arc::clone(&fetched), None)));
    let iam = MskIam::new("eu-west-1", source, clock, Duration::from_secs(5)).unwrap();
    let first = iam.token().unwrap();
    assert_eq!((first.signed_at, first.expires), (UNIX_EPOCH + Duration::from_secs(t0), first.signed_at + EXPIRES_IN));
    // A rebuilt producer asking meanwhile gets the same token, without a fetch.
    now.store(t0 + 599, SeqCst);
    assert_eq!(iam.token().unwrap().value.expose_secret(), first.value.expose_secret());
    assert_eq!(fetched.load(SeqCst), 1);
    // librdkafka asks again at 80% of the lifetime (t0 + 720): less than 300 s
    // are left from t0 + 600 on, so it gets a new one, signed then.
    now.store(t0 + 720, SeqCst);
    let second = iam.token().unwrap();
    assert_ne!(second.value.expose_secret(), first.value.expose_secret());
    assert_eq!(second.signed_at, UNIX_EPOCH + Duration::from_secs(t0 + 720));
    assert!(decoded(second.value.expose_secret()).1.contains(&("X-Amz-Date".into(), "20240501T121200Z".into())));
    assert_eq!(fetched.load(SeqCst), 2);
}

#[test]
fn short_lived_credentials_make_a_token_that_is_refreshed_sooner() {
    let t0 = 1_714_564_800;
    let (now, clock) = test_clock(t0);
    let fetched = Arc::new(AtomicUsize::new(0));
    let session_end = UNIX_EPOCH + Duration::from_secs(t0 + 400);
    let source = Source::Provider(SharedCredentialsProvider::new(Counting(Arc::clone(&fetched), Some(session_end))));
    let iam = MskIam::new("eu-west-1", source, clock, Duration::from_secs(5)).unwrap();
    assert_eq!(iam.token().unwrap().expires, session_end);
    now.store(t0 + 99, SeqCst);
    iam.token().unwrap();
    assert_eq!(fetched.load(SeqCst), 1);
    now.store(t0 + 100, SeqCst);
    iam.token().unwrap();
    assert_eq!(fetched.load(SeqCst), 2, "300 s before the session ends, a new fetch");
}

/// A credential provider that never answers (an instance-metadata endpoint
/// that swallows packets), or that finds nothing.
#[derive(Debug)]
struct Never;

impl ProvideCredentials for Never {
    fn provide_credentials<'a>(&'a self) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        aws_credential_types::provider::future::ProvideCredentials::new(std::future::pending())
    }
}

#[derive(Debug)]
struct Nothing;

impl ProvideCredentials for Nothing {
    fn provide_credentials<'a>(&'a self) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        aws_credential_types::provider::future::ProvideCredentials::ready(Err(CredentialsError::not_loaded(
            "no providers in chain provided credentials",
        )))
    }
}

#[test]
fn a_chain_that_never_answers_is_given_up_on_after_the_timeout() {
    let (_, clock) = test_clock(1_714_564_800);
    let iam = MskIam::new(
        "eu-west-1",
        Source::Provider(SharedCredentialsProvider::new(Never)),
        clock,
        Duration::from_millis(200),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let e = iam.token().unwrap_err();
    assert!(matches!(e, MskIamError::Timeout(_)), "{e}");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    assert!(e.to_string().contains("KAFKA_SASL_MECHANISM=AWS_MSK_IAM"), "{e}");
}

#[test]
fn no_credentials_names_the_chain_and_exits_like_s3() {
    let (_, clock) = test_clock(1_714_564_800);
    let iam = MskIam::new("eu-west-1", Source::Provider(SharedCredentialsProvider::new(Nothing)), clock, FETCH_TIMEOUT)
        .unwrap();
    let e = iam.token().unwrap_err();
    assert!(matches!(e, MskIamError::NoCredentials { .. }), "{e}");
    for named in ["AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "instance role"] {
        assert!(e.to_string().contains(named), "{named} not in: {e}");
    }
    assert_eq!(MskIamError::EXIT_CODE, crate::exit::ACCESS_DENIED);
}

#[tokio::test(flavor = "current_thread")]
async fn the_first_token_is_fetched_without_the_callers_runtime() {
    // The credential thread runs its own runtime: a current-thread runtime
    // waiting here does not have to drive the fetch.
    let (_, clock) = test_clock(1_714_564_800);
    let fetched = Arc::new(AtomicUsize::new(0));
    let source = Source::Provider(SharedCredentialsProvider::new(Counting(Arc::clone(&fetched), None)));
    let iam = Arc::new(MskIam::new("eu-west-1", source, clock, Duration::from_secs(5)).unwrap());
    let t = iam.first_token().await.unwrap();
    assert_eq!(iam.token().unwrap().value.expose_secret(), t.value.expose_secret());
    assert_eq!(fetched.load(SeqCst), 1);
}
