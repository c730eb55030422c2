//! Parquet: each row one JSON object, keys in schema order.
//!
//! The file is read with the `parquet` crate's Arrow reader a batch of rows at
//! a time, so memory holds one row group's column chunks and one decoded
//! batch, never the whole file. Each batch gets a writer per column (chosen
//! once from its Arrow type, not per cell) and rows are written straight into
//! the collector's buffer. The mapping (docs/datasets.md has the table):
//!
//! | Parquet / Arrow                 | JSON                                        |
//! |---------------------------------|---------------------------------------------|
//! | integers                        | number                                      |
//! | float, double                   | number (shortest round-trip); NaN, ±inf: null |
//! | decimal                         | number with exactly `scale` decimals        |
//! | boolean                         | true / false                                |
//! | string, enum, json              | string                                      |
//! | binary, fixed-length binary     | string, base64                              |
//! | date                            | `"2024-01-31"`                              |
//! | timestamp (any unit, INT96)     | `"2024-01-31T12:00:00.123Z"`, digits by unit, UTC |
//! | time                            | `"12:00:00.123"`, digits by unit            |
//! | list, fixed-size list           | array                                       |
//! | struct                          | object                                      |
//! | map                             | object (non-string keys as strings)         |
//! | null                            | null                                        |

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrowPrimitiveType, OffsetSizeTrait, PrimitiveArray};
use arrow_buffer::NullBuffer;
use arrow_schema::{ArrowError, DataType, TimeUnit};
use base64::Engine;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::reader::ChunkReader;

use crate::dataset::collect::{CollectError, Offer};
use crate::dataset::records::Logical;
use crate::dataset::shape::{Fields, Shape};
use crate::dataset::write_json_string;

/// Rows decoded at a time: large enough that per-batch set-up vanishes, small
/// enough that a batch of wide rows stays a few MB.
const BATCH_ROWS: usize = 8192;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParquetSummary {
    /// Rows offered to the collector (kept or not).
    pub records: u64,
    pub row_groups: usize,
    pub columns: usize,
    /// Uncompressed size of the column data, from the footer.
    pub input_bytes: u64,
    /// The top-level columns of a logical type, in schema order.
    pub logical: Vec<(String, Logical)>,
    /// What the rows hold, column by column, as a schema derivation reads
    /// them; `None` when a column's JSON kinds need more than its type and
    /// its nulls (a list, struct or map: the rows are read again then).
    pub fields: Option<Fields>,
}

#[derive(Debug, thiserror::Error)]
pub enum ParquetError {
    #[error("{source_name} is not a readable Parquet file: {cause}")]
    Open {
        source_name: String,
        #[source]
        cause: parquet::errors::ParquetError,
    },
    #[error("{source_name}: column {column:?} is {data_type}, which has no JSON mapping (supported: integers, floats, decimals, booleans, strings, binary, dates, times, timestamps, lists, structs, maps)")]
    Unsupported { source_name: String, column: String, data_type: String },
    #[error("{source_name}: reading rows failed after {rows} rows: {cause}")]
    Read {
        source_name: String,
        rows: u64,
        #[source]
        cause: ArrowError,
    },
    #[error("{source_name} has no rows")]
    NoRecords { source_name: String },
    #[error("{source_name}: {cause}")]
    Limit {
        source_name: String,
        #[source]
        cause: CollectError,
    },
}

impl ParquetError {
    /// The source failed while rows were being read (an I/O error under the
    /// decoder), which a retry may cure; the other errors are in the file.
    pub fn is_read_error(&self) -> bool {
        matches!(self, ParquetError::Read { cause: ArrowError::IoError(..) | ArrowError::ExternalError(_), .. })
    }
}

