//! Jepsen EDN histories: op maps such as `{:type :invoke, :f :read, :value nil, :process 0, :index 0}`, one
//! per line or all inside one vector, possibly as tagged records (`#jepsen.history.Op{...}`).
//!
//! EDN becomes [`Value`]s: `nil` null, keywords strings without the colon, vectors, lists and sets lists,
//! maps canonical JSON objects, integers exactly whatever their size, floats canonical JSON numbers.
//! `:process :nemesis` is the nemesis.
//!
//! Histories of `jepsen.independent` carry every client op's value as a `[key value]` tuple. They are
//! split into `key` and `value` when no op has a `:key` of its own, every client op's value is a 2-element
//! list, and the tuples cannot be read as plain compare-and-sets: some read or write carries a tuple, or
//! some cas's second element is itself a `[from to]` list.
//!
//! The reader streams: each op map is read straight into an [`Event`], its fields into [`Value`]s, with no
//! EDN tree in between. A history of one op map per line is split at line starts and read on all cores, as
//! JSON Lines is; a split that lands inside a form can only make a piece fail to read, and then the whole
//! text is read again in one piece, which also gives the error its right line.

use std::sync::Arc;

use super::jsonl::intern;
use super::Hints;
use crate::error::Error;
use crate::history::{Event, EventKind, History, Process};
use crate::model::ModelKind;
use crate::value::{Value, MAX_DEPTH};

/// What kind of form a value was read from, where an op's field needs to know (`:type` must be a
/// keyword, not a string).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    Keyword,
    Symbol,
    Str,
    Other,
}

struct Reader<'a> {
    source: &'a str,
    bytes: &'a [u8],
    text: &'a str,
    pos: usize,
    line: u32,
    /// Operation names, shared by every event that has them.
    names: Vec<Arc<str>>,
    /// The events read so far, and for each whether its value was a `[a b]` pair read straight into
    /// `key` a and `value` b (see [`Reader::op`]).
    events: Vec<Event>,
    tupled: Vec<bool>,
}

