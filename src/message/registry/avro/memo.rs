//! A field's datums of values seen before.

/// The datums of a field's most frequent values, by their JSON text: a
/// column of categories (a currency, a city, a flag) repeats a few values
/// over and over, and a datum depends only on the value and the field's
/// schema. Kept while it pays: given up on a field whose values rarely repeat.
#[derive(Default)]
pub(super) struct Memo {
    /// Each value's text and datum, as (start, end) offsets into `arena`.
    pub(super) kept: hashbrown::HashTable<((u32, u32), (u32, u32))>,
    arena: Vec<u8>,
    hasher: foldhash::fast::FixedState,
    looked: u64,
    pub(super) found: u64,
    pub(super) off: bool,
}

impl std::fmt::Debug for Memo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Memo({} values, {}/{} found)", self.kept.len(), self.found, self.looked)
    }
}

impl Memo {
    /// Distinct values kept a field; and how many lookups decide whether it pays.
    const VALUES: usize = 256;
    const TRIAL: u64 = 4096;

    /// Appends `raw`'s datum if it is kept.
    #[inline]
    pub(super) fn replay(&mut self, raw: &[u8], out: &mut Vec<u8>) -> bool {
        if self.off {
            return false;
        }
        self.looked += 1;
        let arena = &self.arena;
        let at = |(s, e): (u32, u32)| &arena[s as usize..e as usize];
        let hash = std::hash::BuildHasher::hash_one(&self.hasher, raw);
        if let Some(&(_, datum)) = self.kept.find(hash, |&(text, _)| at(text) == raw) {
            self.found += 1;
            out.extend_from_slice(at(datum));
            return true;
        }
        if self.looked == Self::TRIAL && self.found * 2 < self.looked {
            *self = Memo { off: true, ..Memo::default() };
        }
        false
    }

    pub(super) fn keep(&mut self, raw: &[u8], datum: &[u8]) {
        if self.off || self.kept.len() >= Self::VALUES || raw.len() > 64 {
            return;
        }
        let start = self.arena.len() as u32;
        self.arena.extend_from_slice(raw);
        self.arena.extend_from_slice(datum);
        let (text, datum) = ((start, start + raw.len() as u32), (start + raw.len() as u32, self.arena.len() as u32));
        let hash = std::hash::BuildHasher::hash_one(&self.hasher, raw);
        let arena = &self.arena;
        let hasher = &self.hasher;
        self.kept.insert_unique(hash, (text, datum), |&((s, e), _)| {
            std::hash::BuildHasher::hash_one(hasher, &arena[s as usize..e as usize])
        });
    }
}
