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
