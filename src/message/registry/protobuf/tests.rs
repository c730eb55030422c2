use super::*;
use crate::message::registry::avro::Encoded;
use crate::message::registry::config::ValueFormat;
use crate::message::registry::schema::{Observed, ValueSchema};
use crate::message::registry::wire::{ValueWire, Wire};
use crate::message::registry::FormatError;
use crate::message::{Assignment, Generator, MessageSpec};
use crate::settings::config::Config;

const SHOP: &str = r#"syntax = "proto3";
package shop;

message Tx {
  int64 id = 1;
  string zip = 2;
  optional double amount = 3;
  Customer customer = 4;
  repeated string tags = 5;
  int64 seq = 6;
  message Customer { string name = 1; }
}

message Other {
  message Deep { string x = 1; }
  string y = 1;
}
"#;

fn message(wanted: Option<&str>) -> MessageDescriptor {
    compile(SHOP, wanted).unwrap()
}

fn spec(fields: &[(&str, Generator)]) -> MessageSpec {
    MessageSpec {
        fields: fields.iter().map(|(n, g)| Assignment { name: (*n).into(), value: g.clone() }).collect(),
        ..MessageSpec::default()
    }
}

/// The message after a frame of `FRAME` bytes and `indexes`, decoded by prost-reflect.
fn decode(bytes: &[u8], m: &MessageDescriptor, indexes: &[u8]) -> serde_json::Value {
    assert_eq!(&bytes[FRAME..FRAME + indexes.len()], indexes, "message indexes");
    let decoded = DynamicMessage::decode(m.clone(), &bytes[FRAME + indexes.len()..]).unwrap();
    let options = prost_reflect::SerializeOptions::new().use_proto_field_name(true).stringify_64_bit_integers(false);
    decoded.serialize_with_options(serde_json::value::Serializer, &options).unwrap()
}

#[test]
fn a_record_is_framed_with_the_id_a_zero_index_byte_and_the_message() {
    let m = message(Some("Tx"));
    let enc = ProtoEncoder::new(&m, []);
    let mut e = Encoded::default();
    let json = br#"{"zip":"02134","id":-3,"amount":12.5,"customer":{"name":"Ann"},"tags":["a","b"],"extra":1}"#;
    e.push_with(|out| enc.encode(json, out)).unwrap();
    e.set_id(0x01020304);
    let bytes = e.get(0);
    assert_eq!(&bytes[..6], &[0, 1, 2, 3, 4, 0], "byte 0, the id big-endian, index 0 of the file's first message");
    assert_eq!(
        decode(bytes, &m, &[0]),
        serde_json::json!({"id":-3,"zip":"02134","amount":12.5,"customer":{"name":"Ann"},"tags":["a","b"]}),
        "every field the message has, the column it has none for left out"
    );
    assert_eq!(m.full_name(), "shop.Tx");
}

