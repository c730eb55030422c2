//! `MESSAGE_FIELDS` and `MESSAGE_HEADERS`: `name=value[,name=value...]` lists
//! parsed into typed specs. Errors say what is wrong with the list; the caller
//! names the variable.

use std::fmt;

/// A value computed afresh for each message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Generator {
    /// `uuid()`: a new UUID v4, lowercase hyphenated text.
    Uuid,
    /// `now()`: send time, RFC 3339 UTC with milliseconds (`2026-01-01T00:00:00.000Z`).
    Now,
    /// `now_ms()`: send time, milliseconds since the Unix epoch.
    NowMs,
    /// `now_s()`: send time, seconds since the Unix epoch.
    NowS,
    /// `seq()`: 1, 2, 3, ... one number per message, per run.
    Seq,
    /// Anything else: the text as is (a JSON string in a field, the bytes in a header).
    Const(String),
}

impl Generator {
    /// Whether a field gets a JSON number (no quotes) rather than a string.
    pub fn is_number(&self) -> bool {
        matches!(self, Generator::NowMs | Generator::NowS | Generator::Seq)
    }
}

impl fmt::Display for Generator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Generator::Uuid => f.write_str("uuid()"),
            Generator::Now => f.write_str("now()"),
            Generator::NowMs => f.write_str("now_ms()"),
            Generator::NowS => f.write_str("now_s()"),
            Generator::Seq => f.write_str("seq()"),
            // As it would be written in the list, so the effective configuration reads back.
            Generator::Const(s) => f.write_str(&s.replace('\\', "\\\\").replace(',', "\\,")),
        }
    }
}

/// One `name=value` entry: a top-level field of the message, or a header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub name: String,
    pub value: Generator,
}

/// Why a `name=value` list was refused. The caller names the variable and
/// says what it accepts (the settings table's text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("entry {position} is empty")]
    EmptyEntry { position: usize },
    #[error("`{entry}` has no `=`")]
    MissingEquals { entry: String },
    #[error("`{entry}` has no name before `=`")]
    EmptyName { entry: String },
    #[error("`{name}=` has no value")]
    EmptyValue { name: String },
    #[error("`{name}` is set twice")]
    Duplicate { name: String },
    #[error("`{name}={value}`: unknown generator")]
    UnknownGenerator { name: String, value: String },
    /// Headers carry text a consumer reads as bytes; an epoch number in
    /// milliseconds is what Kafka tooling expects there.
    #[error("`{name}={value}`: headers take now_ms() for the send time")]
    NotForHeaders { name: String, value: String },
}

/// Parses `MESSAGE_FIELDS`. Empty or blank: no fields.
pub fn parse_fields(list: &str) -> Result<Vec<Assignment>, SpecError> {
    parse(list, false)
}

/// Parses `MESSAGE_HEADERS`. Empty or blank: no headers.
pub fn parse_headers(list: &str) -> Result<Vec<Assignment>, SpecError> {
    parse(list, true)
}

/// Entries are split at commas (`\,` is a comma inside a value, `\\` a
/// backslash) and at their first `=`; names and values are trimmed. A value
/// shaped like a call (`word(...)`) must be a generator, so a typo such as
/// `uuid4()` is refused rather than sent as text.
fn parse(list: &str, headers: bool) -> Result<Vec<Assignment>, SpecError> {
    if list.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut out: Vec<Assignment> = Vec::new();
    for (i, entry) in split_entries(list).iter().enumerate() {
        let entry = entry.trim();
        if entry.is_empty() {
            return Err(SpecError::EmptyEntry { position: i + 1 });
        }
        let Some((name, value)) = entry.split_once('=') else {
            return Err(SpecError::MissingEquals { entry: entry.to_owned() });
        };
        let (name, value) = (name.trim(), value.trim());
        if name.is_empty() {
            return Err(SpecError::EmptyName { entry: entry.to_owned() });
        }
        if value.is_empty() {
            return Err(SpecError::EmptyValue { name: name.to_owned() });
        }
        if out.iter().any(|a| a.name == name) {
            return Err(SpecError::Duplicate { name: name.to_owned() });
        }
        let value = match value {
            "uuid()" => Generator::Uuid,
            "now()" => Generator::Now,
            "now_ms()" => Generator::NowMs,
            "now_s()" => Generator::NowS,
            "seq()" => Generator::Seq,
            v if looks_like_call(v) => {
                return Err(SpecError::UnknownGenerator { name: name.to_owned(), value: v.to_owned() })
            }
            v => Generator::Const(v.to_owned()),
        };
        if headers && matches!(value, Generator::Now | Generator::NowS) {
            return Err(SpecError::NotForHeaders { name: name.to_owned(), value: value.to_string() });
        }
        out.push(Assignment { name: name.to_owned(), value });
    }
    Ok(out)
}

/// Splits at unescaped commas, unescaping `\,` and `\\`; any other backslash stays as is.
fn split_entries(list: &str) -> Vec<String> {
    let (mut entries, mut current) = (Vec::new(), String::new());
    let mut chars = list.chars();
    while let Some(c) = chars.next() {
        match c {
            ',' => entries.push(std::mem::take(&mut current)),
            '\\' => match chars.next() {
                Some(next @ (',' | '\\')) => current.push(next),
                other => {
                    current.push('\\');
                    current.extend(other);
                }
            },
            c => current.push(c),
        }
    }
    entries.push(current);
    entries
}

