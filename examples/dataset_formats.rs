//! Writes a CSV dataset in the other shapes kafka-feeder loads, for the
//! loading benchmark (`scripts/bench`): `<stem>.csv.gz`, `<stem>.jsonl` and
//! `<stem>.parquet` (Snappy pages, 128k-row groups) next to `<stem>.csv`. Each
//! holds the same records: the JSON Lines lines are the records kafka-feeder
//! makes from the CSV; the Parquet columns are typed from the first record
//! (integers, floats, booleans, strings; null where a cell is empty).
//!
//!     cargo run --release --example dataset_formats -- target/bench/data/tx-1000000.csv

use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Float64Builder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use kafka_feeder::dataset::load_csv;
use serde_json::{Map, Value};

const ROWS_PER_GROUP: usize = 128 * 1024;

fn main() {
    let csv = std::env::args().nth(1).expect("usage: dataset_formats FILE.csv");
    let csv = Path::new(&csv);
    let stem = csv.with_extension("");
    let file = std::fs::File::open(csv).expect("open the CSV");
    let len = file.metadata().unwrap().len();
    let (dataset, summary) = load_csv(file, &csv.display().to_string(), Some(len)).expect("a valid CSV");
    eprintln!("{}: {} records", csv.display(), summary.records);

    // CSV, gzip'd (level 6, gzip's default).
    let mut gz = flate2::write::GzEncoder::new(
        BufWriter::new(std::fs::File::create(stem.with_extension("csv.gz")).unwrap()),
        flate2::Compression::default(),
    );
    std::io::copy(&mut std::fs::File::open(csv).unwrap(), &mut gz).unwrap();
    gz.finish().unwrap().flush().unwrap();

    // JSON Lines: one record per line.
    let mut jl = BufWriter::new(std::fs::File::create(stem.with_extension("jsonl")).unwrap());
    for r in dataset.iter() {
        jl.write_all(r).unwrap();
        jl.write_all(b"\n").unwrap();
    }
    jl.flush().unwrap();

    // Parquet, typed from the first record.
    let first: Map<String, Value> = serde_json::from_slice(dataset.get(0)).unwrap();
    let fields: Vec<Field> = first
        .iter()
        .map(|(k, v)| {
            let t = match v {
                Value::Number(n) if n.is_i64() => DataType::Int64,
                Value::Number(_) => DataType::Float64,
                Value::Bool(_) => DataType::Boolean,
                _ => DataType::Utf8,
            };
            Field::new(k, t, true)
        })
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROWS_PER_GROUP))
        .build();
    let out = std::fs::File::create(stem.with_extension("parquet")).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(out, Arc::clone(&schema), Some(props)).unwrap();
    let records: Vec<&[u8]> = dataset.iter().collect();
    for chunk in records.chunks(ROWS_PER_GROUP) {
        let rows: Vec<Map<String, Value>> = chunk.iter().map(|r| serde_json::from_slice(r).unwrap()).collect();
        let columns: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .map(|f| {
                let cells = rows.iter().map(|r| r.get(f.name()).filter(|v| !v.is_null()));
                let array: ArrayRef = match f.data_type() {
                    DataType::Int64 => {
                        let mut b = Int64Builder::new();
                        cells.for_each(|v| b.append_option(v.and_then(Value::as_i64)));
                        Arc::new(b.finish())
                    }
                    DataType::Float64 => {
                        let mut b = Float64Builder::new();
                        cells.for_each(|v| b.append_option(v.and_then(Value::as_f64)));
                        Arc::new(b.finish())
                    }
                    DataType::Boolean => {
                        let mut b = BooleanBuilder::new();
                        cells.for_each(|v| b.append_option(v.and_then(Value::as_bool)));
                        Arc::new(b.finish())
                    }
                    _ => {
                        let mut b = StringBuilder::new();
                        cells.for_each(|v| match v {
                            Some(Value::String(s)) => b.append_value(s),
                            Some(other) => b.append_value(other.to_string()),
                            None => b.append_null(),
                        });
                        Arc::new(b.finish())
                    }
                };
                array
            })
            .collect();
        w.write(&RecordBatch::try_new(Arc::clone(&schema), columns).unwrap()).unwrap();
    }
    w.close().unwrap();
    eprintln!("wrote {0}.csv.gz, {0}.jsonl, {0}.parquet", stem.display());
}
