//! Choosing what each tick sends: a batch size uniform in `min..=max`, then that
//! many record indices uniform over the dataset, with replacement (as the Python
//! producer's `random.choices` did).
//!
//! The sampler owns its RNG so tests can seed it; indices are written into a
//! reused buffer so a tick allocates nothing.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

pub struct Sampler {
    rng: SmallRng,
    min: u32,
    max: u32,
    records: usize,
    indices: Vec<usize>,
}

impl Sampler {
    /// `min <= max` and `records > 0` are guaranteed by config validation and the loader.
    pub fn new(min: u32, max: u32, records: usize, seed: Option<u64>) -> Self {
        assert!(min <= max && min > 0 && records > 0, "validated by Config and the loader");
        let rng = match seed {
            Some(s) => SmallRng::seed_from_u64(s),
            None => SmallRng::from_os_rng(),
        };
        Self { rng, min, max, records, indices: Vec::with_capacity(max as usize) }
    }

    /// Samples from `records` records from now on (a reloaded dataset); `records > 0`.
    pub fn set_records(&mut self, records: usize) {
        assert!(records > 0, "a loaded dataset has records");
        self.records = records;
    }

    pub fn records(&self) -> usize {
        self.records
    }

    /// A batch size uniform in `min..=max`, capped at `limit` (what `MAX_MESSAGES` leaves).
    pub fn batch_size(&mut self, limit: u64) -> usize {
        self.batch_size_between(self.min, self.max, limit)
    }

    /// A batch size uniform in `min..=max` (an entry of a day's schedule), capped at `limit`.
    pub fn batch_size_between(&mut self, min: u32, max: u32, limit: u64) -> usize {
        let k = self.rng.random_range(min..=max) as u64;
        k.min(limit) as usize
    }

    /// `k` record indices, uniform with replacement. The slice is reused by the next call.
    pub fn sample(&mut self, k: usize) -> &[usize] {
        self.indices.clear();
        let n = self.records;
        let rng = &mut self.rng;
        self.indices.extend((0..k).map(|_| rng.random_range(0..n)));
        &self.indices
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_sizes_stay_in_range_and_cover_it_uniformly() {
        let (min, max) = (3u32, 9u32);
        let mut s = Sampler::new(min, max, 100, Some(7));
        let draws = 70_000;
        let mut counts = [0u32; 10];
        for _ in 0..draws {
            let k = s.batch_size(u64::MAX);
            assert!((min as usize..=max as usize).contains(&k), "{k}");
            counts[k] += 1;
        }
        // Each of the 7 sizes expects 10,000 draws; sd = sqrt(n p (1-p)) ~ 92.6.
        // 5 sd bounds make a false failure astronomically unlikely.
        for (k, &c) in counts.iter().enumerate().take(max as usize + 1).skip(min as usize) {
            assert!((c as f64 - 10_000.0).abs() < 5.0 * 92.6, "size {k} drawn {c} times");
        }
    }

    #[test]
    fn batch_size_respects_the_remaining_limit() {
        let mut s = Sampler::new(10, 20, 5, Some(1));
        for _ in 0..100 {
            assert_eq!(s.batch_size(4), 4);
            assert_eq!(s.batch_size(0), 0);
        }
    }

    #[test]
    fn min_equal_max_is_constant() {
        let mut s = Sampler::new(5, 5, 5, None);
        assert!((0..100).all(|_| s.batch_size(u64::MAX) == 5));
    }

    #[test]
    fn records_are_picked_uniformly_with_replacement() {
        let n = 20;
        let mut s = Sampler::new(1, 1, n, Some(42));
        let mut counts = vec![0u32; n];
        let draws = 200_000;
        for _ in 0..draws / 1000 {
            for &i in s.sample(1000) {
                counts[i] += 1;
            }
        }
        // Chi-square goodness of fit, 19 degrees of freedom: the 99.99th percentile is ~ 47.5.
        let expected = draws as f64 / n as f64;
        let chi2: f64 = counts.iter().map(|&c| (c as f64 - expected).powi(2) / expected).sum();
        assert!(chi2 < 47.5, "chi2 = {chi2}, counts = {counts:?}");
        // With replacement: a sample larger than the dataset is possible and repeats.
        let big = s.sample(3 * n).to_vec();
        assert_eq!(big.len(), 3 * n);
        assert!(big.iter().all(|&i| i < n));
    }

    #[test]
    fn same_seed_same_sequence() {
        let mut a = Sampler::new(1, 10, 1000, Some(9));
        let mut b = Sampler::new(1, 10, 1000, Some(9));
        for _ in 0..50 {
            let (ka, kb) = (a.batch_size(u64::MAX), b.batch_size(u64::MAX));
            assert_eq!(ka, kb);
            assert_eq!(a.sample(ka), b.sample(kb));
        }
    }

    #[test]
    fn a_schedule_entry_draws_from_its_own_range() {
        let mut s = Sampler::new(1, 1, 10, Some(3));
        assert_eq!(s.batch_size_between(5, 5, u64::MAX), 5);
        assert_eq!(s.batch_size_between(5, 5, 2), 2, "capped at the limit");
        assert!((20..=30).contains(&s.batch_size_between(20, 30, u64::MAX)));
        assert_eq!(s.batch_size(u64::MAX), 1);
    }

    #[test]
    fn after_a_reload_indices_come_from_the_new_dataset() {
        let mut s = Sampler::new(1, 1, 1000, Some(3));
        s.set_records(2);
        assert_eq!(s.records(), 2);
        let drawn = s.sample(1000).to_vec();
        assert!(drawn.iter().all(|&i| i < 2), "an index past the new dataset");
        assert!(drawn.contains(&0) && drawn.contains(&1));
    }
}
