//! A key-value map, checked one key at a time: each key is a register of strings that can also be appended
//! to. Keys are independent, so by P-compositionality (Horn & Kroening) the map is linearizable exactly when
//! every key is.

use super::{cas_pair, entry, unknown_f, CasFail, Model, ModelOptions, Prepared, Problem, Removal};
use crate::error::Error;
use crate::history::{History, Outcome};
use crate::value::Value;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvOp {
    Get(Value),
    Put(Value),
    /// Concatenates a string to the key's string (null counts as empty).
    Append(std::sync::Arc<str>),
    Cas(Value, Value),
    CasFailed(Value),
}

#[derive(Clone, Debug, Default)]
pub struct KvModel {
    pub initial: Value,
}

impl Model for KvModel {
    type State = Value;
    type Op = KvOp;

    fn init(&self) -> Value {
        self.initial.clone()
    }

    fn step(&self, state: &Value, op: &KvOp) -> Option<Value> {
        match op {
            KvOp::Get(v) => (state == v).then(|| state.clone()),
            KvOp::Put(v) => Some(v.clone()),
            KvOp::Append(s) => match state {
                Value::Null => Some(Value::Str(s.clone())),
                Value::Str(old) => Some(Value::str(&format!("{old}{s}"))),
                _ => None,
            },
            KvOp::Cas(from, to) => (state == from).then(|| to.clone()),
            KvOp::CasFailed(from) => (state != from).then(|| state.clone()),
        }
    }

    fn is_read_only(&self, op: &KvOp) -> bool {
        matches!(op, KvOp::Get(_) | KvOp::CasFailed(_))
    }

    fn needs(&self, op: &KvOp) -> Option<Value> {
        match op {
            KvOp::Get(v) | KvOp::Cas(v, _) => Some(v.clone()),
            KvOp::Put(_) | KvOp::Append(_) | KvOp::CasFailed(_) => None,
        }
    }

    fn leaves(&self, op: &KvOp) -> Option<Value> {
        match op {
            KvOp::Put(v) | KvOp::Cas(_, v) => Some(v.clone()),
            KvOp::Get(_) | KvOp::Append(_) | KvOp::CasFailed(_) => None,
        }
    }

    fn noun(&self) -> &'static str {
        "the key"
    }

    fn describe_state(&self, state: &Value) -> String {
        state.to_string()
    }

    fn requirement(&self, op: &KvOp) -> Option<String> {
        match op {
            KvOp::Get(v) | KvOp::Cas(v, _) => Some(format!("the key to hold {v}")),
            KvOp::CasFailed(v) => Some(format!("the key to hold anything but {v}")),
            KvOp::Append(_) => Some("the key to hold a string or nothing".to_string()),
            KvOp::Put(_) => None,
        }
    }

    /// An append may go from a counterexample with every operation whose value holds its string: in a
    /// linearization of the whole, an append shows in every later value of the key up to the next put or
    /// cas, so any operation whose value does not hold the string saw the same state without it. (A put or
    /// cas stays: removing one could expose an older value that later appends cannot extend.)
    fn removal(&self, op: &KvOp) -> Removal {
        match op {
            KvOp::Get(_) | KvOp::CasFailed(_) => Removal::Free,
            KvOp::Append(s) => Removal::WithObservers(Value::Str(s.clone())),
            KvOp::Put(_) | KvOp::Cas(..) => Removal::Never,
        }
    }

    fn depends_on(&self, op: &KvOp, appended: &Value) -> bool {
        let Some(appended) = appended.as_str() else { return false };
        match op {
            KvOp::Get(v) | KvOp::Cas(v, _) => v.as_str().is_some_and(|v| v.contains(appended)),
            // Whether the state differs from `from` can change either way.
            KvOp::CasFailed(_) => true,
            KvOp::Put(_) | KvOp::Append(_) => false,
        }
    }
}

/// Prepares one key's operations for the key-value model.
pub(crate) fn prepare(history: &History, ids: &[usize], opts: &ModelOptions) -> Result<Problem<KvModel>, Error> {
    let model = KvModel { initial: opts.initial.clone() };
    let mut entries = Vec::with_capacity(ids.len());
    for &id in ids {
        let o = &history.operations[id];
        let invocation = history.invocation(o);
        let op = match (&*invocation.f, o.outcome) {
            ("get" | "read", Outcome::Ok) if opts.nil_read.ignores(history.result(o)) => Prepared::Skip,
            ("get" | "read", Outcome::Ok) => Prepared::Op(KvOp::Get(history.result(o).clone())),
            ("get" | "read", _) => Prepared::Skip,
            ("put" | "write", Outcome::Fail) | ("append", Outcome::Fail) => Prepared::Skip,
            ("put" | "write", _) => Prepared::Op(KvOp::Put(invocation.value.clone())),
            ("append", _) => match &invocation.value {
                Value::Str(s) => Prepared::Op(KvOp::Append(s.clone())),
                other => {
                    return Err(Error::input(
                        &history.source,
                        invocation.line,
                        format!("an append value must be a string; found {other}"),
                    ))
                }
            },
            ("cas", outcome) => {
                let (from, to) = cas_pair(history, id)?;
                match (outcome, opts.cas_fail) {
                    (Outcome::Fail, _) if history.observed_nothing(o) => Prepared::Skip,
                    (Outcome::Fail, CasFail::Observe) => Prepared::Op(KvOp::CasFailed(from)),
                    (Outcome::Fail, CasFail::Drop) => Prepared::Skip,
                    _ => Prepared::Op(KvOp::Cas(from, to)),
                }
            }
            _ => return Err(unknown_f(history, id, opts.kind, "get, put, append or cas")),
        };
        if let Prepared::Op(op) = op {
            entries.extend(entry(&model, history, id, op));
        }
    }
    Ok(Problem { model, entries })
}