impl<'a> Reader<'a> {
    fn new(source: &'a str, text: &'a str, first_line: u32) -> Reader<'a> {
        let expected = text.len() / 80;
        Reader {
            source,
            bytes: text.as_bytes(),
            text,
            pos: 0,
            line: first_line,
            names: Vec::new(),
            events: Vec::with_capacity(expected),
            tupled: Vec::with_capacity(expected),
        }
    }

    fn error(&self, line: u32, message: impl Into<String>) -> Error {
        Error::input(self.source, line, message)
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn too_deep(&self, line: u32) -> Error {
        self.error(
            line,
            format!("a value nested more than {MAX_DEPTH} deep; faultline reads at most {MAX_DEPTH} levels"),
        )
    }

    /// Skips whitespace, commas, comments and `#_` discarded forms (read at `depth`).
    fn skip_space(&mut self, depth: usize) -> Result<(), Error> {
        while let Some(b) = self.peek() {
            match b {
                b'\n' => {
                    self.line += 1;
                    self.pos += 1;
                }
                b' ' | b'\t' | b'\r' | b',' => self.pos += 1,
                b';' => {
                    while self.peek().is_some_and(|b| b != b'\n') {
                        self.pos += 1;
                    }
                }
                b'#' if self.bytes.get(self.pos + 1) == Some(&b'_') => {
                    self.pos += 2;
                    self.value(depth + 1)?;
                }
                _ => break,
            }
        }
        Ok(())
    }

    /// Reads the next form as a value; `depth` is how many forms enclose it.
    fn value(&mut self, depth: usize) -> Result<Value, Error> {
        Ok(self.form(depth)?.0)
    }

    fn form(&mut self, depth: usize) -> Result<(Value, Form), Error> {
        if depth > MAX_DEPTH {
            return Err(self.too_deep(self.line));
        }
        self.skip_space(depth)?;
        let line = self.line;
        let Some(b) = self.peek() else {
            return Err(self.error(line, "expected an EDN form, found the end of the input"));
        };
        let value = match b {
            b'{' => {
                self.pos += 1;
                self.map(depth, line)?
            }
            b'[' => {
                self.pos += 1;
                self.list(b']', depth, line, "vector")?
            }
            b'(' => {
                self.pos += 1;
                self.list(b')', depth, line, "list")?
            }
            b'#' => match self.bytes.get(self.pos + 1) {
                Some(b'{') => {
                    self.pos += 2;
                    self.list(b'}', depth, line, "set")?
                }
                Some(c) if c.is_ascii_alphabetic() => {
                    // A tagged literal: the tag says what the next form is; the form itself is what counts.
                    self.pos += 1;
                    self.token();
                    return self.form(depth + 1);
                }
                _ => return Err(self.error(line, "unsupported dispatch `#`; expected #{...}, #_ or a tagged literal")),
            },
            b'"' => return Ok((Value::str(&self.string(line)?), Form::Str)),
            b'\\' => {
                self.pos += 1;
                let start = self.pos;
                self.pos += self.text[self.pos..].chars().next().map_or(0, char::len_utf8);
                let first = &self.text[start..self.pos];
                let rest = self.token();
                let c = match (first, rest) {
                    ("n", "ewline") => "\n",
                    ("s", "pace") => " ",
                    ("t", "ab") => "\t",
                    ("r", "eturn") => "\r",
                    (c, "") if !c.is_empty() => c,
                    (c, rest) => return Err(self.error(line, format!("unknown character literal \\{c}{rest}"))),
                };
                return Ok((Value::str(c), Form::Str));
            }
            b'}' | b']' | b')' => return Err(self.error(line, format!("unexpected `{}`", b as char))),
            _ => {
                let token = self.token();
                if token.is_empty() {
                    let c = self.text[self.pos..].chars().next().unwrap_or('?');
                    return Err(self.error(line, format!("unexpected character {c:?}")));
                }
                return atom(token).ok_or_else(|| self.error(line, format!("cannot read {token:?} as an EDN value")));
            }
        };
        Ok((value, Form::Other))
    }

    /// The forms up to `close` (the opening bracket read), as a list.
    fn list(&mut self, close: u8, depth: usize, line: u32, what: &str) -> Result<Value, Error> {
        self.list_after(Vec::new(), close, depth, line, what)
    }

    /// The rest of a list whose first `items` are read.
    fn list_after(
        &mut self,
        mut items: Vec<Value>,
        close: u8,
        depth: usize,
        line: u32,
        what: &str,
    ) -> Result<Value, Error> {
        while !self.closes(close, depth, line, what)? {
            items.push(self.value(depth + 1)?);
        }
        Ok(Value::List(items.into()))
    }

    /// True, past it, if the next form is `close`; an error at the end of the input.
    fn closes(&mut self, close: u8, depth: usize, line: u32, what: &str) -> Result<bool, Error> {
        self.skip_space(depth + 1)?;
        match self.peek() {
            None => Err(self.error(line, format!("this {what} is never closed with `{}`", close as char))),
            Some(b) if b == close => {
                self.pos += 1;
                Ok(true)
            }
            Some(_) => Ok(false),
        }
    }

    /// The next form, except that a vector of exactly two forms comes as its two values, unbuilt: the
    /// `[key value]` tuples of `jepsen.independent` are most values of such a history, and are split.
    fn value_or_pair(&mut self, depth: usize) -> Result<Result<Value, (Value, Value)>, Error> {
        self.skip_space(depth)?;
        if self.peek() != Some(b'[') || depth >= MAX_DEPTH {
            return self.value(depth).map(Ok);
        }
        let line = self.line;
        self.pos += 1;
        if self.closes(b']', depth, line, "vector")? {
            return Ok(Ok(Value::List(Arc::from([]))));
        }
        let first = self.value(depth + 1)?;
        if self.closes(b']', depth, line, "vector")? {
            return Ok(Ok(Value::List(Arc::from([first]))));
        }
        let second = self.value(depth + 1)?;
        if self.closes(b']', depth, line, "vector")? {
            return Ok(Err((first, second)));
        }
        self.list_after(vec![first, second], b']', depth, line, "vector").map(Ok)
    }

    /// A map's entries up to `}` (the `{` read), as a canonical JSON object.
    fn map(&mut self, depth: usize, line: u32) -> Result<Value, Error> {
        let mut entries = Vec::new();
        while let Some(k) = self.map_key(depth, line)? {
            let key = match k {
                (Value::Str(s), _) => s.to_string(),
                (other, _) => other.to_string(),
            };
            entries.push((key, self.map_value(depth, line)?));
        }
        Ok(Value::object(entries))
    }

    /// The next key of a map, or `None` at its closing `}` (consumed).
    fn map_key(&mut self, depth: usize, line: u32) -> Result<Option<(Value, Form)>, Error> {
        self.skip_space(depth + 1)?;
        match self.peek() {
            None => Err(self.error(line, "this map is never closed with `}`")),
            Some(b'}') => {
                self.pos += 1;
                Ok(None)
            }
            Some(_) => self.form(depth + 1).map(Some),
        }
    }

    /// Checks that a map key has a value after it.
    fn map_value_follows(&mut self, depth: usize, line: u32) -> Result<(), Error> {
        self.skip_space(depth + 1)?;
        match self.peek() {
            None => Err(self.error(line, "this map is never closed with `}`")),
            Some(b'}') => Err(self.error(line, "a map needs an even number of forms (key value pairs)")),
            Some(_) => Ok(()),
        }
    }

    fn map_value(&mut self, depth: usize, line: u32) -> Result<Value, Error> {
        self.map_value_follows(depth, line)?;
        self.value(depth + 1)
    }

    fn string(&mut self, line: u32) -> Result<String, Error> {
        self.pos += 1;
        let mut s = String::new();
        loop {
            // Copy the run up to the next quote, backslash or newline at once.
            let run = self.bytes[self.pos..].iter().position(|&b| matches!(b, b'"' | b'\\' | b'\n'));
            let Some(run) = run else {
                return Err(self.error(line, "this string is never closed with `\"`"));
            };
            s.push_str(&self.text[self.pos..self.pos + run]);
            self.pos += run;
            let b = self.bytes[self.pos];
            self.pos += 1;
            match b {
                b'"' => return Ok(s),
                b'\n' => {
                    self.line += 1;
                    s.push('\n');
                }
                _ => {
                    let Some(e) = self.text[self.pos..].chars().next() else { continue };
                    self.pos += e.len_utf8();
                    match e {
                        'n' => s.push('\n'),
                        't' => s.push('\t'),
                        'r' => s.push('\r'),
                        '"' => s.push('"'),
                        '\\' => s.push('\\'),
                        'u' => {
                            let hex = self.text.get(self.pos..self.pos + 4).unwrap_or("");
                            let c = u32::from_str_radix(hex, 16).ok().and_then(char::from_u32);
                            let Some(c) = c else {
                                return Err(self.error(self.line, format!("bad unicode escape \\u{hex}")));
                            };
                            self.pos += 4;
                            s.push(c);
                        }
                        other => return Err(self.error(self.line, format!("unknown escape \\{other} in a string"))),
                    }
                }
            }
        }
    }

    fn token(&mut self) -> &'a str {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if ENDS_TOKEN[b as usize] {
                break;
            }
            self.pos += 1;
        }
        &self.text[start..self.pos]
    }

    /// A keyword field's name without reading it into a value, where it is a plain keyword.
    fn keyword(&mut self) -> Option<&'a str> {
        if self.peek() != Some(b':') {
            return None;
        }
        let start = self.pos;
        let token = self.token();
        match token.strip_prefix(':') {
            Some(name) if !name.is_empty() => Some(name),
            _ => {
                self.pos = start;
                None
            }
        }
    }

    /// Reads one op map (or a tagged record of one) into an event. Its index is `u64::MAX` unless it has
    /// one. A client op's `[a b]` value with no `:key` is read as key a and value b, marked in `tupled`;
    /// [`parse_events`] puts it back together if the history is not `jepsen.independent` after all.
    fn op(&mut self) -> Result<(), Error> {
        let (line, source) = (self.line, self.source);
        let bad = |m: String| Error::input(source, line, m);
        if self.peek() == Some(b'#') && self.bytes.get(self.pos + 1).is_some_and(u8::is_ascii_alphabetic) {
            self.pos += 1;
            self.token();
            self.skip_space(1)?;
        }
        if self.peek() != Some(b'{') {
            if self.peek().is_some() {
                self.value(1)?;
            }
            return Err(bad("expected an op map such as {:type :invoke, :f :read, :value nil, :process 0}".into()));
        }
        self.pos += 1;
        let mut event = Event {
            index: u64::MAX,
            time: None,
            kind: EventKind::Invoke,
            process: Process::Nemesis,
            f: Arc::from(""),
            key: None,
            value: Value::Null,
            error: None,
            node: None,
            final_read: false,
            line,
        };
        let (mut has_type, mut has_process, mut has_f) = (false, false, false);
        let mut pair = None;
        loop {
            self.skip_space(1)?;
            let field = match self.keyword() {
                Some(k) => k,
                None => match self.map_key(0, line)? {
                    None => break,
                    // A key that is not a keyword names no field: read past its value.
                    Some(_) => {
                        self.map_value(0, line)?;
                        continue;
                    }
                },
            };
            self.map_value_follows(0, line)?;
            match field {
                "type" => {
                    let kind = match self.keyword() {
                        Some(t) => EventKind::parse(t).ok_or_else(|| format!(":{t}")),
                        None => Err(self.value(1)?.to_string()),
                    };
                    event.kind =
                        kind.map_err(|v| bad(format!(":type must be :invoke, :ok, :fail or :info, not {v}")))?;
                    has_type = true;
                }
                "process" => {
                    let process = match self.keyword() {
                        Some("nemesis") => Some(Process::Nemesis),
                        Some(_) => None,
                        None => match self.value(1)? {
                            Value::Int(p) if p >= 0 => Some(Process::Client(p as u64)),
                            other => {
                                return Err(bad(format!(
                                    ":process must be a non-negative integer or :nemesis, not {other}"
                                )))
                            }
                        },
                    };
                    event.process = process.ok_or_else(|| {
                        bad(":process must be a non-negative integer or :nemesis, not a keyword".into())
                    })?;
                    has_process = true;
                }
                "f" => {
                    let f = match self.keyword() {
                        Some(f) => intern(&mut self.names, f),
                        None => match self.form(1)? {
                            (Value::Str(f), Form::Symbol | Form::Str | Form::Keyword) => intern(&mut self.names, &f),
                            (other, _) => return Err(bad(format!(":f must be a keyword, not {other}"))),
                        },
                    };
                    has_f = !f.is_empty();
                    event.f = f;
                }
                "value" => match self.value_or_pair(1)? {
                    Ok(v) => {
                        event.value = v;
                        pair = None;
                    }
                    Err(p) => pair = Some(p),
                },
                "key" => event.key = Some(self.value(1)?),
                "index" => {
                    event.index = match self.value(1)? {
                        Value::Int(i) if i >= 0 => i as u64,
                        _ => return Err(bad(":index must be a non-negative integer".into())),
                    }
                }
                "time" => {
                    event.time = match self.value(1)? {
                        Value::Int(t) => u64::try_from(t).ok(),
                        _ => None,
                    }
                }
                "error" => event.error = Some(self.value(1)?),
                "node" => {
                    event.node = Some(match self.value(1)? {
                        Value::Str(n) => n,
                        other => Arc::from(other.to_string()),
                    })
                }
                "final?" | "final" => {
                    event.final_read = match self.value(1)? {
                        Value::Bool(b) => b,
                        other => return Err(bad(format!(":final? must be true or false, not {other}"))),
                    }
                }
                _ => {
                    self.value(1)?;
                }
            }
        }
        if !has_type || !has_process || !has_f {
            return Err(bad("an op map needs :type, :process and :f".into()));
        }
        let tupled = match pair {
            Some((key, value)) if event.key.is_none() && event.process != Process::Nemesis => {
                (event.key, event.value) = (Some(key), value);
                true
            }
            Some((a, b)) => {
                event.value = Value::List(Arc::from([a, b]));
                false
            }
            None => false,
        };
        self.events.push(event);
        self.tupled.push(tupled);
        Ok(())
    }

    /// Reads op maps up to the end of the input, or, if `close` is given, up to that closing bracket of
    /// the vector or list (opened on `line`) that holds them.
    fn ops(mut self, close: Option<u8>, line: u32) -> Result<Ops, Error> {
        loop {
            self.skip_space(1)?;
            match (self.peek(), close) {
                (None, None) => return Ok((self.events, self.tupled)),
                (None, Some(c)) => {
                    let what = if c == b']' { "vector" } else { "list" };
                    return Err(self.error(line, format!("this {what} is never closed with `{}`", c as char)));
                }
                (Some(b), Some(c)) if b == c => {
                    self.pos += 1;
                    self.skip_space(0)?;
                    if self.peek().is_some() {
                        return Err(self.error(self.line, "expected the end of the input after the vector of op maps"));
                    }
                    return Ok((self.events, self.tupled));
                }
                _ => self.op()?,
            }
        }
    }
}

