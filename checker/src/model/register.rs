//! A register: one value, read and written whole, optionally compare-and-set.
//!
//! Values are interned to small integers when a partition is prepared, so the search's states are `u32`s:
//! cheap to copy, hash and compare however large the values are.

use rustc_hash::FxHashMap;

use super::{cas_pair, entry, unknown_f, CasFail, Entry, Model, ModelKind, ModelOptions, Prepared, Problem, Removal};
use crate::error::Error;
use crate::history::{History, Outcome};
use crate::value::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegisterOp {
    Read(u32),
    Write(u32),
    /// A compare-and-set that succeeded: the register held `.0` and now holds `.1`.
    Cas(u32, u32),
    /// A compare-and-set whose comparison failed: the register held anything but `.0`.
    CasFailed(u32),
}

#[derive(Clone, Debug)]
pub struct RegisterModel {
    /// Interned values: a state or an op's value is an index into this.
    pub values: Vec<Value>,
    pub initial: u32,
}

impl RegisterModel {
    pub fn value(&self, id: u32) -> &Value {
        &self.values[id as usize]
    }
}

impl Model for RegisterModel {
    type State = u32;
    type Op = RegisterOp;

    fn init(&self) -> u32 {
        self.initial
    }

    #[inline]
    fn step(&self, &state: &u32, op: &RegisterOp) -> Option<u32> {
        match *op {
            RegisterOp::Read(v) => (state == v).then_some(state),
            RegisterOp::Write(v) => Some(v),
            RegisterOp::Cas(from, to) => (state == from).then_some(to),
            RegisterOp::CasFailed(from) => (state != from).then_some(state),
        }
    }

    fn is_read_only(&self, op: &RegisterOp) -> bool {
        matches!(op, RegisterOp::Read(_) | RegisterOp::CasFailed(_))
    }

    fn needs(&self, op: &RegisterOp) -> Option<u32> {
        match *op {
            RegisterOp::Read(v) | RegisterOp::Cas(v, _) => Some(v),
            RegisterOp::Write(_) | RegisterOp::CasFailed(_) => None,
        }
    }

    fn leaves(&self, op: &RegisterOp) -> Option<u32> {
        match *op {
            RegisterOp::Write(v) | RegisterOp::Cas(_, v) => Some(v),
            RegisterOp::Read(_) | RegisterOp::CasFailed(_) => None,
        }
    }

    fn noun(&self) -> &'static str {
        "the register"
    }

    fn describe_state(&self, &state: &u32) -> String {
        self.value(state).to_string()
    }

    fn requirement(&self, op: &RegisterOp) -> Option<String> {
        match *op {
            RegisterOp::Read(v) | RegisterOp::Cas(v, _) => Some(format!("the register to hold {}", self.value(v))),
            RegisterOp::CasFailed(v) => Some(format!("the register to hold anything but {}", self.value(v))),
            RegisterOp::Write(_) => None,
        }
    }

    fn removal(&self, op: &RegisterOp) -> Removal {
        match *op {
            RegisterOp::Read(_) | RegisterOp::CasFailed(_) => Removal::Free,
            RegisterOp::Write(v) | RegisterOp::Cas(_, v) => Removal::WithObservers(self.value(v).clone()),
        }
    }

    fn depends_on(&self, op: &RegisterOp, value: &Value) -> bool {
        match *op {
            RegisterOp::Read(v) | RegisterOp::Cas(v, _) => self.value(v) == value,
            // A failed comparison saw some value other than `from`: possibly this one.
            RegisterOp::CasFailed(from) => self.value(from) != value,
            RegisterOp::Write(_) => false,
        }
    }
}

struct Interner {
    ids: FxHashMap<Value, u32>,
    values: Vec<Value>,
}

impl Interner {
    fn id(&mut self, v: &Value) -> u32 {
        if let Some(&id) = self.ids.get(v) {
            return id;
        }
        let id = self.values.len() as u32;
        self.values.push(v.clone());
        self.ids.insert(v.clone(), id);
        id
    }
}

/// Prepares the operations `ids` of `history` (one key's) for a register.
pub(crate) fn prepare(history: &History, ids: &[usize], opts: &ModelOptions) -> Result<Problem<RegisterModel>, Error> {
    let mut values = Interner { ids: FxHashMap::default(), values: Vec::new() };
    let initial = values.id(&opts.initial);
    let cas_allowed = opts.kind != ModelKind::Register;
    let expected = if cas_allowed { "read, write or cas" } else { "read or write" };
    let mut prepared = Vec::with_capacity(ids.len());
    for &id in ids {
        let o = &history.operations[id];
        let invocation = history.invocation(o);
        let op = match &*invocation.f {
            "read" => match o.outcome {
                Outcome::Ok if opts.nil_read.ignores(history.result(o)) => Prepared::Skip,
                Outcome::Ok => Prepared::Op(RegisterOp::Read(values.id(history.result(o)))),
                _ => Prepared::Skip,
            },
            "write" => match o.outcome {
                Outcome::Fail => Prepared::Skip,
                _ => Prepared::Op(RegisterOp::Write(values.id(&invocation.value))),
            },
            "cas" if cas_allowed => {
                let (from, to) = cas_pair(history, id)?;
                match (o.outcome, opts.cas_fail) {
                    (Outcome::Fail, _) if history.observed_nothing(o) => Prepared::Skip,
                    (Outcome::Fail, CasFail::Observe) => Prepared::Op(RegisterOp::CasFailed(values.id(&from))),
                    (Outcome::Fail, CasFail::Drop) => Prepared::Skip,
                    _ => Prepared::Op(RegisterOp::Cas(values.id(&from), values.id(&to))),
                }
            }
            _ => return Err(unknown_f(history, id, opts.kind, expected)),
        };
        if let Prepared::Op(op) = op {
            prepared.push((id, op));
        }
    }
    let model = RegisterModel { values: values.values, initial };
    let entries: Vec<Entry<RegisterOp>> =
        prepared.into_iter().filter_map(|(id, op)| entry(&model, history, id, op)).collect();
    Ok(Problem { model, entries })
}