/// Reads every row of the Parquet file in `input` (a local file, or bytes)
/// into `collector`.
pub fn load_parquet<T: ChunkReader + 'static>(
    input: T,
    source_name: &str,
    collector: &mut impl Offer,
) -> Result<ParquetSummary, ParquetError> {
    let open_err = |cause| ParquetError::Open { source_name: source_name.into(), cause };
    let builder = ParquetRecordBatchReaderBuilder::try_new(input).map_err(open_err)?;
    let meta = builder.metadata().clone();
    let schema = builder.schema().clone();
    for field in schema.fields() {
        check_supported(field, field.name()).map_err(|(column, data_type)| ParquetError::Unsupported {
            source_name: source_name.into(),
            column,
            data_type,
        })?;
    }
    let keys: Vec<Vec<u8>> = schema.fields().iter().map(|f| json_key(f.name())).collect();
    let reader = builder.with_batch_size(BATCH_ROWS).build().map_err(open_err)?;
    let mut summary = ParquetSummary {
        row_groups: meta.num_row_groups(),
        columns: keys.len(),
        input_bytes: meta.row_groups().iter().map(|rg| rg.total_byte_size().max(0) as u64).sum(),
        logical: schema.fields().iter().filter_map(|f| Some((f.name().clone(), logical(f.data_type())?))).collect(),
        fields: collector.notes_fields().then(|| Fields {
            members: schema.fields().iter().map(|f| (f.name().clone(), Shape::default())).collect(),
            objects: 0,
        }),
        ..Default::default()
    };
    for batch in reader {
        let batch = batch.map_err(|cause| ParquetError::Read {
            source_name: source_name.into(),
            rows: summary.records,
            cause,
        })?;
        let columns: Vec<Encoder> = batch.columns().iter().map(|c| Encoder::new(c.as_ref())).collect();
        if let Some(fields) = &mut summary.fields {
            fields.objects += batch.num_rows() as u64;
            let noted = batch.columns().iter().zip(&mut fields.members).all(|(c, (_, s))| types::observe(c, s));
            if !noted {
                summary.fields = None;
            }
        }
        for row in 0..batch.num_rows() {
            summary.records += 1;
            collector
                .offer(|buf| {
                    buf.push(b'{');
                    for (i, (key, col)) in keys.iter().zip(&columns).enumerate() {
                        if i > 0 {
                            buf.push(b',');
                        }
                        buf.extend_from_slice(key);
                        col.write(row, buf);
                    }
                    buf.push(b'}');
                })
                .map_err(|cause| ParquetError::Limit { source_name: source_name.into(), cause })?;
        }
    }
    if summary.records == 0 {
        return Err(ParquetError::NoRecords { source_name: source_name.into() });
    }
    Ok(summary)
}

/// `"name":`, escaped once.
fn json_key(name: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(name.len() + 3);
    write_json_string(&mut k, name.as_bytes());
    k.push(b':');
    k
}

/// Writes one column's values; `nulls` is checked before `value` is asked.
struct Encoder<'a> {
    nulls: Option<NullBuffer>,
    value: Box<dyn WriteValue + 'a>,
}

impl<'a> Encoder<'a> {
    /// Types were checked by [`check_supported`]; anything else writes null.
    fn new(array: &'a dyn Array) -> Self {
        Encoder { nulls: array.logical_nulls(), value: value_writer(array) }
    }

    #[inline]
    fn write(&self, i: usize, buf: &mut Vec<u8>) {
        if self.nulls.as_ref().is_some_and(|n| n.is_null(i)) {
            buf.extend_from_slice(b"null");
        } else {
            self.value.write(i, buf);
        }
    }
}

trait WriteValue {
    /// Writes the non-null value at `i`.
    fn write(&self, i: usize, buf: &mut Vec<u8>);
}