/// The bytes that end a token: whitespace and the delimiters.
static ENDS_TOKEN: [bool; 256] = {
    let mut ends = [false; 256];
    let delimiters = b" \t\n\r\x0b\x0c,{}[]()\";";
    let mut i = 0;
    while i < delimiters.len() {
        ends[delimiters[i] as usize] = true;
        i += 1;
    }
    ends
};

/// A token (anything but a collection, string or character) as a value.
fn atom(token: &str) -> Option<(Value, Form)> {
    match token {
        "nil" => return Some((Value::Null, Form::Other)),
        "true" => return Some((Value::Bool(true), Form::Other)),
        "false" => return Some((Value::Bool(false), Form::Other)),
        _ => {}
    }
    if let Some(k) = token.strip_prefix(':') {
        return (!k.is_empty()).then(|| (Value::str(k), Form::Keyword));
    }
    let bytes = token.as_bytes();
    let numeric =
        bytes[0].is_ascii_digit() || (matches!(bytes[0], b'-' | b'+') && bytes.len() > 1 && bytes[1].is_ascii_digit());
    if !numeric {
        return Some((Value::str(token), Form::Symbol));
    }
    let digits = token.strip_suffix('N').unwrap_or(token);
    if let Some(i) = Value::integer(digits) {
        return Some((i, Form::Other));
    }
    let number = token.strip_suffix('M').unwrap_or(digits);
    // Canonical JSON text, so that equal numbers compare equal.
    let json: serde_json::Value = serde_json::from_str(number.trim_start_matches('+')).ok()?;
    json.is_number().then(|| (Value::from_json(&json), Form::Other))
}

