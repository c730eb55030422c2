//! Naming a broker's refusal for the operator. librdkafka reports a wrong
//! password, an untrusted certificate or a protocol mismatch in its own words,
//! deep in a longer reason or only at info level, and then retries forever.
//! These rules turn each into one [`Refusal`] whose line names the setting to
//! change; anything else stays librdkafka's own line.

use rdkafka::error::RDKafkaErrorCode;

use crate::observe::events::Refusal;

/// A refusal from librdkafka's error callback (`code` and its reason).
pub fn from_error(code: Option<RDKafkaErrorCode>, reason: &str) -> Option<Refusal> {
    match code {
        Some(RDKafkaErrorCode::Authentication) => Some(Refusal::Authentication),
        Some(RDKafkaErrorCode::SSL) => Some(from_text(reason).unwrap_or(Refusal::Tls)),
        _ => from_text(reason),
    }
}

/// A refusal from one of librdkafka's log lines; `tls` is whether the client
/// speaks TLS (`security.protocol` other than plaintext). Such a line is
/// replaced by the refusal's own (librdkafka repeats it several times a second).
pub fn from_log(message: &str, tls: bool) -> Option<Refusal> {
    // A broker that hangs up on the very first request (ApiVersion) almost
    // always speaks TLS or SASL to a plaintext client; librdkafka says so only
    // at info level.
    if message.contains("APIVERSION_QUERY") && !tls {
        return Some(Refusal::ProtocolMismatch);
    }
    from_text(message)
}

/// With `KAFKA_SASL_MECHANISM=AWS_MSK_IAM` (`iam`), a SASL refusal is a refused
/// IAM token, whose line names the IAM policy's actions instead of a password.
pub fn with_iam(refusal: Option<Refusal>, iam: bool) -> Option<Refusal> {
    match refusal {
        Some(Refusal::Authentication) if iam => Some(Refusal::IamAuthentication),
        other => other,
    }
}

/// librdkafka reporting that our token callback failed: not the broker's
/// refusal (the `msk_iam_token_failed` line says why).
pub fn is_token_failure(reason: &str) -> bool {
    reason.contains("Failed to acquire SASL OAUTHBEARER token")
}

/// librdkafka's words for each refusal, whatever the code it comes with.
fn from_text(text: &str) -> Option<Refusal> {
    let lower = text.to_ascii_lowercase();
    if lower.contains("sasl authentication error") {
        Some(Refusal::Authentication)
    } else if lower.contains("certificate verify failed") {
        Some(Refusal::Certificate)
    } else if lower.contains("ssl handshake failed") {
        // A TLS client against a plaintext listener: the handshake reads garbage.
        Some(Refusal::Tls)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reasons as librdkafka 2.x words them (seen in the e2e TLS/SASL scenario).
    const WRONG_PASSWORD: &str = "sasl_ssl://localhost:9093/bootstrap: SASL authentication error: Authentication failed: Invalid username or password (after 4ms in state AUTH_REQ)";
    const UNKNOWN_CA: &str = "ssl://localhost:9093/bootstrap: SSL handshake failed: error:0A000086:SSL routines::certificate verify failed: broker certificate could not be verified, verify that ssl.ca.location is correctly configured or root CA certificates are installed (after 3ms in state SSL_HANDSHAKE)";
    const TLS_TO_PLAINTEXT: &str = "ssl://localhost:9092/bootstrap: SSL handshake failed: error:0A00010B:SSL routines::wrong version number (after 1ms in state SSL_HANDSHAKE)";
    const PLAINTEXT_TO_TLS: &str = "localhost:9093/bootstrap: Disconnected while requesting ApiVersion: might be caused by incorrect security.protocol configuration (connecting to a SSL listener?) or broker version is < 0.10 (see api.version.request) (after 2ms in state APIVERSION_QUERY)";

    #[test]
    fn names_a_wrong_password_an_untrusted_certificate_and_a_tls_mismatch() {
        assert_eq!(from_error(Some(RDKafkaErrorCode::Authentication), WRONG_PASSWORD), Some(Refusal::Authentication));
        // Some librdkafka versions report it under a transport code: the words decide.
        assert_eq!(
            from_error(Some(RDKafkaErrorCode::BrokerTransportFailure), WRONG_PASSWORD),
            Some(Refusal::Authentication)
        );
        // The code alone says it when the words differ (a mechanism the broker lacks).
        let mechanism = "sasl_ssl://h:9093/bootstrap: SASL handshake failed (start (-4)): SASL mechanism SCRAM-SHA-512 not supported by broker";
        assert_eq!(from_error(Some(RDKafkaErrorCode::Authentication), mechanism), Some(Refusal::Authentication));
        assert_eq!(from_error(Some(RDKafkaErrorCode::SSL), UNKNOWN_CA), Some(Refusal::Certificate));
        assert_eq!(from_error(Some(RDKafkaErrorCode::SSL), TLS_TO_PLAINTEXT), Some(Refusal::Tls));
    }

    #[test]
    fn a_broker_that_is_down_is_not_a_refusal() {
        let down = "localhost:9092/bootstrap: Connect to ipv4#127.0.0.1:9092 failed: Connection refused (after 0ms in state CONNECT)";
        assert_eq!(from_error(Some(RDKafkaErrorCode::BrokerTransportFailure), down), None);
        assert_eq!(from_error(Some(RDKafkaErrorCode::AllBrokersDown), "1/1 brokers are down"), None);
        assert_eq!(from_error(None, down), None);
    }

    #[test]
    fn a_hang_up_on_the_first_request_is_a_mismatch_only_for_a_plaintext_client() {
        assert_eq!(from_log(PLAINTEXT_TO_TLS, false), Some(Refusal::ProtocolMismatch));
        // A TLS client that is hung up on has a TLS problem, named by the error callback.
        assert_eq!(from_log(PLAINTEXT_TO_TLS, true), None);
        assert_eq!(from_log("localhost:9092/1: Broker changed state UP -> DOWN", false), None);
    }

    #[test]
    fn librdkafka_lines_that_repeat_a_refusal_are_recognised() {
        assert_eq!(from_log(UNKNOWN_CA, true), Some(Refusal::Certificate));
        assert_eq!(from_log(WRONG_PASSWORD, true), Some(Refusal::Authentication));
        assert_eq!(from_log(TLS_TO_PLAINTEXT, true), Some(Refusal::Tls));
        assert_eq!(
            from_error(Some(RDKafkaErrorCode::SSL), "ssl://h:1/bootstrap: SSL transport error"),
            Some(Refusal::Tls)
        );
    }

    #[test]
    fn with_aws_msk_iam_a_sasl_refusal_is_the_iam_tokens() {
        let refused = from_error(Some(RDKafkaErrorCode::Authentication), WRONG_PASSWORD);
        assert_eq!(with_iam(refused, true), Some(Refusal::IamAuthentication));
        assert_eq!(with_iam(refused, false), Some(Refusal::Authentication));
        assert_eq!(with_iam(Some(Refusal::Certificate), true), Some(Refusal::Certificate));
        assert_eq!(with_iam(None, true), None);
        // librdkafka's words when the token callback fails (rd_kafka_oauthbearer_set_token_failure).
        assert!(is_token_failure("Failed to acquire SASL OAUTHBEARER token: no AWS credentials"));
        assert!(!is_token_failure(WRONG_PASSWORD));
    }
}
