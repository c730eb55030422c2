//! [`Records`]: indexed access to serialized records, the dataset or a list.

use crate::dataset::{Attached, Dataset};

/// Indexed access to serialized records: the dataset, or a list in tests.
pub trait Records {
    fn count(&self) -> usize;
    fn record(&self, i: usize) -> &[u8];
    /// What a later stage attached to the records ([`Dataset::attach`]).
    fn attached(&self) -> Option<&Attached> {
        None
    }
}

impl Records for Dataset {
    fn count(&self) -> usize {
        self.len()
    }
    fn attached(&self) -> Option<&Attached> {
        Dataset::attached(self)
    }
    #[inline]
    fn record(&self, i: usize) -> &[u8] {
        self.get(i)
    }
}

impl<T: AsRef<[u8]>> Records for [T] {
    fn count(&self) -> usize {
        self.len()
    }
    fn record(&self, i: usize) -> &[u8] {
        self[i].as_ref()
    }
}
