//! What the JSON Lines and Parquet readers note while loading equals what
//! reading every record kept finds ([`Fields::observe_record`]), so a schema
//! derived from either is the same; and it is not used where it would not be
//! exact (a sample, a line that was not JSON, a Parquet list).

use super::*;
use crate::dataset::Dataset;

/// A dataset as a run loads it from `uri`, with `extra` settings.
fn load(uri: &str, extra: &[(&str, &str)]) -> Dataset {
    // A registry format: the readers note what the records hold.
    let registry = [("VALUE_FORMAT", "avro"), ("SCHEMA_REGISTRY_URL", "http://127.0.0.1:1")];
    let mut vars = vec![("KAFKA_BOOTSTRAP_SERVERS", "embedded"), ("DATASET_URI", uri)];
    vars.extend_from_slice(&registry);
    vars.extend_from_slice(extra);
    let config = crate::settings::config::Config::from_vars(vars).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let cancel = tokio_util::sync::CancellationToken::new();
    rt.block_on(crate::dataset::source::load(&config.dataset, &config.s3, &cancel)).unwrap().0
}

/// What reading every record of `dataset` again finds.
fn read_again(dataset: &Dataset) -> Fields {
    let mut fields = Fields::default();
    dataset.iter().for_each(|r| fields.observe_record(r));
    fields
}

const LINES: &str = r#"{"id": 1, "amount": 12.50, "big": 123456789012345678901234567890, "e": 1E+5, "z": -0}
{"id": 18446744073709551615, "nested": {"a": [1, {"b": null}], "s": "x"}, "t": true, "tags": []}
{"k\u00e9y": "escaped name", "id": null, "amount": 3, "tags": ["a", 2, [true]], "dup": 1, "dup": "two"}
"#;

#[test]
fn json_lines_noted_while_loading_equal_every_record_read_again() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("1.jsonl"), LINES).unwrap();
    // A second object: its new member comes after the first's, as reading in order finds it.
    std::fs::write(dir.path().join("2.jsonl"), "{\"late\": \"x\", \"id\": 4.5}\n\n").unwrap();
    let dataset = load(&format!("{}/", dir.path().display()), &[]);
    assert_eq!(dataset.len(), 4);
    let noted = dataset.known().fields.clone().expect("every record kept: noted");
    assert_eq!(noted, read_again(&dataset));
    let names: Vec<&str> = noted.members.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["id", "amount", "big", "e", "z", "nested", "t", "tags", "kéy", "dup", "late"]);
    let id = &noted.members[0].1;
    assert!(id.long && id.double && id.null && !id.string, "u64 beyond i64 and 4.5 are doubles: {id:?}");
}

#[test]
fn a_sample_or_a_line_that_is_not_json_leaves_the_records_to_be_read_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.jsonl");
    std::fs::write(&path, LINES).unwrap();
    let uri = path.display().to_string();
    assert!(load(&uri, &[]).known().fields.is_some());
    let json = [("KAFKA_BOOTSTRAP_SERVERS", "embedded"), ("DATASET_URI", uri.as_str())];
    let config = crate::settings::config::Config::from_vars(json).unwrap();
    assert!(!config.dataset.note_fields, "VALUE_FORMAT=json derives no schema: the readers note nothing");
    let template = [
        ("VALUE_FORMAT", "avro"),
        ("SCHEMA_REGISTRY_URL", "http://r:1"),
        ("MESSAGE_TEMPLATE", r#"{"value": {"a": 1}}"#),
    ];
    let config = crate::settings::config::Config::from_vars([&json[..], &template[..]].concat()).unwrap();
    assert!(!config.dataset.note_fields, "a template's schema is derived from its renders");
    assert!(load(&uri, &[("DATASET_MAX_RECORDS", "2")]).known().fields.is_none(), "a sample");
    // Broken after its first member: `id` was noted before the parser failed.
    std::fs::write(&path, format!("{LINES}{{\"id\": \"x\", \"broken\" 1}}\n")).unwrap();
    let dataset = load(&uri, &[]);
    assert_eq!(dataset.len(), 3);
    assert!(dataset.known().fields.is_none(), "noted in part");
    let mixed = tempfile::tempdir().unwrap();
    std::fs::write(mixed.path().join("a.jsonl"), LINES).unwrap();
    std::fs::write(mixed.path().join("b.csv"), "id\n7\n").unwrap();
    let dataset = load(&format!("{}/", mixed.path().display()), &[]);
    assert!(dataset.known().fields.is_none(), "a CSV object among them");
}

