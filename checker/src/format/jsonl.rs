//! faultline's native history format: JSON Lines, one event per line, with Jepsen's field names.
//!
//! Parsing is the first cost of every check of a large history, so it is split into chunks at line
//! boundaries and parsed on all cores; values are decoded straight into [`Value`] without an intermediate
//! JSON tree. serde_json reads an integer beyond 64 bits as a rounded float; a line where that may have
//! happened is read again with [`exact_value`], so integers of any size compare exactly.

use std::borrow::Cow;
use std::io::Write;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::Error;
use crate::history::{Event, EventKind, History, Process};
use crate::value::Value;

#[derive(Deserialize)]
struct RawEvent<'a> {
    #[serde(default)]
    index: Option<u64>,
    #[serde(default)]
    time: Option<u64>,
    #[serde(rename = "type")]
    kind: EventKind,
    process: Process,
    #[serde(borrow)]
    f: Cow<'a, str>,
    #[serde(default)]
    key: Option<Value>,
    #[serde(default)]
    value: Value,
    #[serde(default)]
    error: Option<Value>,
    #[serde(default, borrow)]
    node: Option<Cow<'a, str>>,
    #[serde(default, rename = "final")]
    final_read: bool,
}

/// The fields of a line that hold values, unparsed, for reading them again exactly.
#[derive(Deserialize)]
struct RawValues<'a> {
    #[serde(default, borrow)]
    key: Option<&'a RawValue>,
    #[serde(default, borrow)]
    value: Option<&'a RawValue>,
    #[serde(default, borrow)]
    error: Option<&'a RawValue>,
}

/// Reads a JSON value that serde_json has already validated (and limited in depth), keeping integers of
/// any size exactly.
fn exact_value(raw: &RawValue) -> Value {
    let mut reader = ExactJson { text: raw.get(), pos: 0 };
    reader.value()
}

struct ExactJson<'a> {
    text: &'a str,
    pos: usize,
}

impl ExactJson<'_> {
    fn skip_space(&mut self) {
        let bytes = self.text.as_bytes();
        while self.pos < bytes.len() && matches!(bytes[self.pos], b' ' | b'\t' | b'\n' | b'\r' | b',' | b':') {
            self.pos += 1;
        }
    }

    fn peek(&self) -> u8 {
        self.text.as_bytes().get(self.pos).copied().unwrap_or(b']')
    }

    fn value(&mut self) -> Value {
        self.skip_space();
        let bytes = self.text.as_bytes();
        match self.peek() {
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_space();
                    if self.pos >= bytes.len() || self.peek() == b']' {
                        self.pos += 1;
                        return Value::List(items.into());
                    }
                    items.push(self.value());
                }
            }
            b'{' => {
                self.pos += 1;
                let mut entries = Vec::new();
                loop {
                    self.skip_space();
                    if self.pos >= bytes.len() || self.peek() == b'}' {
                        self.pos += 1;
                        return Value::object(entries);
                    }
                    let key = match self.value() {
                        Value::Str(k) => k.to_string(),
                        other => other.to_string(),
                    };
                    entries.push((key, self.value()));
                }
            }
            b'"' => {
                let start = self.pos;
                self.pos += 1;
                while self.pos < bytes.len() && bytes[self.pos] != b'"' {
                    self.pos += if bytes[self.pos] == b'\\' { 2 } else { 1 };
                }
                self.pos += 1;
                let literal = &self.text[start..self.pos.min(bytes.len())];
                serde_json::from_str::<String>(literal).map_or(Value::Null, |s| Value::str(&s))
            }
            _ => {
                let start = self.pos;
                while self.pos < bytes.len()
                    && !matches!(bytes[self.pos], b',' | b']' | b'}' | b' ' | b'\n' | b'\t' | b'\r')
                {
                    self.pos += 1;
                }
                let token = &self.text[start..self.pos];
                match token {
                    "null" => Value::Null,
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    number => Value::integer(number).unwrap_or_else(|| {
                        serde_json::from_str::<serde_json::Value>(number).map_or(Value::Null, |n| Value::from_json(&n))
                    }),
                }
            }
        }
    }
}

/// Parses a JSON Lines history. Blank lines are skipped; every other line must be one event.
pub fn parse(source: &str, text: &str) -> Result<History, Error> {
    let events = parse_events(source, text)?;
    History::new(source, events)
}

