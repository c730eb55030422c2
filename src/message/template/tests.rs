use serde_json::{json, Value as Json};

use super::funcs::Lookup;
use super::*;
use crate::message::index::columns;

const MS: u64 = 1_700_000_000_123; // 2023-11-14T22:13:20.123Z

/// A message as a consumer reads it.
#[derive(Debug, Clone, PartialEq)]
struct Msg {
    key: Option<String>,
    headers: Vec<(String, String)>,
    value: Json,
}

fn prep(doc: &str, records: &[&str], lookups: Vec<Lookup>, seed: u64) -> Result<Prepared, TemplateError> {
    let doc = Document::parse(doc)?;
    let records: Vec<&str> = if records.is_empty() { vec!["{}"] } else { records.to_vec() };
    let cols = if records == ["{}"] { Vec::new() } else { columns(&records[..]) };
    prepare(&doc, &records[..], &cols, std::sync::Arc::new(lookups), seed)
}

/// `n` messages, cycling through the stored records.
fn send(p: &mut Prepared, n: usize) -> Vec<Msg> {
    (0..n)
        .map(|k| {
            let entry = p.dataset.get(k % p.dataset.len());
            let m = p.messages.build(entry, k as u64 + 1, MS);
            let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
            Msg {
                key: m.key.map(text),
                headers: m.headers.iter().map(|(n, v)| (n.to_owned(), text(v))).collect(),
                value: serde_json::from_slice(m.payload).unwrap_or_else(|e| panic!("{e}: {}", text(m.payload))),
            }
        })
        .collect()
}

fn one(doc: &str, records: &[&str]) -> Msg {
    send(&mut prep(doc, records, Vec::new(), 1).unwrap(), 1).remove(0)
}

fn values(expr: &str, n: usize) -> Vec<Json> {
    let doc = format!(r#"{{"value": {{"v": "{{{{ {expr} }}}}"}}}}"#);
    let mut p = prep(&doc, &[], sensors(), 7).unwrap();
    send(&mut p, n).into_iter().map(|m| m.value["v"].clone()).collect()
}

fn err(doc: &str, records: &[&str]) -> String {
    match prep(doc, records, sensors(), 1) {
        Ok(_) => panic!("{doc} was accepted"),
        Err(e) => e.to_string(),
    }
}

fn sensors() -> Vec<Lookup> {
    let rows = [
        r#"{"sensor_id":773869,"highway":"I-405","lat":34.15}"#,
        r#"{"sensor_id":767541,"highway":"US-101","lat":34.12}"#,
    ];
    let rows = rows.iter().map(|r| serde_json::from_str(r).unwrap()).collect();
    vec![Lookup::new("sensors", "sensor_id", rows).unwrap()]
}

#[test]
fn a_lone_expression_is_typed_and_text_around_one_is_a_string() {
    let m = one(
        r#"{"value": {"n": "{{ a + 1 }}", "s": "n={{ a + 1 }}", "b": "{{ a > 1 }}", "o": "{{ {'x': [a, none]} }}",
            "lit": {"k": [1, "two", null, true]}, "esc": "{{ q }}\"", "spaced": " {{ a }}"}}"#,
        &[r#"{"a": 2, "q": "say \"hi\""}"#],
    );
    assert_eq!(
        m.value,
        json!({"n": 3, "s": "n=3", "b": true, "o": {"x": [2, null]}, "lit": {"k": [1, "two", null, true]},
               "esc": "say \"hi\"\"", "spaced": " 2"})
    );
    // Members keep the template's order.
    let keys: Vec<&str> = m.value.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 7);
}

#[test]
fn vars_are_evaluated_in_order_and_later_vars_use_earlier_ones() {
    let m = one(
        r#"{"vars": {"qty": "{{ int(3, 3) }}", "price": "{{ 2.5 }}", "total": "{{ qty * price }}", "label": "{{ qty }}x"},
            "key": "{{ label }}", "value": {"qty": "{{ qty }}", "total": "{{ total }}"}}"#,
        &[],
    );
    assert_eq!(m.value, json!({"qty": 3, "total": 7.5}));
    assert_eq!(m.key.as_deref(), Some("3x"));
    let e = err(r#"{"vars": {"a": "{{ b }}", "b": 1}, "value": 1}"#, &[]);
    assert!(e.contains("unknown name `b` (a var is known only below its definition in vars)"), "{e}");
}