/// Events, and for each whether its value was read as a pair into key and value.
type Ops = (Vec<Event>, Vec<bool>);

fn is_pair(v: &Value) -> bool {
    matches!(v, Value::List(items) if items.len() == 2)
}

/// See the module documentation. Every client op was tupled (its value a pair, no `:key`), and some read
/// or write, or some cas whose value (the pair's second element) is itself a pair, makes them tuples.
fn is_independent((events, tupled): &Ops) -> bool {
    let mut clients = events.iter().zip(tupled).filter(|(e, _)| e.process != Process::Nemesis).peekable();
    if clients.peek().is_none() || clients.clone().any(|(_, &tupled)| !tupled) {
        return false;
    }
    clients.any(|(e, _)| match &*e.f {
        "read" | "write" => true,
        "cas" => is_pair(&e.value),
        _ => false,
    })
}

/// Where a text of one op map per line may be cut into about `parts` pieces: at line starts that begin a
/// map or a tagged record. Each piece comes with the number of its first line.
fn pieces(text: &str, parts: usize) -> Vec<(&str, u32)> {
    const MIN_PIECE: usize = 1 << 20;
    let parts = parts.clamp(1, text.len() / MIN_PIECE + 1);
    let bytes = text.as_bytes();
    let mut pieces = Vec::with_capacity(parts);
    let (mut start, mut line) = (0, 1u32);
    for i in 1..parts {
        let mut end = (text.len() * i / parts).max(start);
        while end < bytes.len() && !(bytes[end - 1] == b'\n' && matches!(bytes[end], b'{' | b'#')) {
            end += 1;
        }
        if end >= bytes.len() {
            break;
        }
        pieces.push((&text[start..end], line));
        line += bytes[start..end].iter().filter(|&&b| b == b'\n').count() as u32;
        start = end;
    }
    pieces.push((&text[start..], line));
    pieces
}

