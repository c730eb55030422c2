//! The loop: what is due, falling behind, progress, the drain.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use tracing::{info, warn};

use super::stats::{RateLimit, Stats, Totals};

static BEHIND_LOG: RateLimit = RateLimit::new(Duration::from_secs(5));

/// The drain awaits the batches still in flight.
pub fn draining(batches: usize, messages: usize, timeout: Duration) {
    info!(
        event = "draining",
        batches,
        messages,
        timeout_s = timeout.as_secs_f64(),
        "draining: awaiting the batches in flight"
    );
}

/// The drain is over: how many batches and messages it waited for, and whether all completed.
pub fn drained(batches: usize, messages: usize, complete: bool, waited: Duration) {
    info!(event = "drained", batches, messages, complete, waited_ms = (waited.as_secs_f64() * 1e3).round(), "drained");
}

pub fn behind_schedule(lag: Duration, interval: Duration) {
    if let Some(suppressed) = BEHIND_LOG.check() {
        let ticks = lag.as_secs_f64() / interval.as_secs_f64();
        warn!(
            event = "behind_schedule",
            lag_ms = (lag.as_secs_f64() * 1e3).round(),
            ticks_behind = ticks.floor(),
            suppressed,
            "falling behind schedule: the broker or the producer queue is slower than the configured rate"
        );
    }
}

/// What the pacing adds to the progress line: the active schedule entry, the
/// replay position.
#[derive(Debug, Default, Clone, Copy)]
pub struct PaceProgress<'a> {
    pub entry: Option<&'a str>,
    pub replay: Option<crate::pacing::replay::Position>,
}

/// The line a person tailing the log watches. `scheduled` beside `delivered`
/// and the lag tell whether the broker held the offered load. The replay
/// position goes to `/status` too.
pub fn progress(
    stats: &Stats,
    now: Totals,
    before: Totals,
    window: Duration,
    max_lag: Duration,
    pace: PaceProgress<'_>,
) {
    stats.status.replay(pace.replay);
    let secs = window.as_secs_f64().max(1e-9);
    let rate = (now.delivered - before.delivered) as f64 / secs;
    let scheduled_rate = (now.scheduled - before.scheduled) as f64 / secs;
    let replay_time = pace.replay.and_then(|p| p.record_time).map(|t| t.to_string());
    let replay_pct = pace.replay.map(|p| ((p.sent as f64 / p.of.max(1) as f64) * 1000.0).round() / 10.0);
    info!(
        event = "progress",
        scheduled = now.scheduled,
        delivered = now.delivered,
        failed = now.failed,
        in_flight = now.in_flight(),
        batches = now.batches,
        scheduled_per_s = (scheduled_rate * 10.0).round() / 10.0,
        rate_per_s = (rate * 10.0).round() / 10.0,
        max_lag_ms = (max_lag.as_secs_f64() * 1e3).round(),
        entry = pace.entry,
        replay_time = replay_time.as_deref(),
        replay_pct,
        replay_pass = pace.replay.map(|p| p.pass),
        "progress"
    );
}

/// The pacing made `count` messages due and the loop is sending them.
pub fn scheduled(stats: &Stats, count: u64) {
    stats.scheduled.fetch_add(count, Relaxed);
    stats.metrics.scheduled.inc_by(count);
}

/// A `PRESET_SCHEDULE` entry took over (or applies from the start).
pub fn schedule_entry_active(stats: &Stats, entry: &str, entries: &[String]) {
    for e in entries {
        let active = i64::from(e == entry);
        stats
            .metrics
            .schedule_entry
            .get_or_create(&crate::observe::metrics::EntryLabel { entry: e.clone() })
            .set(active);
    }
    info!(event = "schedule_entry", entry, "schedule entry in force");
    stats.status.schedule_entry(entry);
}

/// `REPLAY_TIME_FIELD` was read: how many records will be replayed, over what span.
pub fn replay_ready(field: &str, records: usize, share: usize, skipped: u64, first: &str, last: &str) {
    info!(event = "replay_ready", field, records, share, skipped, first, last, "replay ready");
    if skipped > 0 {
        warn!(event = "replay_rows_skipped", field, skipped, "rows whose time field does not parse are skipped");
    }
}

/// The replay sent its last record (no `REPLAY_LOOP`).
pub fn replay_finished(records: usize) {
    info!(event = "replay_finished", records, "replay finished: draining and stopping");
}

pub fn run_duration_reached(d: Duration) {
    info!(event = "run_duration_reached", run_duration_s = d.as_secs_f64(), "RUN_DURATION reached: stopping");
}
