//! `KAFKA_SASL_MECHANISM=AWS_MSK_IAM`: Amazon MSK's IAM access control through
//! librdkafka's SASL/OAUTHBEARER.
//!
//! The token is what the AWS MSK signers (Java, Python, Go) send: a SigV4
//! presigned `GET https://kafka.<region>.amazonaws.com/?Action=kafka-cluster%3AConnect`
//! (service `kafka-cluster`, `X-Amz-Expires=900`), a `User-Agent` parameter added
//! after signing, the whole URL base64url-encoded without padding. `aws-sigv4`
//! signs it; the credentials come from the same AWS chain as S3's (static keys,
//! profile, web identity/IRSA, container or instance role).
//!
//! The `aws-msk-iam-sasl-signer` crate was not used: it signs at
//! `SystemTime::now()` (no clock can be injected, so neither a fixed-time
//! comparison with the Python signer nor a refresh test is possible) and pulls
//! in the STS SDK, chrono and url for what is one call to `aws-sigv4` here.
//!
//! librdkafka asks for a token from its own threads (the producer's polling
//! thread, or whichever thread flushes it), synchronously. Credentials are
//! async (a web identity or instance role is an HTTP call), so they are fetched
//! on a thread of this module's own with a current-thread runtime: the caller
//! waits on a channel for at most [`FETCH_TIMEOUT`] and never blocks, or
//! depends on, the daemon's runtime. The token is a credential: it is kept in a
//! [`SecretString`], never logged, and handed to librdkafka only.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use base64::Engine as _;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use secrecy::SecretString;

/// What `KAFKA_SASL_MECHANISM` says for MSK IAM (the Java and Python clients' name).
pub const MECHANISM: &str = "AWS_MSK_IAM";
/// The SigV4 service name of an MSK cluster.
pub const SIGNING_NAME: &str = "kafka-cluster";
/// The action the token asks for; `WriteData` and the topic actions are
/// checked by the broker per request against the same principal.
pub const ACTION: &str = "kafka-cluster:Connect";
/// How long a token is valid (what every MSK signer uses).
pub const EXPIRES_IN: Duration = Duration::from_secs(900);
/// A token with less than this left is replaced. librdkafka asks again at 80%
/// of the lifetime it was given (180 s before a 900 s token expires), so each of
/// its refreshes gets a new token, while a second producer built meanwhile (a
/// rebuild) reuses the current one.
pub const REFRESH_BEFORE: Duration = Duration::from_secs(300);
/// The longest librdkafka's thread waits for the credential chain (a web
/// identity or instance-role call); librdkafka retries a failed refresh after 10 s.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Identifies this client to MSK, as the signers' `User-Agent` parameter does.
pub const USER_AGENT: &str = concat!("kafka-feeder/", env!("CARGO_PKG_VERSION"));

/// What a query value is encoded with: everything but RFC 3986's unreserved
/// characters, as SigV4's canonical query and Python's `urlencode` both do.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// Why no token could be made. Each names what to fix; all exit with
/// [`MskIamError::EXIT_CODE`], the code of S3's credential failures.
#[derive(Debug, thiserror::Error)]
pub enum MskIamError {
    #[error("no AWS credentials for KAFKA_SASL_MECHANISM=AWS_MSK_IAM ({cause}): the chain tried AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile (AWS_PROFILE), a web identity (IRSA: AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE), a container role and the instance role; set one of them")]
    NoCredentials { cause: String },
    #[error("the AWS credential chain did not answer within {}s for KAFKA_SASL_MECHANISM=AWS_MSK_IAM; check the web identity, container or instance-metadata endpoint it uses", .0.as_secs())]
    Timeout(Duration),
    #[error("the AWS credential chain failed for KAFKA_SASL_MECHANISM=AWS_MSK_IAM: {cause}")]
    Provider { cause: String },
    #[error("cannot sign the AWS_MSK_IAM token: {0}")]
    Sign(String),
    #[error("cannot start the AWS_MSK_IAM credential thread: {0}")]
    Thread(#[source] std::io::Error),
}

impl MskIamError {
    pub const EXIT_CODE: i32 = crate::exit::ACCESS_DENIED;
}

/// A signed token and when it stops being valid.
#[derive(Debug, Clone)]
pub struct Token {
    /// The base64url text librdkafka sends in SASL/OAUTHBEARER.
    pub value: SecretString,
    /// `X-Amz-Date`: when it was signed (whole seconds).
    pub signed_at: SystemTime,
    /// `signed_at` + 900 s, or the credentials' own expiry when that is sooner
    /// (a presigned URL dies with its session).
    pub expires: SystemTime,
}

impl Token {
    /// Still good enough to hand out at `now`?
    pub fn fresh_at(&self, now: SystemTime) -> bool {
        now + REFRESH_BEFORE < self.expires
    }