/// Reads the op maps of a text of one op map per line, on all cores.
fn ops_in_pieces(source: &str, text: &str) -> Result<Ops, Error> {
    let parts = pieces(text, std::thread::available_parallelism().map_or(1, |n| n.get()));
    if parts.len() > 1 {
        let read: Vec<Result<Ops, Error>> = std::thread::scope(|scope| {
            let handles: Vec<_> = parts
                .iter()
                .map(|&(piece, line)| scope.spawn(move || Reader::new(source, piece, line).ops(None, line)))
                .collect();
            handles.into_iter().map(|h| h.join().expect("EDN reader thread panicked")).collect()
        });
        if read.iter().all(Result::is_ok) {
            let total = read.iter().map(|r| r.as_ref().map_or(0, |(events, _)| events.len())).sum();
            let (mut events, mut tupled) = (Vec::with_capacity(total), Vec::with_capacity(total));
            for piece in read {
                let (e, t) = piece.expect("checked");
                events.extend(e);
                tupled.extend(t);
            }
            return Ok((events, tupled));
        }
    }
    Reader::new(source, text, 1).ops(None, 1)
}

/// Reads the events of an EDN history, without pairing them into operations.
pub fn parse_events(source: &str, text: &str) -> Result<(Vec<Event>, Hints), Error> {
    let mut reader = Reader::new(source, text, 1);
    reader.skip_space(0)?;
    let ops = match reader.peek() {
        // A whole history as one vector or list of op maps.
        Some(open @ (b'[' | b'(')) => {
            let line = reader.line;
            reader.pos += 1;
            reader.ops(Some(if open == b'[' { b']' } else { b')' }), line)?
        }
        _ => ops_in_pieces(source, text)?,
    };
    let independent = is_independent(&ops);
    let (mut events, tupled) = ops;
    for (pos, e) in events.iter_mut().enumerate() {
        if e.index == u64::MAX {
            e.index = pos as u64;
        }
    }
    // Porcupine's kv logs: ops with a :key of their own (not a tuple's) named get, put or append.
    let kv = events
        .iter()
        .zip(&tupled)
        .any(|(e, &tupled)| !tupled && e.key.is_some() && matches!(&*e.f, "get" | "put" | "append"));
    if !independent {
        for (e, _) in events.iter_mut().zip(tupled).filter(|(_, tupled)| *tupled) {
            let key = e.key.take().expect("a tupled event has its pair's first element as key");
            e.value = Value::List(Arc::from([key, std::mem::take(&mut e.value)]));
        }
    }
    let hints = if kv { Hints { model: Some(ModelKind::Kv), initial: Some(Value::str("")) } } else { Hints::default() };
    Ok((events, hints))
}