#[test]
fn a_lookup_hit_is_the_row_and_a_miss_is_null() {
    let doc = r#"{"vars": {"s": "{{ lookup('sensors', sensor_id) }}"},
        "value": {"id": "{{ sensor_id }}", "highway": "{{ s.highway if s else 'unknown' }}", "row": "{{ s }}"}}"#;
    let mut p = prep(doc, &[r#"{"sensor_id": 773869}"#, r#"{"sensor_id": 1}"#], sensors(), 1).unwrap();
    let ms = send(&mut p, 2);
    assert_eq!(
        ms[0].value,
        json!({"id": 773869, "highway": "I-405", "row": {"sensor_id":773869,"highway":"I-405","lat":34.15}})
    );
    assert_eq!(ms[1].value, json!({"id": 1, "highway": "unknown", "row": null}));
    // A key written as text matches a number column too.
    let m = send(&mut prep(r#"{"value": "{{ lookup('sensors', '767541').highway }}"}"#, &[], sensors(), 1).unwrap(), 1);
    assert_eq!(m[0].value, json!("US-101"));
}

#[test]
fn what_depends_on_the_record_is_stored_at_load_and_generators_are_left_for_each_message() {
    let doc = r#"{"key": "{{ sensor_id }}", "headers": {"seq": "{{ seq() }}", "src": "metr"},
        "value": {"sensor": "{{ sensor_id }}", "kmh": "{{ (speed_mph * 1.609344) | round(1) }}",
                  "id": "EVT_{{ sensor_id }}_{{ epoch_ms(ts) }}_{{ seq() }}", "at": "{{ now() }}"}}"#;
    let mut p =
        prep(doc, &[r#"{"sensor_id": 7, "speed_mph": 60, "ts": "2012-03-01 00:05:00"}"#], Vec::new(), 1).unwrap();
    let stored = String::from_utf8_lossy(p.dataset.get(0)).into_owned();
    assert!(stored.contains(r#""kmh":96.6"#), "evaluated at load: {stored}");
    assert!(stored.contains(r#""id":"EVT_7_1330560300000_""#), "the record's part of the id stored: {stored}");
    assert!(!stored.contains("seq"), "{stored}");
    let (exprs, per_message, native) = p.messages.counts();
    assert_eq!((exprs, per_message), (8, 3), "seq() twice and now()");
    assert!(native >= 5, "{native}");
    let ms = send(&mut p, 2);
    assert_eq!(
        ms[1].value,
        json!({"sensor": 7, "kmh": 96.6, "id": "EVT_7_1330560300000_2", "at": "2023-11-14T22:13:20.123Z"})
    );
    assert_eq!(ms[1].key.as_deref(), Some("7"));
    assert_eq!(ms[1].headers, [("seq".to_owned(), "2".to_owned()), ("src".to_owned(), "metr".to_owned())]);
}

#[test]
fn a_per_message_expression_may_read_the_record() {
    let doc =
        r#"{"vars": {"base": "{{ speed * 2 }}"}, "value": {"noisy": "{{ base + int(0, 0) }}", "s": "{{ speed }}"}}"#;
    let mut p = prep(doc, &[r#"{"speed": 10}"#, r#"{"speed": 20}"#], Vec::new(), 1).unwrap();
    let ms = send(&mut p, 2);
    assert_eq!(ms[0].value, json!({"noisy": 20, "s": 10}));
    assert_eq!(ms[1].value, json!({"noisy": 40, "s": 20}));
}

#[test]
fn a_key_that_is_null_sends_no_key_and_literal_keys_are_text() {
    let mut p = prep(r#"{"key": "{{ k }}", "value": 1}"#, &[r#"{"k": null}"#, r#"{"k": "a"}"#], Vec::new(), 1).unwrap();
    let ms = send(&mut p, 2);
    assert_eq!((ms[0].key.as_deref(), ms[1].key.as_deref()), (None, Some("a")));
    assert_eq!(one(r#"{"key": 42, "value": 1}"#, &[]).key.as_deref(), Some("42"));
    let m = one(r#"{"key": "{{ 1 if chance(0) else none }}", "value": 1}"#, &[]);
    assert_eq!(m.key, None, "a per-message null key");
}

#[test]
fn int_and_uniform_include_both_ends() {
    for expr in ["int(1, 3)", "int(1, 3) + 0"] {
        let got: Vec<i64> = values(expr, 3_000).iter().map(|v| v.as_i64().unwrap()).collect();
        assert!(got.iter().all(|v| (1..=3).contains(v)), "{expr}");
        for want in 1..=3 {
            assert!(got.contains(&want), "{expr} never drew {want}");
        }
    }
    let got: Vec<f64> = values("uniform(2, 3)", 3_000).iter().map(|v| v.as_f64().unwrap()).collect();
    assert!(got.iter().all(|v| (2.0..=3.0).contains(v)));
    assert!(got.iter().any(|v| *v < 2.01) && got.iter().any(|v| *v > 2.99));
    assert_eq!(values("uniform(4, 4)", 3), [json!(4.0), json!(4.0), json!(4.0)]);
}

#[test]
fn normal_chance_and_one_of_draw_what_they_say() {
    let got: Vec<f64> = values("normal(10, 2)", 20_000).iter().map(|v| v.as_f64().unwrap()).collect();
    let mean = got.iter().sum::<f64>() / got.len() as f64;
    let sd = (got.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / got.len() as f64).sqrt();
    assert!((mean - 10.0).abs() < 0.1 && (sd - 2.0).abs() < 0.1, "{mean} {sd}");
    let yes = values("chance(0.3)", 20_000).iter().filter(|v| **v == json!(true)).count() as f64 / 20_000.0;
    assert!((yes - 0.3).abs() < 0.02, "{yes}");
    let picked = values("one_of(['a', 'b', 1])", 3_000);
    for want in [json!("a"), json!("b"), json!(1)] {
        assert!(picked.contains(&want), "{want} never picked");
    }
    assert!(picked.iter().all(|v| [json!("a"), json!("b"), json!(1)].contains(v)));
}

#[test]
fn weighted_respects_the_weights_within_a_chi_square_bound() {
    let weights = [70.0, 15.0, 10.0, 5.0];
    for expr in ["weighted([0, 0.05, 0.1, 0.2], [70, 15, 10, 5])", "weighted([0, 0.05, 0.1, 0.2], [70, 15, 10, 5]) * 1"]
    {
        let n = 100_000;
        let drawn = values(expr, n);
        let mut counts = [0f64; 4];
        for v in &drawn {
            let i = [0.0, 0.05, 0.1, 0.2].iter().position(|x| (v.as_f64().unwrap() - x).abs() < 1e-9).unwrap();
            counts[i] += 1.0;
        }
        let chi2: f64 = counts
            .iter()
            .zip(weights)
            .map(|(o, w)| {
                let e = n as f64 * w / 100.0;
                (o - e).powi(2) / e
            })
            .sum();
        // 3 degrees of freedom: above 16.27 one time in a thousand.
        assert!(chi2 < 16.27, "{expr}: chi-square {chi2} for {counts:?}");
    }
}

#[test]
fn fake_kinds_are_non_empty_and_seeded() {
    for kind in funcs::FAKE_KINDS {
        let a = values(&format!("fake('{kind}')"), 20);
        assert!(a.iter().all(|v| v.as_str().is_some_and(|s| !s.trim().is_empty())), "{kind}: {a:?}");
        assert_eq!(a, values(&format!("fake('{kind}')"), 20), "{kind} is not repeatable");
        let distinct: std::collections::HashSet<String> = a.iter().map(|v| v.to_string()).collect();
        assert!(distinct.len() > 1, "{kind} always gives {a:?}");
    }
    assert!(values("fake('email')", 1)[0].as_str().unwrap().contains('@'));
    let e = err(r#"{"value": "{{ fake('emial') }}"}"#, &[]);
    assert!(e.contains("fake(\"emial\"): unknown kind; known kinds are first_name, last_name, name, email"), "{e}");
}

#[test]
fn uuid_seq_and_the_clock_per_message() {
    let mut p = prep(
        r#"{"value": ["{{ uuid() }}", "{{ seq() }}", "{{ now_ms() }}", "{{ now_s() }}", "{{ now() }}"]}"#,
        &[],
        Vec::new(),
        1,
    )
    .unwrap();
    let ms = send(&mut p, 3);
    let ids: std::collections::HashSet<&str> = ms.iter().map(|m| m.value[0].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 3);
    assert!(ids.iter().all(|id| uuid::Uuid::parse_str(id).unwrap().get_version_num() == 4));
    assert_eq!(ms[2].value[1], json!(3));
    assert_eq!(ms[2].value[2], json!(MS));
    assert_eq!(ms[2].value[3], json!(MS / 1000));
    assert_eq!(ms[2].value[4], json!("2023-11-14T22:13:20.123Z"));
}

#[test]
fn the_time_functions() {
    let m = one(
        r#"{"value": {"a": "{{ epoch_ms('2012-03-01T00:05:00Z') }}", "b": "{{ epoch_ms('2012-03-01 00:05:00') }}",
            "c": "{{ epoch_ms(1330560300) }}", "d": "{{ epoch_ms(1330560300000) }}", "e": "{{ epoch_ms('2012-03-01') }}",
            "f": "{{ format_time(1330560300000, '%Y/%m/%d %H:%M') }}", "h": "{{ hour(1330560300000 + 9 * 3600000) }}"}}"#,
        &[],
    );
    let t = 1_330_560_300_000i64;
    assert_eq!(m.value, json!({"a": t, "b": t, "c": t, "d": t, "e": t - 300_000, "f": "2012/03/01 00:05", "h": 9}));
}

#[test]
fn the_same_seed_gives_the_same_messages_and_another_does_not() {
    let doc = r#"{"vars": {"p": "{{ pick('sensors') }}"}, "value": {"id": "{{ uuid() }}", "n": "{{ int(1, 1000000) }}",
        "who": "{{ fake('name') }}", "h": "{{ p.highway }}", "x": "{{ uniform(0, 1) * 2 }}"}}"#;
    let run = |seed| send(&mut prep(doc, &[], sensors(), seed).unwrap(), 50);
    assert_eq!(run(5), run(5));
    assert_ne!(run(5), run(6));
}

#[test]
fn a_record_an_expression_fails_on_is_skipped_and_counted() {
    let doc = r#"{"value": {"q": "{{ a // b }}"}}"#;
    let p = prep(doc, &[r#"{"a": 4, "b": 2}"#, r#"{"a": 1, "b": 0}"#, r#"{"a": 9, "b": 3}"#], Vec::new(), 1).unwrap();
    assert_eq!((p.dataset.len(), p.skipped, p.kept.clone()), (2, 1, vec![0, 2]));
    let (row, member, message) = &p.skipped_rows[0];
    assert_eq!((*row, member.as_str()), (2, "value.q"));
    assert!(message.starts_with("`a // b`: "), "{message}");
    let e = prep(doc, &[r#"{"a": 1, "b": 0}"#], Vec::new(), 1).map(|_| ()).unwrap_err();
    assert_eq!(e.exit_code(), crate::exit::DATASET_INVALID);
    assert!(
        e.to_string().starts_with(
            "MESSAGE_TEMPLATE: no record is usable: all 1 failed (first: record 1, member value.q: `a // b`"
        ),
        "{e}"
    );
}

#[test]
fn bad_expressions_name_the_member_the_expression_and_the_problem() {
    let e = err(r#"{"value": {"coordinates": {"latitude": "{{ lat + }}"}}}"#, &[r#"{"lat": 1}"#]);
    assert!(
        e.starts_with("MESSAGE_TEMPLATE member value.coordinates.latitude: expression `lat +`: syntax error: "),
        "{e}"
    );
    let e = err(r#"{"value": {"x": "{{ speed_mhp * 2 }}"}}"#, &[r#"{"speed_mph": 1, "id": 2}"#]);
    assert_eq!(
        e,
        "MESSAGE_TEMPLATE member value.x: expression `speed_mhp * 2`: unknown name `speed_mhp`; it is neither a column, \
         a var nor a function. Columns: speed_mph, id; vars: none"
    );
    let e = err(r#"{"value": "{{ x }}"}"#, &[]);
    assert!(e.contains("Columns: none (no dataset: DATASET_URI=none)"), "{e}");
    let e = err(r#"{"value": "{{ lookup('sensorz', 1) }}"}"#, &[]);
    assert!(e.ends_with("no lookup is named \"sensorz\"; the template's lookups are sensors"), "{e}");
    let e = err(r#"{"value": "{{ pick('nope') }}"}"#, &[]);
    assert!(e.contains("no lookup is named \"nope\""), "{e}");
    let e = err(r#"{"value": "{{ int(5, 1) }}"}"#, &[]);
    assert_eq!(e, "MESSAGE_TEMPLATE member value: expression `int(5, 1)`: invalid operation: int(5, 1): the first bound is above the second");
    let e = err(r#"{"value": "{{ weighted([1, 2], [1]) }}"}"#, &[]);
    assert!(e.contains("2 values but 1 weights"), "{e}");
    let e = err(r#"{"vars": {"seq": 1}, "value": 1}"#, &[]);
    assert!(e.contains("vars.seq: has the name of a function"), "{e}");
    assert_eq!(
        prep(r#"{"value": "{{ nope }}"}"#, &[], Vec::new(), 1).map(|_| ()).unwrap_err().exit_code(),
        crate::exit::CONFIG
    );
}

#[test]
fn a_runaway_expression_runs_out_of_fuel_instead_of_hanging() {
    let t = std::time::Instant::now();
    let doc = r#"{"value": "{{ ('x' * 100000000) | length }}"}"#;
    let e = prep(doc, &[], Vec::new(), 1).map(|_| ()).unwrap_err().to_string();
    assert!(e.contains("fuel"), "{e}");
    assert!(t.elapsed() < std::time::Duration::from_secs(2), "{:?}", t.elapsed());
}

#[test]
fn a_failing_per_message_value_is_null_and_counted() {
    let mut p = prep(r#"{"value": {"x": "{{ 1 // int(0, 0) }}", "ok": 1}}"#, &[], Vec::new(), 1).unwrap();
    let m = send(&mut p, 2);
    assert_eq!(m[0].value, json!({"x": null, "ok": 1}));
    assert_eq!(p.messages.failed, 2);
    assert_eq!(p.messages.first_failure.as_ref().unwrap().path, "value.x");
}

#[test]
fn inline_settings_are_checked_at_once_and_other_values_are_places() {
    assert!(matches!(parse_setting(r#"{"value": "{{ x }}"}"#), Ok(TemplateSource::Inline(_))));
    let e = parse_setting(r#"{"value": "{{ x + }}"}"#).unwrap_err();
    assert!(e.starts_with("MESSAGE_TEMPLATE member value: expression `x +`: syntax error"), "{e}");
    assert_eq!(parse_setting("t.json"), Ok(TemplateSource::File("t.json".into())));
    assert_eq!(parse_setting("file:///x/t.json"), Ok(TemplateSource::File("/x/t.json".into())));
    assert_eq!(parse_setting("s3://b/t.json"), Ok(TemplateSource::S3 { bucket: "b".into(), key: "t.json".into() }));
    assert!(parse_setting("s3://b/dir/").is_err());
    assert!(parse_setting("gs://b/t.json").is_err());
}

#[test]
fn a_name_used_above_the_var_of_that_name_is_the_column_in_every_message() {
    // `b` in `a` is the column: the var `b` below it is not known there, not even from the last message.
    let doc = r#"{"vars": {"a": "{{ b ~ '' ~ int(0, 0) }}", "b": "{{ int(7, 7) }}"}, "value": ["{{ a }}", "{{ b }}"]}"#;
    let mut p = prep(doc, &[r#"{"b": "col"}"#], Vec::new(), 1).unwrap();
    let ms = send(&mut p, 2);
    assert_eq!(ms[1].value, json!(["col0", 7]));
}
