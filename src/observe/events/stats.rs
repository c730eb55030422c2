//! [`Stats`]: the daemon's running totals (lock-free atomics, updated from
//! delivery callbacks on any thread), changed only by the events beside this
//! file; and [`RateLimit`], which keeps noisy events to a line per period.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::observe::health::Health;
use crate::observe::metrics::Metrics;

/// Running totals, the Prometheus metrics and the health state: everything the
/// events below update. `sent` counts messages handed to librdkafka; each ends
/// as exactly one of `delivered` or `failed`, so `sent - delivered - failed` is
/// in flight.
pub struct Stats {
    pub(super) scheduled: AtomicU64,
    pub(super) sent: AtomicU64,
    pub(super) delivered: AtomicU64,
    pub(super) failed: AtomicU64,
    pub(super) batches: AtomicU64,
    pub(super) bytes_delivered: AtomicU64,
    pub(super) failures_by_reason: Mutex<BTreeMap<String, u64>>,
    pub metrics: Metrics,
    pub health: Health,
    /// What `/status` shows beyond the totals.
    pub status: crate::observe::status::Facts,
}

/// A consistent-enough copy of [`Stats`] for reporting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Messages the pacing made due (the offered load).
    pub scheduled: u64,
    pub sent: u64,
    pub delivered: u64,
    pub failed: u64,
    pub batches: u64,
    pub bytes_delivered: u64,
}

impl Totals {
    pub fn in_flight(&self) -> u64 {
        self.sent.saturating_sub(self.delivered + self.failed)
    }
}

impl Stats {
    /// `preset` labels `kafka_feeder_build_info`.
    pub fn new(preset: &str) -> Self {
        Self {
            scheduled: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            bytes_delivered: AtomicU64::new(0),
            failures_by_reason: Mutex::default(),
            metrics: Metrics::new(preset),
            health: Health::default(),
            status: crate::observe::status::Facts::default(),
        }
    }

    pub fn totals(&self) -> Totals {
        // Read the outcomes before `sent`, so in_flight never underflows.
        let delivered = self.delivered.load(Relaxed);
        let failed = self.failed.load(Relaxed);
        Totals {
            scheduled: self.scheduled.load(Relaxed),
            sent: self.sent.load(Relaxed),
            delivered,
            failed,
            batches: self.batches.load(Relaxed),
            bytes_delivered: self.bytes_delivered.load(Relaxed),
        }
    }

    /// Messages delivered so far (read on every delivery for `MAX_MESSAGES`).
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Relaxed)
    }

    pub fn failures_by_reason(&self) -> BTreeMap<String, u64> {
        self.failures_by_reason.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Allows one log line per period; counts what it held back.
#[derive(Debug)]
pub struct RateLimit {
    period: Duration,
    state: Mutex<(Option<Instant>, u64)>,
}

impl RateLimit {
    pub const fn new(period: Duration) -> Self {
        Self { period, state: Mutex::new((None, 0)) }
    }

    /// `Some(n)` when a line may be logged now, `n` being how many were suppressed since the last.
    pub fn check(&self) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match state.0 {
            Some(last) if now.duration_since(last) < self.period => {
                state.1 += 1;
                None
            }
            _ => {
                let suppressed = state.1;
                *state = (Some(now), 0);
                Some(suppressed)
            }
        }
    }
}

/// `t` in RFC 3339, UTC, to the second, as lines and `/status` show times.
pub fn utc(t: std::time::SystemTime) -> String {
    jiff::Timestamp::try_from(t)
        .ok()
        .and_then(|t| t.round(jiff::Unit::Second).ok())
        .map_or_else(String::new, |t| t.to_string())
}