    /// `expires` in milliseconds since the epoch, as librdkafka takes a lifetime.
    pub fn expires_ms(&self) -> i64 {
        self.expires.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
    }
}

/// Signs the MSK token for `region` with `credentials` at `at`. Pure: the same
/// inputs give the same token.
pub fn sign(credentials: &Credentials, region: &str, at: SystemTime) -> Result<Token, MskIamError> {
    use aws_sigv4::http_request::{self, SignableBody, SignableRequest, SignatureLocation, SigningSettings};
    let host = format!("kafka.{region}.amazonaws.com");
    let action = utf8_percent_encode(ACTION, QUERY_VALUE);
    let mut url = format!("https://{host}/?Action={action}");
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(EXPIRES_IN);
    let identity = credentials.clone().into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(SIGNING_NAME)
        .time(at)
        .settings(settings)
        .build()
        .map_err(|e| MskIamError::Sign(e.to_string()))?;
    let request = SignableRequest::new("GET", url.as_str(), std::iter::empty(), SignableBody::Bytes(&[]))
        .map_err(|e| MskIamError::Sign(e.to_string()))?;
    let (instructions, _) =
        http_request::sign(request, &params.into()).map_err(|e| MskIamError::Sign(e.to_string()))?.into_parts();
    // The parameters in the order the Python and Java signers write them: the
    // signature last (aws-sigv4 lists the session token after it). Order is not
    // signed, but the same order makes the same token.
    let (signature, rest): (Vec<_>, Vec<_>) =
        instructions.params().iter().partition(|(name, _)| *name == "X-Amz-Signature");
    for (name, value) in rest.iter().chain(&signature) {
        url.push_str(&format!("&{name}={}", utf8_percent_encode(value, QUERY_VALUE)));
    }
    url.push_str(&format!("&User-Agent={}", utf8_percent_encode(USER_AGENT, QUERY_VALUE)));
    let signed_at = UNIX_EPOCH
        + Duration::from_secs(at.duration_since(UNIX_EPOCH).map_err(|e| MskIamError::Sign(e.to_string()))?.as_secs());
    let mut expires = signed_at + EXPIRES_IN;
    if let Some(session_end) = credentials.expiry() {
        expires = expires.min(session_end);
    }
    let value = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url.as_bytes());
    Ok(Token { value: SecretString::from(value), signed_at, expires })
}

/// The region in an MSK broker's host name (`b-1.c.x.c2.kafka.eu-west-1.amazonaws.com`,
/// `boot-x.c1.kafka-serverless.us-east-1.amazonaws.com`), from the first of
/// `servers` that has one.
pub fn region_from_servers(servers: &str) -> Option<String> {
    servers.split(',').find_map(|server| {
        let server = server.trim();
        let host = server.rsplit_once("://").map_or(server, |(_, hp)| hp);
        let host = host.rsplit_once(':').map_or(host, |(h, _)| h).to_ascii_lowercase();
        let labels: Vec<&str> = host.split('.').collect();
        let at = labels.iter().position(|l| *l == "kafka" || *l == "kafka-serverless")?;
        match labels.get(at + 1..)? {
            [region, "amazonaws", "com", ..] if is_region(region) => Some((*region).to_owned()),
            _ => None,
        }
    })
}

/// `eu-west-1`, `us-gov-east-1`, `cn-north-1`: letters and digits in dash-separated parts.
fn is_region(s: &str) -> bool {
    s.split('-').count() >= 3 && s.split('-').all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// What time it is; tests pass their own.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// Where the credentials come from.
pub enum Source {
    /// `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` (or `KEY`/`SECRET`), as for S3.
    Static(Credentials),
    /// The standard chain (profile, web identity, container, instance role),
    /// its STS calls in the token's region.
    DefaultChain,
    /// Any provider (tests).
    Provider(SharedCredentialsProvider),
}

type Reply = mpsc::SyncSender<Result<Credentials, CredentialsError>>;

/// Makes and keeps the token librdkafka asks for. Shared by every producer the
/// sink builds.
pub struct MskIam {
    region: String,
    requests: Mutex<mpsc::Sender<Reply>>,
    clock: Clock,
    timeout: Duration,
    current: Mutex<Option<Token>>,
}

impl std::fmt::Debug for MskIam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MskIam").field("region", &self.region).finish_non_exhaustive()
    }
}

