//! Porcupine's Jepsen etcd logs: one event per line, as Jepsen's logger printed them.
//!
//! ```text
//! INFO  jepsen.util - 3 :invoke :cas [1 4]
//! INFO  jepsen.util - 2 :info :write :timed-out
//! ```
//!
//! Columns after ` - ` are separated by tabs or runs of spaces: process, type, f, value. The value is
//! `nil`, an integer or `[from to]`; an `:info` completion says `:timed-out` instead, which becomes the
//! event's `error`, with the invocation's value carried over as Jepsen does. The register starts as nil.

use std::sync::Arc;

use super::jsonl::intern;
use super::Hints;
use crate::error::Error;
use crate::history::{Event, EventKind, History, Process};
use crate::model::ModelKind;
use crate::value::Value;

const SHAPE: &str =
    "expected `INFO  jepsen.util - PROCESS :TYPE :F VALUE`, e.g. `INFO  jepsen.util - 3 :invoke :cas [1 4]`";

pub fn parse(source: &str, text: &str) -> Result<(History, Hints), Error> {
    let mut events = Vec::new();
    let mut names: Vec<Arc<str>> = Vec::new();
    let mut invoked: rustc_hash::FxHashMap<u64, Value> = Default::default();
    for (i, line) in text.lines().enumerate() {
        let line_no = i as u32 + 1;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |what: &str| Error::input(source, line_no, format!("{what}; {SHAPE}"));
        let (_, rest) = line.split_once(" - ").ok_or_else(|| bad("no ` - ` separator"))?;
        let mut cols = rest.split_whitespace();
        let process: u64 =
            cols.next().and_then(|p| p.parse().ok()).ok_or_else(|| bad("the process is not a non-negative integer"))?;
        let kind = cols
            .next()
            .and_then(|t| t.strip_prefix(':'))
            .and_then(EventKind::parse)
            .ok_or_else(|| bad("the type is not one of :invoke, :ok, :fail, :info"))?;
        let f = cols.next().and_then(|f| f.strip_prefix(':')).ok_or_else(|| bad("the operation is not a keyword"))?;
        let raw: Vec<&str> = cols.collect();
        let raw = raw.join(" ");
        let (value, error) = match raw.as_str() {
            ":timed-out" => (invoked.get(&process).cloned().unwrap_or_default(), Some(Value::str("timed-out"))),
            other => (parse_value(other).ok_or_else(|| bad(&format!("cannot read the value {other:?}")))?, None),
        };
        if kind == EventKind::Invoke {
            invoked.insert(process, value.clone());
        }
        events.push(Event {
            index: events.len() as u64,
            time: None,
            kind,
            process: Process::Client(process),
            f: intern(&mut names, f),
            key: None,
            value,
            error,
            node: None,
            line: line_no,
        });
    }
    let history = History::new(source, events)?;
    Ok((history, Hints { model: Some(ModelKind::CasRegister), initial: Some(Value::Null) }))
}

/// `nil`, an integer, or a vector of those.
fn parse_value(s: &str) -> Option<Value> {
    let s = s.trim();
    if s == "nil" {
        return Some(Value::Null);
    }
    if let Some(inner) = s.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        return inner.split_whitespace().map(parse_value).collect::<Option<Vec<_>>>().map(|v| Value::List(v.into()));
    }
    s.parse::<i64>().ok().map(Value::Int)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Outcome;

    #[test]
    fn reads_tabs_spaces_and_timeouts() {
        let text = "INFO  jepsen.util - 3\t:invoke\t:cas\t[1 4]\n\
                    INFO  jepsen.util - 0   :invoke   :read   nil\n\
                    INFO  jepsen.util - 3\t:fail\t:cas\t[1 4]\n\
                    \n\
                    INFO  jepsen.util - 0   :ok   :read   nil\n\
                    INFO  jepsen.util - 2\t:invoke\t:write\t7\n\
                    INFO  jepsen.util - 2\t:info\t:write\t:timed-out\n";
        let (h, hints) = parse("p.log", text).unwrap();
        assert_eq!(hints.model, Some(ModelKind::CasRegister));
        assert_eq!(h.events.len(), 6);
        assert_eq!(h.events[0].value, Value::List(vec![Value::Int(1), Value::Int(4)].into()));
        assert_eq!(h.events[3].line, 5);
        assert_eq!(h.events[5].value, Value::Int(7));
        assert_eq!(h.events[5].error, Some(Value::str("timed-out")));
        let outcomes: Vec<Outcome> = h.operations.iter().map(|o| o.outcome).collect();
        assert_eq!(outcomes, vec![Outcome::Fail, Outcome::Ok, Outcome::Info]);
    }

    #[test]
    fn errors_name_the_line_and_the_shape() {
        for (text, what) in [
            ("INFO  jepsen.util - 3 :invoke :read nil\ngarbage\n", "no ` - ` separator"),
            ("INFO  jepsen.util - x :invoke :read nil\n", "process is not"),
            ("INFO  jepsen.util - 1 :begin :read nil\n", "type is not one of"),
            ("INFO  jepsen.util - 1 :invoke read nil\n", "operation is not a keyword"),
            ("INFO  jepsen.util - 1 :invoke :write {1}\n", "cannot read the value"),
        ] {
            let e = parse("p.log", text).unwrap_err().to_string();
            let line = if text.contains("garbage") { 2 } else { 1 };
            assert!(e.starts_with(&format!("p.log:{line}: ")), "{e}");
            assert!(e.contains(what) && e.contains("expected `INFO  jepsen.util"), "{e}");
        }
    }
}
