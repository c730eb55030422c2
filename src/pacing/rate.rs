//! Rate mode: `MESSAGES_PER_SECOND=r`. Message i is due at start + i / r, so
//! the count after T seconds is floor(r x T) + 1, within one message of r x T
//! at any rate and with no drift. `ARRIVALS=poisson` draws exponential gaps of
//! mean 1 / r instead (a Poisson process of rate r). `max` is always due.
//!
//! Replica i of N sends messages i, i+N, ... of the one-replica sequence (so
//! the N interleave and add up exactly); with Poisson arrivals each replica is
//! a Poisson process of rate r / N with its own seed, and their superposition
//! is one of rate r.

use std::time::Duration;

use rand::rngs::SmallRng;
use rand::SeedableRng;
use rand_distr::{Distribution, Exp};
use tokio::time::Instant;

use super::replicas::Replica;
use super::{after, positive, PacingError};

/// What one stretch of time sends: interval batches or a rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shape {
    Interval { interval: Duration, min: u32, max: u32 },
    Rate(Rate),
}

/// `MESSAGES_PER_SECOND`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    PerSecond(f64),
    /// As fast as the broker takes them.
    Max,
}

/// The highest accepted rate; beyond it the loop could not keep up anyway.
pub const MAX_RATE: f64 = 10_000_000.0;
/// The lowest: one message in about 11.6 days.
pub const MIN_RATE: f64 = 1e-6;

/// Parses `MESSAGES_PER_SECOND`: `max` or a number in [`MIN_RATE`]..=[`MAX_RATE`].
pub fn parse_rate(raw: &str) -> Result<Rate, PacingError> {
    if raw.trim().eq_ignore_ascii_case("max") {
        return Ok(Rate::Max);
    }
    match positive(raw) {
        Some(r) if (MIN_RATE..=MAX_RATE).contains(&r) => Ok(Rate::PerSecond(r)),
        _ => Err(PacingError::Rate),
    }
}

/// `ARRIVALS`: how messages are spread in time at a given rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Arrivals {
    /// Evenly spaced, 1 / r apart.
    #[default]
    Steady,
    /// Exponential gaps of mean 1 / r.
    Poisson,
}

impl Arrivals {
    pub fn as_str(self) -> &'static str {
        match self {
            Arrivals::Steady => "steady",
            Arrivals::Poisson => "poisson",
        }
    }
}

pub fn parse_arrivals(raw: &str) -> Result<Arrivals, PacingError> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "steady" => Ok(Arrivals::Steady),
        "poisson" => Ok(Arrivals::Poisson),
        _ => Err(PacingError::Arrivals),
    }
}

/// Evenly spaced messages: global message g due at start + g / r.
#[derive(Debug, Clone)]
pub struct Steady {
    start: Instant,
    rate: f64,
    stride: u64,
    /// The global number of this replica's next message.
    next: u64,
}

impl Steady {
    pub fn new(start: Instant, rate: f64, replica: Replica) -> Self {
        Self { start, rate, stride: replica.count, next: replica.index }
    }

    /// When message `g` of the one-replica sequence is due.
    pub fn due(&self, g: u64) -> Instant {
        after(self.start, g as f64 / self.rate)
    }

    pub fn next_due(&self) -> Instant {
        self.due(self.next)
    }

    /// This replica's messages due at `until` (at most `max`): how many, and
    /// when the first was due. The rest stays due for the next call.
    pub fn take(&mut self, until: Instant, max: u64) -> Option<(u64, Instant)> {
        let first = self.next_due();
        if first > until || max == 0 {
            return None;
        }
        // The last global message due at `until`: estimated from the elapsed
        // time, then corrected against `due` itself so that take and next_due
        // agree exactly at boundaries.
        let elapsed = until.saturating_duration_since(self.start).as_secs_f64();
        let mut last = (elapsed * self.rate).floor() as u64;
        while self.due(last + 1) <= until {
            last += 1;
        }
        while last > self.next && self.due(last) > until {
            last -= 1;
        }
        let count = ((last - self.next) / self.stride + 1).min(max);
        self.next += count * self.stride;
        Some((count, first))
    }
}

/// Poisson arrivals: exponential gaps of mean N / r from a seeded RNG.
#[derive(Debug, Clone)]
pub struct Poisson {
    start: Instant,
    gaps: Exp<f64>,
    rng: SmallRng,
    /// Seconds from `start` to the next arrival.
    next: f64,
}