fn value_writer<'a>(array: &'a dyn Array) -> Box<dyn WriteValue + 'a> {
    use DataType::*;
    match array.data_type() {
        Boolean => Box::new(Bools(array.as_boolean())),
        Int8 => Box::new(Ints(array.as_primitive::<Int8Type>())),
        Int16 => Box::new(Ints(array.as_primitive::<Int16Type>())),
        Int32 => Box::new(Ints(array.as_primitive::<Int32Type>())),
        Int64 => Box::new(Ints(array.as_primitive::<Int64Type>())),
        UInt8 => Box::new(Ints(array.as_primitive::<UInt8Type>())),
        UInt16 => Box::new(Ints(array.as_primitive::<UInt16Type>())),
        UInt32 => Box::new(Ints(array.as_primitive::<UInt32Type>())),
        UInt64 => Box::new(Ints(array.as_primitive::<UInt64Type>())),
        Float16 => Box::new(Floats(array.as_primitive::<Float16Type>(), |v| f64::from(v.to_f32()))),
        Float32 => Box::new(Floats32(array.as_primitive::<Float32Type>())),
        Float64 => Box::new(Floats(array.as_primitive::<Float64Type>(), |v| v)),
        Decimal32(_, s) => Box::new(Decimals(array.as_primitive::<Decimal32Type>(), *s, i128::from)),
        Decimal64(_, s) => Box::new(Decimals(array.as_primitive::<Decimal64Type>(), *s, i128::from)),
        Decimal128(_, s) => Box::new(Decimals(array.as_primitive::<Decimal128Type>(), *s, |v| v)),
        Decimal256(_, s) => Box::new(Decimal256s(array.as_primitive::<Decimal256Type>(), *s)),
        Utf8 => Box::new(Strings(array.as_string::<i32>())),
        LargeUtf8 => Box::new(Strings(array.as_string::<i64>())),
        Utf8View => Box::new(StringViews(array.as_string_view())),
        Binary => {
            let a = array.as_binary::<i32>();
            Box::new(Base64(Box::new(move |i| a.value(i))))
        }
        LargeBinary => {
            let a = array.as_binary::<i64>();
            Box::new(Base64(Box::new(move |i| a.value(i))))
        }
        BinaryView => {
            let a = array.as_binary_view();
            Box::new(Base64(Box::new(move |i| a.value(i))))
        }
        FixedSizeBinary(_) => {
            let a = array.as_fixed_size_binary();
            Box::new(Base64(Box::new(move |i| a.value(i))))
        }
        Date32 => Box::new(Dates(array.as_primitive::<Date32Type>(), i64::from)),
        Date64 => Box::new(Dates(array.as_primitive::<Date64Type>(), |ms| ms.div_euclid(86_400_000))),
        Timestamp(TimeUnit::Second, _) => Box::new(Timestamps(array.as_primitive::<TimestampSecondType>(), 0)),
        Timestamp(TimeUnit::Millisecond, _) => {
            Box::new(Timestamps(array.as_primitive::<TimestampMillisecondType>(), 3))
        }
        Timestamp(TimeUnit::Microsecond, _) => {
            Box::new(Timestamps(array.as_primitive::<TimestampMicrosecondType>(), 6))
        }
        Timestamp(TimeUnit::Nanosecond, _) => Box::new(Timestamps(array.as_primitive::<TimestampNanosecondType>(), 9)),
        Time32(TimeUnit::Second) => Box::new(Times(array.as_primitive::<Time32SecondType>(), 0)),
        Time32(_) => Box::new(Times(array.as_primitive::<Time32MillisecondType>(), 3)),
        Time64(TimeUnit::Microsecond) => Box::new(Times(array.as_primitive::<Time64MicrosecondType>(), 6)),
        Time64(_) => Box::new(Times(array.as_primitive::<Time64NanosecondType>(), 9)),
        List(_) => Box::new(lists(array.as_list::<i32>())),
        LargeList(_) => Box::new(lists(array.as_list::<i64>())),
        FixedSizeList(_, n) => {
            let list = array.as_fixed_size_list();
            let n = *n as usize;
            Box::new(Lists { bounds: move |i: usize| (i * n, i * n + n), values: Encoder::new(list.values().as_ref()) })
        }
        Struct(fields) => {
            let s = array.as_struct();
            let children =
                fields.iter().zip(s.columns()).map(|(f, c)| (json_key(f.name()), Encoder::new(c.as_ref()))).collect();
            Box::new(Structs(children))
        }
        Map(..) => {
            let m = array.as_map();
            let offsets = m.value_offsets();
            Box::new(Maps {
                offsets,
                key_is_string: matches!(m.keys().data_type(), Utf8 | LargeUtf8 | Utf8View),
                keys: Encoder::new(m.keys().as_ref()),
                values: Encoder::new(m.values().as_ref()),
            })
        }
        Dictionary(..) => {
            let d = array.as_any_dictionary();
            Box::new(Dictionaries { keys: d.normalized_keys(), values: Encoder::new(d.values().as_ref()) })
        }
        _ => Box::new(Nulls),
    }
}

