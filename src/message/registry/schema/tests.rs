use super::*;
use crate::message::Assignment;

fn observed(records: &[&str], fields: &[(&str, Generator)]) -> Observed {
    let spec = MessageSpec {
        fields: fields.iter().map(|(n, g)| Assignment { name: (*n).into(), value: g.clone() }).collect(),
        ..MessageSpec::default()
    };
    Observed::of(records, &spec)
}

fn avro(records: &[&str]) -> Value {
    let s = observed(records, &[]).derive(ValueFormat::Avro, "tx.events-1").unwrap();
    serde_json::from_str(s.text()).unwrap()
}

#[test]
fn one_kind_per_field_nullable_when_ever_null_or_missing() {
    let s = avro(&[
        r#"{"id":1,"amount":12.5,"zip":"02134","ok":true,"memo":null}"#,
        r#"{"id":2,"amount":7,"zip":"10001","ok":false,"memo":"x"}"#,
        r#"{"id":3,"amount":1,"zip":"1","ok":true}"#,
    ]);
    assert_eq!(s["name"], "tx_events_1");
    assert_eq!(s["namespace"], "kafka_feeder");
    let fields: Vec<(String, Value)> = s["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["name"].as_str().unwrap().to_owned(), f["type"].clone()))
        .collect();
    assert_eq!(
        fields,
        [
            ("id".into(), json!("long")),
            ("amount".into(), json!("double")),
            ("zip".into(), json!("string")),
            ("ok".into(), json!("boolean")),
            ("memo".into(), json!(["null", "string"])),
        ]
    );
    assert_eq!(s["fields"][4]["default"], Value::Null, "a nullable field defaults to null");
}

#[test]
fn nested_objects_and_arrays_become_records_and_arrays() {
    let s = avro(&[r#"{"user":{"name":"Ann","tags":["a"]},"n":[1,2]}"#, r#"{"user":{"name":"Bo","tags":[]},"n":[]}"#]);
    assert_eq!(
        s["fields"][0]["type"],
        json!({"type":"record","name":"tx_events_1_user","fields":[
            {"name":"name","type":"string"},{"name":"tags","type":{"type":"array","items":"string"}}]})
    );
    assert_eq!(s["fields"][1]["type"], json!({"type":"array","items":"long"}));
}

#[test]
fn a_mix_of_kinds_is_a_union() {
    let s = avro(&[r#"{"v":1}"#, r#"{"v":"x"}"#, r#"{"v":null}"#]);
    assert_eq!(s["fields"][0]["type"], json!(["null", "long", "string"]));
}

#[test]
fn generated_fields_take_their_generators_kind() {
    let o = observed(&[r#"{"id":"a","n":1}"#], &[("id", Generator::Seq), ("at", Generator::Now)]);
    let s: Value = serde_json::from_str(o.derive(ValueFormat::Avro, "t").unwrap().text()).unwrap();
    assert_eq!(
        s["fields"],
        json!([{"name":"id","type":"long"},{"name":"n","type":"long"},{"name":"at","type":"string"}])
    );
    assert!(o.is_whole_number("n") && o.is_whole_number("id") && !o.is_whole_number("at"));
}

#[test]
fn a_column_avro_cannot_name_is_refused_naming_it() {
    let e = observed(&[r#"{"amount usd":1}"#], &[]).derive(ValueFormat::Avro, "t").unwrap_err().to_string();
    assert!(e.contains("amount usd"), "{e}");
    assert!(e.contains("VALUE_FORMAT=json-schema"), "{e}");
}

#[test]
fn json_schema_lists_types_and_required_fields() {
    let o = observed(&[r#"{"id":1,"zip":"02134","memo":null}"#, r#"{"id":2,"zip":"10001"}"#], &[]);
    let s: Value = serde_json::from_str(o.derive(ValueFormat::JsonSchema, "tx").unwrap().text()).unwrap();
    assert_eq!(s["title"], "tx");
    assert_eq!(s["properties"]["id"], json!({"type":"integer"}));
    assert_eq!(s["properties"]["memo"], json!({"type":"null"}));
    assert_eq!(s["required"], json!(["id", "zip"]));
}

#[test]
fn a_given_schema_parses_or_says_why_not() {
    let s = ValueSchema::parse(
        ValueFormat::Avro,
        r#"{"type":"record","name":"T","namespace":"n","fields":[{"name":"a","type":"long"}]}"#,
        "t.avsc",
        None,
    )
    .unwrap();
    assert_eq!(s.record_name(), Some("n.T"));
    let e = ValueSchema::parse(
        ValueFormat::Avro,
        r#"{"type":"record","name":"T","fields":[{"name":"a","type":"lng"}]}"#,
        "t.avsc",
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("VALUE_SCHEMA t.avsc is not a valid schema: "), "{e}");
    assert!(e.contains("lng"), "{e}");
    let e = ValueSchema::parse(ValueFormat::Avro, "{\"type\":\n\"record\",", "t.avsc", None).unwrap_err().to_string();
    assert!(e.contains("line 2"), "the JSON parser's position: {e}");
    let e = ValueSchema::parse(ValueFormat::Avro, r#""long""#, "t.avsc", None).unwrap_err().to_string();
    assert!(e.contains("not a record"), "{e}");
    let s = ValueSchema::parse(ValueFormat::JsonSchema, r#"{"title":"Tx","type":"object"}"#, "t.json", None).unwrap();
    assert_eq!(s.record_name(), Some("Tx"));
}

/// A CSV load's own cell counts give the schema that reading every record
/// gives: numbers, fractions, 64-bit overflow, booleans, nulls, a column that
/// mixes kinds (text), an empty column, and a prefix of two headers (a column
/// missing from one object is nullable).
#[test]
fn a_csv_loads_counts_derive_what_reading_the_records_derives() {
    let csv = "id,amount,big,ok,zip,memo,none\n\
               1,12.5,9223372036854775807,true,02134,,\n\
               2,7,9223372036854775808,false,10001,x,\n\
               -3,0,1,true,94105,\"a,b\",\n";
    let (dataset, _) = crate::dataset::load_csv(csv.as_bytes(), "t", None).unwrap();
    assert!(dataset.known().csv.is_some(), "every record kept: the counts are exact");
    let from_counts = Observed::of_dataset(&dataset, &MessageSpec::default());
    let from_records = Observed::of(&dataset, &MessageSpec::default());
    for format in [ValueFormat::Avro, ValueFormat::JsonSchema] {
        let (a, b) = (from_counts.derive(format, "t").unwrap(), from_records.derive(format, "t").unwrap());
        assert_eq!(a.text(), b.text());
    }
    let s: Value = serde_json::from_str(from_counts.derive(ValueFormat::Avro, "t").unwrap().text()).unwrap();
    let types: Vec<&Value> = s["fields"].as_array().unwrap().iter().map(|f| &f["type"]).collect();
    assert_eq!(
        types,
        [
            &json!("long"),
            &json!("double"),
            &json!("double"),
            &json!("boolean"),
            &json!("string"),
            &json!(["null", "string"]),
            &json!("null")
        ]
    );

    // Two CSV objects with different headers: `b` is missing from the first one's rows.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("1.csv"), "a\n1\n2\n").unwrap();
    std::fs::write(dir.path().join("2.csv"), "a,b\n3,x\n").unwrap();
    let uri = format!("{}/", dir.path().display());
    let vars = [("KAFKA_BOOTSTRAP_SERVERS", "embedded"), ("DATASET_URI", uri.as_str())];
    let config = crate::settings::config::Config::from_vars(vars).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let cancel = tokio_util::sync::CancellationToken::new();
    let (dataset, _) = rt.block_on(crate::dataset::source::load(&config.dataset, &config.s3, &cancel)).unwrap();
    assert!(dataset.known().csv.is_some());
    let a = Observed::of_dataset(&dataset, &MessageSpec::default()).derive(ValueFormat::Avro, "t").unwrap();
    let b = Observed::of(&dataset, &MessageSpec::default()).derive(ValueFormat::Avro, "t").unwrap();
    assert_eq!(a.text(), b.text());
    assert!(a.text().contains(r#"{"default":null,"name":"b","type":["null","string"]}"#), "{}", a.text());
}

/// A dataset as a run loads it from `uri` (a file or a folder ending in `/`).
fn load(uri: &str) -> crate::dataset::Dataset {
    let vars = [("KAFKA_BOOTSTRAP_SERVERS", "embedded"), ("DATASET_URI", uri)];
    let config = crate::settings::config::Config::from_vars(vars).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let cancel = tokio_util::sync::CancellationToken::new();
    rt.block_on(crate::dataset::source::load(&config.dataset, &config.s3, &cancel)).unwrap().0
}

/// Parquet's timestamps, dates and decimals are derived as Avro logical types
/// (nanoseconds stay text) and JSON Schema formats, and every record encodes
/// to the instant, day and unscaled number it holds.
#[test]
fn parquet_logical_types_are_derived_and_encoded() {
    use arrow_array::{ArrayRef, Decimal128Array, RecordBatch};
    use arrow_array::{Date32Array, StringArray, TimestampMicrosecondArray, TimestampMillisecondArray};
    use arrow_array::{TimestampNanosecondArray, TimestampSecondArray};
    use std::sync::Arc;
    let batch = RecordBatch::try_from_iter([
        ("ts_ms", Arc::new(TimestampMillisecondArray::from(vec![Some(1_704_067_200_123), None])) as ArrayRef),
        ("ts_s", Arc::new(TimestampSecondArray::from(vec![1_704_067_200, -1]).with_timezone("UTC"))),
        ("ts_us", Arc::new(TimestampMicrosecondArray::from(vec![1, 86_400_000_001]))),
        ("ts_ns", Arc::new(TimestampNanosecondArray::from(vec![1, 2]))),
        ("day", Arc::new(Date32Array::from(vec![Some(19_723), Some(-1)]))),
        ("price", Arc::new(Decimal128Array::from(vec![Some(1250), Some(-5)]).with_precision_and_scale(10, 2).unwrap())),
        ("name", Arc::new(StringArray::from(vec!["a", "b"]))),
    ])
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.parquet");
    let mut w =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let dataset = load(path.to_str().unwrap());
    let observed = Observed::of_dataset(&dataset, &MessageSpec::default());

    let avro = observed.derive(ValueFormat::Avro, "t").unwrap();
    let s: Value = serde_json::from_str(avro.text()).unwrap();
    let types: Vec<(&str, &Value)> =
        s["fields"].as_array().unwrap().iter().map(|f| (f["name"].as_str().unwrap(), &f["type"])).collect();
    let millis = json!({"type":"long","logicalType":"timestamp-millis"});
    assert_eq!(
        types,
        [
            ("ts_ms", &json!(["null", millis])),
            ("ts_s", &millis),
            ("ts_us", &json!({"type":"long","logicalType":"timestamp-micros"})),
            ("ts_ns", &json!("string")),
            ("day", &json!({"type":"int","logicalType":"date"})),
            ("price", &json!({"type":"bytes","logicalType":"decimal","precision":10,"scale":2})),
            ("name", &json!("string")),
        ]
    );
    let json_schema = observed.derive(ValueFormat::JsonSchema, "t").unwrap();
    let j: Value = serde_json::from_str(json_schema.text()).unwrap();
    assert_eq!(j["properties"]["ts_ms"], json!({"format":"date-time","type":["string","null"]}));
    assert_eq!(j["properties"]["ts_ns"], json!({"format":"date-time","type":"string"}));
    assert_eq!(j["properties"]["day"], json!({"format":"date","type":"string"}));
    assert_eq!(j["properties"]["price"], json!({"type":"number"}));

    use apache_avro::types::Value as Avro;
    let ValueSchema::Avro { schema, .. } = &avro else { unreachable!() };
    let mut encoder = super::super::avro::AvroEncoder::new(schema).unwrap();
    let mut decoded = Vec::new();
    for i in 0..dataset.len() {
        let mut out = Vec::new();
        encoder.encode(dataset.get(i), 0, &mut out).unwrap();
        let Avro::Record(fields) = apache_avro::from_avro_datum(schema, &mut &out[5..], None).unwrap() else {
            unreachable!()
        };
        decoded.push(fields.into_iter().map(|(_, v)| v).collect::<Vec<_>>());
    }
    let decimal = |unscaled: i16| Avro::Decimal(apache_avro::Decimal::from(unscaled.to_be_bytes()));
    assert_eq!(
        decoded[0][..6],
        [
            Avro::Union(1, Box::new(Avro::TimestampMillis(1_704_067_200_123))),
            Avro::TimestampMillis(1_704_067_200_000),
            Avro::TimestampMicros(1),
            Avro::String("1970-01-01T00:00:00.000000001Z".into()),
            Avro::Date(19_723),
            decimal(1250),
        ]
    );
    assert_eq!(
        decoded[1][..6],
        [
            Avro::Union(0, Box::new(Avro::Null)),
            Avro::TimestampMillis(-1000),
            Avro::TimestampMicros(86_400_000_001),
            Avro::String("1970-01-01T00:00:00.000000002Z".into()),
            Avro::Date(-1),
            decimal(-5),
        ]
    );
}

/// What a JSON Lines or Parquet reader noted is what the schema is derived
/// from: the records are not read again (here they say otherwise, and lose).
#[test]
fn the_fields_a_reader_noted_are_used_as_they_are() {
    let json = br#"{"a":1}"#;
    let collected = crate::dataset::collect::Collected { buf: json.to_vec(), ends: vec![json.len()], seen: 1 };
    let noted =
        Fields { members: vec![("a".into(), Shape { string: true, present: 1, ..Shape::default() })], objects: 1 };
    let known = crate::dataset::records::Known { fields: Some(noted), ..Default::default() };
    let dataset = crate::dataset::Dataset::from_collected(collected).with_known(known);
    let derived = Observed::of_dataset(&dataset, &MessageSpec::default()).derive(ValueFormat::Avro, "t").unwrap();
    assert!(derived.text().contains(r#"{"name":"a","type":"string"}"#), "{}", derived.text());
    let read = Observed::of(&dataset, &MessageSpec::default()).derive(ValueFormat::Avro, "t").unwrap();
    assert!(read.text().contains(r#"{"name":"a","type":"long"}"#), "{}", read.text());
}