pub fn parse_events(source: &str, text: &str) -> Result<Vec<Event>, Error> {
    number(source, read_lines(source, text)?)
}

/// Reads every non-blank line as an event, on all cores; indices are not looked at yet ([`number`]).
pub fn read_lines(source: &str, text: &str) -> Result<Vec<Event>, Error> {
    let chunks = split_at_lines(text, std::thread::available_parallelism().map_or(1, |n| n.get()));
    let parsed: Vec<Result<Vec<Event>, Error>> = if chunks.len() == 1 {
        vec![parse_chunk(source, chunks[0].0, chunks[0].1)]
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = chunks
                .iter()
                .map(|&(chunk, first_line)| scope.spawn(move || parse_chunk(source, chunk, first_line)))
                .collect();
            handles.into_iter().map(|h| h.join().expect("history parser thread panicked")).collect()
        })
    };
    let mut events = Vec::new();
    for chunk in parsed {
        let chunk = chunk?;
        if events.is_empty() {
            events = chunk;
        } else {
            events.extend(chunk);
        }
    }
    Ok(events)
}

/// Gives events without an index the one after the previous event's, and checks that indices grow.
pub fn number(source: &str, mut events: Vec<Event>) -> Result<Vec<Event>, Error> {
    // Indices are optional; where given they must grow, since file order is the order of events.
    let mut last: Option<u64> = None;
    for (pos, e) in events.iter_mut().enumerate() {
        if e.index == u64::MAX {
            e.index = last.map_or(pos as u64, |l| l + 1);
        } else if let Some(l) = last {
            if e.index <= l {
                return Err(Error::input(
                    source,
                    e.line,
                    format!(
                        "index {} is not greater than the previous event's index {l}; events must be listed in \
                         the order they happened",
                        e.index
                    ),
                ));
            }
        }
        last = Some(e.index);
    }
    Ok(events)
}

/// Splits text into about `parts` pieces at line ends, each with the line number of its first line.
fn split_at_lines(text: &str, parts: usize) -> Vec<(&str, u32)> {
    const MIN_CHUNK: usize = 1 << 20;
    let parts = parts.clamp(1, text.len() / MIN_CHUNK + 1);
    let mut chunks = Vec::with_capacity(parts);
    let mut start = 0;
    let mut line = 1u32;
    for i in 1..=parts {
        let mut end = if i == parts { text.len() } else { (text.len() * i / parts).max(start) };
        while end < text.len() && !text.is_char_boundary(end) {
            end += 1;
        }
        end = match text[end..].find('\n') {
            Some(nl) if i < parts => end + nl + 1,
            _ if i < parts => text.len(),
            _ => end,
        };
        let chunk = &text[start..end];
        chunks.push((chunk, line));
        line += memchr_count(chunk.as_bytes()) as u32;
        start = end;
        if start == text.len() {
            break;
        }
    }
    chunks
}

fn memchr_count(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count()
}

fn parse_chunk(source: &str, chunk: &str, first_line: u32) -> Result<Vec<Event>, Error> {
    crate::value::inexact_integer_seen();
    let mut events = Vec::with_capacity(chunk.len() / 80);
    let mut names: Vec<Arc<str>> = Vec::new();
    for (i, text) in chunk.lines().enumerate() {
        let line = first_line + i as u32;
        if text.trim().is_empty() {
            continue;
        }
        let raw: RawEvent = serde_json::from_str(text).map_err(|e| {
            let message = e.to_string();
            let message = match message.rfind(" at line 1 column ") {
                Some(at) => format!("{} (column {})", &message[..at], &message[at + 18..]),
                None => message,
            };
            Error::input(
                source,
                line,
                format!(
                    "expected one JSON event per line with fields type, process and f (index, time, key, value, \
                     error, node and final optional): {message}"
                ),
            )
        })?;
        let (key, value, error) = if crate::value::inexact_integer_seen() {
            let exact: RawValues = serde_json::from_str(text).map_err(|e| Error::input(source, line, e.to_string()))?;
            (exact.key.map(exact_value), exact.value.map(exact_value).unwrap_or_default(), exact.error.map(exact_value))
        } else {
            (raw.key, raw.value, raw.error)
        };
        events.push(Event {
            index: raw.index.unwrap_or(u64::MAX),
            time: raw.time,
            kind: raw.kind,
            process: raw.process,
            f: intern(&mut names, &raw.f),
            key,
            value,
            error,
            node: raw.node.map(|n| Arc::from(&*n)),
            final_read: raw.final_read,
            line,
        });
    }
    Ok(events)
}