impl Poisson {
    /// `seed: None` draws from the OS.
    pub fn new(start: Instant, rate: f64, replica: Replica, seed: Option<u64>) -> Self {
        let mut rng = match seed {
            Some(s) => SmallRng::seed_from_u64(s),
            None => SmallRng::from_os_rng(),
        };
        let gaps = Exp::new(rate / replica.count as f64).expect("rate validated > 0");
        let next = gaps.sample(&mut rng);
        Self { start, gaps, rng, next }
    }

    pub fn next_due(&self) -> Instant {
        after(self.start, self.next)
    }

    /// Arrivals due at `until` (at most `max`): how many, and when the first was due.
    pub fn take(&mut self, until: Instant, max: u64) -> Option<(u64, Instant)> {
        let first = self.next_due();
        let mut count = 0;
        while count < max && self.next_due() <= until {
            count += 1;
            self.next += self.gaps.sample(&mut self.rng);
        }
        (count > 0).then_some((count, first))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const ONE: Replica = Replica::ONE;

    fn count_until(s: &mut Steady, until: Instant) -> u64 {
        std::iter::from_fn(|| s.take(until, u64::MAX)).map(|(n, _)| n).sum()
    }

    #[test]
    fn rates_and_arrivals_parse() {
        assert_eq!(parse_rate("0.2"), Ok(Rate::PerSecond(0.2)));
        assert_eq!(parse_rate("2500"), Ok(Rate::PerSecond(2500.0)));
        assert_eq!(parse_rate("MAX"), Ok(Rate::Max));
        for bad in ["0", "-1", "", "fast", "inf", "NaN", "1e-7", "2e7"] {
            assert_eq!(parse_rate(bad), Err(PacingError::Rate), "{bad:?}");
        }
        assert_eq!(parse_arrivals("Poisson"), Ok(Arrivals::Poisson));
        assert_eq!(parse_arrivals("steady"), Ok(Arrivals::Steady));
        assert_eq!(parse_arrivals("random"), Err(PacingError::Arrivals));
    }

    #[test]
    fn the_count_after_t_seconds_is_within_one_of_r_t_at_low_and_high_rates() {
        let t0 = Instant::now();
        for rate in [0.01, 0.5, 1.0 / 3.0, 37.5, 999.9, 20_000.0, 1_000_000.0] {
            let mut s = Steady::new(t0, rate, ONE);
            let mut sent = 0u64;
            // Irregular wake-ups, as a busy loop would have them.
            let mut t = 0.0f64;
            let mut step = 0.0007;
            while t < 400.0 {
                t += step;
                step = (step * 1.37) % 3.1 + 0.0003;
                let now = t0 + Duration::from_secs_f64(t);
                sent += count_until(&mut s, now);
                let t = (now - t0).as_secs_f64();
                // Exactly the messages i with i / r <= t (1 ns of rounding either way).
                let (lo, hi) = ((rate * (t - 1e-9)).floor() as u64 + 1, (rate * (t + 1e-9)).floor() as u64 + 1);
                assert!(lo <= sent && sent <= hi, "rate {rate} at {t} s: {sent} not in {lo}..={hi}");
                assert!((sent as f64 - rate * t).abs() <= 1.0 + 1e-6, "rate {rate} at {t} s: {sent}");
            }
        }
    }

    #[test]
    fn message_i_is_due_at_start_plus_i_over_r_exactly_at_the_boundary() {
        let t0 = Instant::now();
        let mut s = Steady::new(t0, 0.01, ONE);
        assert_eq!(s.take(t0, 10), Some((1, t0)));
        assert_eq!(s.next_due(), t0 + Duration::from_secs(100));
        assert_eq!(s.take(t0 + Duration::from_millis(99_999), 10), None);
        assert_eq!(s.take(t0 + Duration::from_secs(100), 10), Some((1, t0 + Duration::from_secs(100))));
        // 37.5 msg/s for 20 s: messages 0..=750, the last due at exactly 20 s.
        let mut s = Steady::new(t0, 37.5, ONE);
        assert_eq!(count_until(&mut s, t0 + Duration::from_secs(20) - Duration::from_nanos(1)), 750);
        assert_eq!(count_until(&mut s, t0 + Duration::from_secs(20)), 1);
    }

    #[test]
    fn a_late_wake_up_sends_the_backlog_in_chunks_and_does_not_drift() {
        let t0 = Instant::now();
        let mut s = Steady::new(t0, 1000.0, ONE);
        let late = t0 + Duration::from_secs(10);
        assert_eq!(s.take(late, 4000), Some((4000, t0)));
        assert_eq!(s.take(late, 4000), Some((4000, t0 + Duration::from_secs(4))));
        assert_eq!(s.take(late, 4000), Some((2001, t0 + Duration::from_secs(8))));
        assert_eq!(s.take(late, 4000), None);
        assert_eq!(s.next_due(), t0 + Duration::from_millis(10_001));
    }

    #[test]
    fn the_shares_of_n_replicas_interleave_and_add_up_to_the_single_sequence() {
        let t0 = Instant::now();
        let end = t0 + Duration::from_secs(30);
        let rate = 37.5;
        // Every message's due time, one at a time.
        let times = |mut s: Steady| {
            let mut out = Vec::new();
            loop {
                let at = s.next_due();
                if at > end {
                    return out;
                }
                assert_eq!(s.take(at, 1), Some((1, at)));
                out.push(at);
            }
        };
        let single = times(Steady::new(t0, rate, ONE));
        assert_eq!(single.len(), 1126);
        for n in [2u64, 3, 5] {
            let shares: Vec<Vec<Instant>> =
                (0..n).map(|index| times(Steady::new(t0, rate, Replica { index, count: n }))).collect();
            // Replica i's k-th message is message i + k n of the single sequence.
            for (i, share) in shares.iter().enumerate() {
                assert!(share.iter().enumerate().all(|(k, &at)| at == single[i + k * n as usize]));
            }
            let mut union: Vec<Instant> = shares.concat();
            union.sort();
            assert_eq!(union, single, "{n} replicas");
        }
    }

    #[test]
    fn poisson_counts_have_the_mean_and_variance_of_a_poisson_process() {
        let t0 = Instant::now();
        let rate = 50.0;
        let window = 2.0; // seconds: counts per window ~ Poisson(100)
        let windows = 2000;
        let mut p = Poisson::new(t0, rate, ONE, Some(7));
        let counts: Vec<f64> = (1..=windows)
            .map(|w| {
                let until = t0 + Duration::from_secs_f64(w as f64 * window);
                std::iter::from_fn(|| p.take(until, u64::MAX)).map(|(n, _)| n).sum::<u64>() as f64
            })
            .collect();
        let lambda = rate * window;
        let mean = counts.iter().sum::<f64>() / windows as f64;
        let var = counts.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / (windows - 1) as f64;
        // sd of the mean: sqrt(100 / 2000) ~ 0.22; of the variance: ~ 100 sqrt(2 / 2000) ~ 3.2.
        // 5 sd bounds: a false failure is astronomically unlikely, a wrong process is caught.
        assert!((mean - lambda).abs() < 5.0 * 0.224, "mean {mean}");
        assert!((var - lambda).abs() < 5.0 * 3.2, "variance {var}");
        // Steady arrivals would have the right mean and a variance near 0.
    }

    #[test]
    fn poisson_replicas_together_have_the_total_rate() {
        let t0 = Instant::now();
        let end = t0 + Duration::from_secs(1000);
        let n = 4;
        let total: u64 = (0..n)
            .map(|index| {
                let r = Replica { index, count: n };
                let mut p = Poisson::new(t0, 20.0, r, Some(super::super::replicas::mix_seed(1, r)));
                std::iter::from_fn(|| p.take(end, u64::MAX)).map(|(c, _)| c).sum::<u64>()
            })
            .sum();
        // Poisson(20000): sd ~ 141.
        assert!((total as f64 - 20_000.0).abs() < 5.0 * 141.4, "{total}");
    }

    #[test]
    fn poisson_is_reproducible_with_a_seed() {
        let t0 = Instant::now();
        let end = t0 + Duration::from_secs(10);
        let draw = |seed| {
            let mut p = Poisson::new(t0, 100.0, ONE, Some(seed));
            std::iter::from_fn(|| p.take(end, 1)).map(|(_, at)| at).collect::<Vec<_>>()
        };
        assert_eq!(draw(3), draw(3));
        assert_ne!(draw(3), draw(4));
    }
}
