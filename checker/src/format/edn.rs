//! Jepsen EDN histories: op maps such as `{:type :invoke, :f :read, :value nil, :process 0, :index 0}`, one
//! per line or all inside one vector, possibly as tagged records (`#jepsen.history.Op{...}`).
//!
//! EDN becomes [`Value`]s: `nil` null, keywords strings without the colon, vectors, lists and sets lists,
//! maps canonical JSON objects, floats canonical JSON numbers. `:process :nemesis` is the nemesis.
//!
//! Histories of `jepsen.independent` carry every client op's value as a `[key value]` tuple. They are
//! split into `key` and `value` when no op has a `:key` of its own, every client op's value is a 2-element
//! list, and the tuples cannot be read as plain compare-and-sets: some read or write carries a tuple, or
//! some cas's second element is itself a `[from to]` list.

use std::sync::Arc;

use super::jsonl::intern;
use super::Hints;
use crate::error::Error;
use crate::history::{Event, EventKind, History, Process};
use crate::model::ModelKind;
use crate::value::Value;

/// An EDN form, as far as histories need one.
#[derive(Clone, Debug, PartialEq)]
enum Edn {
    Nil,
    Bool(bool),
    Int(i64),
    /// A number that is not an i64 (a float, a bigint), as JSON number text.
    Number(String),
    Str(String),
    Keyword(String),
    Symbol(String),
    List(Vec<Edn>),
    Map(Vec<(Edn, Edn)>),
}

impl Edn {
    fn to_value(&self) -> Value {
        match self {
            Edn::Nil => Value::Null,
            Edn::Bool(b) => Value::Bool(*b),
            Edn::Int(i) => Value::Int(*i),
            Edn::Number(n) => Value::Json(Arc::from(n.as_str())),
            Edn::Str(s) | Edn::Keyword(s) | Edn::Symbol(s) => Value::str(s),
            Edn::List(items) => Value::List(items.iter().map(Edn::to_value).collect()),
            Edn::Map(entries) => {
                let object: serde_json::Map<String, serde_json::Value> = entries
                    .iter()
                    .map(|(k, v)| {
                        let key = match k {
                            Edn::Str(s) | Edn::Keyword(s) | Edn::Symbol(s) => s.clone(),
                            other => other.to_value().to_string(),
                        };
                        (key, v.to_value().to_json())
                    })
                    .collect();
                Value::Json(Arc::from(serde_json::Value::Object(object).to_string()))
            }
        }
    }
}

struct Reader<'a> {
    source: &'a str,
    bytes: &'a [u8],
    text: &'a str,
    pos: usize,
    line: u32,
}

impl<'a> Reader<'a> {
    fn error(&self, line: u32, message: impl Into<String>) -> Error {
        Error::input(self.source, line, message)
    }

    fn skip_space(&mut self) -> Result<(), Error> {
        while let Some(&b) = self.bytes.get(self.pos) {
            match b {
                b'\n' => {
                    self.line += 1;
                    self.pos += 1;
                }
                b' ' | b'\t' | b'\r' | b',' => self.pos += 1,
                b';' => {
                    while self.bytes.get(self.pos).is_some_and(|&b| b != b'\n') {
                        self.pos += 1;
                    }
                }
                b'#' if self.bytes.get(self.pos + 1) == Some(&b'_') => {
                    self.pos += 2;
                    self.read()?;
                }
                _ => break,
            }
        }
        Ok(())
    }

    /// Reads the next form; `None` at the end of the input.
    fn next_form(&mut self) -> Result<Option<(u32, Edn)>, Error> {
        self.skip_space()?;
        if self.pos >= self.bytes.len() {
            return Ok(None);
        }
        let line = self.line;
        Ok(Some((line, self.read()?)))
    }