/// Operation names repeat on every line; share one allocation per distinct name.
pub(crate) fn intern(names: &mut Vec<Arc<str>>, name: &str) -> Arc<str> {
    match names.iter().find(|n| &***n == name) {
        Some(n) => n.clone(),
        None => {
            let n: Arc<str> = Arc::from(name);
            names.push(n.clone());
            n
        }
    }
}

/// Writes events as JSON Lines.
pub fn write_events<W: Write>(mut out: W, events: &[Event]) -> std::io::Result<()> {
    for e in events {
        serde_json::to_writer(&mut out, e)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Writes one event as a JSON line (no trailing newline).
pub fn event_line(e: &Event) -> String {
    serde_json::to_string(e).expect("events always serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_round_trips() {
        let text = concat!(
            r#"{"index":0,"time":5,"type":"invoke","process":0,"f":"write","key":"k","value":1}"#,
            "\n\n",
            r#"{"index":1,"time":9,"type":"ok","process":0,"f":"write","key":"k","value":1,"node":"n1"}"#,
            "\n",
            r#"{"index":2,"type":"info","process":"nemesis","f":"start-partition","value":{"cut":["n1"]}}"#,
            "\n"
        );
        let h = parse("t.jsonl", text).unwrap();
        assert_eq!(h.events.len(), 3);
        assert_eq!(h.events[1].line, 3);
        assert_eq!(h.events[2].process, Process::Nemesis);
        assert_eq!(h.operations.len(), 1);
        let mut out = Vec::new();
        write_events(&mut out, &h.events).unwrap();
        let again = parse("again", std::str::from_utf8(&out).unwrap()).unwrap();
        assert_eq!(
            again.events.iter().map(|e| (e.index, e.value.clone())).collect::<Vec<_>>(),
            h.events.iter().map(|e| (e.index, e.value.clone())).collect::<Vec<_>>()
        );
    }

    #[test]
    fn errors_name_the_line_and_what_was_expected() {
        let text =
            "{\"type\":\"invoke\",\"process\":0,\"f\":\"read\"}\n{\"type\":\"done\",\"process\":0,\"f\":\"read\"}\n";
        let e = parse("h.jsonl", text).unwrap_err().to_string();
        assert!(e.starts_with("h.jsonl:2: "), "{e}");
        assert!(e.contains("unknown variant `done`"), "{e}");
        let e = parse("h.jsonl", "{\"type\":\"ok\",\"f\":\"read\"}").unwrap_err().to_string();
        assert!(e.contains("missing field `process`"), "{e}");
        let e = parse("h.jsonl", "not json").unwrap_err().to_string();
        assert!(e.starts_with("h.jsonl:1: expected one JSON event"), "{e}");
    }

    #[test]
    fn indices_must_grow() {
        let text = "{\"index\":3,\"type\":\"invoke\",\"process\":0,\"f\":\"read\"}\n{\"index\":2,\"type\":\"ok\",\"process\":0,\"f\":\"read\"}\n";
        let e = parse("h", text).unwrap_err().to_string();
        assert!(e.contains("h:2: index 2 is not greater than the previous event's index 3"), "{e}");
    }

    #[test]
    fn pairing_errors() {
        let two =
            "{\"type\":\"invoke\",\"process\":0,\"f\":\"read\"}\n{\"type\":\"invoke\",\"process\":0,\"f\":\"read\"}\n";
        let e = parse("h", two).unwrap_err().to_string();
        assert!(e.contains("h:2: process 0 invokes \"read\" while its invocation at line 1"), "{e}");
        let orphan = "{\"type\":\"ok\",\"process\":4,\"f\":\"read\"}\n";
        let e = parse("h", orphan).unwrap_err().to_string();
        assert!(e.contains("h:1: ok completion for process 4 has no outstanding invocation"), "{e}");
        let mismatch =
            "{\"type\":\"invoke\",\"process\":0,\"f\":\"read\"}\n{\"type\":\"ok\",\"process\":0,\"f\":\"write\"}\n";
        let e = parse("h", mismatch).unwrap_err().to_string();
        assert!(e.contains("h:2: completion has f \"write\""), "{e}");
        let after_info = "{\"type\":\"invoke\",\"process\":0,\"f\":\"write\",\"value\":1}\n\
                          {\"type\":\"info\",\"process\":0,\"f\":\"write\",\"value\":1}\n\
                          {\"type\":\"invoke\",\"process\":0,\"f\":\"read\"}\n";
        let e = parse("h", after_info).unwrap_err().to_string();
        assert!(e.contains("h:3: process 0 invokes \"read\" after its operation ended with info at line 2"), "{e}");
        for f in ["write", "put", "append"] {
            let other_value = format!(
                "{{\"type\":\"invoke\",\"process\":0,\"f\":\"{f}\",\"value\":\"a\"}}\n\
                 {{\"type\":\"ok\",\"process\":0,\"f\":\"{f}\",\"value\":\"b\"}}\n"
            );
            let e = parse("h", &other_value).unwrap_err().to_string();
            assert!(e.contains(&format!("h:2: this ok {f} completes with value \"b\"")), "{e}");
        }
        let cas = "{\"type\":\"invoke\",\"process\":0,\"f\":\"cas\",\"value\":[1,2]}\n\
                   {\"type\":\"ok\",\"process\":0,\"f\":\"cas\",\"value\":[1,3]}\n";
        let e = parse("h", cas).unwrap_err().to_string();
        assert!(e.contains("h:2: this ok cas completes with value [1, 3]"), "{e}");
        // A completion may leave the value out; a fail or info may carry another (Jepsen does not say).
        for (kind, value) in [("ok", "null"), ("fail", "3"), ("info", "3")] {
            let fine = format!(
                "{{\"type\":\"invoke\",\"process\":0,\"f\":\"write\",\"value\":1}}\n\
                 {{\"type\":\"{kind}\",\"process\":0,\"f\":\"write\",\"value\":{value}}}\n"
            );
            parse("h", &fine).unwrap();
        }
    }

    #[test]
    fn chunked_parsing_keeps_line_numbers() {
        let mut text = String::new();
        for i in 0..60_000 {
            text.push_str(&format!("{{\"type\":\"invoke\",\"process\":{i},\"f\":\"read\"}}\n"));
        }
        let good = text.clone();
        text.push_str("{\"type\":\"invoke\",\"process\":1,\"f\":\"read\",\"value\":}\n");
        let e = parse_events("big", &text).unwrap_err().to_string();
        assert!(e.starts_with("big:60001:"), "{e}");
        let ok = parse_events("big", &good).unwrap();
        assert_eq!(ok.len(), 60_000);
        assert_eq!(ok[59_999].line, 60_000);
        assert_eq!(ok[59_999].index, 59_999);
    }

    #[test]
    fn integers_beyond_64_bits_compare_exactly() {
        let text = concat!(
            r#"{"type":"invoke","process":0,"f":"write","key":100000000000000000000,"value":100000000000000000001}"#,
            "\n",
            r#"{"type":"invoke","process":1,"f":"cas","value":[-100000000000000000002,{"n":100000000000000000003}]}"#,
            "\n",
            r#"{"type":"invoke","process":2,"f":"write","value":1e20,"error":"x\"100000000000000000000"}"#,
            "\n"
        );
        let h = parse("big", text).unwrap();
        assert_eq!(h.events[0].key, Value::integer("100000000000000000000"));
        assert_eq!(Some(h.events[0].value.clone()), Value::integer("100000000000000000001"));
        assert_eq!(h.events[1].value.to_string(), r#"[-100000000000000000002, {"n":100000000000000000003}]"#);
        // A float stays a float; a string stays a string.
        assert_eq!(h.events[2].value.to_string(), "1e+20");
        assert_eq!(h.events[2].error, Some(Value::str("x\"100000000000000000000")));
        let mut out = Vec::new();
        write_events(&mut out, &h.events).unwrap();
        let again = parse("again", std::str::from_utf8(&out).unwrap()).unwrap();
        assert_eq!(
            again.events.iter().map(|e| (&e.key, &e.value)).collect::<Vec<_>>(),
            h.events.iter().map(|e| (&e.key, &e.value)).collect::<Vec<_>>()
        );
    }
}
