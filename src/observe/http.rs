//! The small HTTP server for orchestrators, Prometheus and people: `GET /healthz`,
//! `GET /readyz`, `GET /metrics`, and `GET /status` and `GET /` ([`super::status`]).
//!
//! axum does the HTTP; handlers never read a request body, every request is
//! bounded by a timeout, unknown paths get 404 and other methods 405. The
//! server lives for the whole process, drain included, and stops when its
//! token is cancelled.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::timeout::TimeoutLayer;

use crate::observe::events::{self, Stats};
use crate::observe::health::Status;
use crate::observe::metrics::Format;

pub fn router(stats: Arc<Stats>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(super::status::routes())
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_secs(5)))
        .with_state(stats)
}

/// Serves until `shutdown` is cancelled.
pub async fn serve(listener: TcpListener, stats: Arc<Stats>, shutdown: CancellationToken) -> std::io::Result<()> {
    axum::serve(listener, router(stats)).with_graceful_shutdown(shutdown.cancelled_owned()).await
}

fn status_response(status: Status) -> Response {
    match status {
        Status::Ok(text) => (StatusCode::OK, format!("{text}\n")).into_response(),
        Status::Failing(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n")).into_response(),
    }
}

async fn healthz(State(stats): State<Arc<Stats>>) -> Response {
    status_response(stats.health.liveness())
}

async fn readyz(State(stats): State<Arc<Stats>>) -> Response {
    status_response(stats.health.readiness())
}

async fn metrics(State(stats): State<Arc<Stats>>, headers: HeaderMap) -> Response {
    let format = Format::negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    ([(header::CONTENT_TYPE, format.content_type())], events::metrics_scraped(&stats, format)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get_status(stats: &Arc<Stats>, method: &str, path: &str) -> (u16, String) {
        get_with(stats, method, path, "").await
    }

    async fn get_with(stats: &Arc<Stats>, method: &str, path: &str, headers: &str) -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let token = CancellationToken::new();
        let server = tokio::spawn(serve(listener, Arc::clone(stats), token.clone()));
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(format!("{method} {path} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut buf = String::new();
        s.read_to_string(&mut buf).await.unwrap();
        token.cancel();
        server.await.unwrap().unwrap();
        let code = buf.split_whitespace().nth(1).unwrap().parse().unwrap();
        (code, buf)
    }

    #[tokio::test]
    async fn readyz_is_503_until_loaded_and_broker_answered() {
        let stats = Arc::new(Stats::new("none"));
        let (code, body) = get_status(&stats, "GET", "/readyz").await;
        assert_eq!(code, 503);
        assert!(body.contains("dataset not loaded"), "{body}");
        stats.health.dataset_loaded();
        stats.health.broker_answered();
        assert_eq!(get_status(&stats, "GET", "/readyz").await.0, 200);
    }

    #[tokio::test(start_paused = true)]
    async fn healthz_turns_503_when_the_loop_stalls() {
        let stats = Arc::new(Stats::new("none"));
        assert_eq!(get_status(&stats, "GET", "/healthz").await.0, 200);
        stats.health.loop_started(Duration::from_secs(1));
        assert_eq!(get_status(&stats, "GET", "/healthz").await.0, 200);
        tokio::time::advance(Duration::from_secs(11)).await;
        let (code, body) = get_status(&stats, "GET", "/healthz").await;
        assert_eq!(code, 503, "{body}");
        assert!(body.contains("stalled"), "{body}");
    }

    #[tokio::test]
    async fn metrics_are_openmetrics_and_bad_requests_are_refused() {
        let stats = Arc::new(Stats::new("high"));
        let accept = "Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5\r\n";
        let (code, body) = get_with(&stats, "GET", "/metrics", accept).await;
        assert_eq!(code, 200);
        assert!(body.contains("application/openmetrics-text"), "{body}");
        assert!(body.contains("# EOF"), "{body}");
        let (code, body) = get_with(&stats, "GET", "/metrics", "Accept: text/plain\r\n").await;
        assert_eq!(code, 200);
        assert!(body.contains("text/plain; version=0.0.4"), "{body}");
        assert!(body.contains("# TYPE kafka_feeder_messages_delivered_total counter"), "{body}");
        assert!(body.contains("kafka_feeder_build_info{version="), "{body}");
        assert_eq!(get_status(&stats, "GET", "/nope").await.0, 404);
        assert_eq!(get_status(&stats, "POST", "/metrics").await.0, 405);
        assert_eq!(get_status(&stats, "DELETE", "/healthz").await.0, 405);
    }

    #[tokio::test]
    async fn status_and_the_page_answer_get_only() {
        let stats = Arc::new(Stats::new("none"));
        let (code, body) = get_status(&stats, "GET", "/status").await;
        assert_eq!(code, 200, "{body}");
        assert!(body.contains("application/json") && body.contains("\"delivered\":0"), "{body}");
        let (code, body) = get_status(&stats, "GET", "/").await;
        assert_eq!(code, 200);
        assert!(body.contains("text/html") && body.contains("default-src 'none'"), "{}", &body[..400]);
        assert_eq!(get_status(&stats, "POST", "/status").await.0, 405);
        assert_eq!(get_status(&stats, "PUT", "/").await.0, 405);
        assert_eq!(get_status(&stats, "GET", "/status/x").await.0, 404);
        assert_eq!(get_status(&stats, "GET", "/index.html").await.0, 404);
    }

    /// A client announcing a huge body gets its answer without the server
    /// waiting for (or reading) the body.
    #[tokio::test]
    async fn a_huge_body_is_never_read() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let stats = Arc::new(Stats::new("none"));
        for (method, path, code) in [("POST", "/status", "405"), ("GET", "/status", "200"), ("POST", "/", "405")] {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let token = CancellationToken::new();
            let server = tokio::spawn(serve(listener, Arc::clone(&stats), token.clone()));
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            let head = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000000\r\n\r\n");
            s.write_all(head.as_bytes()).await.unwrap();
            s.write_all(&[b'x'; 4096]).await.unwrap();
            let mut buf = [0u8; 64];
            let n = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf))
                .await
                .expect("answered without waiting for the body")
                .unwrap();
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            assert!(text.starts_with(&format!("HTTP/1.1 {code}")), "{method} {path}: {text}");
            token.cancel();
            drop(s);
            let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
        }
    }
}