pub fn parse(source: &str, text: &str) -> Result<(History, Hints), Error> {
    let (events, hints) = parse_events(source, text)?;
    Ok((History::new(source, events)?, hints))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Outcome;

    fn read(text: &str) -> Value {
        Reader::new("t", text, 1).value(0).unwrap()
    }

    #[test]
    fn reads_every_construct() {
        assert_eq!(read("nil"), Value::Null);
        assert_eq!(read("-12"), Value::Int(-12));
        assert_eq!(read("12N"), Value::Int(12));
        assert_eq!(read("1.5M"), Value::Json(Arc::from("1.5")));
        assert_eq!(read("99999999999999999999").to_string(), "99999999999999999999");
        assert_eq!(read("+099999999999999999999N").to_string(), "99999999999999999999");
        assert_ne!(read("100000000000000000001"), read("100000000000000000002"));
        assert_eq!(read(":timed-out"), Value::str("timed-out"));
        assert_eq!(read(r#""a\"b\n\u00e9""#), Value::str("a\"b\né"));
        assert_eq!(read("\\a"), Value::str("a"));
        assert_eq!(read("\\newline"), Value::str("\n"));
        assert_eq!(read("[1, (2 3) #{4}]").to_string(), "[1, [2, 3], [4]]");
        assert_eq!(read("{:a 1 \"b\" [nil]}").to_string(), r#"{"a":1,"b":[null]}"#);
        assert_eq!(read("{:b 1 :a 99999999999999999999}").to_string(), r#"{"a":99999999999999999999,"b":1}"#);
        assert_eq!(read("; comment\n #_ :gone true"), Value::Bool(true));
        assert_eq!(read("#jepsen.history.Op{:f :read}").to_string(), r#"{"f":"read"}"#);
    }

    #[test]
    fn one_op_per_line_and_one_vector() {
        let lines = "{:type :invoke, :f :write, :value 3, :process 0, :time 10, :index 0}\n\
                     {:type :info, :f :start, :value nil, :process :nemesis, :index 1}\n\
                     {:type :ok, :f :write, :value 3, :process 0, :time 20, :index 2, :node \"n1\"}\n";
        let (h, _) = parse("h.edn", lines).unwrap();
        assert_eq!(h.events.len(), 3);
        assert_eq!(h.events[1].process, Process::Nemesis);
        assert_eq!(h.events[2].time, Some(20));
        assert_eq!(h.events[2].node.as_deref(), Some("n1"));
        assert_eq!(h.operations[0].outcome, Outcome::Ok);
        let vector =
            "[{:type :invoke, :f :read, :value nil, :process 0}\n {:type :ok,\n  :f :read, :value 1, :process 0}\n]";
        let (h, _) = parse("v.edn", vector).unwrap();
        assert_eq!(h.events.iter().map(|e| e.line).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(h.events[1].value, Value::Int(1));
    }

    #[test]
    fn independent_tuples_are_split_into_keys() {
        let text = "{:type :invoke, :f :read, :value [7 nil], :process 0}\n\
                    {:type :ok, :f :read, :value [7 2], :process 0}\n\
                    {:type :invoke, :f :cas, :value [8 [1 2]], :process 1}\n";
        let (h, _) = parse("i.edn", text).unwrap();
        assert_eq!(h.events[1].key, Some(Value::Int(7)));
        assert_eq!(h.events[1].value, Value::Int(2));
        assert_eq!(h.events[2].value.to_string(), "[1, 2]");
    }

    #[test]
    fn plain_cas_register_is_not_split() {
        let text =
            "{:type :invoke, :f :cas, :value [1 2], :process 0}\n{:type :fail, :f :cas, :value [1 2], :process 0}\n";
        let (h, _) = parse("c.edn", text).unwrap();
        assert_eq!(h.events[0].key, None);
        assert_eq!(h.events[0].value.to_string(), "[1, 2]");
    }

    #[test]
    fn porcupine_kv_implies_the_kv_model() {
        let text = "{:process 9, :type :invoke, :f :append, :key \"0\", :value \"x 9 0 y\"}\n";
        let (h, hints) = parse("kv.txt", text).unwrap();
        assert_eq!(hints, Hints { model: Some(ModelKind::Kv), initial: Some(Value::str("")) });
        assert_eq!(h.events[0].key, Some(Value::str("0")));
    }

    #[test]
    fn errors_name_the_line() {
        for (text, line, what) in [
            (
                "{:type :invoke, :f :read, :process 0}\n{:type :ok, :f :read, :value \"open\n",
                2,
                "string is never closed",
            ),
            ("{:type :invoke, :f :read, :process 0}\n[1 2\n", 2, "vector is never closed"),
            ("{:f :read, :process 0}\n", 1, "needs :type, :process and :f"),
            ("\n{:type :done, :f :read, :process 0}\n", 2, ":type must be"),
            ("{:type :ok, :f :read, :process 0}\n", 1, "no outstanding invocation"),
            ("{:type :invoke :f}\n", 1, "even number of forms"),
            ("[1 2]\n", 1, "expected an op map"),
        ] {
            let e = parse("e.edn", text).unwrap_err().to_string();
            assert!(e.starts_with(&format!("e.edn:{line}: ")) && e.contains(what), "{e}");
        }
    }

    #[test]
    fn deep_nesting_is_bad_input_not_a_stack_overflow() {
        let deep = |open: &str, close: &str| format!("{}1{}", open.repeat(10_000), close.repeat(10_000));
        for value in
            [deep("[", "]"), deep("(", ")"), deep("#{", "}"), deep("{:a ", "}"), deep("#t ", ""), deep("#_ ", "")]
        {
            for text in [
                format!("{{:type :invoke, :f :write, :process 0, :value {value}}}\n"),
                format!("[{{:type :invoke, :f :write, :process 0,\n :value {value}}}]"),
            ] {
                let e = parse("d.edn", &text).unwrap_err().to_string();
                assert!(e.contains("nested more than 128 deep"), "{e}");
                assert!(e.starts_with("d.edn:1: ") || e.starts_with("d.edn:2: "), "{e}");
            }
        }
        let shallow =
            format!("{{:type :invoke, :f :write, :process 0, :value {}1{}}}\n", "[".repeat(120), "]".repeat(120));
        parse("s.edn", &shallow).unwrap();
    }

    #[test]
    fn pieces_read_on_all_cores_agree_with_one_piece() {
        // Over 1 MiB, so that the text is cut into pieces; the multi-line map and the map inside a string
        // that starts a line must not be cut.
        let mut text = String::new();
        for i in 0..20_000u64 {
            text.push_str(&format!("{{:type :invoke, :f :write, :value [{} {i}], :process {i}, :time {i}}}\n", i % 7));
            text.push_str(&format!("{{:type :ok, :f :write, :value [{} {i}], :process {i},\n :time {i}}}\n", i % 7));
            if i % 1000 == 0 {
                text.push_str("{:type :info, :f :note, :value \"a\n{:b}\", :process :nemesis}\n");
            }
        }
        assert!(text.len() > 2 << 20);
        let parts = pieces(&text, 4);
        assert!(parts.len() > 1);
        let (whole, _) = parse_events("p", &text).unwrap();
        let (one, _) = Reader::new("p", &text, 1).ops(None, 1).unwrap();
        assert_eq!(whole.len(), one.len());
        for (a, b) in whole.iter().zip(&one) {
            assert_eq!((a.line, a.time, &a.f, a.process), (b.line, b.time, &b.f, b.process));
        }
        assert_eq!(whole[3].value, Value::Int(1));
        assert_eq!(whole[3].key, Some(Value::Int(1)));
    }
}
