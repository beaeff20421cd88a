//! What a client asks of the store, and what it comes to against a state: a read, a write, a
//! compare-and-set, or a transaction of micro-ops (`POST /txn`). Every mode judges a command here, the
//! same way; the modes differ in which state they judge it against and when they answer.
//!
//! A transaction is Elle's and Maelstrom's micro-op list: `["r", K, null]` reads a key, `["w", K, V]`
//! writes it, `["append", K, V]` appends `V` to the list it holds (a missing key holds the empty list).
//! Its micro-ops take effect in order, each seeing the ones before it, and the answer is the same list
//! with every read filled in: the list an appended key holds, the value a written one holds, null for a
//! key never written.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::http::Response;

/// Where a command looks its keys up: a mode's state.
pub trait Lookup {
    fn get(&self, key: &str) -> Option<&Value>;
}

impl Lookup for HashMap<String, Value> {
    fn get(&self, key: &str) -> Option<&Value> {
        HashMap::get(self, key)
    }
}

pub enum Command {
    Read(String),
    Write(String, Value),
    Cas { key: String, from: Value, to: Value },
    Txn(Vec<MicroOp>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Function {
    Read,
    Write,
    Append,
}

impl Function {
    fn as_str(self) -> &'static str {
        match self {
            Function::Read => "r",
            Function::Write => "w",
            Function::Append => "append",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct MicroOp {
    pub f: Function,
    /// The key as the client named it (a string or an integer): the answer names it the same way.
    pub named: Value,
    /// The key in the store: the string, or the integer written in decimal.
    pub key: String,
    /// What a write or append puts; null for a read.
    pub value: Value,
}

/// What a command comes to against a state.
pub struct Judged {
    /// The keys it sets, each once with its final value, in the order first set. Empty: it changes
    /// nothing (a read, a compare-and-set that found another value, a read-only or refused transaction).
    pub writes: Vec<(String, Value)>,
    /// The answer to give once the writes have taken effect (or, with none, once the state is known to
    /// be current).
    pub answer: Response,
}

impl Command {
    /// Whether the command can only read, whatever the state: the commands a mode may answer from a
    /// replica's own state.
    pub fn read_only(&self) -> bool {
        match self {
            Command::Read(_) => true,
            Command::Write(..) | Command::Cas { .. } => false,
            Command::Txn(ops) => ops.iter().all(|op| op.f == Function::Read),
        }
    }

    pub fn judge(&self, state: &dyn Lookup) -> Judged {
        match self {
            Command::Read(key) => Judged { writes: Vec::new(), answer: read_value(state.get(key)) },
            Command::Write(key, value) => {
                Judged { writes: vec![(key.clone(), value.clone())], answer: Response::json(200, json!({"ok": true})) }
            }
            Command::Cas { key, from, to } => {
                let current = state.get(key).cloned().unwrap_or(Value::Null);
                if current == *from {
                    Judged { writes: vec![(key.clone(), to.clone())], answer: Response::json(200, json!({"ok": true})) }
                } else {
                    let answer = Response::json(412, json!({"error": "mismatch", "value": current}));
                    Judged { writes: Vec::new(), answer }
                }
            }
            Command::Txn(ops) => judge_txn(ops, state),
        }
    }
}

/// A read's answer: 200 with the value, or 404.
pub fn read_value(value: Option<&Value>) -> Response {
    match value {
        Some(v) => Response::json(200, json!({ "value": v })),
        None => Response::json(404, json!({"error": "not found"})),
    }
}

fn judge_txn(ops: &[MicroOp], state: &dyn Lookup) -> Judged {
    // What the transaction has written so far, over the state.
    let mut writes: Vec<(String, Value)> = Vec::new();
    let mut done = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        let current = match writes.iter().find(|(k, _)| *k == op.key) {
            Some((_, v)) => Some(v),
            None => state.get(&op.key),
        };
        let value = match op.f {
            Function::Read => {
                done.push(json!(["r", op.named, current.cloned().unwrap_or(Value::Null)]));
                continue;
            }
            Function::Write => op.value.clone(),
            Function::Append => match current {
                None | Some(Value::Null) => json!([op.value]),
                Some(Value::Array(list)) => {
                    let mut list = list.clone();
                    list.push(op.value.clone());
                    Value::Array(list)
                }
                Some(other) => {
                    let error =
                        format!("micro-op {i}: key {} holds {other}, not a list, so cannot be appended to", op.named);
                    let answer = Response::json(409, json!({"error": error, "applied": false}));
                    return Judged { writes: Vec::new(), answer };
                }
            },
        };
        done.push(json!([op.f.as_str(), op.named, op.value]));
        match writes.iter_mut().find(|(k, _)| *k == op.key) {
            Some((_, v)) => *v = value,
            None => writes.push((op.key.clone(), value)),
        }
    }
    Judged { writes, answer: Response::json(200, json!({ "txn": done })) }
}

/// The micro-ops of a `POST /txn` body, `{"txn": [[F, K, V], ...]}`; the error says which one is wrong
/// and what was expected.
pub fn parse_txn(body: &[u8]) -> Result<Vec<MicroOp>, String> {
    const EXPECTED: &str = "expected a body {\"txn\": [[F, K, V], ...]}, F one of \"r\", \"w\", \"append\"";
    let body: Value = serde_json::from_slice(body).map_err(|e| format!("{EXPECTED}: {e}"))?;
    let Some(ops) = body.get("txn").and_then(Value::as_array) else { return Err(EXPECTED.to_string()) };
    ops.iter().enumerate().map(|(i, op)| micro_op(op).map_err(|why| format!("micro-op {i}, {op}: {why}"))).collect()
}

fn micro_op(op: &Value) -> Result<MicroOp, String> {
    let Some([f, named, value]) = op.as_array().map(Vec::as_slice) else {
        return Err("expected [F, K, V]".to_string());
    };
    let f = match f.as_str() {
        Some("r") => Function::Read,
        Some("w") => Function::Write,
        Some("append") => Function::Append,
        _ => return Err("F must be \"r\", \"w\" or \"append\"".to_string()),
    };
    let key = match named {
        Value::String(s) if !s.is_empty() => s.clone(),
        Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        _ => return Err("K must be a non-empty string or an integer".to_string()),
    };
    if f == Function::Read && !value.is_null() {
        return Err("a read's V must be null".to_string());
    }
    Ok(MicroOp { f, named: named.clone(), key, value: value.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(pairs: &[(&str, Value)]) -> HashMap<String, Value> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    fn txn(body: Value) -> Command {
        Command::Txn(parse_txn(json!({ "txn": body }).to_string().as_bytes()).unwrap())
    }

    #[test]
    fn a_transactions_reads_see_the_state_and_its_own_earlier_micro_ops() {
        let before = state(&[("x", json!([1, 2])), ("y", json!(5))]);
        let command = txn(json!([
            ["r", "x", null],
            ["append", "x", 3],
            ["r", "x", null],
            ["r", "y", null],
            ["w", "y", 6],
            ["r", "y", null],
            ["append", 7, 1],
            ["append", 7, 2],
            ["r", 7, null],
            ["r", "z", null]
        ]));
        assert!(!command.read_only());
        let judged = command.judge(&before);
        assert_eq!(judged.answer.status, 200);
        assert_eq!(
            judged.answer.body["txn"],
            json!([
                ["r", "x", [1, 2]],
                ["append", "x", 3],
                ["r", "x", [1, 2, 3]],
                ["r", "y", 5],
                ["w", "y", 6],
                ["r", "y", 6],
                ["append", 7, 1],
                ["append", 7, 2],
                ["r", 7, [1, 2]],
                ["r", "z", null]
            ])
        );
        // Each key once, with its final value, in the order first written.
        assert_eq!(
            judged.writes,
            vec![("x".into(), json!([1, 2, 3])), ("y".into(), json!(6)), ("7".into(), json!([1, 2]))]
        );
    }

    #[test]
    fn an_append_to_a_register_refuses_the_whole_transaction() {
        let judged = txn(json!([["append", "x", 1], ["append", "y", 2]])).judge(&state(&[("y", json!(5))]));
        assert_eq!(judged.answer.status, 409, "{}", judged.answer.body);
        assert!(judged.writes.is_empty(), "nothing of it applies, not even the first append");
        assert_eq!(judged.answer.body["applied"], json!(false));
        assert!(judged.answer.body["error"].as_str().unwrap().starts_with("micro-op 1: key \"y\" holds 5"));
    }

    #[test]
    fn read_only_transactions_write_nothing() {
        let command = txn(json!([["r", "x", null], ["r", 1, null]]));
        assert!(command.read_only() && Command::Read("x".into()).read_only());
        let judged = command.judge(&state(&[("1", json!([4]))]));
        assert!(judged.writes.is_empty());
        assert_eq!(judged.answer.body, json!({"txn": [["r", "x", null], ["r", 1, [4]]]}));
        assert_eq!(txn(json!([])).judge(&state(&[])).answer.body, json!({"txn": []}));
    }

    #[test]
    fn single_key_commands_answer_as_the_native_protocol_says() {
        let before = state(&[("k", json!(1))]);
        let cas = |from: Value| Command::Cas { key: "k".into(), from, to: json!(2) }.judge(&before);
        assert_eq!((cas(json!(1)).answer.status, cas(json!(1)).writes), (200, vec![("k".into(), json!(2))]));
        assert_eq!(cas(json!(3)).answer.body, json!({"error": "mismatch", "value": 1}));
        assert!(cas(json!(3)).writes.is_empty());
        assert_eq!(Command::Read("k".into()).judge(&before).answer.body, json!({"value": 1}));
        assert_eq!(Command::Read("q".into()).judge(&before).answer.status, 404);
        let missing = Command::Cas { key: "q".into(), from: Value::Null, to: json!(1) }.judge(&before);
        assert_eq!(missing.writes, vec![("q".into(), json!(1))], "a missing key compares as null");
    }

    #[test]
    fn malformed_transactions_are_refused_naming_the_micro_op() {
        let refused = |body: &str| parse_txn(body.as_bytes()).unwrap_err();
        assert!(refused("[").starts_with("expected a body {\"txn\""));
        assert!(refused("[[\"r\", \"x\", null]]").starts_with("expected a body"), "the list alone is not the body");
        assert_eq!(
            refused(r#"{"txn": [["r", "x", null], ["cas", "x", 1]]}"#).split(':').next().unwrap(),
            "micro-op 1, [\"cas\",\"x\",1]"
        );
        assert!(refused(r#"{"txn": [["r", "x", 3]]}"#).ends_with("a read's V must be null"));
        assert!(refused(r#"{"txn": [["w", "", 3]]}"#).ends_with("K must be a non-empty string or an integer"));
        assert!(refused(r#"{"txn": [["w", 1.5, 3]]}"#).ends_with("K must be a non-empty string or an integer"));
        assert!(refused(r#"{"txn": [["w", "x"]]}"#).ends_with("expected [F, K, V]"));
    }
}
