//! Liveness and readiness, as the orchestrator sees them.
//!
//! Alive: the scheduling loop has handled a tick recently (or has not started
//! yet: loading a large dataset or waiting for a broker is not a reason to be
//! restarted). Ready: the dataset is loaded and a broker answered recently (a
//! metadata response or a delivery). Times are tokio's, so tests drive them
//! with `tokio::time::pause()`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Without a broker answer for this long, the daemon is not ready.
pub const BROKER_FRESHNESS: Duration = Duration::from_secs(30);
/// The loop is stalled after this many intervals without a tick…
pub const STALL_INTERVALS: u32 = 5;
/// …but never sooner than this (short intervals and a busy machine).
pub const MIN_STALL: Duration = Duration::from_secs(10);

const NEVER: u64 = u64::MAX;

pub struct Health {
    base: Instant,
    dataset_loaded: AtomicBool,
    /// Milliseconds since `base`, or `NEVER`.
    last_tick_ms: AtomicU64,
    last_broker_ms: AtomicU64,
    stall_after_ms: AtomicU64,
    /// `NOT_DELIVERING_AFTER`, in milliseconds.
    not_delivering_after_ms: AtomicU64,
    /// Failures since the last successful delivery.
    failing: Mutex<Failing>,
    /// Why the producer is broken beyond what rebuilding fixed, if it is.
    producer_broken: Mutex<Option<String>>,
    /// Why the broker refuses us, until it answers.
    broker_refused: Mutex<Option<&'static str>>,
}

/// Failures since the last successful delivery (or the start).
#[derive(Debug, Default)]
struct Failing {
    count: u64,
    /// When the stretch without a delivery began: the last delivery, or the start.
    since_ms: u64,
    last_reason: String,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            base: Instant::now(),
            dataset_loaded: AtomicBool::new(false),
            last_tick_ms: AtomicU64::new(NEVER),
            last_broker_ms: AtomicU64::new(NEVER),
            stall_after_ms: AtomicU64::new(NEVER),
            not_delivering_after_ms: AtomicU64::new(DEFAULT_NOT_DELIVERING_AFTER.as_millis() as u64),
            failing: Mutex::default(),
            producer_broken: Mutex::default(),
            broker_refused: Mutex::default(),
        }
    }
}

/// How long messages may fail with none delivered before the daemon is not ready.
pub const DEFAULT_NOT_DELIVERING_AFTER: Duration = Duration::from_secs(30);

#[derive(Debug, PartialEq, Eq)]
pub enum Status {
    Ok(&'static str),
    Failing(String),
}

impl Health {
    fn now_ms(&self) -> u64 {
        Instant::now().saturating_duration_since(self.base).as_millis() as u64
    }

    fn age(&self, stamp: &AtomicU64) -> Option<Duration> {
        match stamp.load(Relaxed) {
            NEVER => None,
            t => Some(Duration::from_millis(self.now_ms().saturating_sub(t))),
        }
    }

    pub fn dataset_loaded(&self) {
        self.dataset_loaded.store(true, Relaxed);
    }

    pub fn broker_answered(&self) {
        self.last_broker_ms.store(self.now_ms(), Relaxed);
        *lock(&self.broker_refused) = None;
    }

    /// The broker refuses us (credentials, certificate, protocol): said by `/readyz` until it answers.
    pub fn broker_refused(&self, why: &'static str) {
        *lock(&self.broker_refused) = Some(why);
    }

    /// How long ago a broker last answered (a metadata probe or a delivery).
    pub fn broker_age(&self) -> Option<Duration> {
        self.age(&self.last_broker_ms)
    }

    /// The loop starts: from now on a missing tick counts.
    pub fn loop_started(&self, interval: Duration) {
        let stall = (interval * STALL_INTERVALS).max(MIN_STALL);
        self.stall_after_ms.store(stall.as_millis() as u64, Relaxed);
        self.tick();
    }

    pub fn tick(&self) {
        self.last_tick_ms.store(self.now_ms(), Relaxed);
    }

    pub fn set_not_delivering_after(&self, after: Duration) {
        self.not_delivering_after_ms.store(after.as_millis() as u64, Relaxed);
    }

    /// A delivery succeeded (reported at most about once a second): the
    /// stretch of failures, if any, is over, and the producer works.
    pub fn delivering(&self) {
        let now = self.now_ms();
        self.last_broker_ms.store(now, Relaxed);
        *lock(&self.failing) = Failing { since_ms: now, ..Failing::default() };
        *lock(&self.producer_broken) = None;
        *lock(&self.broker_refused) = None;
    }

    pub fn delivery_failed(&self, reason: &str) {
        let mut f = lock(&self.failing);
        f.count += 1;
        if f.last_reason != reason {
            f.last_reason = reason.to_owned();
        }
    }

    /// The producer is broken and rebuilding it has not helped (`Some`), or works again.
    pub fn producer_broken(&self, reason: Option<String>) {
        *lock(&self.producer_broken) = reason;
    }

    pub fn liveness(&self) -> Status {
        if let Some(reason) = lock(&self.producer_broken).as_ref() {
            return Status::Failing(format!(
                "Kafka producer fatally broken and rebuilding it has not helped: {reason}"
            ));
        }
        let stall_after = match self.stall_after_ms.load(Relaxed) {
            NEVER => return Status::Ok("starting"),
            ms => Duration::from_millis(ms),
        };
        match self.age(&self.last_tick_ms) {
            Some(age) if age > stall_after => Status::Failing(format!(
                "scheduling loop stalled: no tick handled for {:.1}s (limit {:.1}s)",
                age.as_secs_f64(),
                stall_after.as_secs_f64()
            )),
            _ => Status::Ok("ok"),
        }
    }

