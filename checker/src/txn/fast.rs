//! A fast path for large transactional JSON Lines histories: each line's fields are read with serde_json,
//! but its value (the micro-ops, most of the text) is kept as borrowed JSON text and read straight into
//! integer ids by a small parser, never built as [`Value`] trees. On anything unusual (a torn last line, a
//! malformed event, micro-ops of a shape it does not read) the caller falls back to the general readers,
//! which say what is wrong and where.

use std::borrow::Cow;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::mop::{MopValue, Workload};
use crate::history::{Event, EventKind, History, Process};
use crate::value::Value;

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(default)]
    index: Option<u64>,
    #[serde(default)]
    time: Option<u64>,
    #[serde(rename = "type")]
    kind: EventKind,
    process: Process,
    #[serde(borrow)]
    f: Cow<'a, str>,
    #[serde(default, borrow)]
    value: Option<&'a RawValue>,
    #[serde(default)]
    error: Option<Value>,
    #[serde(default, borrow)]
    node: Option<Cow<'a, str>>,
}

/// The events of a JSON Lines history, each with its value's JSON text; `None` if any line does not read
/// plainly (the general reader then reports it).
pub fn read<'t>(source: &str, text: &'t str) -> Option<(History, Vec<&'t str>)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if !text.ends_with('\n') && !text.is_empty() {
        return None;
    }
    // Two halves at a line boundary, read on two threads.
    let mid = text[text.len() / 2..].find('\n').map_or(text.len(), |i| text.len() / 2 + i + 1);
    let first_lines = 1 + text[..mid].bytes().filter(|&b| b == b'\n').count() as u32;
    let (a, b) = std::thread::scope(|scope| {
        let a = scope.spawn(|| lines(&text[..mid], 1));
        let b = lines(&text[mid..], first_lines);
        (a.join().ok().flatten(), b)
    });
    let (mut events, mut raw) = a?;
    let (more_events, more_raw) = b?;
    events.extend(more_events);
    raw.extend(more_raw);
    let events = crate::format::jsonl::number(source, events).ok()?;
    Some((History::new(source, events).ok()?, raw))
}

fn lines(text: &str, first_line: u32) -> Option<(Vec<Event>, Vec<&str>)> {
    let txn: Arc<str> = Arc::from("txn");
    let mut events = Vec::with_capacity(text.len() / 150);
    let mut raw = Vec::with_capacity(text.len() / 150);
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let l: Line = serde_json::from_str(line).ok()?;
        events.push(Event {
            index: l.index.unwrap_or(u64::MAX),
            time: l.time,
            kind: l.kind,
            process: l.process,
            f: if l.f == "txn" { txn.clone() } else { Arc::from(&*l.f) },
            key: None,
            value: Value::Null,
            error: l.error,
            node: l.node.map(|n| Arc::from(&*n)),
            line: first_line + i as u32,
            final_read: false,
        });
        raw.push(l.value.map_or("null", RawValue::get));
    }
    Some((events, raw))
}

/// Reused buffers for reading micro-ops.
#[derive(Default)]
pub struct Scratch {
    list: Vec<Value>,
}

/// Calls `each` with every micro-op `[f, key, value]` of a txn's value text.
pub fn mops(
    text: &str,
    scratch: &mut Scratch,
    mut each: impl FnMut(&str, &Value, MopValue) -> Result<(), String>,
) -> Result<(), String> {
    let mut p = Parser { s: text.as_bytes(), text, pos: 0 };
    let bad = |what: &str| format!("expected a list of micro-ops such as [\"r\", \"x\", null], {what}, in {text}");
    p.expect(b'[').ok_or_else(|| bad("not this"))?;
    if p.eat(b']') {
        return Ok(());
    }
    loop {
        p.expect(b'[').ok_or_else(|| bad("a micro-op that is not a list"))?;
        let f = p.string().ok_or_else(|| bad("a micro-op whose first element is not a string"))?;
        p.expect(b',').ok_or_else(|| bad("a micro-op with no key"))?;
        let key = p.scalar().ok_or_else(|| bad("a key that is not a scalar"))?;
        let value = if p.eat(b',') {
            if p.eat(b'[') {
                scratch.list.clear();
                if !p.eat(b']') {
                    loop {
                        scratch.list.push(p.scalar().ok_or_else(|| bad("a list holding a non-scalar"))?);
                        if p.eat(b']') {
                            break;
                        }
                        p.expect(b',').ok_or_else(|| bad("a malformed list"))?;
                    }
                }
                None
            } else {
                Some(p.scalar().ok_or_else(|| bad("a value that is neither a scalar nor a list"))?)
            }
        } else {
            Some(Value::Null)
        };
        p.expect(b']').ok_or_else(|| bad("a micro-op of more than three elements"))?;
        match &value {
            Some(v) => each(&f, &key, MopValue::One(v))?,
            None => each(&f, &key, MopValue::List(&scratch.list))?,
        }
        if p.eat(b']') {
            return Ok(());
        }
        p.expect(b',').ok_or_else(|| bad("a malformed list"))?;
    }
}

/// The workload the micro-ops imply, as [`super::history`]'s detection does for parsed values.
pub fn detect(raw: &[&str]) -> Workload {
    let mut scratch = Scratch::default();
    let mut read_list = false;
    for text in raw {
        let mut found = None;
        let _ = mops(text, &mut scratch, |f, _, value| {
            match (f, value) {
                ("append", _) => found = Some(Workload::ListAppend),
                ("w", _) => found = Some(Workload::RwRegister),
                ("r", MopValue::List(_)) => read_list = true,
                _ => {}
            }
            if found.is_some() {
                Err(String::new())
            } else {
                Ok(())
            }
        });
        if let Some(w) = found {
            return w;
        }
    }
    if read_list {
        Workload::ListAppend
    } else {
        Workload::RwRegister
    }
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn skip(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        self.skip();
        if self.s.get(self.pos) == Some(&b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, b: u8) -> Option<()> {
        self.eat(b).then_some(())
    }

    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.skip();
        if self.s.get(self.pos) != Some(&b'"') {
            return None;
        }
        let start = self.pos;
        let mut i = start + 1;
        let mut escaped = false;
        while i < self.s.len() && self.s[i] != b'"' {
            if self.s[i] == b'\\' {
                escaped = true;
                i += 1;
            }
            i += 1;
        }
        if i >= self.s.len() {
            return None;
        }
        self.pos = i + 1;
        if escaped {
            serde_json::from_str::<String>(&self.text[start..=i]).ok().map(Cow::Owned)
        } else {
            Some(Cow::Borrowed(&self.text[start + 1..i]))
        }
    }

    /// A JSON scalar: string, integer, other number, true, false or null.
    fn scalar(&mut self) -> Option<Value> {
        self.skip();
        match *self.s.get(self.pos)? {
            b'"' => self.string().map(|s| Value::str(&s)),
            b'-' | b'0'..=b'9' => {
                let start = self.pos;
                while self.pos < self.s.len()
                    && matches!(self.s[self.pos], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    self.pos += 1;
                }
                let number = &self.text[start..self.pos];
                match Value::integer(number) {
                    Some(v) => Some(v),
                    None => serde_json::from_str::<serde_json::Value>(number).ok().map(|v| Value::from_json(&v)),
                }
            }
            _ => {
                for (word, value) in [("null", Value::Null), ("true", Value::Bool(true)), ("false", Value::Bool(false))]
                {
                    if self.text[self.pos..].starts_with(word) {
                        self.pos += word.len();
                        return Some(value);
                    }
                }
                None
            }
        }
    }
}
