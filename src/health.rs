//! Liveness and readiness, as the orchestrator sees them.
//!
//! Alive: the scheduling loop has handled a tick recently (or has not started
//! yet: loading a large dataset or waiting for a broker is not a reason to be
//! restarted). Ready: the dataset is loaded and a broker answered recently (a
//! metadata response or a delivery). Times are tokio's, so tests drive them
//! with `tokio::time::pause()`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
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
}

impl Default for Health {
    fn default() -> Self {
        Self {
            base: Instant::now(),
            dataset_loaded: AtomicBool::new(false),
            last_tick_ms: AtomicU64::new(NEVER),
            last_broker_ms: AtomicU64::new(NEVER),
            stall_after_ms: AtomicU64::new(NEVER),
        }
    }
}

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

    pub fn liveness(&self) -> Status {
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
        match self.age(&self.last_broker_ms) {
            None => Status::Failing("no broker has answered yet".into()),
            Some(age) if age > BROKER_FRESHNESS => Status::Failing(format!(
                "no broker answer for {:.0}s (limit {}s)",
                age.as_secs_f64(),
                BROKER_FRESHNESS.as_secs()
            )),
            Some(_) => Status::Ok("ready"),
        }
    }
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
}