    fn read(&mut self) -> Result<Edn, Error> {
        self.skip_space()?;
        let line = self.line;
        let Some(&b) = self.bytes.get(self.pos) else {
            return Err(self.error(line, "expected an EDN form, found the end of the input"));
        };
        match b {
            b'{' => {
                self.pos += 1;
                let items = self.read_until(b'}', line, "map")?;
                if items.len() % 2 != 0 {
                    return Err(self.error(line, "a map needs an even number of forms (key value pairs)"));
                }
                let mut it = items.into_iter();
                let mut entries = Vec::new();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    entries.push((k, v));
                }
                Ok(Edn::Map(entries))
            }
            b'[' => {
                self.pos += 1;
                Ok(Edn::List(self.read_until(b']', line, "vector")?))
            }
            b'(' => {
                self.pos += 1;
                Ok(Edn::List(self.read_until(b')', line, "list")?))
            }
            b'#' => match self.bytes.get(self.pos + 1) {
                Some(b'{') => {
                    self.pos += 2;
                    Ok(Edn::List(self.read_until(b'}', line, "set")?))
                }
                Some(c) if c.is_ascii_alphabetic() => {
                    // A tagged literal: the tag says what the next form is; the form itself is what counts.
                    self.pos += 1;
                    self.token();
                    self.read()
                }
                _ => Err(self.error(line, "unsupported dispatch `#`; expected #{...}, #_ or a tagged literal")),
            },
            b'"' => self.read_string(line),
            b'\\' => {
                self.pos += 1;
                let start = self.pos;
                self.pos += self.text[self.pos..].chars().next().map_or(0, char::len_utf8);
                let name = format!("{}{}", &self.text[start..self.pos], self.token());
                let c = match name.as_str() {
                    "newline" => "\n".to_string(),
                    "space" => " ".to_string(),
                    "tab" => "\t".to_string(),
                    "return" => "\r".to_string(),
                    s if s.chars().count() == 1 => s.to_string(),
                    s => return Err(self.error(line, format!("unknown character literal \\{s}"))),
                };
                Ok(Edn::Str(c))
            }
            b'}' | b']' | b')' => Err(self.error(line, format!("unexpected `{}`", b as char))),
            _ => {
                let token = self.token();
                if token.is_empty() {
                    let c = self.text[self.pos..].chars().next().unwrap_or('?');
                    return Err(self.error(line, format!("unexpected character {c:?}")));
                }
                Ok(atom(token).ok_or_else(|| self.error(line, format!("cannot read {token:?} as an EDN value")))?)
            }
        }
    }

    fn read_until(&mut self, close: u8, line: u32, what: &str) -> Result<Vec<Edn>, Error> {
        let mut items = Vec::new();
        loop {
            self.skip_space()?;
            match self.bytes.get(self.pos) {
                None => return Err(self.error(line, format!("this {what} is never closed with `{}`", close as char))),
                Some(&b) if b == close => {
                    self.pos += 1;
                    return Ok(items);
                }
                Some(_) => items.push(self.read()?),
            }
        }
    }

    fn read_string(&mut self, line: u32) -> Result<Edn, Error> {
        self.pos += 1;
        let mut s = String::new();
        loop {
            let Some(c) = self.text[self.pos..].chars().next() else {
                return Err(self.error(line, "this string is never closed with `\"`"));
            };
            self.pos += c.len_utf8();
            match c {
                '"' => return Ok(Edn::Str(s)),
                '\n' => {
                    self.line += 1;
                    s.push('\n');
                }
                '\\' => {
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
                c => s.push(c),
            }
        }
    }

    fn token(&mut self) -> &'a str {
        let start = self.pos;
        while let Some(&b) = self.bytes.get(self.pos) {
            if b.is_ascii_whitespace() || b",{}[]()\";".contains(&b) {
                break;
            }
            self.pos += 1;
        }
        &self.text[start..self.pos]
    }
}

