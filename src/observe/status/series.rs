//! The delivered total, sampled once a second for the last five minutes: the
//! status page's chart and its 10 s and 1 min rates. Pure (the sampler passes
//! the time), so the arithmetic is tested without waiting.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How far back the chart and the rates reach.
pub const SPAN: Duration = Duration::from_secs(300);
/// One sample a second: one chart point per second.
pub const STEP: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
pub struct Series {
    /// (when, messages delivered in all by then), oldest first.
    samples: VecDeque<(Instant, u64)>,
}

impl Series {
    pub fn push(&mut self, at: Instant, delivered: u64) {
        self.samples.push_back((at, delivered));
        // One sample beyond the span, so the oldest second still has a difference.
        while self.samples.len() > (SPAN.as_secs() + 1) as usize {
            self.samples.pop_front();
        }
    }

    /// Messages per second delivered over the last `window` before the newest
    /// sample, from the sample nearest to its start; over less when the series
    /// is younger. `None` until there are two samples.
    pub fn rate(&self, window: Duration) -> Option<f64> {
        let &(last_at, last) = self.samples.back()?;
        let start = last_at.checked_sub(window).unwrap_or(last_at);
        let &(first_at, first) = self.samples.iter().find(|(at, _)| *at >= start)?;
        let secs = last_at.saturating_duration_since(first_at).as_secs_f64();
        (secs > 0.0).then(|| last.saturating_sub(first) as f64 / secs)
    }

    /// Messages delivered in each second between consecutive samples, oldest first.
    pub fn per_second(&self) -> Vec<f64> {
        self.samples
            .iter()
            .zip(self.samples.iter().skip(1))
            .map(|((a_at, a), (b_at, b))| {
                let secs = b_at.saturating_duration_since(*a_at).as_secs_f64().max(1e-3);
                (b.saturating_sub(*a) as f64 / secs * 10.0).round() / 10.0
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(start: Instant, totals: &[u64]) -> Series {
        let mut s = Series::default();
        for (i, &t) in totals.iter().enumerate() {
            s.push(start + STEP * i as u32, t);
        }
        s
    }

    #[test]
    fn rates_and_the_chart_come_from_the_samples() {
        let t = Instant::now();
        let s = series(t, &[0, 10, 30, 30, 70]);
        assert_eq!(s.per_second(), vec![10.0, 20.0, 0.0, 40.0]);
        // The last 2 s: 30 -> 70.
        assert_eq!(s.rate(Duration::from_secs(2)), Some(20.0));
        // A window longer than the series: what there is (70 in 4 s).
        assert_eq!(s.rate(Duration::from_secs(60)), Some(17.5));
        assert_eq!(series(t, &[5]).rate(Duration::from_secs(10)), None);
        assert_eq!(Series::default().rate(Duration::from_secs(10)), None);
    }

    #[test]
    fn the_series_keeps_five_minutes() {
        let t = Instant::now();
        let totals: Vec<u64> = (0..1000).map(|i| i * 3).collect();
        let s = series(t, &totals);
        let chart = s.per_second();
        assert_eq!(chart.len(), SPAN.as_secs() as usize);
        assert!(chart.iter().all(|&v| v == 3.0), "{chart:?}");
        assert_eq!(s.rate(Duration::from_secs(10)), Some(3.0));
    }
}
