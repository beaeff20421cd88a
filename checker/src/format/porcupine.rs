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
use crate::value::{Value, MAX_DEPTH};

const SHAPE: &str =
    "expected `INFO  jepsen.util - PROCESS :TYPE :F VALUE`, e.g. `INFO  jepsen.util - 3 :invoke :cas [1 4]`";

pub fn parse(source: &str, text: &str) -> Result<(History, Hints), Error> {
    let (events, hints) = parse_events(source, text)?;
    Ok((History::new(source, events)?, hints))
}

/// Reads the events of a log, without pairing them into operations.
pub fn parse_events(source: &str, text: &str) -> Result<(Vec<Event>, Hints), Error> {
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
            other => match parse_value(other, 0) {
                Ok(v) => (v, None),
                Err(Nesting::TooDeep) => {
                    return Err(bad(&format!(
                        "the value is nested more than {MAX_DEPTH} deep; faultline reads at most {MAX_DEPTH} levels"
                    )))
                }
                Err(Nesting::Unreadable) => return Err(bad(&format!("cannot read the value {other:?}"))),
            },
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
            final_read: false,
            line: line_no,
        });
    }
    Ok((events, Hints { model: Some(ModelKind::CasRegister), initial: Some(Value::Null) }))
}

enum Nesting {
    TooDeep,
    Unreadable,
}

/// `nil`, an integer (of any size), or a vector of those, `depth` vectors down.
fn parse_value(s: &str, depth: usize) -> Result<Value, Nesting> {
    let s = s.trim();
    if s == "nil" {
        return Ok(Value::Null);
    }
    if let Some(inner) = s.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        if depth >= MAX_DEPTH {
            return Err(Nesting::TooDeep);
        }
        return inner
            .split_whitespace()
            .map(|item| parse_value(item, depth + 1))
            .collect::<Result<Vec<_>, _>>()
            .map(|v| Value::List(v.into()));
    }
    Value::integer(s).ok_or(Nesting::Unreadable)
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

    #[test]
    fn deep_nesting_is_bad_input_and_big_integers_are_exact() {
        let deep = format!("INFO  jepsen.util - 0 :invoke :write {}1{}\n", "[".repeat(10_000), "]".repeat(10_000));
        let e = parse("p.log", &deep).unwrap_err().to_string();
        assert!(e.starts_with("p.log:1: the value is nested more than 128 deep"), "{e}");
        let big = "INFO  jepsen.util - 0 :invoke :cas [100000000000000000001 100000000000000000002]\n";
        let (h, _) = parse("p.log", big).unwrap();
        assert_eq!(h.events[0].value.to_string(), "[100000000000000000001, 100000000000000000002]");
    }
}