fn atom(token: &str) -> Option<Edn> {
    match token {
        "nil" => return Some(Edn::Nil),
        "true" => return Some(Edn::Bool(true)),
        "false" => return Some(Edn::Bool(false)),
        _ => {}
    }
    if let Some(k) = token.strip_prefix(':') {
        return (!k.is_empty()).then(|| Edn::Keyword(k.to_string()));
    }
    let first = token.as_bytes()[0];
    let numeric = first.is_ascii_digit()
        || (matches!(first, b'-' | b'+') && token.len() > 1 && token.as_bytes()[1].is_ascii_digit());
    if !numeric {
        return Some(Edn::Symbol(token.to_string()));
    }
    let digits = token.strip_suffix('N').unwrap_or(token);
    if let Ok(i) = digits.parse::<i64>() {
        return Some(Edn::Int(i));
    }
    let unsigned = digits.trim_start_matches(['+', '-']);
    if unsigned.bytes().all(|b| b.is_ascii_digit()) {
        // An integer beyond i64: keep its digits.
        return Some(Edn::Number(digits.trim_start_matches('+').to_string()));
    }
    let number = token.strip_suffix('M').unwrap_or(digits);
    // Canonical JSON text, so that equal numbers compare equal.
    let json: serde_json::Value = serde_json::from_str(number.trim_start_matches('+')).ok()?;
    json.is_number().then(|| Edn::Number(json.to_string()))
}

/// An op map's fields, read off the EDN.
struct RawOp {
    line: u32,
    kind: EventKind,
    process: Process,
    f: String,
    value: Edn,
    key: Option<Value>,
    index: Option<u64>,
    time: Option<u64>,
    error: Option<Value>,
    node: Option<Value>,
}

fn raw_op(source: &str, line: u32, form: Edn) -> Result<RawOp, Error> {
    let bad = |m: String| Error::input(source, line, m);
    let Edn::Map(entries) = form else {
        return Err(bad("expected an op map such as {:type :invoke, :f :read, :value nil, :process 0}".into()));
    };
    let mut op = RawOp {
        line,
        kind: EventKind::Invoke,
        process: Process::Nemesis,
        f: String::new(),
        value: Edn::Nil,
        key: None,
        index: None,
        time: None,
        error: None,
        node: None,
    };
    let (mut has_type, mut has_process) = (false, false);
    for (k, v) in entries {
        let Edn::Keyword(k) = k else { continue };
        match k.as_str() {
            "type" => {
                let kind = match &v {
                    Edn::Keyword(t) => EventKind::parse(t),
                    _ => None,
                };
                op.kind = kind
                    .ok_or_else(|| bad(format!(":type must be :invoke, :ok, :fail or :info, not {}", v.to_value())))?;
                has_type = true;
            }
            "process" => {
                op.process = match v {
                    Edn::Int(p) if p >= 0 => Process::Client(p as u64),
                    Edn::Keyword(n) if n == "nemesis" => Process::Nemesis,
                    other => {
                        return Err(bad(format!(
                            ":process must be a non-negative integer or :nemesis, not {}",
                            other.to_value()
                        )))
                    }
                };
                has_process = true;
            }
            "f" => {
                op.f = match v {
                    Edn::Keyword(f) | Edn::Symbol(f) | Edn::Str(f) => f,
                    other => return Err(bad(format!(":f must be a keyword, not {}", other.to_value()))),
                }
            }
            "value" => op.value = v,
            "key" => op.key = Some(v.to_value()),
            "index" => {
                op.index = integer(&v).map(Some).ok_or_else(|| bad(":index must be a non-negative integer".into()))?
            }
            "time" => op.time = integer(&v),
            "error" => op.error = Some(v.to_value()),
            "node" => op.node = Some(v.to_value()),
            _ => {}
        }
    }
    if !has_type || !has_process || op.f.is_empty() {
        return Err(bad("an op map needs :type, :process and :f".into()));
    }
    Ok(op)
}

fn integer(v: &Edn) -> Option<u64> {
    match v {
        Edn::Int(i) => u64::try_from(*i).ok(),
        _ => None,
    }
}

fn is_pair(v: &Edn) -> bool {
    matches!(v, Edn::List(items) if items.len() == 2)
}

/// See the module documentation.
fn is_independent(ops: &[RawOp]) -> bool {
    let clients: Vec<&RawOp> = ops.iter().filter(|o| o.process != Process::Nemesis).collect();
    if clients.is_empty() || clients.iter().any(|o| o.key.is_some() || !is_pair(&o.value)) {
        return false;
    }
    clients.iter().any(|o| match (&o.value, o.f.as_str()) {
        (_, "read" | "write") => true,
        (Edn::List(items), "cas") => is_pair(&items[1]),
        _ => false,
    })
}