#[test]
fn other_and_nested_messages_have_their_index_path_as_zigzag_varints() {
    assert_eq!(message_indexes(&message(Some("Tx"))), [0]);
    assert_eq!(message_indexes(&message(Some("shop.Other"))), [2, 2], "count 1, index 1");
    assert_eq!(message_indexes(&message(Some("Other.Deep"))), [4, 2, 0], "count 2, indexes 1 and 0");
    assert_eq!(message_indexes(&message(Some("Tx.Customer"))), [4, 0, 0]);
    let m = message(Some("Other.Deep"));
    let mut out = Vec::new();
    ProtoEncoder::new(&m, []).encode(br#"{"x":"v"}"#, &mut out).unwrap();
    assert_eq!(decode(&out, &m, &[4, 2, 0]), serde_json::json!({"x":"v"}));
}

#[test]
fn a_wrong_or_missing_message_name_lists_the_messages() {
    let e = ValueSchema::parse(ValueFormat::Protobuf, SHOP, "shop.proto", Some("Txn")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "VALUE_SCHEMA shop.proto is not a valid schema: VALUE_SCHEMA_MESSAGE=Txn is no message of it; \
         its messages: shop.Tx, shop.Tx.Customer, shop.Other, shop.Other.Deep"
    );
    assert_eq!(FormatError::from(e).exit_code(), crate::exit::CONFIG);
    let e = compile(SHOP, None).unwrap_err();
    assert!(
        e.ends_with(
            "it has 2 top-level messages (shop.Tx, shop.Other): set VALUE_SCHEMA_MESSAGE to the values' message"
        ),
        "{e}"
    );
    assert_eq!(compile("syntax = \"proto3\";\nmessage A { string a = 1; }", None).unwrap().full_name(), "A");
}

#[test]
fn a_proto_that_does_not_compile_is_exit_2_with_the_compilers_message_and_position() {
    let bad = "syntax = \"proto3\";\n\nmessage Tx {\n  int64 id = 1;\n  strin zip = 2;\n}\n";
    let e = ValueSchema::parse(ValueFormat::Protobuf, bad, "tx.proto", None).unwrap_err();
    let text = e.to_string();
    assert!(text.starts_with("VALUE_SCHEMA tx.proto is not a valid schema: "), "{text}");
    assert!(text.contains("strin") && text.contains("(line 5, column 3)"), "{text}");
    assert_eq!(FormatError::from(e).exit_code(), crate::exit::CONFIG);
    let e = compile("syntax = \"proto3\";\nmessage Tx {\n  int64 id = 1\n}\n", None).unwrap_err();
    assert!(e.contains("(line 4, column 1)"), "a missing `;` is found at the next token: {e}");
}

#[test]
fn a_record_that_does_not_fit_names_the_field() {
    let m = message(Some("Tx"));
    let enc = ProtoEncoder::new(&m, []);
    let mut out = vec![7];
    let e = enc.encode(br#"{"id":1,"zip":"x","amount":"lots"}"#, &mut out).unwrap_err();
    assert_eq!(e.field, "amount");
    assert!(e.problem.contains("lots") && !e.problem.contains(" at line "), "{e}");
    let e = enc.encode(br#"{"id":1,"customer":{"name":5}}"#, &mut out).unwrap_err();
    assert_eq!(e.field, "customer", "{e}");
    assert_eq!(out, [7], "nothing written for a misfit");
}

/// The misfit row is skipped, counted, and the others keep their order.
#[test]
fn records_that_do_not_fit_are_dropped_and_the_others_encoded_in_order() {
    let csv = "id,zip\n1,02134\nx,10001\n3,\n";
    let (mut dataset, _) = crate::dataset::load_csv(csv.as_bytes(), "t", None).unwrap();
    let config = Config::from_vars([("KAFKA_BOOTSTRAP_SERVERS", "embedded")]).unwrap();
    let proto = "syntax = \"proto3\";\nmessage T { int64 id = 1; string zip = 2; }\n";
    let schema = ValueSchema::parse(ValueFormat::Protobuf, proto, "t", None).unwrap();
    let (encoded, _) =
        crate::message::registry::encode(&config, &mut dataset, &schema, &MessageSpec::default()).unwrap();
    assert_eq!((dataset.len(), encoded.len()), (2, 2));
    let ValueSchema::Protobuf { message: m, .. } = &schema else { unreachable!() };
    assert_eq!(decode(encoded.get(0), m, &[0]), serde_json::json!({"id":1,"zip":"02134"}));
    // A null (the empty cell) in a field without presence is its default, as
    // the JSON mapping says: "" is not written, and decodes as "".
    assert_eq!(decode(encoded.get(1), m, &[0]), serde_json::json!({"id":3}));
    let (mut none, _) = crate::dataset::load_csv("id\nx\ny\n".as_bytes(), "t", None).unwrap();
    let e = crate::message::registry::encode(&config, &mut none, &schema, &MessageSpec::default()).unwrap_err();
    assert_eq!(e.exit_code(), crate::exit::DATASET_INVALID, "{e}");
    assert!(e.to_string().contains("field id"), "{e}");
}

#[test]
fn the_derived_proto_of_a_small_dataset() {
    let records = [
        r#"{"id":1,"amount":12.5,"zip":"02134","ok":true,"memo":null,"user":{"name":"Ann","tags":["a"]},"line_items":[{"sku":"x","qty":1}]}"#,
        r#"{"id":2,"amount":7,"zip":"10001","ok":false,"memo":"x","user":{"name":"Bo","tags":[]},"line_items":[]}"#,
        r#"{"id":3,"amount":1,"zip":"1","ok":true,"user":{"name":"Cy","tags":[]},"line_items":[]}"#,
    ];
    let o = Observed::of(&records[..], &spec(&[("seq", Generator::Seq), ("at", Generator::Now)]));
    let s = o.derive(ValueFormat::Protobuf, "tx.events-1").unwrap();
    assert_eq!(
        s.text(),
        r#"syntax = "proto3";

package kafka_feeder;

message tx_events_1 {
  int64 id = 1;
  double amount = 2;
  string zip = 3;
  bool ok = 4;
  optional string memo = 5;
  User user = 6;
  repeated LineItems line_items = 7;
  int64 seq = 8;
  string at = 9;
  message User {
    string name = 1;
    repeated string tags = 2;
  }
  message LineItems {
    string sku = 1;
    int64 qty = 2;
  }
}
"#
    );
    assert_eq!(s.record_name(), Some("kafka_feeder.tx_events_1"));
    let e = Observed::of(&[r#"{"v":1}"#, r#"{"v":"x"}"#][..], &MessageSpec::default())
        .derive(ValueFormat::Protobuf, "t")
        .unwrap_err()
        .to_string();
    assert!(e.contains("field v holds values of different kinds"), "{e}");
    let e = Observed::of(&[r#"{"amount usd":1}"#][..], &MessageSpec::default())
        .derive(ValueFormat::Protobuf, "t")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("the schema derived from the dataset is refused by Protobuf") && e.contains("line 6"), "{e}");
}

/// With MESSAGE_FIELDS the message encoded at load leaves the generated fields
/// out (a column of the same name included), and each message's values are
/// appended: decoded, the message holds the generated values.
#[test]
fn generated_fields_are_appended_and_the_loaded_message_does_not_hold_them() {
    let m = message(Some("Tx"));
    let generated = ["seq", "zip", "nope"];
    let enc = ProtoEncoder::new(&m, generated);
    let mut encoded = Encoded::default();
    encoded.push_with(|out| enc.encode(br#"{"id":5,"zip":"02134","seq":99}"#, out)).unwrap();
    encoded.set_id(9);
    assert_eq!(decode(encoded.get(0), &m, &[0]), serde_json::json!({"id":5}), "seq and zip left out at load");
    let generated = Generated::new(&m, generated).expect("seq and zip are fields of Tx");
    assert!(Generated::new(&m, ["tags", "nope"]).is_none(), "a repeated field is never set to one value");
    let mut w =
        Wire::new(ValueWire::Protobuf { encoded: std::sync::Arc::new(encoded), generated: Some(generated) }, None);
    for (n, built) in [
        (1_i64, r#"{"id":5,"zip":"x","seq":1,"nope":"0b6c2c4e-6c1f-4b8e-9a43-2f7b1d0b9c11"}"#),
        (123456789012, r#"{"seq":123456789012,"id":5,"zip":"a\"b","nope":"u"}"#),
    ] {
        let (value, _) = w.apply(0, built.as_bytes(), &[], None);
        let zip = if n == 1 { "x" } else { "a\"b" };
        assert_eq!(decode(value, &m, &[0]), serde_json::json!({"id":5,"zip":zip,"seq":n}), "{built}");
    }
    assert_eq!(w.unencodable, 0);
}

/// `preview` shows what a consumer decodes: the columns the message has no
/// field for are gone, a null in a field without presence is its default.
#[test]
fn a_value_read_back_is_what_a_consumer_decodes() {
    let m = message(Some("Tx"));
    let mut out = Vec::new();
    ProtoEncoder::new(&m, [])
        .encode(br#"{"id":"7","zip":null,"extra":1,"customer":{"name":"Ann"}}"#, &mut out)
        .unwrap();
    let back: serde_json::Value = serde_json::from_slice(&read_back(&out, &m).unwrap()).unwrap();
    assert_eq!(
        back,
        serde_json::json!({"id":7,"zip":"","customer":{"name":"Ann"},"tags":[],"seq":0}),
        "an unset optional is left out, the others are there with their defaults"
    );
}

/// The hot path: a message's generated fields appended to a reused buffer
/// allocate nothing once the buffers have grown.
#[test]
fn appending_generated_fields_allocates_nothing() {
    use crate::message::tests::alloc_count;
    let m = message(Some("Tx"));
    let mut g = Generated::new(&m, ["zip", "seq"]).unwrap();
    let mut out = Vec::with_capacity(256);
    let built = [
        r#"{"id":5,"zip":"0b6c2c4e-6c1f-4b8e-9a43-2f7b1d0b9c11","seq":1}"#,
        r#"{"id":5,"zip":"1b6c2c4e-6c1f-4b8e-9a43-2f7b1d0b9c12","seq":123456789012}"#,
    ];
    g.append(built[0].as_bytes(), &mut out).unwrap();
    let before = alloc_count::count();
    for n in 0..1_000 {
        out.clear();
        g.append(built[n % 2].as_bytes(), &mut out).unwrap();
    }
    assert_eq!(alloc_count::count() - before, 0);
    assert_eq!(decode(&[&[0u8; FRAME][..], &[0], &out].concat(), &m, &[0])["seq"], 123456789012_i64);
}

/// Records at load go through the message's plan (prost's encoders) or, for
/// what it does not read, a `DynamicMessage`: either way the bytes a
/// `DynamicMessage` of the record gives.
#[test]
fn records_encoded_at_load_are_the_bytes_a_dynamic_message_gives() {
    let lines = [
        r#"{"id":1,"zip":"02134","amount":2.5,"customer":{"name":"Ann"},"tags":["a"],"seq":3}"#,
        r#"{"id":-7,"zip":"say \"hi\"","amount":null,"customer":null,"tags":[],"seq":0}"#,
        r#"{"zip":"é","id":"12","amount":1e3}"#,
        r#"{"id":9,"customer":{"name":"B\u00e9"},"seq":-1}"#,
    ];
    let (mut buf, mut ends) = (Vec::new(), Vec::new());
    for line in lines {
        buf.extend_from_slice(line.as_bytes());
        ends.push(buf.len());
    }
    let collected = crate::dataset::collect::Collected { buf, ends, seen: lines.len() as u64 };
    let mut dataset = crate::dataset::Dataset::from_collected(collected);
    let config = Config::from_vars([("KAFKA_BOOTSTRAP_SERVERS", "embedded")]).unwrap();
    let schema = ValueSchema::parse(ValueFormat::Protobuf, SHOP, "t", Some("Tx")).unwrap();
    let (encoded, _) =
        crate::message::registry::encode(&config, &mut dataset, &schema, &MessageSpec::default()).unwrap();
    let ValueSchema::Protobuf { message: m, .. } = &schema else { unreachable!() };
    let whole = ProtoEncoder::new(m, std::iter::empty());
    assert_eq!(encoded.len(), lines.len());
    for (i, line) in lines.iter().enumerate() {
        let mut expected = Vec::new();
        whole.encode(line.as_bytes(), &mut expected).unwrap();
        assert_eq!(encoded.get(i), &expected[..], "{line}");
    }
}