impl MskIam {
    /// Starts the credential thread; nothing is fetched until the first token.
    pub fn new(region: &str, source: Source, clock: Clock, timeout: Duration) -> Result<Self, MskIamError> {
        let (tx, rx) = mpsc::channel::<Reply>();
        let chain_region = region.to_owned();
        std::thread::Builder::new()
            .name("msk-iam-credentials".into())
            .spawn(move || fetch_loop(source, &chain_region, rx, timeout))
            .map_err(MskIamError::Thread)?;
        Ok(Self { region: region.to_owned(), requests: Mutex::new(tx), clock, timeout, current: Mutex::new(None) })
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// The token to hand out now: the current one while it is fresh, else a
    /// new one signed with credentials fetched afresh. Blocks the calling
    /// thread (librdkafka's) for at most the timeout given to [`Self::new`].
    pub fn token(&self) -> Result<Token, MskIamError> {
        let now = (self.clock)();
        if let Some(t) = lock(&self.current).as_ref().filter(|t| t.fresh_at(now)) {
            return Ok(t.clone());
        }
        let credentials = self.credentials()?;
        let token = sign(&credentials, &self.region, (self.clock)())?;
        *lock(&self.current) = Some(token.clone());
        Ok(token)
    }

    /// The first token, from async code (startup): a run without credentials
    /// stops here, with the chain named, before it connects.
    pub async fn first_token(self: &Arc<Self>) -> Result<Token, MskIamError> {
        let me = Arc::clone(self);
        tokio::task::spawn_blocking(move || me.token())
            .await
            .map_err(|e| MskIamError::Thread(std::io::Error::other(e.to_string())))?
    }

    fn credentials(&self) -> Result<Credentials, MskIamError> {
        let (reply, answer) = mpsc::sync_channel(1);
        lock(&self.requests)
            .send(reply)
            .map_err(|_| MskIamError::Thread(std::io::Error::other("the credential thread has stopped")))?;
        match answer.recv_timeout(self.timeout) {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(classify(e, self.timeout)),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(MskIamError::Timeout(self.timeout)),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err(MskIamError::Thread(std::io::Error::other("the credential thread has stopped")))
            }
        }
    }
}

fn classify(e: CredentialsError, timeout: Duration) -> MskIamError {
    let cause = aws_sdk_s3::error::DisplayErrorContext(&e).to_string();
    match e {
        CredentialsError::CredentialsNotLoaded(_) => MskIamError::NoCredentials { cause },
        CredentialsError::ProviderTimedOut(_) => MskIamError::Timeout(timeout),
        _ => MskIamError::Provider { cause },
    }
}

/// The credential thread: answers each request with credentials from the
/// chain, each fetch bounded by `timeout`, until every sender is gone.
fn fetch_loop(source: Source, region: &str, requests: mpsc::Receiver<Reply>, timeout: Duration) {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        // Each request then fails with a disconnected channel, which says so.
        Err(_) => return,
    };
    let mut provider: Option<SharedCredentialsProvider> = None;
    while let Ok(reply) = requests.recv() {
        let result = runtime.block_on(async {
            let p = match &mut provider {
                Some(p) => p.clone(),
                slot => slot.insert(resolve(&source, region).await).clone(),
            };
            match tokio::time::timeout(timeout, p.provide_credentials()).await {
                Ok(r) => r,
                Err(_) => Err(CredentialsError::provider_timed_out(timeout)),
            }
        });
        // The asker may have given up waiting: nothing to do then.
        let _ = reply.send(result);
    }
}

async fn resolve(source: &Source, region: &str) -> SharedCredentialsProvider {
    match source {
        Source::Static(c) => SharedCredentialsProvider::new(c.clone()),
        Source::Provider(p) => p.clone(),
        Source::DefaultChain => {
            let chain = aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
                .region(aws_sdk_s3::config::Region::new(region.to_owned()))
                .build()
                .await;
            SharedCredentialsProvider::new(chain)
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
#[path = "msk_iam_tests.rs"]
mod tests;