    pub fn readiness(&self) -> Status {
        if !self.dataset_loaded.load(Relaxed) {
            return Status::Failing("dataset not loaded yet".into());
        }
        let refused = lock(&self.broker_refused).map_or(String::new(), |why| format!(": {why}"));
        match self.age(&self.last_broker_ms) {
            None => Status::Failing(format!("no broker has answered yet{refused}")),
            Some(age) if age > BROKER_FRESHNESS => Status::Failing(format!(
                "no broker answer for {:.0}s (limit {}s){refused}",
                age.as_secs_f64(),
                BROKER_FRESHNESS.as_secs()
            )),
            Some(_) => self.delivering_status(),
        }
    }

    fn delivering_status(&self) -> Status {
        let f = lock(&self.failing);
        let quiet = Duration::from_millis(self.now_ms().saturating_sub(f.since_ms));
        let after = Duration::from_millis(self.not_delivering_after_ms.load(Relaxed));
        if f.count > 0 && quiet >= after {
            return Status::Failing(format!(
                "not delivering: {} failed in {:.0} s, last reason {}",
                f.count,
                quiet.as_secs_f64(),
                f.last_reason
            ));
        }
        Status::Ok("ready")
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn alive_while_starting_then_stalls_without_ticks() {
        let h = Health::default();
        assert_eq!(h.liveness(), Status::Ok("starting"));
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert_eq!(h.liveness(), Status::Ok("starting"), "loading is not a stall");
        h.loop_started(Duration::from_secs(4));
        tokio::time::advance(Duration::from_secs(19)).await;
        assert_eq!(h.liveness(), Status::Ok("ok"));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(matches!(h.liveness(), Status::Failing(m) if m.contains("stalled")));
        h.tick();
        assert_eq!(h.liveness(), Status::Ok("ok"));
    }

    #[tokio::test(start_paused = true)]
    async fn short_intervals_use_the_minimum_stall_time() {
        let h = Health::default();
        h.loop_started(Duration::from_millis(10));
        tokio::time::advance(MIN_STALL - Duration::from_millis(1)).await;
        assert_eq!(h.liveness(), Status::Ok("ok"));
        tokio::time::advance(Duration::from_millis(2)).await;
        assert!(matches!(h.liveness(), Status::Failing(_)));
    }

    #[tokio::test(start_paused = true)]
    async fn ready_needs_dataset_and_a_recent_broker_answer() {
        let h = Health::default();
        assert!(matches!(h.readiness(), Status::Failing(m) if m.contains("dataset")));
        h.dataset_loaded();
        assert!(matches!(h.readiness(), Status::Failing(m) if m.contains("broker")));
        h.broker_answered();
        assert_eq!(h.readiness(), Status::Ok("ready"));
        tokio::time::advance(BROKER_FRESHNESS + Duration::from_secs(1)).await;
        assert!(matches!(h.readiness(), Status::Failing(m) if m.contains("no broker answer")));
        h.broker_answered();
        assert_eq!(h.readiness(), Status::Ok("ready"));
    }

    #[tokio::test(start_paused = true)]
    async fn unready_says_why_the_broker_refuses_us_until_it_answers() {
        let h = Health::default();
        h.dataset_loaded();
        h.broker_refused("the broker refuses our SASL credentials");
        assert_eq!(
            h.readiness(),
            Status::Failing("no broker has answered yet: the broker refuses our SASL credentials".into())
        );
        h.broker_answered();
        tokio::time::advance(BROKER_FRESHNESS + Duration::from_secs(1)).await;
        assert_eq!(h.readiness(), Status::Failing("no broker answer for 31s (limit 30s)".into()));
        h.broker_refused("the broker's TLS certificate is not trusted");
        h.delivering();
        assert_eq!(h.readiness(), Status::Ok("ready"));
        tokio::time::advance(BROKER_FRESHNESS + Duration::from_secs(1)).await;
        assert!(matches!(h.readiness(), Status::Failing(m) if !m.contains("certificate")), "a delivery clears it");
    }

    #[tokio::test(start_paused = true)]
    async fn failing_deliveries_make_it_unready_after_the_stretch_and_a_delivery_heals_it() {
        let h = Health::default();
        h.dataset_loaded();
        h.broker_answered();
        h.set_not_delivering_after(Duration::from_secs(30));
        h.delivery_failed("MessageTimedOut");
        assert_eq!(h.readiness(), Status::Ok("ready"), "one failure is not a stretch");
        tokio::time::advance(Duration::from_secs(20)).await;
        h.broker_answered();
        for _ in 0..411 {
            h.delivery_failed("MessageTimedOut");
        }
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(
            h.readiness(),
            Status::Failing("not delivering: 412 failed in 30 s, last reason MessageTimedOut".into())
        );
        // A broker that is down is not a reason to restart: liveness holds.
        assert_eq!(h.liveness(), Status::Ok("starting"));
        h.delivering();
        assert_eq!(h.readiness(), Status::Ok("ready"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_producer_rebuilding_does_not_fix_fails_liveness_until_it_delivers() {
        let h = Health::default();
        h.loop_started(Duration::from_secs(1));
        h.producer_broken(Some("Fatal: test".into()));
        assert!(matches!(h.liveness(), Status::Failing(r) if r.contains("rebuilding it has not helped: Fatal: test")));
        h.delivering();
        assert_eq!(h.liveness(), Status::Ok("ok"));
    }
}
