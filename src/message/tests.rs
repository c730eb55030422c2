use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::*;

/// 2026-01-02T03:04:05.678Z
const T: u64 = 1_767_323_045_678;

fn at(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

fn spec(key: Option<&str>, fields: &str, headers: &str) -> MessageSpec {
    MessageSpec {
        key_field: key.map(str::to_owned),
        fields: parse_fields(fields).unwrap(),
        headers: parse_headers(headers).unwrap(),
    }
}

fn builder(records: &[&str], key: Option<&str>, fields: &str, headers: &str) -> MessageBuilder {
    MessageBuilder::new(&spec(key, fields, headers), records, 7).unwrap()
}

/// The payload of record `i`, as text (asserted valid JSON too).
fn payload(b: &mut MessageBuilder, records: &[&str], i: usize, ms: u64) -> String {
    let m = b.build(records, i, at(ms));
    let text = String::from_utf8(m.payload.to_vec()).unwrap();
    serde_json::from_str::<Value>(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
    text
}

fn key(b: &mut MessageBuilder, records: &[&str], i: usize) -> Option<String> {
    b.build(records, i, at(T)).key.map(|k| String::from_utf8(k.to_vec()).unwrap())
}

fn is_v4(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok_and(|u| {
        u.get_version_num() == 4 && u.get_variant() == uuid::Variant::RFC4122 && u.hyphenated().to_string() == s
    })
}

#[test]
fn every_value_form_in_a_field() {
    let records = [r#"{"id":"old","n":1}"#];
    let mut b = builder(&records, None, "id=uuid(),ts=now(),ms=now_ms(),s=now_s(),n=seq(),src=feeder", "");
    for round in 1..=3u64 {
        let v: Value = serde_json::from_str(&payload(&mut b, &records, 0, T)).unwrap();
        assert!(is_v4(v["id"].as_str().unwrap()), "{v}");
        assert_eq!(v["ts"], json!("2026-01-02T03:04:05.678Z"));
        assert_eq!(v["ms"], json!(T));
        assert_eq!(v["s"], json!(T / 1000));
        assert_eq!(v["n"], json!(round), "seq() counts messages from 1");
        assert_eq!(v["src"], json!("feeder"));
    }
}

#[test]
fn now_follows_the_clock_given() {
    let records = [r#"{"a":1}"#];
    let mut b = builder(&records, None, "ts=now()", "");
    // 2024 is a leap year; the last millisecond of February 29th.
    for (ms, want) in [
        (T, "2026-01-02T03:04:05.678Z"),
        (1_709_251_199_999, "2024-02-29T23:59:59.999Z"),
        (0, "1970-01-01T00:00:00.000Z"),
        (T + 1, "2026-01-02T03:04:05.679Z"),
    ] {
        assert_eq!(payload(&mut b, &records, 0, ms), format!(r#"{{"a":1,"ts":"{want}"}}"#));
    }
}

#[test]
fn an_existing_field_is_replaced_in_place() {
    let records = [r#"{"transaction_id":"tx-1","timestamp":"2026-01-01T00:00:01Z","amount":12.50}"#];
    let mut b = builder(&records, None, "timestamp=now(),transaction_id=seq()", "");
    assert_eq!(
        payload(&mut b, &records, 0, T),
        r#"{"transaction_id":1,"timestamp":"2026-01-02T03:04:05.678Z","amount":12.50}"#
    );
}

#[test]
fn a_missing_field_is_appended() {
    let records = [r#"{"a":1}"#, r#"{}"#, "{ }", r#"{"src":"x","a":2}"#];
    let mut b = builder(&records, None, "src=feeder,n=seq()", "");
    assert_eq!(payload(&mut b, &records, 0, T), r#"{"a":1,"src":"feeder","n":1}"#);
    assert_eq!(payload(&mut b, &records, 1, T), r#"{"src":"feeder","n":2}"#);
    assert_eq!(payload(&mut b, &records, 2, T), r#"{ "src":"feeder","n":3}"#);
    assert_eq!(payload(&mut b, &records, 3, T), r#"{"src":"feeder","a":2,"n":4}"#);
    assert_eq!(b.index().present(), &[1, 0]);
}

#[test]
fn old_values_with_escapes_nested_quotes_and_braces() {
    let records =
        [r#"{"memo":"say \"hi\", then \\\"x\":1}","id":"a","nested":{"id":"in","q":["}",{"x":"\""}]},"z":0}"#];
    let mut b = builder(&records, None, "memo=seq(),nested=now_s(),id=uuid()", "");
    let out = payload(&mut b, &records, 0, T);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["memo"], json!(1));
    assert_eq!(v["nested"], json!(T / 1000));
    assert!(is_v4(v["id"].as_str().unwrap()));
    assert_eq!(v["z"], json!(0));
    assert_eq!(v.as_object().unwrap().len(), 4, "{out}");
}

#[test]
fn a_column_name_that_needs_escaping() {
    let name = "a \"quoted\" \\ name\t";
    let present = json!({ name: "old", "b": 1 }).to_string();
    let records = [present.as_str(), r#"{"b":2}"#];
    let fields = vec![Assignment { name: name.into(), value: Generator::Seq }];
    let spec = MessageSpec { key_field: Some(name.into()), fields, headers: vec![] };
    let mut b = MessageBuilder::new(&spec, &records[..], 1).unwrap();
    for (i, n) in [(0, 1), (1, 2)] {
        let m = b.build(&records[..], i, at(T));
        let v: Value = serde_json::from_slice(m.payload).unwrap();
        assert_eq!(v[name], json!(n), "{v}");
        assert_eq!(m.key, Some(n.to_string().as_bytes()));
    }
    // The same name, read from the dataset rather than generated.
    let mut b = builder(&records, Some(name), "", "");
    assert_eq!(key(&mut b, &records, 0).as_deref(), Some("old"));
    assert_eq!(key(&mut b, &records, 1), None);
}

#[test]
fn records_with_whitespace_and_unicode_escaped_names() {
    let records = [" {\n \"id\" : \"x\" ,\n \"\\u0061\": 5 } \n"];
    let mut b = builder(&records, Some("a"), "id=seq()", "");
    let m = b.build(&records[..], 0, at(T));
    assert_eq!(m.payload, b" {\n \"id\" : 1 ,\n \"\\u0061\": 5 } \n");
    assert_eq!(m.key, Some(&b"5"[..]));
}

#[test]
fn of_two_members_with_one_name_the_last_is_replaced() {
    let records = [r#"{"k":"first","k":"last"}"#];
    let mut b = builder(&records, Some("k"), "", "");
    assert_eq!(key(&mut b, &records, 0).as_deref(), Some("last"));
    let mut b = builder(&records, None, "k=seq()", "");
    assert_eq!(payload(&mut b, &records, 0, T), r#"{"k":"first","k":1}"#);
}

#[test]
fn key_rules() {
    let records = [
        r#"{"k":"plain"}"#,
        r#"{"k":"a\"b\\c\u00e9"}"#,
        r#"{"k":12.50}"#,
        r#"{"k":-3}"#,
        r#"{"k":null}"#,
        r#"{"other":1}"#,
        r#"{"k":true}"#,
        r#"{"k":""}"#,
        r#"{"k":{"x":[1, 2]}}"#,
    ];
    let mut b = builder(&records, Some("k"), "", "");
    let want = [
        Some("plain"),
        Some("a\"b\\cé"),
        Some("12.50"),
        Some("-3"),
        None,
        None,
        Some("true"),
        Some(""),
        Some(r#"{"x":[1, 2]}"#),
    ];
    for (i, w) in want.iter().enumerate() {
        assert_eq!(key(&mut b, &records, i).as_deref(), *w, "record {i}");
    }
    assert_eq!(b.index().keyed(), 7);
    // Without a key field there is no key.
    let mut b = builder(&records, None, "", "");
    assert_eq!(key(&mut b, &records, 0), None);
}

#[test]
fn a_key_from_a_generated_field_is_that_fields_text() {
    let records = [r#"{"id":"old","k":"static"}"#];
    for (fields, check) in [
        ("id=uuid()", (|k: &str, v: &Value| is_v4(k) && v["id"] == json!(k)) as fn(&str, &Value) -> bool),
        ("id=now()", |k, v| k == "2026-01-02T03:04:05.678Z" && v["id"] == json!(k)),
        ("id=now_ms()", |k, v| k == T.to_string() && v["id"] == json!(T)),
        ("id=now_s()", |k, v| k == (T / 1000).to_string() && v["id"] == json!(T / 1000)),
        ("id=seq()", |k, v| k == "1" && v["id"] == json!(1)),
        (r#"id=a"b\c"#, |k, v| k == r#"a"b\c"# && v["id"] == json!(k)),
    ] {
        let mut b = builder(&records, Some("id"), fields, "");
        let m = b.build(&records[..], 0, at(T));
        let k = std::str::from_utf8(m.key.expect("a generated key is never missing")).unwrap();
        let v: Value = serde_json::from_slice(m.payload).unwrap();
        assert!(check(k, &v), "{fields}: key {k}, payload {v}");
    }
    // A generated key field the dataset lacks is fine: it is added, and keys.
    let mut b = builder(&records, Some("fresh"), "fresh=seq()", "");
    assert_eq!(key(&mut b, &records, 0).as_deref(), Some("1"));
}

#[test]
fn an_unknown_key_column_lists_the_columns() {
    let records = [r#"{"a":1,"b":2}"#, r#"{"b":3,"c":null}"#];
    let e = MessageBuilder::new(&spec(Some("x"), "", ""), &records[..], 0).err().unwrap();
    assert!(matches!(&e, IndexError::UnknownColumn { field, columns } if field == "x" && columns == &["a", "b", "c"]));
    assert_eq!(
        e.to_string(),
        "MESSAGE_KEY_FIELD=\"x\" is invalid: no record has this field; \
         expected a column of the dataset (a, b, c) or a field set by MESSAGE_FIELDS"
    );
    // A column some records lack is not unknown: those records have no key.
    let mut b = builder(&records, Some("c"), "", "");
    assert_eq!((key(&mut b, &records, 0), key(&mut b, &records, 1)), (None, None));
}

#[test]
fn a_record_that_is_not_an_object_is_an_error() {
    for bad in ["[1]", "\"s\"", "{\"a\":1", "{\"a\":1}x"] {
        let records = [r#"{"a":1}"#, bad];
        let e = MessageBuilder::new(&spec(None, "a=seq()", ""), &records[..], 0).err().unwrap();
        assert!(matches!(e, IndexError::NotAnObject { record: 1, .. }), "{bad}: {e}");
    }
}

#[test]
fn headers_in_every_form() {
    let records = [r#"{"id":"x"}"#];
    let mut b = builder(&records, None, "id=uuid(),n=seq()", "run=r-1,id=uuid(),at=now_ms(),n=seq()");
    for round in 1..=2u64 {
        let m = b.build(&records[..], 0, at(T));
        let h: Vec<(&str, String)> =
            m.headers.iter().map(|(k, v)| (k, String::from_utf8(v.to_vec()).unwrap())).collect();
        assert_eq!(m.headers.len(), 4);
        assert_eq!(h[0], ("run", "r-1".to_owned()));
        assert_eq!(h[1].0, "id");
        assert!(is_v4(&h[1].1), "{h:?}");
        assert_eq!(h[2], ("at", T.to_string()));
        assert_eq!(h[3], ("n", round.to_string()), "one seq() per message, shared with the fields");
        let v: Value = serde_json::from_slice(m.payload).unwrap();
        assert_ne!(v["id"], json!(h[1].1), "each uuid() is a new one");
        assert_eq!(v["n"], json!(round));
    }
    let mut plain = builder(&records, None, "", "");
    assert!(plain.build(&records[..], 0, at(T)).headers.is_empty());
}

#[test]
fn needs_time_only_for_time_values() {
    let records = [r#"{"a":1}"#];
    assert!(!builder(&records, Some("a"), "id=uuid(),n=seq(),c=x", "h=uuid()").needs_time());
    for (fields, headers) in [("t=now()", ""), ("t=now_ms()", ""), ("t=now_s()", ""), ("", "t=now_ms()")] {
        assert!(builder(&records, None, fields, headers).needs_time(), "{fields} {headers}");
    }
}

#[test]
fn without_fields_the_payload_is_the_record_itself() {
    let records = [r#"{"a":1}"#];
    let mut b = builder(&records, Some("a"), "", "h=1");
    let m = b.build(&records[..], 0, at(T));
    assert_eq!(m.payload.as_ptr(), records[0].as_ptr(), "no copy");
    assert_eq!(m.key, Some(&b"1"[..]));
}

fn uuids(seed: u64, n: usize) -> Vec<String> {
    let records = [r#"{"id":0}"#];
    let mut b = MessageBuilder::new(&spec(None, "id=uuid()", ""), &records[..], seed).unwrap();
    (0..n)
        .map(|_| {
            let m = b.build(&records[..], 0, at(T));
            serde_json::from_slice::<Value>(m.payload).unwrap()["id"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[test]
fn uuids_are_v4_never_repeat_and_follow_the_seed() {
    let a = uuids(42, 10_000);
    assert!(a.iter().all(|u| is_v4(u)));
    assert_eq!(a.iter().collect::<HashSet<_>>().len(), a.len());
    assert_eq!(uuids(42, 100), a[..100], "same seed, same values");
    assert_ne!(uuids(43, 100), a[..100]);
}

#[test]
fn the_uuid_stream_is_not_the_samplers() {
    // Same seed for both: the sampler's first draws must not be the uuid bits.
    let mut sampler = SmallRng::seed_from_u64(42);
    let first: [u8; 16] = sampler.random();
    let id = uuid::Builder::from_random_bytes(first).into_uuid().hyphenated().to_string();
    assert_ne!(uuids(42, 1)[0], id);
}

#[test]
fn os_seeds_differ() {
    assert_ne!(os_seed(), os_seed());
}

pub(crate) mod alloc_count {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    /// Counts this thread's allocations, so a test can assert there were none.
    pub struct Counting;

    thread_local! {
        pub static ALLOCS: Cell<u64> = const { Cell::new(0) };
    }

    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, l: Layout) -> *mut u8 {
            ALLOCS.with(|c| c.set(c.get() + 1));
            unsafe { System.alloc(l) }
        }
        unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
            unsafe { System.dealloc(p, l) }
        }
        unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
            ALLOCS.with(|c| c.set(c.get() + 1));
            unsafe { System.realloc(p, l, n) }
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;

    pub fn count() -> u64 {
        ALLOCS.with(Cell::get)
    }
}

#[test]
fn building_a_message_allocates_nothing() {
    let records = [
        r#"{"transaction_id":"tx-1","timestamp":"2026-01-01T00:00:01Z","memo":"a \"b\""}"#,
        r#"{"transaction_id":"tx-2","memo":null,"account":"\u00e9\"x"}"#,
        r#"{"account":"plain"}"#,
    ];
    let mut b = builder(
        &records,
        Some("account"),
        "transaction_id=uuid(),timestamp=now(),at=now_ms(),s=now_s(),n=seq(),src=feeder",
        "run=r1,id=uuid(),at=now_ms(),n=seq()",
    );
    let mut bytes = 0;
    let before = alloc_count::count();
    for n in 0..3_000u64 {
        // A new millisecond for every message, so now() is formatted each time.
        let m = b.build(&records[..], (n % 3) as usize, at(T + n));
        bytes += m.payload.len() + m.key.map_or(0, <[u8]>::len) + m.headers.iter().map(|(_, v)| v.len()).sum::<usize>();
    }
    assert_eq!(alloc_count::count() - before, 0);
    assert!(bytes > 3_000 * 100);
    // The counter is live: a deliberate allocation is seen.
    let before = alloc_count::count();
    std::hint::black_box(vec![0u8; 16]);
    assert_eq!(alloc_count::count() - before, 1);
}

#[test]
fn every_record_of_the_bundled_sample() {
    let csv = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/data/transactions.csv")).unwrap();
    let (dataset, _) = crate::dataset::load_csv(&csv[..], "sample", None).unwrap();
    let spec = spec(Some("account_id"), "transaction_id=uuid(),timestamp=now(),source=feeder", "");
    let mut b = MessageBuilder::new(&spec, &dataset, 3).unwrap();
    assert_eq!(b.index().present(), &[dataset.len() as u64, dataset.len() as u64, 0]);
    for i in 0..dataset.len() {
        let mut want: Value = serde_json::from_slice(dataset.get(i)).unwrap();
        let m = b.build(&dataset, i, at(T));
        let got: Value = serde_json::from_slice(m.payload).unwrap();
        assert_eq!(m.key, Some(want["account_id"].to_string().as_bytes()), "record {i}");
        assert!(is_v4(got["transaction_id"].as_str().unwrap()));
        want["transaction_id"] = got["transaction_id"].clone();
        want["timestamp"] = json!("2026-01-02T03:04:05.678Z");
        want["source"] = json!("feeder");
        assert_eq!(got, want, "record {i}");
    }
}

#[test]
fn a_reloaded_dataset_is_reindexed_and_one_that_does_not_fit_changes_nothing() {
    let old = [r#"{"k":"a","id":1}"#];
    let mut b = builder(&old, Some("k"), "id=seq()", "");
    let new = [r#"{"x":0,"id":"long old value","k":"b"}"#, r#"{"k":"c"}"#];
    b.reindex(&new[..]).unwrap();
    assert_eq!(payload(&mut b, &new, 0, T), r#"{"x":0,"id":1,"k":"b"}"#);
    assert_eq!(key(&mut b, &new, 1).as_deref(), Some("c"));
    assert_eq!(payload(&mut b, &new, 1, T), r#"{"k":"c","id":3}"#);
    let keyless = [r#"{"id":1}"#];
    assert!(matches!(b.reindex(&keyless[..]), Err(IndexError::UnknownColumn { .. })));
    assert_eq!(key(&mut b, &new, 0).as_deref(), Some("b"), "still fits the dataset before");
}

/// With an Avro value and MESSAGE_FIELDS, the builder tells the wire where it
/// wrote each generated value (spliced in place, members in any order, some
/// replacing a column, some appended): each message is the JSON the same
/// builder makes without the wire, encoded whole.
#[test]
fn avro_messages_with_generated_fields_are_the_json_encoded_whole() {
    use registry::avro::{AvroEncoder, Encoded};
    use registry::wire::{ValueWire, Wire};
    let records = [r#"{"id":"a","n":1,"memo":null}"#, r#"{"memo":"m","n":-2,"id":"b"}"#];
    let fields = "id=uuid(),at=now(),seq=seq(),src=feeder";
    let schema = apache_avro::Schema::parse_str(
        r#"{"type":"record","name":"T","fields":[{"name":"id","type":"string"},{"name":"n","type":"long"},
        {"name":"memo","type":["null","string"]},{"name":"at","type":"string"},{"name":"seq","type":"long"},
        {"name":"src","type":"string"}]}"#,
    )
    .unwrap();
    let mut encoder = AvroEncoder::new(&schema).unwrap();
    // As the load does: placeholders where the generated fields go, their places noted.
    let splice: Vec<(usize, usize)> =
        ["id", "at", "seq", "src"].iter().enumerate().map(|(k, n)| (k, encoder.field_position(n).unwrap())).collect();
    let positions: Vec<usize> = splice.iter().map(|(_, p)| *p).collect();
    let mut encoded = Encoded::default();
    for r in [
        "{\"id\":\"\",\"n\":1,\"memo\":null,\"at\":\"\",\"seq\":0,\"src\":\"\"}",
        "{\"id\":\"\",\"n\":-2,\"memo\":\"m\",\"at\":\"\",\"seq\":0,\"src\":\"\"}",
    ] {
        encoded.push_noting(&mut encoder, r.as_bytes(), &positions).unwrap();
    }
    encoded.set_id(3);
    let value = ValueWire::Avro {
        id: 3,
        encoded: std::sync::Arc::new(encoded),
        encoder: Box::new(encoder),
        per_message: true,
        splice,
    };
    let mut with_wire = builder(&records, Some("id"), fields, "");
    with_wire.set_wire(Wire::new(value, None));
    let mut plain = builder(&records, Some("id"), fields, "");
    let mut whole = AvroEncoder::new(&schema).unwrap();
    for i in [0, 1, 1, 0] {
        let m = plain.build(&records[..], i, at(T + i as u64));
        let (json, key) = (m.payload.to_vec(), m.key.map(<[u8]>::to_vec));
        let mut expected = Vec::new();
        whole.encode(&json, 3, &mut expected).unwrap();
        let m = with_wire.build(&records[..], i, at(T + i as u64));
        assert_eq!(m.payload, expected, "{}", String::from_utf8_lossy(&json));
        assert_eq!(m.key.map(<[u8]>::to_vec), key, "the generated id is the key");
    }
    // And as the JSON path: nothing allocated per message.
    let before = alloc_count::count();
    let mut bytes = 0;
    for n in 0..2_000u64 {
        bytes += with_wire.build(&records[..], (n % 2) as usize, at(T + n)).payload.len();
    }
    assert_eq!(alloc_count::count() - before, 0);
    assert!(bytes > 2_000 * 50);
}
