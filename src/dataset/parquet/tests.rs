//! Fixtures are written by the `parquet` crate's own writer, in the test.

use std::sync::Arc;

use arrow_array::builder::{Int32Builder, MapBuilder, StringBuilder};
use arrow_array::*;
use arrow_buffer::{i256, OffsetBuffer};
use arrow_schema::{Field, Fields, Schema};
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use serde_json::{json, Value};

use super::*;
use crate::dataset::collect::{Collected, Collector, Limits};

fn write(batch: &RecordBatch, rows_per_group: usize) -> Bytes {
    let props = WriterProperties::builder().set_max_row_group_row_count(Some(rows_per_group)).build();
    let mut out = Vec::new();
    let mut w = ArrowWriter::try_new(&mut out, batch.schema(), Some(props)).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
    Bytes::from(out)
}

fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    RecordBatch::try_from_iter(columns).unwrap()
}

fn load(file: Bytes, limits: &Limits) -> Result<(Collected, ParquetSummary), ParquetError> {
    let mut c = Collector::new(limits);
    let s = load_parquet(file, "t.parquet", &mut c)?;
    Ok((c.finish(), s))
}

fn rows(c: &Collected) -> Vec<String> {
    let mut start = 0;
    c.ends
        .iter()
        .map(|&end| {
            let r = String::from_utf8(c.buf[start..end].to_vec()).unwrap();
            start = end;
            r
        })
        .collect()
}

/// Three rows: typical values, edge values, and nulls in every column.
fn every_type() -> RecordBatch {
    let point = Fields::from(vec![Field::new("a", DataType::Int32, true), Field::new("b", DataType::Utf8, true)]);
    let structs = StructArray::try_new(
        point.clone(),
        vec![
            Arc::new(Int32Array::from(vec![Some(1), None, Some(0)])) as ArrayRef,
            Arc::new(StringArray::from(vec![Some("x"), Some("y"), Some("z")])),
        ],
        Some(NullBuffer::from(vec![true, true, false])),
    )
    .unwrap();
    let list_of_structs = ListArray::try_new(
        Arc::new(Field::new("item", DataType::Struct(point), true)),
        OffsetBuffer::new(vec![0, 2, 2, 3].into()),
        Arc::new(structs.clone()),
        Some(NullBuffer::from(vec![true, true, true])),
    )
    .unwrap();
    let mut map = MapBuilder::new(None, StringBuilder::new(), Int32Builder::new());
    map.keys().append_value("k1");
    map.values().append_value(1);
    map.keys().append_value("k2");
    map.values().append_null();
    map.append(true).unwrap();
    map.append(true).unwrap();
    map.append(false).unwrap();
    let dict: DictionaryArray<Int32Type> = vec![Some("red"), Some("red"), None].into_iter().collect();
    batch(vec![
        ("i8", Arc::new(Int8Array::from(vec![Some(-128), Some(127), None]))),
        ("i64", Arc::new(Int64Array::from(vec![Some(i64::MIN), Some(i64::MAX), None]))),
        ("u64", Arc::new(UInt64Array::from(vec![Some(u64::MAX), Some(0), None]))),
        ("f32", Arc::new(Float32Array::from(vec![Some(0.1), Some(f32::NAN), None]))),
        ("f64", Arc::new(Float64Array::from(vec![Some(1.5), Some(f64::NEG_INFINITY), None]))),
        (
            "dec",
            Arc::new(Decimal128Array::from(vec![Some(1250), Some(-5), None]).with_precision_and_scale(10, 2).unwrap()),
        ),
        (
            "dec38",
            Arc::new(
                Decimal128Array::from(vec![Some(12345678901234567890123456789012345678), Some(0), None])
                    .with_precision_and_scale(38, 0)
                    .unwrap(),
            ),
        ),
        (
            "dec256",
            Arc::new(
                Decimal256Array::from(vec![Some(i256::from_i128(-123456789)), Some(i256::ZERO), None])
                    .with_precision_and_scale(50, 3)
                    .unwrap(),
            ),
        ),
        ("bool", Arc::new(BooleanArray::from(vec![Some(true), Some(false), None]))),
        ("s", Arc::new(StringArray::from(vec![Some("Café \"q\" 🍕\n"), Some(""), None]))),
        ("ls", Arc::new(LargeStringArray::from(vec![Some("large"), Some("\\"), None]))),
        ("bin", Arc::new(BinaryArray::from(vec![Some(&b"\x00\xff"[..]), Some(&b""[..]), None]))),
        ("date", Arc::new(Date32Array::from(vec![Some(19723), Some(-1), None]))),
        (
            "ts_ms_utc",
            Arc::new(TimestampMillisecondArray::from(vec![Some(1704067200123), Some(-1), None]).with_timezone("UTC")),
        ),
        ("ts_us", Arc::new(TimestampMicrosecondArray::from(vec![Some(1), Some(86_400_000_000), None]))),
        (
            "ts_ns_tz",
            Arc::new(TimestampNanosecondArray::from(vec![Some(0), Some(999_999_999), None]).with_timezone("+02:00")),
        ),
        ("ts_s", Arc::new(TimestampSecondArray::from(vec![Some(1704067200), Some(0), None]))),
        ("time", Arc::new(Time64MicrosecondArray::from(vec![Some(3_723_000_001), Some(0), None]))),
        (
            "list",
            Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
                Some(vec![Some(1), None, Some(3)]),
                Some(vec![]),
                None,
            ])),
        ),
        ("struct", Arc::new(structs)),
        ("list_of_structs", Arc::new(list_of_structs)),
        ("map", Arc::new(map.finish())),
        ("dict", Arc::new(dict)),
    ])
}