/// `identifier(...)`: what a generator looks like.
fn looks_like_call(v: &str) -> bool {
    let Some(open) = v.find('(') else { return false };
    let ident = &v[..open];
    v.ends_with(')')
        && ident.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && ident.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(name: &str, value: Generator) -> Assignment {
        Assignment { name: name.into(), value }
    }

    #[test]
    fn every_field_value_form() {
        let got = parse_fields("id=uuid(),ts=now(),ms=now_ms(),s=now_s(),n=seq(),src=feeder").unwrap();
        assert_eq!(
            got,
            vec![
                a("id", Generator::Uuid),
                a("ts", Generator::Now),
                a("ms", Generator::NowMs),
                a("s", Generator::NowS),
                a("n", Generator::Seq),
                a("src", Generator::Const("feeder".into())),
            ]
        );
    }

    #[test]
    fn blank_is_no_entries_and_spaces_are_trimmed() {
        assert_eq!(parse_fields("").unwrap(), vec![]);
        assert_eq!(parse_headers("  ").unwrap(), vec![]);
        assert_eq!(
            parse_fields(" id = uuid() , note = a b ").unwrap(),
            vec![a("id", Generator::Uuid), a("note", Generator::Const("a b".into()))]
        );
    }

    #[test]
    fn a_value_is_split_at_the_first_equals_and_may_hold_anything_but_commas() {
        assert_eq!(
            parse_fields(r#"q=a=b,"x"=say "hi"\n,p=(none)"#).unwrap(),
            vec![
                a("q", Generator::Const("a=b".into())),
                a(r#""x""#, Generator::Const(r#"say "hi"\n"#.into())),
                a("p", Generator::Const("(none)".into())),
            ]
        );
    }

    #[test]
    fn header_value_forms() {
        assert_eq!(
            parse_headers("run=r1,id=uuid(),at=now_ms(),n=seq()").unwrap(),
            vec![
                a("run", Generator::Const("r1".into())),
                a("id", Generator::Uuid),
                a("at", Generator::NowMs),
                a("n", Generator::Seq),
            ]
        );
    }

    #[test]
    fn headers_refuse_the_text_times() {
        for v in ["now()", "now_s()"] {
            let e = parse_headers(&format!("at={v}")).unwrap_err();
            assert_eq!(e, SpecError::NotForHeaders { name: "at".into(), value: v.into() });
            assert_eq!(e.to_string(), format!("`at={v}`: headers take now_ms() for the send time"));
        }
    }

    #[test]
    fn malformed_lists_say_what_is_wrong() {
        let cases: &[(&str, SpecError)] = &[
            ("id=uuid(),,ts=now()", SpecError::EmptyEntry { position: 2 }),
            ("id=uuid(),", SpecError::EmptyEntry { position: 2 }),
            ("id", SpecError::MissingEquals { entry: "id".into() }),
            ("=uuid()", SpecError::EmptyName { entry: "=uuid()".into() }),
            ("id=", SpecError::EmptyValue { name: "id".into() }),
            ("id=uuid(),id=seq()", SpecError::Duplicate { name: "id".into() }),
            ("id=uuid4()", SpecError::UnknownGenerator { name: "id".into(), value: "uuid4()".into() }),
            ("id=UUID()", SpecError::UnknownGenerator { name: "id".into(), value: "UUID()".into() }),
            ("id=uuid( )", SpecError::UnknownGenerator { name: "id".into(), value: "uuid( )".into() }),
        ];
        for (list, want) in cases {
            assert_eq!(&parse_fields(list).unwrap_err(), want, "{list}");
        }
        let e = parse_fields("id=rand()").unwrap_err().to_string();
        assert_eq!(e, "`id=rand()`: unknown generator");
    }

    #[test]
    fn display_round_trips_generators() {
        for g in [Generator::Uuid, Generator::Now, Generator::NowMs, Generator::NowS, Generator::Seq] {
            assert_eq!(parse_fields(&format!("f={g}")).unwrap(), vec![a("f", g)]);
        }
    }

    #[test]
    fn a_backslash_escapes_a_comma_inside_a_value() {
        let got = parse_headers(r"note=a\,b,path=C:\\x\y,n=seq()").unwrap();
        assert_eq!(
            got,
            vec![
                a("note", Generator::Const("a,b".into())),
                a("path", Generator::Const(r"C:\x\y".into())),
                a("n", Generator::Seq)
            ]
        );
        // The effective configuration shows the list as written, so it reads back the same.
        let shown = got.iter().map(|x| format!("{}={}", x.name, x.value)).collect::<Vec<_>>().join(",");
        assert_eq!(parse_headers(&shown).unwrap(), got);
        assert_eq!(parse_fields(r"x=tail\").unwrap(), vec![a("x", Generator::Const(r"tail\".into()))]);
        assert_eq!(parse_fields("a=1,,b=2"), Err(SpecError::EmptyEntry { position: 2 }));
    }
}