fn parquet(dir: &std::path::Path, name: &str, batch: &arrow_array::RecordBatch) -> String {
    let path = dir.join(name);
    let file = std::fs::File::create(&path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
    path.display().to_string()
}

#[test]
fn parquet_columns_noted_from_their_types_equal_every_row_read_again() {
    use arrow_array::builder::{ListBuilder, StringDictionaryBuilder};
    use arrow_array::types::Int32Type;
    use arrow_array::*;
    use std::sync::Arc;
    let mut dict = StringDictionaryBuilder::<Int32Type>::new();
    dict.append_value("a");
    dict.append_null();
    dict.append_value("b");
    let batch = RecordBatch::try_from_iter([
        ("i", Arc::new(Int64Array::from(vec![Some(1), None, Some(-3)])) as ArrayRef),
        ("u", Arc::new(UInt64Array::from(vec![1, u64::MAX, 2]))),
        ("u_small", Arc::new(UInt64Array::from(vec![1, 2, 3]))),
        ("f", Arc::new(Float64Array::from(vec![276.0, f64::NAN, 0.1]))),
        ("f32", Arc::new(Float32Array::from(vec![1.5, 2.0, f32::INFINITY]))),
        ("d2", Arc::new(Decimal128Array::from(vec![1250, -5, 0]).with_precision_and_scale(10, 2).unwrap())),
        (
            "d0",
            Arc::new(
                Decimal128Array::from(vec![1, i128::from(i64::MAX) + 1, 7]).with_precision_and_scale(38, 0).unwrap(),
            ),
        ),
        ("s", Arc::new(StringArray::from(vec![Some("x"), None, Some("z")]))),
        ("b", Arc::new(BooleanArray::from(vec![true, false, true]))),
        ("day", Arc::new(Date32Array::from(vec![1, 2, 3]))),
        ("ts", Arc::new(TimestampMillisecondArray::from(vec![1, 2, 3]))),
        ("none", Arc::new(NullArray::new(3))),
        ("dict", Arc::new(dict.finish())),
        ("bytes", Arc::new(BinaryArray::from(vec![&b"\x00"[..], b"a", b""]))),
    ])
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dataset = load(&parquet(dir.path(), "t.parquet", &batch), &[]);
    let noted = dataset.known().fields.clone().expect("flat columns: noted");
    assert_eq!(noted, read_again(&dataset));
    let u = &noted.members[1].1;
    assert!(u.long && u.double, "{u:?}");

    let mut list = ListBuilder::new(arrow_array::builder::Int64Builder::new());
    list.append_value([Some(1)]);
    let nested = RecordBatch::try_from_iter([("l", Arc::new(list.finish()) as ArrayRef)]).unwrap();
    let dataset = load(&parquet(dir.path(), "l.parquet", &nested), &[]);
    assert!(dataset.known().fields.is_none(), "a list's items are read from the rows");
}

#[test]
fn the_readers_note_only_when_asked() {
    use crate::dataset::collect::{Collector, Limits};
    let asked = Limits { note_fields: true, ..Limits::default() };
    let noted = |limits: &Limits| {
        let jsonl = crate::dataset::jsonl::load_jsonl(LINES.as_bytes(), "t", &mut Collector::new(limits)).unwrap();
        let batch = arrow_array::RecordBatch::try_from_iter([(
            "i",
            std::sync::Arc::new(arrow_array::Int64Array::from(vec![1])) as arrow_array::ArrayRef,
        )])
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = std::fs::File::open(parquet(dir.path(), "t.parquet", &batch)).unwrap();
        let parquet = crate::dataset::parquet::load_parquet(file, "t", &mut Collector::new(limits)).unwrap();
        (jsonl.fields.is_some(), parquet.fields.is_some())
    };
    assert_eq!(noted(&asked), (true, true));
    assert_eq!(noted(&Limits::default()), (false, false), "the JSON path pays nothing");
    assert_eq!(noted(&Limits { max_records: Some(1), ..asked }), (false, false), "a sample");
}
