//! [`Records`]: indexed access to serialized records, the dataset or a list.

use crate::dataset::Dataset;

/// Indexed access to serialized records: the dataset, or a list in tests.
pub trait Records {
    fn count(&self) -> usize;
    fn record(&self, i: usize) -> &[u8];
}

impl Records for Dataset {
    fn count(&self) -> usize {
        self.len()
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