struct Nulls;
impl WriteValue for Nulls {
    fn write(&self, _: usize, buf: &mut Vec<u8>) {
        buf.extend_from_slice(b"null");
    }
}

struct Bools<'a>(&'a arrow_array::BooleanArray);
impl WriteValue for Bools<'_> {
    fn write(&self, i: usize, buf: &mut Vec<u8>) {
        buf.extend_from_slice(if self.0.value(i) { b"true" } else { b"false" });
    }
}

struct Ints<'a, T: ArrowPrimitiveType>(&'a PrimitiveArray<T>);
impl<T: ArrowPrimitiveType> WriteValue for Ints<'_, T>
where
    T::Native: itoa::Integer,
{
    fn write(&self, i: usize, buf: &mut Vec<u8>) {
        buf.extend_from_slice(itoa::Buffer::new().format(self.0.value(i)).as_bytes());
    }
}

/// JSON has no NaN or infinity: they are written as null.
fn write_f64(v: f64, buf: &mut Vec<u8>) {
    if v.is_finite() {
        buf.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
    } else {
        buf.extend_from_slice(b"null");
    }
}

struct Floats<'a, T: ArrowPrimitiveType>(&'a PrimitiveArray<T>, fn(T::Native) -> f64);
impl<T: ArrowPrimitiveType> WriteValue for Floats<'_, T> {
    fn write(&self, i: usize, buf: &mut Vec<u8>) {
        write_f64((self.1)(self.0.value(i)), buf);
    }
}

/// `f32` printed as the shortest `f32` that round-trips (`0.1`, not `0.10000000149011612`).
struct Floats32<'a>(&'a PrimitiveArray<Float32Type>);
impl WriteValue for Floats32<'_> {
    fn write(&self, i: usize, buf: &mut Vec<u8>) {
        let v = self.0.value(i);
        if v.is_finite() {
            buf.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
        } else {
            buf.extend_from_slice(b"null");
        }
    }
}

struct Decimals<'a, T: ArrowPrimitiveType>(&'a PrimitiveArray<T>, i8, fn(T::Native) -> i128);
impl<T: ArrowPrimitiveType> WriteValue for Decimals<'_, T> {
    fn write(&self, i: usize, buf: &mut Vec<u8>) {
        let v = (self.2)(self.0.value(i));
        write_decimal(itoa::Buffer::new().format(v), self.1, buf);
    }
}

struct Decimal256s<'a>(&'a PrimitiveArray<Decimal256Type>, i8);
impl WriteValue for Decimal256s<'_> {
    fn write(&self, i: usize, buf: &mut Vec<u8>) {
        write_decimal(&self.0.value(i).to_string(), self.1, buf);
    }
}

/// An unscaled integer's digits with the point put `scale` places from the
/// right: `-5` at scale 2 is `-0.05`, `12` at scale -2 is `1200`.
fn write_decimal(digits: &str, scale: i8, buf: &mut Vec<u8>) {
    let (sign, digits) = match digits.strip_prefix('-') {
        Some(d) => ("-", d),
        None => ("", digits),
    };
    buf.extend_from_slice(sign.as_bytes());
    if scale <= 0 {
        buf.extend_from_slice(digits.as_bytes());
        if digits != "0" {
            buf.resize(buf.len() + (-(scale as i16)) as usize, b'0');
        }
        return;
    }
    let scale = scale as usize;
    if digits.len() > scale {
        let (int, frac) = digits.split_at(digits.len() - scale);
        buf.extend_from_slice(int.as_bytes());
        buf.push(b'.');
        buf.extend_from_slice(frac.as_bytes());
    } else {
        buf.extend_from_slice(b"0.");
        buf.resize(buf.len() + scale - digits.len(), b'0');
        buf.extend_from_slice(digits.as_bytes());
    }
}

