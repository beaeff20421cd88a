//! The values that appear in a history's `key`, `value` and `error` fields.
//!
//! A history is data from an untrusted target, so a value can be any JSON. The checkers only ever compare
//! values for equality and concatenate strings, so this type keeps the common cases (null, integers,
//! strings, lists such as `[from, to]`) cheap to hash and compare, and keeps anything else (floats, maps,
//! nemesis descriptions) as canonical JSON text, which still compares and hashes correctly.

use std::fmt;
use std::sync::Arc;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Int(i64),
    Str(Arc<str>),
    List(Arc<[Value]>),
    /// Any other JSON (floats, objects, integers beyond i64), as canonical compact JSON text: integers as
    /// their shortest decimal digits, objects with sorted keys. Equal values therefore have equal text.
    Json(Arc<str>),
}

/// How deeply any importer lets values nest: serde_json's limit for JSON Lines, and the same for EDN and
/// Porcupine logs, so that a hostile history is bad input rather than a stack overflow.
pub const MAX_DEPTH: usize = 128;

impl Value {
    pub fn str(s: &str) -> Value {
        Value::Str(Arc::from(s))
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// A decimal integer (optional sign, digits) of any size, kept exactly: an `Int` where it fits in i64,
    /// otherwise canonical digits (no `+`, no leading zeros) as `Json`. `None` if `text` is not such an integer.
    pub fn integer(text: &str) -> Option<Value> {
        if let Ok(i) = text.parse::<i64>() {
            return Some(Value::Int(i));
        }
        let (negative, digits) = match text.as_bytes().first()? {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let digits = digits.trim_start_matches('0');
        Some(match (negative, digits) {
            (_, "") => Value::Int(0),
            (true, d) => Value::Json(Arc::from(format!("-{d}"))),
            (false, d) => Value::Json(Arc::from(d)),
        })
    }

    /// A map, as canonical compact JSON text: keys sorted, a repeated key keeping its last value.
    pub fn object(entries: impl IntoIterator<Item = (String, Value)>) -> Value {
        let sorted: std::collections::BTreeMap<String, Value> = entries.into_iter().collect();
        let mut text = String::from("{");
        for (i, (k, v)) in sorted.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            text.push_str(&serde_json::Value::String(k.clone()).to_string());
            text.push(':');
            v.write_json(&mut text);
        }
        text.push('}');
        Value::Json(Arc::from(text))
    }

    /// Appends this value as compact JSON, exactly (integers of any size keep their digits).
    fn write_json(&self, out: &mut String) {
        use std::fmt::Write as _;
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => {
                let _ = write!(out, "{b}");
            }
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Str(s) => out.push_str(&serde_json::Value::String(s.to_string()).to_string()),
            Value::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write_json(out);
                }
                out.push(']');
            }
            Value::Json(text) => out.push_str(text),
        }
    }

    /// Converts from `serde_json::Value`; objects and floats become canonical JSON text.
    pub fn from_json(v: &serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Json(Arc::from(n.to_string())),
            },
            serde_json::Value::String(s) => Value::str(s),
            serde_json::Value::Array(items) => Value::List(items.iter().map(Value::from_json).collect()),
            serde_json::Value::Object(_) => Value::Json(Arc::from(v.to_string())),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Str(s) => serde_json::Value::String(s.to_string()),
            Value::List(items) => serde_json::Value::Array(items.iter().map(Value::to_json).collect()),
            Value::Json(text) => serde_json::from_str(text).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// Values print as JSON, which is how a person reading an explanation will find them in the history file.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Str(s) => write!(f, "{}", serde_json::Value::String(s.to_string())),
            Value::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Value::Json(text) => f.write_str(text),
        }
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::str(s)
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Int(i) => serializer.serialize_i64(*i),
            Value::Str(s) => serializer.serialize_str(s),
            Value::List(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items.iter() {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            // The text is JSON already; written as it is, an integer beyond 64 bits keeps its digits.
            Value::Json(text) => {
                let raw =
                    serde_json::value::RawValue::from_string(text.to_string()).map_err(serde::ser::Error::custom)?;
                raw.serialize(serializer)
            }
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E: de::Error>(self, i: i64) -> Result<Value, E> {
        Ok(Value::Int(i))
    }

    fn visit_u64<E: de::Error>(self, u: u64) -> Result<Value, E> {
        Ok(match i64::try_from(u) {
            Ok(i) => Value::Int(i),
            Err(_) => Value::Json(Arc::from(u.to_string())),
        })
    }

    fn visit_f64<E: de::Error>(self, x: f64) -> Result<Value, E> {
        // serde_json reads an integer beyond 64 bits as the nearest float, which would make distinct
        // integers equal. Flag it, so that the line is read again exactly (`inexact_integer_seen`).
        if x.fract() == 0.0 && x.abs() >= 9.2e18 {
            INEXACT.with(|f| f.set(true));
        }
        Ok(Value::from_json(&serde_json::Value::from(x)))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
        Ok(Value::str(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(2));
        while let Some(item) = seq.next_element::<Value>()? {
            items.push(item);
        }
        Ok(Value::List(items.into()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        // Objects are rare (nemesis descriptions); keep them as canonical JSON text.
        let mut entries = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, Value>()? {
            entries.push((k, v));
        }
        Ok(Value::object(entries))
    }
}

thread_local! {
    static INEXACT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// True if a JSON number read on this thread since the last call may have been an integer too large for 64
/// bits, rounded to a float by serde_json; resets the flag. The JSONL reader then reads the line again with
/// [`crate::format::jsonl`]'s exact reader.
pub(crate) fn inexact_integer_seen() -> bool {
    INEXACT.with(|f| f.replace(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_keeps_every_kind() {
        let text = r#"[null,true,-3,"a\"b",[1,[2]],1.5,{"a":1},18446744073709551615]"#;
        let v: Value = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::to_string(&v).unwrap(), text);
        assert_eq!(Value::from_json(&serde_json::from_str(text).unwrap()), v);
    }

    #[test]
    fn display_is_json() {
        let v = Value::List(vec![Value::Int(1), Value::str("x<y")].into());
        assert_eq!(v.to_string(), r#"[1, "x<y"]"#);
    }

    #[test]
    fn integers_of_any_size_are_exact() {
        let a = Value::integer("100000000000000000001").unwrap();
        let b = Value::integer("100000000000000000002").unwrap();
        assert_ne!(a, b);
        assert_eq!(Value::integer("+000100000000000000000001"), Some(a.clone()));
        assert_eq!(Value::integer("-0"), Some(Value::Int(0)));
        assert_eq!(Value::integer("-9223372036854775809").unwrap().to_string(), "-9223372036854775809");
        assert_eq!(Value::integer("18446744073709551615"), serde_json::from_str("18446744073709551615").ok());
        assert_eq!(Value::integer("1.5"), None);
        assert_eq!(Value::integer("12a"), None);
        // Written back as the same digits, not as a float.
        let list = Value::List(vec![a, b].into());
        assert_eq!(serde_json::to_string(&list).unwrap(), "[100000000000000000001,100000000000000000002]");
    }

    #[test]
    fn objects_are_canonical() {
        let v: Value = serde_json::from_str(r#"{"b":[1,{"d":null,"c":2.50}],"a":"x"}"#).unwrap();
        assert_eq!(v.to_string(), r#"{"a":"x","b":[1,{"c":2.5,"d":null}]}"#);
        let built = Value::object([("b".to_string(), Value::Int(1)), ("a".to_string(), Value::str("x"))]);
        assert_eq!(built.to_string(), r#"{"a":"x","b":1}"#);
    }
}