pub fn parse(source: &str, text: &str) -> Result<(History, Hints), Error> {
    let mut reader = Reader { source, bytes: text.as_bytes(), text, pos: 0, line: 1 };
    let mut forms = Vec::new();
    while let Some(form) = reader.next_form()? {
        forms.push(form);
    }
    // A whole history as one vector or list of op maps.
    if let [(_, Edn::List(items))] = forms.as_mut_slice() {
        let items = std::mem::take(items);
        let mut relined = Reader { source, bytes: text.as_bytes(), text, pos: 0, line: 1 };
        forms = op_lines(&mut relined)?.into_iter().zip(items).collect();
    }
    let ops: Vec<RawOp> = forms.into_iter().map(|(line, form)| raw_op(source, line, form)).collect::<Result<_, _>>()?;
    let independent = is_independent(&ops);
    let mut names: Vec<Arc<str>> = Vec::new();
    let kv = ops.iter().any(|o| o.key.is_some() && matches!(o.f.as_str(), "get" | "put" | "append"));
    let mut events = Vec::with_capacity(ops.len());
    for op in ops {
        let (key, value) = match (independent && op.process != Process::Nemesis, op.value) {
            (true, Edn::List(mut pair)) => {
                let v = pair.pop().expect("a pair");
                (Some(pair[0].to_value()), v.to_value())
            }
            (_, v) => (op.key, v.to_value()),
        };
        events.push(Event {
            index: op.index.unwrap_or(events.len() as u64),
            time: op.time,
            kind: op.kind,
            process: op.process,
            f: intern(&mut names, &op.f),
            key,
            value,
            error: op.error,
            node: op.node.map(|n| Arc::from(n.as_str().map_or_else(|| n.to_string(), str::to_string))),
            line: op.line,
        });
    }
    let history = History::new(source, events)?;
    let hints = if kv { Hints { model: Some(ModelKind::Kv), initial: Some(Value::str("")) } } else { Hints::default() };
    Ok((history, hints))
}

/// The line on which each element of a top-level vector of maps starts.
fn op_lines(reader: &mut Reader) -> Result<Vec<u32>, Error> {
    reader.skip_space()?;
    reader.pos += 1; // the opening bracket
    let mut lines = Vec::new();
    loop {
        reader.skip_space()?;
        match reader.bytes.get(reader.pos) {
            None | Some(b']') | Some(b')') => return Ok(lines),
            Some(_) => {
                lines.push(reader.line);
                reader.read()?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Outcome;

    fn read(text: &str) -> Edn {
        let mut r = Reader { source: "t", bytes: text.as_bytes(), text, pos: 0, line: 1 };
        r.read().unwrap()
    }

    #[test]
    fn reads_every_construct() {
        assert_eq!(read("nil"), Edn::Nil);
        assert_eq!(read("-12"), Edn::Int(-12));
        assert_eq!(read("12N"), Edn::Int(12));
        assert_eq!(read("1.5M").to_value(), Value::Json(Arc::from("1.5")));
        assert_eq!(read("99999999999999999999").to_value().to_string(), "99999999999999999999");
        assert_eq!(read(":timed-out"), Edn::Keyword("timed-out".into()));
        assert_eq!(read(r#""a\"b\n\u00e9""#), Edn::Str("a\"b\né".into()));
        assert_eq!(read("\\a"), Edn::Str("a".into()));
        assert_eq!(read("\\newline"), Edn::Str("\n".into()));
        assert_eq!(read("[1, (2 3) #{4}]").to_value().to_string(), "[1, [2, 3], [4]]");
        assert_eq!(read("{:a 1 \"b\" [nil]}").to_value().to_string(), r#"{"a":1,"b":[null]}"#);
        assert_eq!(read("; comment\n #_ :gone true"), Edn::Bool(true));
        assert_eq!(read("#jepsen.history.Op{:f :read}").to_value().to_string(), r#"{"f":"read"}"#);
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
}