struct Strings<'a, O: OffsetSizeTrait>(&'a arrow_array::GenericStringArray<O>);
impl<O: OffsetSizeTrait> WriteValue for Strings<'_, O> {
    fn write(&self, i: usize, buf: &mut Vec<u8>) {
        write_json_string(buf, self.0.value(i).as_bytes());
    }
}

struct StringViews<'a>(&'a arrow_array::StringViewArray);
impl WriteValue for StringViews<'_> {
    fn write(&self, i: usize, buf: &mut Vec<u8>) {
        write_json_string(buf, self.0.value(i).as_bytes());
    }
}

/// Binary as a standard base64 string (binary columns are rare; a closure per kind keeps this short).
#[allow(clippy::type_complexity)]
struct Base64<'a>(Box<dyn Fn(usize) -> &'a [u8] + 'a>);
impl WriteValue for Base64<'_> {
    fn write(&self, i: usize, buf: &mut Vec<u8>) {
        let bytes = (self.0)(i);
        let len = base64::encoded_len(bytes.len(), true).expect("a column value is far below usize::MAX");
        buf.push(b'"');
        let at = buf.len();
        buf.resize(at + len, 0);
        let written = base64::engine::general_purpose::STANDARD
            .encode_slice(bytes, &mut buf[at..])
            .expect("sized by encoded_len");
        buf.truncate(at + written);
        buf.push(b'"');
    }
}

struct Dates<'a, T: ArrowPrimitiveType>(&'a PrimitiveArray<T>, fn(T::Native) -> i64);
impl<T: ArrowPrimitiveType> WriteValue for Dates<'_, T> {
    fn write(&self, i: usize, buf: &mut Vec<u8>) {
        buf.push(b'"');
        write_date((self.1)(self.0.value(i)), buf);
        buf.push(b'"');
    }
}

/// Values in a unit of `10^-digits` seconds since the epoch (UTC).
struct Timestamps<'a, T: ArrowPrimitiveType<Native = i64>>(&'a PrimitiveArray<T>, u32);
impl<T: ArrowPrimitiveType<Native = i64>> WriteValue for Timestamps<'_, T> {
    fn write(&self, i: usize, buf: &mut Vec<u8>) {
        let per_second = 10i64.pow(self.1);
        let v = self.0.value(i);
        let (secs, frac) = (v.div_euclid(per_second), v.rem_euclid(per_second));
        buf.push(b'"');
        write_date(secs.div_euclid(86_400), buf);
        buf.push(b'T');
        write_time_of_day(secs.rem_euclid(86_400), frac, self.1, buf);
        buf.extend_from_slice(b"Z\"");
    }
}

/// Times of day in a unit of `10^-digits` seconds since midnight.
struct Times<'a, T: ArrowPrimitiveType>(&'a PrimitiveArray<T>, u32);
impl<T: ArrowPrimitiveType> WriteValue for Times<'_, T>
where
    T::Native: Into<i64>,
{
    fn write(&self, i: usize, buf: &mut Vec<u8>) {
        let per_second = 10i64.pow(self.1);
        let v: i64 = self.0.value(i).into();
        buf.push(b'"');
        write_time_of_day(v.div_euclid(per_second), v.rem_euclid(per_second), self.1, buf);
        buf.push(b'"');
    }
}

fn push_digits(buf: &mut Vec<u8>, n: u64, width: usize) {
    let mut b = itoa::Buffer::new();
    let s = b.format(n);
    buf.resize(buf.len() + width.saturating_sub(s.len()), b'0');
    buf.extend_from_slice(s.as_bytes());
}

