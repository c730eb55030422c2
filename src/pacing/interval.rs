//! Interval ticks: tick n is due at start + n x interval, whatever happened
//! before it. A tick handled late does not move the next one (no drift); missed
//! ticks are due at once until the loop has caught up (none is skipped).
//!
//! Replica i of N takes ticks i, i+N, i+2N, ... so the N together tick exactly
//! as one replica would.

use std::time::Duration;

use tokio::time::Instant;

use super::replicas::Replica;

#[derive(Debug, Clone)]
pub struct Ticks {
    start: Instant,
    interval: Duration,
    stride: u64,
    /// The schedule's number of this replica's next tick.
    next: u64,
}

impl Ticks {
    pub fn new(start: Instant, interval: Duration, replica: Replica) -> Self {
        Self { start, interval, stride: replica.count, next: replica.index }
    }

    /// When tick `n` of the schedule is due. Exact: nanoseconds times n, no
    /// accumulated floating-point error however long the run.
    pub fn due(&self, n: u64) -> Instant {
        let ns = self.interval.as_nanos().saturating_mul(u128::from(n));
        let secs = u64::try_from(ns / 1_000_000_000).unwrap_or(u64::MAX).min(super::FAR as u64);
        self.start + Duration::new(secs, (ns % 1_000_000_000) as u32)
    }

    /// When this replica's next tick is due.
    pub fn next_due(&self) -> Instant {
        self.due(self.next)
    }

    /// The next tick, if it is due at `now`: its number in the schedule and
    /// when it was due. A past tick is returned (late) rather than skipped.
    pub fn take(&mut self, now: Instant) -> Option<(u64, Instant)> {
        let at = self.next_due();
        if at > now {
            return None;
        }
        let n = self.next;
        self.next += self.stride;
        Some((n, at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: Replica = Replica { index: 0, count: 1 };

    #[test]
    fn ticks_are_anchored_at_the_start_not_at_the_last_wake_up() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut t = Ticks::new(t0, ms(500), ONE);
        assert_eq!(t.take(t0), Some((0, t0)));
        assert_eq!(t.take(t0 + ms(499)), None, "tick 1 is not due before start + 500 ms");
        // Tick 1 handled 30 ms late: tick 2 is still due at start + 1000 ms,
        // not at (handled time) + 500 ms.
        assert_eq!(t.take(t0 + ms(530)), Some((1, t0 + ms(500))));
        assert_eq!(t.next_due(), t0 + ms(1000));
        assert_eq!(t.take(t0 + ms(999)), None);
        assert_eq!(t.take(t0 + ms(1000)), Some((2, t0 + ms(1000))));
    }

    #[test]
    fn missed_ticks_are_all_due_at_once_none_skipped() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut t = Ticks::new(t0, ms(200), ONE);
        let late = t0 + ms(1050);
        let taken: Vec<_> = std::iter::from_fn(|| t.take(late)).collect();
        assert_eq!(taken, (0..=5).map(|n| (n, t0 + ms(200) * n as u32)).collect::<Vec<_>>());
        assert_eq!(t.next_due(), t0 + ms(1200));
    }

    #[test]
    fn a_day_of_ticks_has_no_accumulated_error() {
        let t0 = Instant::now();
        // 0.1 s is not exact in binary floating point; nanosecond arithmetic is.
        let t = Ticks::new(t0, Duration::from_millis(100), ONE);
        assert_eq!(t.due(864_000), t0 + Duration::from_secs(86_400));
        let odd = Ticks::new(t0, Duration::from_nanos(333_333_333), ONE);
        assert_eq!(odd.due(3_000_000_000), t0 + Duration::from_nanos(999_999_999_000_000_000));
    }

    #[test]
    fn the_shares_of_n_replicas_add_up_to_the_single_replica_ticks() {
        let t0 = Instant::now();
        let interval = Duration::from_millis(70);
        let end = t0 + Duration::from_secs(60);
        let all = |mut t: Ticks| std::iter::from_fn(move || t.take(end)).collect::<Vec<_>>();
        let single = all(Ticks::new(t0, interval, ONE));
        assert_eq!(single.len(), 858); // ticks 0..=857: 857 x 70 ms = 59.99 s
        for n in [2u64, 3, 7] {
            let mut union: Vec<_> =
                (0..n).flat_map(|index| all(Ticks::new(t0, interval, Replica { index, count: n }))).collect();
            // Each replica's own ticks are i, i+n, ...: disjoint shares.
            union.sort();
            assert_eq!(union, single, "{n} replicas");
        }
    }
}
