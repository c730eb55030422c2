use apache_avro::types::Value as Avro;

use super::*;

fn schema(fields: &str) -> Schema {
    Schema::parse_str(&format!(r#"{{"type":"record","name":"T","fields":{fields}}}"#)).unwrap()
}

fn encode(s: &Schema, json: &str) -> Result<Vec<u8>, Misfit> {
    let mut out = vec![9];
    AvroEncoder::new(s).unwrap().encode(json.as_bytes(), 0x01020304, &mut out)?;
    Ok(out)
}

#[test]
fn a_record_is_framed_and_decodes_to_the_same_values() {
    let s = schema(
        r#"[{"name":"id","type":"long"},{"name":"zip","type":"string"},{"name":"memo","type":["null","string"],"default":null},{"name":"amount","type":"double"},{"name":"ok","type":"boolean"}]"#,
    );
    let out = encode(&s, r#"{"zip":"02134","id":-3,"amount":12.5,"ok":true}"#).unwrap();
    assert_eq!(&out[..6], &[9, 0, 1, 2, 3, 4], "kept what was there, then byte 0 and the id big-endian");
    let decoded = apache_avro::from_avro_datum(&s, &mut &out[6..], None).unwrap();
    assert_eq!(
        decoded,
        Avro::Record(vec![
            ("id".into(), Avro::Long(-3)),
            ("zip".into(), Avro::String("02134".into())),
            ("memo".into(), Avro::Union(0, Box::new(Avro::Null))),
            ("amount".into(), Avro::Double(12.5)),
            ("ok".into(), Avro::Boolean(true)),
        ])
    );
}

#[test]
fn a_record_that_does_not_fit_names_the_field() {
    let s = schema(
        r#"[{"name":"id","type":"long"},{"name":"user","type":{"type":"record","name":"U","fields":[{"name":"name","type":"string"}]}}]"#,
    );
    let e = encode(&s, r#"{"id":null,"user":{"name":"a"}}"#).unwrap_err();
    assert_eq!(e.to_string(), "field id: expected long, found null");
    let e = encode(&s, r#"{"id":"7","user":{"name":"a"}}"#).unwrap_err();
    assert_eq!(e.to_string(), "field id: expected long, found string \"7\"");
    let e = encode(&s, r#"{"id":1,"user":{"name":2}}"#).unwrap_err();
    assert_eq!(e.to_string(), "field user.name: expected string, found number 2");
    let e = encode(&s, r#"{"id":1}"#).unwrap_err();
    assert_eq!(e.to_string(), "field user: missing, and it has no default");
    let mut out = vec![1, 2];
    assert!(AvroEncoder::new(&s).unwrap().encode(b"{\"id\":1}", 0, &mut out).is_err());
    assert_eq!(out, [1, 2], "nothing written for a misfit");
}

#[test]
fn unions_take_the_branch_of_the_value_and_defaults_fill_missing_fields() {
    let s = schema(
        r#"[{"name":"v","type":["null","long","string"]},{"name":"d","type":"string","default":"x"},{"name":"t","type":{"type":"long","logicalType":"timestamp-millis"}}]"#,
    );
    let out = encode(&s, r#"{"v":"a","t":"2024-01-01T00:00:01Z"}"#).unwrap();
    let decoded = apache_avro::from_avro_datum(&s, &mut &out[6..], None).unwrap();
    assert_eq!(
        decoded,
        Avro::Record(vec![
            ("v".into(), Avro::Union(2, Box::new(Avro::String("a".into())))),
            ("d".into(), Avro::String("x".into())),
            ("t".into(), Avro::TimestampMillis(1_704_067_201_000)),
        ])
    );
}

/// Field by field and whole, the same record gives the same bytes.
#[test]
fn a_record_encoded_field_by_field_is_the_record_encoded_whole() {
    let s = schema(
        r#"[{"name":"id","type":"long"},{"name":"u","type":{"type":"record","name":"U","fields":[{"name":"n","type":["null","string"]}]}},{"name":"xs","type":{"type":"array","items":"double"}},{"name":"memo","type":["null","string"],"default":null},{"name":"d","type":"string","default":"x"}]"#,
    );
    let mut enc = AvroEncoder::new(&s).unwrap();
    assert!(enc.fields.is_some());
    for json in [
        r#"{"id":1,"u":{"n":"a\"b"},"xs":[1,2.5],"memo":"m"}"#,
        r#"{"xs":[],"extra":{"k":[1]},"u":{"n":null},"id":-7}"#,
        r#"{"id":2,"u":{"n":"é"},"xs":[0],"d":"y","memo":null}"#,
    ] {
        let (mut whole, mut fields) = (Vec::new(), Vec::new());
        enc.encode_whole(json.as_bytes(), &mut whole).unwrap();
        enc.encode_fields(json.as_bytes(), &mut fields).unwrap();
        assert_eq!(fields, whole, "{json}");
    }
    // A key written with an escape is still the field it names.
    let mut out = Vec::new();
    enc.encode(br#"{"id":3,"u":{"n":null},"xs":[]}"#, 1, &mut out).unwrap();
    assert_eq!(&out[5..6], &[6], "id 3, zigzag");
    // A type named elsewhere: the record is encoded whole.
    let s = schema(r#"[{"name":"a","type":{"type":"fixed","name":"F","size":1}},{"name":"b","type":"F"}]"#);
    assert!(AvroEncoder::new(&s).unwrap().fields.is_none());
}

/// The serde path (a plan) takes and refuses what the value path does, with
/// the same bytes and the same misfit lines, for every kind a plan covers.
#[test]
fn the_serializer_path_writes_and_refuses_as_the_value_path_does() {
    let s = schema(
        r#"[{"name":"i","type":"int"},{"name":"l","type":"long"},{"name":"d","type":"double"},{"name":"f","type":"float"},
        {"name":"b","type":"boolean"},{"name":"s","type":"string"},{"name":"by","type":"bytes"},
        {"name":"id","type":{"type":"string","logicalType":"uuid"}},
        {"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}},
        {"name":"day","type":{"type":"int","logicalType":"date"}},
        {"name":"ms","type":{"type":"long","logicalType":"timestamp-millis"}},
        {"name":"us","type":["null",{"type":"long","logicalType":"timestamp-micros"}],"default":null},
        {"name":"tags","type":{"type":"map","values":"long"}},
        {"name":"items","type":{"type":"array","items":{"type":"record","name":"I","fields":[{"name":"q","type":"long"},{"name":"k","type":"string","default":"z"}]}}},
        {"name":"u","type":["null","long","double","string",{"type":"record","name":"R","fields":[{"name":"x","type":["null","boolean"]}]}]},
        {"name":"dec","type":["null",{"type":"bytes","logicalType":"decimal","precision":6,"scale":2}],"default":null}]"#,
    );
    let mut enc = AvroEncoder::new(&s).unwrap();
    assert!(enc.fields.as_ref().unwrap().iter().all(|f| matches!(f.write, Write::Planned(_))));
    let good = [
        r#"{"i":-5,"l":9007199254740993,"d":7,"f":1.5,"b":true,"s":"a\u00e9\"","by":"xy","id":"0B6C2C4E-6C1F-4B8E-9A43-2F7B1D0B9C11","e":"B","day":"2024-01-31","ms":"2024-01-01T00:00:01.5Z","us":"1970-01-01T00:00:00.000001Z","tags":{"a":-2},"items":[{"q":1},{"k":"w","q":2}],"u":{"x":true},"dec":-1234.5}"#,
        r#"{"i":2147483647,"l":-1,"d":-0.25,"f":3,"b":false,"s":"","by":"","id":"0b6c2c4e-6c1f-4b8e-9a43-2f7b1d0b9c11","e":"A","day":"1969-12-31","ms":1700000000000,"tags":{},"items":[],"u":12,"dec":12.50}"#,
        r#"{"i":0,"l":0,"d":1e300,"f":0,"b":true,"s":"x","by":"y","id":"0b6c2c4e-6c1f-4b8e-9a43-2f7b1d0b9c11","e":"A","day":"2000-02-29","ms":0,"us":null,"tags":{"k":0},"items":[{"q":-3,"k":""}],"u":1.25,"dec":0}"#,
        r#"{"i":0,"l":0,"d":0,"f":0,"b":true,"s":"x","by":"y","id":"0b6c2c4e-6c1f-4b8e-9a43-2f7b1d0b9c11","e":"A","day":"2000-02-29","ms":0,"tags":{},"items":[],"u":null}"#,
        r#"{"i":0,"l":0,"d":0,"f":0,"b":true,"s":"x","by":"y","id":"0b6c2c4e-6c1f-4b8e-9a43-2f7b1d0b9c11","e":"A","day":"2000-02-29","ms":0,"tags":{},"items":[],"u":"t"}"#,
    ];
    for json in good {
        let (mut whole, mut fields) = (Vec::new(), Vec::new());
        enc.encode_whole(json.as_bytes(), &mut whole).unwrap();
        enc.encode_fields(json.as_bytes(), &mut fields).unwrap();
        assert_eq!(fields, whole, "{json}");
        apache_avro::from_avro_datum(&s, &mut &fields[FRAME..], None).unwrap();
    }
    // The value path writes a map in its hash map's order: several keys are compared decoded.
    let json = good[1].replace(r#""tags":{}"#, r#""tags":{"b":1,"a":-2,"c":0}"#);
    let mut fields = Vec::new();
    enc.encode_fields(json.as_bytes(), &mut fields).unwrap();
    let Avro::Record(decoded) = apache_avro::from_avro_datum(&s, &mut &fields[FRAME..], None).unwrap() else {
        unreachable!()
    };
    let tags = [("a", -2), ("b", 1), ("c", 0)].map(|(k, v)| (k.to_owned(), Avro::Long(v))).into_iter().collect();
    assert_eq!(decoded.iter().find(|(n, _)| n == "tags").unwrap().1, Avro::Map(tags));
    // A decimal is its unscaled number: 12.50 at scale 2 is 1250.
    let mut out = Vec::new();
    enc.encode_fields(good[1].as_bytes(), &mut out).unwrap();
    let Avro::Record(decoded) = apache_avro::from_avro_datum(&s, &mut &out[FRAME..], None).unwrap() else {
        unreachable!()
    };
    let dec = Avro::Union(1, Box::new(Avro::Decimal(apache_avro::Decimal::from(1250u16.to_be_bytes()))));
    assert_eq!(decoded.iter().find(|(n, _)| n == "dec").unwrap().1, dec);
    let base: serde_json::Value = serde_json::from_str(good[1]).unwrap();
    for (field, bad) in [
        ("i", "2147483648"),
        ("l", "1.5"),
        ("l", "\"7\""),
        ("d", "null"),
        ("b", "1"),
        ("s", "3"),
        ("id", "\"not-a-uuid\""),
        ("e", "\"C\""),
        ("day", "\"2024-13-01\""),
        ("ms", "\"yesterday\""),
        ("us", "5.5"),
        ("tags", "{\"a\":\"x\"}"),
        ("items", "[{\"q\":1},{\"k\":\"w\"}]"),
        ("items", "[{\"q\":null}]"),
        ("u", "true"),
        ("u", "{\"x\":3}"),
        ("u", "[1]"),
        ("dec", "1.234"),
        ("dec", "12345.6"),
        ("dec", "\"1.5\""),
    ] {
        let mut json = base.clone();
        json[field] = serde_json::from_str(bad).unwrap();
        let json = json.to_string();
        let (mut whole, mut fields) = (Vec::new(), Vec::new());
        let w = enc.encode_whole(json.as_bytes(), &mut whole).unwrap_err();
        let f = enc.encode_fields(json.as_bytes(), &mut fields).unwrap_err();
        assert_eq!(f, w, "{json}");
        assert!(f.field.starts_with(field), "{f} names {field}");
    }
}

#[test]
fn the_id_is_written_into_every_frame_later() {
    let s = schema(r#"[{"name":"a","type":"long"}]"#);
    let mut enc = AvroEncoder::new(&s).unwrap();
    let mut e = Encoded::default();
    e.push(&mut enc, br#"{"a":1}"#).unwrap();
    assert!(e.push(&mut enc, br#"{"a":"x"}"#).is_err());
    e.push(&mut enc, br#"{"a":-1}"#).unwrap();
    e.set_id(7);
    assert_eq!(e.len(), 2);
    assert_eq!(e.get(0), [0, 0, 0, 0, 7, 2]);
    assert_eq!(e.get(1), [0, 0, 0, 0, 7, 1]);
}

/// The threads' parts are kept as chunks: a record is found in its chunk,
/// empty parts add nothing, and the id reaches every chunk's frames.
#[test]
fn parts_appended_as_chunks_read_as_one_sequence() {
    let s = schema(r#"[{"name":"a","type":"long"}]"#);
    let mut enc = AvroEncoder::new(&s).unwrap();
    let part = |values: &[i64], enc: &mut AvroEncoder| {
        let mut e = Encoded::with_capacity(64, values.len());
        for v in values {
            e.push(enc, format!(r#"{{"a":{v}}}"#).as_bytes()).unwrap();
        }
        e
    };
    let mut all = Encoded::default();
    for values in [&[][..], &[1, 2][..], &[][..], &[3][..], &[-1, 4, 5][..]] {
        all.append(part(values, &mut enc));
    }
    all.set_id(7);
    assert_eq!(all.len(), 6);
    assert_eq!(all.chunks.len(), 3, "empty parts are not kept");
    let decoded: Vec<u8> = (0..all.len()).map(|i| all.get(i)[5]).collect();
    assert_eq!(decoded, [2, 4, 6, 1, 8, 10], "zigzag longs 1 2 3 -1 4 5, in order across chunks");
    assert!((0..all.len()).all(|i| all.get(i)[..5] == [0, 0, 0, 0, 7]));
    assert_eq!(all.bytes(), 36);
    let mut none = Encoded::default();
    none.append(Encoded::default());
    assert!(none.is_empty());
    none.push(&mut enc, br#"{"a":1}"#).unwrap();
    assert_eq!(none.get(0)[5], 2, "an Encoded of empty parts still takes records");
}

/// The one-pass path (members in the schema's order) writes, refuses and
/// notes spans exactly as the general path; records not in order go the
/// general way, and the one-pass path is given up when most are not.
#[test]
fn records_in_the_schemas_order_go_in_one_pass_and_write_what_the_general_path_writes() {
    let s = schema(
        r#"[{"name":"id","type":"long"},{"name":"memo","type":["null","string"],"default":null},{"name":"amount","type":"double"},{"name":"tags","type":{"type":"array","items":"string"},"default":[]},{"name":"u","type":{"type":"record","name":"U","fields":[{"name":"n","type":"int"}]}}]"#,
    );
    let records = [
        (r#"{"id":1,"memo":"a \"quoted\" \\ memo","amount":2.5,"tags":["x","y,}"],"u":{"n":3}}"#, true),
        (r#"{"id":-7,"memo":null,"amount":3,"tags":[],"u":{"n":0}}"#, true),
        (r#"{"id":2,"memo":"é ü","amount":1e3,"tags":["}"],"u":{"n":1}}"#, true),
        (r#"{"id":"x","memo":null,"amount":1,"tags":[],"u":{"n":1}}"#, true),
        (r#"{"id":1,"memo":null,"amount":1,"tags":[],"u":{"n":"no"}}"#, true),
        (r#"{"memo":"b","id":3,"amount":1,"tags":[],"u":{"n":1}}"#, false),
        (r#"{"id":4,"amount":1,"u":{"n":1}}"#, false),
        (r#"{"id":5,"memo":null,"amount":1,"tags":[],"u":{"n":1},"extra":true}"#, false),
        (r#"{"id":6,"memo":null,"amount":1,"tags":[]}"#, false),
    ];
    for (json, in_order) in records {
        let mut general = AvroEncoder::new(&s).unwrap();
        general.in_order.misses = u64::MAX / 2;
        assert!(!general.in_order.worth_trying());
        let mut one_pass = AvroEncoder::new(&s).unwrap();
        let (mut a, mut b) = (vec![7], vec![7]);
        let (ra, rb) = (general.encode(json.as_bytes(), 5, &mut a), one_pass.encode(json.as_bytes(), 5, &mut b));
        assert_eq!(format!("{ra:?}"), format!("{rb:?}"), "{json}");
        assert_eq!(a, b, "{json}");
        assert_eq!(general.last_spans(), one_pass.last_spans(), "{json}");
        assert_eq!(one_pass.in_order.hits, u64::from(in_order), "{json}");
    }
    let mut e = AvroEncoder::new(&s).unwrap();
    let moved = br#"{"memo":"b","id":3,"amount":1,"tags":[],"u":{"n":1}}"#;
    for _ in 0..40 {
        e.encode(moved, 0, &mut Vec::new()).unwrap();
    }
    assert_eq!(e.in_order.misses, 32, "given up after 32 misses with no hit");
}

/// A value seen before is written from the field's memo, byte for byte what
/// encoding it gives; a field whose values rarely repeat gives the memo up.
#[test]
fn repeated_values_are_written_from_the_memo_as_encoding_writes_them() {
    let s = schema(
        r#"[{"name":"id","type":"string"},{"name":"city","type":["null","string"]},{"name":"n","type":"long"},{"name":"x","type":"double"}]"#,
    );
    let cities = [r#""Boston""#, "null", r#""S\u00e3o Paulo""#, r#""S\"x\"""#, r#""é""#];
    let mut general = AvroEncoder::new(&s).unwrap();
    general.in_order.misses = u64::MAX / 2;
    let mut one_pass = AvroEncoder::new(&s).unwrap();
    for i in 0..6000 {
        let json = format!(r#"{{"id":"tx-{i}","city":{},"n":{},"x":{}}}"#, cities[i % 5], i % 3, i % 7);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        general.encode(json.as_bytes(), 1, &mut a).unwrap();
        one_pass.encode(json.as_bytes(), 1, &mut b).unwrap();
        assert_eq!(a, b, "{json}");
    }
    let memo = |name: &str| &one_pass.fields.as_ref().unwrap().iter().find(|f| f.name == name).unwrap().memo;
    assert!(memo("id").off, "every id is new: given up");
    assert_eq!((memo("city").kept.len(), memo("n").kept.len(), memo("x").kept.len()), (5, 3, 7));
    assert!(memo("city").found > 5900, "{:?}", memo("city"));
    assert_eq!(one_pass.in_order.hits, 6000);
}