/// `YYYY-MM-DD` for a day count from 1970-01-01 (proleptic Gregorian; years
/// outside 0..=9999 get a sign, as ISO 8601's expanded form).
fn write_date(days: i64, buf: &mut Vec<u8>) {
    let (y, m, d) = civil_from_days(days);
    if (0..=9999).contains(&y) {
        push_digits(buf, y as u64, 4);
    } else {
        buf.push(if y < 0 { b'-' } else { b'+' });
        push_digits(buf, y.unsigned_abs(), 4);
    }
    buf.push(b'-');
    push_digits(buf, m as u64, 2);
    buf.push(b'-');
    push_digits(buf, d as u64, 2);
}

fn write_time_of_day(secs: i64, frac: i64, digits: u32, buf: &mut Vec<u8>) {
    push_digits(buf, (secs / 3600) as u64, 2);
    buf.push(b':');
    push_digits(buf, (secs / 60 % 60) as u64, 2);
    buf.push(b':');
    push_digits(buf, (secs % 60) as u64, 2);
    if digits > 0 {
        buf.push(b'.');
        push_digits(buf, frac as u64, digits as usize);
    }
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 → (year, month, day).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn lists<O: OffsetSizeTrait>(
    list: &arrow_array::GenericListArray<O>,
) -> Lists<'_, impl Fn(usize) -> (usize, usize) + '_> {
    let offsets = list.value_offsets();
    Lists {
        bounds: move |i: usize| (offsets[i].as_usize(), offsets[i + 1].as_usize()),
        values: Encoder::new(list.values().as_ref()),
    }
}

struct Lists<'a, F> {
    bounds: F,
    values: Encoder<'a>,
}
impl<F: Fn(usize) -> (usize, usize)> WriteValue for Lists<'_, F> {
    fn write(&self, i: usize, buf: &mut Vec<u8>) {
        let (start, end) = (self.bounds)(i);
        buf.push(b'[');
        for j in start..end {
            if j > start {
                buf.push(b',');
            }
            self.values.write(j, buf);
        }
        buf.push(b']');
    }
}

struct Structs<'a>(Vec<(Vec<u8>, Encoder<'a>)>);
impl WriteValue for Structs<'_> {
    fn write(&self, i: usize, buf: &mut Vec<u8>) {
        buf.push(b'{');
        for (n, (key, child)) in self.0.iter().enumerate() {
            if n > 0 {
                buf.push(b',');
            }
            buf.extend_from_slice(key);
            child.write(i, buf);
        }
        buf.push(b'}');
    }
}

struct Maps<'a> {
    offsets: &'a [i32],
    key_is_string: bool,
    keys: Encoder<'a>,
    values: Encoder<'a>,
}
impl WriteValue for Maps<'_> {
    fn write(&self, i: usize, buf: &mut Vec<u8>) {
        let (start, end) = (self.offsets[i] as usize, self.offsets[i + 1] as usize);
        buf.push(b'{');
        for j in start..end {
            if j > start {
                buf.push(b',');
            }
            if self.key_is_string {
                self.keys.write(j, buf);
            } else {
                // JSON keys are strings: a number, date or boolean key is quoted
                // (a date is already a string and is kept as it is).
                let at = buf.len();
                self.keys.write(j, buf);
                if buf[at] != b'"' {
                    buf.insert(at, b'"');
                    buf.push(b'"');
                }
            }
            buf.push(b':');
            self.values.write(j, buf);
        }
        buf.push(b'}');
    }
}

struct Dictionaries<'a> {
    keys: Vec<usize>,
    values: Encoder<'a>,
}
impl WriteValue for Dictionaries<'_> {
    fn write(&self, i: usize, buf: &mut Vec<u8>) {
        self.values.write(self.keys[i], buf);
    }
}

mod types;

use self::types::{check_supported, logical};

#[cfg(test)]
mod tests;
