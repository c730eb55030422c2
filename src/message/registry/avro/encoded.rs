//! The datums of a dataset's records, as the encoding threads wrote them.

use super::{frame, AvroEncoder, Misfit};

/// Datums, an end offset per record (as the dataset holds JSON), in one
/// chunk per encoding thread: the threads' work is kept where it was written
/// rather than copied into one buffer. With `MESSAGE_FIELDS`, where each
/// generated field's datum sits in each record's (`spans`, `per` pairs of
/// offsets a record), to be replaced per message.
#[derive(Debug)]
pub struct Encoded {
    pub(super) chunks: Vec<Chunk>,
    /// The index of each chunk's first record.
    firsts: Vec<usize>,
    spans: Vec<(u32, u32)>,
    per: usize,
}

#[derive(Debug, Default)]
pub(super) struct Chunk {
    buf: Vec<u8>,
    ends: Vec<usize>,
}

impl Default for Encoded {
    fn default() -> Self {
        Encoded::with_capacity(0, 0)
    }
}

impl Encoded {
    pub fn with_capacity(bytes: usize, records: usize) -> Self {
        let chunk = Chunk { buf: Vec::with_capacity(bytes), ends: Vec::with_capacity(records) };
        Encoded { chunks: vec![chunk], firsts: vec![0], spans: Vec::new(), per: 0 }
    }

    fn last(&mut self) -> &mut Chunk {
        self.chunks.last_mut().expect("an Encoded has a chunk")
    }

    /// Encodes `json` as the next record; on a misfit nothing is added.
    pub fn push(&mut self, encoder: &mut AvroEncoder, json: &[u8]) -> Result<(), Misfit> {
        let chunk = self.last();
        encoder.encode(json, 0, &mut chunk.buf)?;
        chunk.ends.push(chunk.buf.len());
        Ok(())
    }

    /// The next record, as `encode` appends it; on a misfit nothing is added.
    pub fn push_with(&mut self, encode: impl FnOnce(&mut Vec<u8>) -> Result<(), Misfit>) -> Result<(), Misfit> {
        let chunk = self.last();
        let start = chunk.buf.len();
        encode(&mut chunk.buf).inspect_err(|_| chunk.buf.truncate(start))?;
        chunk.ends.push(chunk.buf.len());
        Ok(())
    }

    /// [`Self::push`], noting where the datums of the fields at schema
    /// `positions` went (the encoder goes field by field: see
    /// [`AvroEncoder::field_position`]).
    pub fn push_noting(&mut self, encoder: &mut AvroEncoder, json: &[u8], positions: &[usize]) -> Result<(), Misfit> {
        let chunk = self.chunks.last_mut().expect("an Encoded has a chunk");
        let start = chunk.buf.len();
        encoder.encode(json, 0, &mut chunk.buf)?;
        let spans = encoder.last_spans();
        if spans.len() <= positions.iter().copied().max().unwrap_or(0) {
            // Encoded whole (a key written with escapes): no spans to splice at.
            chunk.buf.truncate(start);
            return Err(Misfit::new("a field name written with escapes, with MESSAGE_FIELDS".into()));
        }
        chunk.ends.push(chunk.buf.len());
        self.per = positions.len();
        self.spans.extend(positions.iter().map(|&j| ((spans[j].0 - start) as u32, (spans[j].1 - start) as u32)));
        Ok(())
    }

    /// Record `i`'s spliced spans, relative to its datum's start.
    #[inline]
    pub fn spans(&self, i: usize) -> &[(u32, u32)] {
        &self.spans[i * self.per..(i + 1) * self.per]
    }

    pub fn len(&self) -> usize {
        self.firsts.last().copied().unwrap_or(0) + self.chunks.last().map_or(0, |c| c.ends.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Record `i`'s framed datum.
    #[inline]
    pub fn get(&self, i: usize) -> &[u8] {
        // One chunk per encoding thread: a few at most.
        let c = match self.chunks.len() {
            1 => 0,
            _ => self.firsts.partition_point(|&first| first <= i) - 1,
        };
        let (chunk, i) = (&self.chunks[c], i - self.firsts[c]);
        let start = if i == 0 { 0 } else { chunk.ends[i - 1] };
        &chunk.buf[start..chunk.ends[i]]
    }

    /// Puts `other`'s records after these.
    pub fn append(&mut self, other: Encoded) {
        let mut first = self.len();
        if self.is_empty() {
            self.chunks.clear();
            self.firsts.clear();
        }
        for chunk in other.chunks.into_iter().filter(|c| !c.ends.is_empty()) {
            self.firsts.push(first);
            first += chunk.ends.len();
            self.chunks.push(chunk);
        }
        if self.chunks.is_empty() {
            *self = Encoded::default();
        }
        self.spans.extend_from_slice(&other.spans);
        self.per = self.per.max(other.per);
    }

    /// Writes schema `id` into every record's frame.
    pub fn set_id(&mut self, id: u32) {
        for chunk in &mut self.chunks {
            let mut start = 0;
            for &end in &chunk.ends {
                frame(&mut chunk.buf[start..end], id);
                start = end;
            }
        }
    }

    pub fn bytes(&self) -> usize {
        self.chunks.iter().map(|c| c.buf.len()).sum()
    }

    pub fn allocated_bytes(&self) -> usize {
        let chunks: usize =
            self.chunks.iter().map(|c| c.buf.capacity() + c.ends.capacity() * std::mem::size_of::<usize>()).sum();
        chunks + self.spans.capacity() * std::mem::size_of::<(u32, u32)>()
    }

    pub fn shrink_to_fit(&mut self) {
        for chunk in &mut self.chunks {
            chunk.buf.shrink_to_fit();
            chunk.ends.shrink_to_fit();
        }
        self.spans.shrink_to_fit();
    }
}