#[test]
fn every_type_maps_to_json() {
    let (c, s) = load(write(&every_type(), 1000), &Limits::default()).unwrap();
    assert_eq!((s.records, s.columns, s.row_groups), (3, 23, 1));
    let r = rows(&c);
    let values: Vec<Value> = r.iter().map(|r| serde_json::from_str(r).unwrap()).collect();
    assert_eq!(
        values[0],
        json!({
            "i8": -128, "i64": i64::MIN, "u64": u64::MAX, "f32": 0.1, "f64": 1.5, "dec": 12.50,
            "dec38": 12345678901234567890123456789012345678.0, "dec256": -123456.789, "bool": true,
            "s": "Café \"q\" 🍕\n", "ls": "large", "bin": "AP8=", "date": "2024-01-01",
            "ts_ms_utc": "2024-01-01T00:00:00.123Z", "ts_us": "1970-01-01T00:00:00.000001Z",
            "ts_ns_tz": "1970-01-01T00:00:00.000000000Z", "ts_s": "2024-01-01T00:00:00Z",
            "time": "01:02:03.000001", "list": [1, null, 3],
            "struct": {"a": 1, "b": "x"}, "list_of_structs": [{"a": 1, "b": "x"}, {"a": null, "b": "y"}],
            "map": {"k1": 1, "k2": null}, "dict": "red"
        })
    );
    assert_eq!(
        values[1],
        json!({
            "i8": 127, "i64": i64::MAX, "u64": 0, "f32": null, "f64": null, "dec": -0.05, "dec38": 0,
            "dec256": 0.0, "bool": false, "s": "", "ls": "\\", "bin": "", "date": "1969-12-31",
            "ts_ms_utc": "1969-12-31T23:59:59.999Z", "ts_us": "1970-01-02T00:00:00.000000Z",
            "ts_ns_tz": "1970-01-01T00:00:00.999999999Z", "ts_s": "1970-01-01T00:00:00Z",
            "time": "00:00:00.000000", "list": [], "struct": {"a": null, "b": "y"}, "list_of_structs": [],
            "map": {}, "dict": "red"
        })
    );
    let nulls = values[2].as_object().unwrap();
    assert_eq!(nulls["list_of_structs"], json!([null]), "a null struct inside a list");
    assert!(
        nulls.iter().filter(|(k, _)| *k != "list_of_structs").all(|(_, v)| v.is_null()),
        "every other column is null: {}",
        r[2]
    );
    // Decimals keep their exact digits (a float round trip would not).
    assert!(
        r[0].contains(r#""dec":12.50,"dec38":12345678901234567890123456789012345678,"dec256":-123456.789,"#),
        "{}",
        r[0]
    );
    assert!(r[1].contains(r#""dec":-0.05,"dec38":0,"dec256":0.000,"#), "{}", r[1]);
    // Keys in schema order.
    assert!(r[0].starts_with(r#"{"i8":-128,"i64":"#), "{}", r[0]);
}

#[test]
fn many_row_groups_stream_in_order_with_exact_counts() {
    let n = 10_000;
    let b = batch(vec![
        ("id", Arc::new(Int64Array::from_iter_values(0..n)) as ArrayRef),
        ("name", Arc::new(StringArray::from_iter_values((0..n).map(|i| format!("n{i}"))))),
    ]);
    let (c, s) = load(write(&b, 700), &Limits::default()).unwrap();
    assert_eq!((s.records, s.row_groups), (n as u64, 15));
    assert!(s.input_bytes > 0);
    let r = rows(&c);
    assert_eq!(r.len(), n as usize);
    for (i, row) in r.iter().enumerate() {
        assert_eq!(row, &format!(r#"{{"id":{i},"name":"n{i}"}}"#));
    }
}

#[test]
fn a_sample_counts_every_row() {
    let n = 20_000;
    let b = batch(vec![("id", Arc::new(Int64Array::from_iter_values(0..n)) as ArrayRef)]);
    let (c, s) = load(write(&b, 5000), &Limits { max_records: Some(100), seed: Some(9), ..Limits::default() }).unwrap();
    assert_eq!((s.records, c.seen, c.ends.len()), (n as u64, n as u64, 100));
    let mut ids: Vec<i64> =
        rows(&c).iter().map(|r| serde_json::from_str::<Value>(r).unwrap()["id"].as_i64().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 100);
}

#[test]
fn unsupported_types_name_the_column() {
    let d = Arc::new(arrow_array::DurationSecondArray::from(vec![1])) as ArrayRef;
    let e = load(
        write(&batch(vec![("ok", Arc::new(Int32Array::from(vec![1])) as ArrayRef), ("took", d.clone())]), 10),
        &Limits::default(),
    )
    .unwrap_err();
    assert!(matches!(&e, ParquetError::Unsupported { column, .. } if column == "took"), "{e}");
    assert!(e.to_string().contains("t.parquet") && e.to_string().contains("Duration"), "{e}");

    let fields = Fields::from(vec![Field::new("d", d.data_type().clone(), true)]);
    let nested = StructArray::try_new(fields, vec![d], None).unwrap();
    let e = load(write(&batch(vec![("s", Arc::new(nested) as ArrayRef)]), 10), &Limits::default()).unwrap_err();
    assert!(matches!(&e, ParquetError::Unsupported { column, .. } if column == "s.d"), "{e}");
}

#[test]
fn not_parquet_and_no_rows_are_clear_errors() {
    let e = load(Bytes::from_static(b"id,name\n1,a\n"), &Limits::default()).unwrap_err();
    assert!(matches!(e, ParquetError::Open { .. }), "{e}");
    assert!(e.to_string().starts_with("t.parquet is not a readable Parquet file"), "{e}");
    assert!(!e.is_read_error());

    let empty = RecordBatch::new_empty(Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)])));
    let e = load(write(&empty, 10), &Limits::default()).unwrap_err();
    assert!(matches!(e, ParquetError::NoRecords { .. }), "{e}");
}

#[test]
fn the_memory_guard_stops_the_load() {
    let b = batch(vec![("id", Arc::new(Int64Array::from_iter_values(0..10_000)) as ArrayRef)]);
    let e = load(write(&b, 1000), &Limits { max_bytes: Some(10_000), ..Limits::default() }).unwrap_err();
    assert!(matches!(e, ParquetError::Limit { cause: CollectError::TooLarge { .. }, .. }), "{e}");
}

#[test]
fn decimals_put_the_point_by_scale() {
    for (digits, scale, want) in [
        ("1250", 2, "12.50"),
        ("-5", 2, "-0.05"),
        ("0", 2, "0.00"),
        ("5", 1, "0.5"),
        ("-7", 0, "-7"),
        ("12", -2, "1200"),
        ("0", -2, "0"),
        ("-123456789", 3, "-123456.789"),
    ] {
        let mut buf = Vec::new();
        write_decimal(digits, scale, &mut buf);
        assert_eq!(String::from_utf8(buf).unwrap(), want, "{digits} scale {scale}");
    }
}

#[test]
fn dates_match_chrono_over_ten_thousand_years() {
    // 0000-01-01 is day -719528; 9999-12-31 is day 2932896.
    for days in (-719_528i64..=2_932_896).step_by(97).chain([-719_528, -1, 0, 59, 60, 2_932_896]) {
        let mut buf = Vec::new();
        write_date(days, &mut buf);
        let want = chrono::DateTime::from_timestamp(days * 86_400, 0).unwrap().format("%Y-%m-%d").to_string();
        assert_eq!(String::from_utf8(buf).unwrap(), want, "day {days}");
    }
}

#[test]
fn timestamps_match_chrono_rfc3339() {
    use chrono::SecondsFormat;
    let mut v = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..20_000 {
        v ^= v << 13;
        v ^= v >> 7;
        v ^= v << 17;
        let nanos = v as i64;
        let ts = chrono::DateTime::from_timestamp_nanos(nanos);
        for (digits, per, format) in [
            (0, 1_000_000_000, SecondsFormat::Secs),
            (3, 1_000_000, SecondsFormat::Millis),
            (6, 1_000, SecondsFormat::Micros),
            (9, 1, SecondsFormat::Nanos),
        ] {
            let value = nanos.div_euclid(per);
            let arr = PrimitiveArray::<TimestampNanosecondType>::from(vec![value]);
            let mut buf = Vec::new();
            Timestamps(&arr, digits).write(0, &mut buf);
            let want = chrono::DateTime::from_timestamp_nanos(value * per).to_rfc3339_opts(format, true);
            assert_eq!(String::from_utf8(buf).unwrap(), format!("\"{want}\""), "{ts} at {digits} digits");
        }
    }
}

#[test]
fn files_without_an_arrow_schema_map_the_same() {
    // Spark and other writers store no Arrow schema: types come from the
    // Parquet logical types alone. Only seconds-resolution timestamps differ
    // (Parquet has no seconds unit, so they are stored in milliseconds).
    let options = parquet::arrow::arrow_writer::ArrowWriterOptions::new().with_skip_arrow_metadata(true);
    let b = every_type();
    let mut out = Vec::new();
    let mut w = ArrowWriter::try_new_with_options(&mut out, b.schema(), options).unwrap();
    w.write(&b).unwrap();
    w.close().unwrap();
    let (plain, _) = load(Bytes::from(out), &Limits::default()).unwrap();
    let (with_arrow, _) = load(write(&b, 1000), &Limits::default()).unwrap();
    for (p, a) in rows(&plain).iter().zip(rows(&with_arrow)) {
        let mut p: Value = serde_json::from_str(p).unwrap();
        let mut a: Value = serde_json::from_str(&a).unwrap();
        let (pts, ats) = (p["ts_s"].take(), a["ts_s"].take());
        assert_eq!(p, a);
        if let (Some(pts), Some(ats)) = (pts.as_str(), ats.as_str()) {
            assert_eq!(pts, ats.replace('Z', ".000Z"));
        }
    }
}

#[test]
fn pages_compressed_with_every_enabled_codec_are_read() {
    use parquet::basic::{Compression, GzipLevel, ZstdLevel};
    let b = batch(vec![("id", Arc::new(Int64Array::from_iter_values(0..100)) as ArrayRef)]);
    for codec in [
        Compression::SNAPPY,
        Compression::GZIP(GzipLevel::default()),
        Compression::LZ4_RAW,
        Compression::ZSTD(ZstdLevel::default()),
    ] {
        let props = WriterProperties::builder().set_compression(codec).build();
        let mut out = Vec::new();
        let mut w = ArrowWriter::try_new(&mut out, b.schema(), Some(props)).unwrap();
        w.write(&b).unwrap();
        w.close().unwrap();
        let (c, s) = load(Bytes::from(out), &Limits::default()).unwrap_or_else(|e| panic!("{codec:?}: {e}"));
        assert_eq!((s.records, rows(&c)[99].as_str()), (100, r#"{"id":99}"#), "{codec:?}");
    }
}
