//! Models: the sequential specifications histories are checked against.
//!
//! As in Porcupine, a model is a state and a step function that accepts an operation (giving the next
//! state) or rejects it. Everything else (which operations constrain the search, how a `fail` or `info` is
//! read) is decided once, when a history's operations are *prepared* for a model, so the search itself
//! stays one small loop over `step`.

mod kv;
mod register;

use std::fmt;
use std::hash::Hash;
use std::str::FromStr;

pub(crate) use kv::prepare as prepare_kv;
pub use kv::{KvModel, KvOp};
pub(crate) use register::prepare as prepare_register;
pub use register::{RegisterModel, RegisterOp};

use crate::error::Error;
use crate::history::History;
use crate::value::Value;

/// A sequential specification.
pub trait Model: Sync {
    type State: Clone + Eq + Hash + Send;
    type Op: Clone + Eq + Hash + Send + Sync;

    fn init(&self) -> Self::State;

    /// The state after `op`, or `None` if `op` cannot happen in `state` (a read of another value, say).
    fn step(&self, state: &Self::State, op: &Self::Op) -> Option<Self::State>;

    /// True when `op` never changes the state, so that if it is indeterminate it constrains nothing.
    fn is_read_only(&self, op: &Self::Op) -> bool;

    /// The one state `op` can happen in, if there is exactly one (a read of 3 needs 3). The sequential
    /// search uses this and [`Model::leaves`] to see early that an operation can never happen any more.
    fn needs(&self, _op: &Self::Op) -> Option<Self::State> {
        None
    }

    /// The state `op` leaves whatever state it happened in (a write of 3 leaves 3), if it changes the state
    /// and always to the same one; `None` for a read-only op or one whose result depends on what it found
    /// (an append), which the sequential search then cannot reason about.
    fn leaves(&self, _op: &Self::Op) -> Option<Self::State> {
        None
    }

    /// What holds the state, in words ("the register"), for explanations.
    fn noun(&self) -> &'static str {
        "the state"
    }

    /// The state in words, as a person reading the history would write it ("3", "null").
    fn describe_state(&self, state: &Self::State) -> String;

    /// What `op` needs of the state to happen, in words ("the register to hold 3"), if it needs anything.
    fn requirement(&self, op: &Self::Op) -> Option<String>;

    /// How `op` may be dropped from a non-linearizable set of operations while the rest still proves the
    /// whole history non-linearizable. See [`Removal`].
    fn removal(&self, op: &Self::Op) -> Removal {
        if self.is_read_only(op) {
            Removal::Free
        } else {
            Removal::Never
        }
    }

    /// True if `op` may have seen the state that a removed operation writing `value` left, so that it must
    /// be removed with it.
    fn depends_on(&self, _op: &Self::Op, _value: &Value) -> bool {
        false
    }
}

/// Whether dropping an operation from a non-linearizable set keeps the rest a proof about the history.
///
/// Dropping an operation that changes nothing keeps any linearization of the whole valid for the rest, so
/// a rest without one proves the whole has none. Dropping an operation that overwrites the state with a
/// value `x` does too, provided every operation that may have seen `x` goes with it: in a linearization of
/// the whole, each remaining operation then sees the state some remaining operation left. An append, whose
/// effect depends on what came before, goes only with every operation whose value holds its string (see
/// the kv model). Anything else stays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Removal {
    Free,
    /// Removable with every operation that [`Model::depends_on`] this value.
    WithObservers(Value),
    Never,
}

/// The models faultline knows by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelKind {
    /// A register per key: `read`, `write`.
    Register,
    /// A register per key with `cas` (`value` = `[from, to]`).
    CasRegister,
    /// A key-value map split per key: `get`, `put`, `append` (string concatenation), `cas`.
    Kv,
}

impl ModelKind {
    pub const NAMES: &'static [&'static str] = &["register", "cas-register", "kv"];

    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Register => "register",
            ModelKind::CasRegister => "cas-register",
            ModelKind::Kv => "kv",
        }
    }

    /// The model a history's operation names imply: `get`/`put`/`append` a key-value map, `cas` a
    /// compare-and-set register, otherwise a plain register.
    pub fn infer(history: &History) -> ModelKind {
        let mut kind = ModelKind::Register;
        for op in &history.operations {
            match &*history.invocation(op).f {
                "get" | "put" | "append" => return ModelKind::Kv,
                "cas" => kind = ModelKind::CasRegister,
                _ => {}
            }
        }
        kind
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ModelKind {
    type Err = String;
    fn from_str(s: &str) -> Result<ModelKind, String> {
        match s {
            "register" => Ok(ModelKind::Register),
            "cas-register" => Ok(ModelKind::CasRegister),
            "kv" | "kv-append" => Ok(ModelKind::Kv),
            _ => Err(format!("unknown model {s:?}; expected one of {}", ModelKind::NAMES.join(", "))),
        }
    }
}

/// How to read a compare-and-set that completed with `fail`.
///
/// Stores answer a failed comparison definitely ("the value was not 3"), so the failed CAS observed the
/// state as surely as a read would: [`CasFail::Observe`] (Porcupine's reading, and the default) checks it
/// as a read of any value other than `from`. [`CasFail::Drop`] (Knossos's reading) treats it as any other
/// `fail`: it did not happen and says nothing. `Drop` can call a history valid that `Observe` rejects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CasFail {
    #[default]
    Observe,
    Drop,
}

impl FromStr for CasFail {
    type Err = String;
    fn from_str(s: &str) -> Result<CasFail, String> {
        match s {
            "observe" => Ok(CasFail::Observe),
            "drop" => Ok(CasFail::Drop),
            _ => Err(format!("unknown reading of failed cas {s:?}; expected observe or drop")),
        }
    }
}

impl fmt::Display for CasFail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CasFail::Observe => "observe",
            CasFail::Drop => "drop",
        })
    }
}

/// How to read an `ok` read (or get) that returned nil (`null`).
///
/// [`NilRead::Absent`] (the default) reads it as a value like any other: the key had no value, or held
/// null. That is what nil means in Porcupine's etcd logs and in faultline's own runs, where a key no write
/// has reached reads as null. [`NilRead::Any`] is Knossos's reading in its cas-register model: a read of
/// nil says nothing about what was read, so it constrains nothing and is left out, like a read that
/// failed. Jepsen histories whose client returns nil for a read it could not make sense of (and which
/// Knossos judged) need it. `Any` can call a history valid that `Absent` rejects, never the reverse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum NilRead {
    #[default]
    Absent,
    Any,
}

impl NilRead {
    /// True if this ok read, of `value`, is to be left out.
    pub fn ignores(self, value: &Value) -> bool {
        self == NilRead::Any && value.is_null()
    }
}

impl FromStr for NilRead {
    type Err = String;
    fn from_str(s: &str) -> Result<NilRead, String> {
        match s {
            "absent" => Ok(NilRead::Absent),
            "any" => Ok(NilRead::Any),
            _ => Err(format!("unknown reading of nil reads {s:?}; expected absent or any")),
        }
    }
}

impl fmt::Display for NilRead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NilRead::Absent => "absent",
            NilRead::Any => "any",
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ModelOptions {
    pub kind: ModelKind,
    /// Every key's value before the first write.
    pub initial: Value,
    pub cas_fail: CasFail,
    pub nil_read: NilRead,
}

impl ModelOptions {
    pub fn new(kind: ModelKind) -> ModelOptions {
        ModelOptions { kind, initial: Value::Null, cas_fail: CasFail::Observe, nil_read: NilRead::Absent }
    }
}

/// One operation as the search sees it: the model's view of it and its real-time interval, in event
/// positions. `ret == None` means it may take effect at any point after its call, or never.
#[derive(Clone, Debug)]
pub struct Entry<Op> {
    pub op: Op,
    pub call: u32,
    pub ret: Option<u32>,
    /// Index into [`History::operations`].
    pub id: u32,
}

/// The operations of one partition (key), prepared for a model.
#[derive(Clone, Debug)]
pub struct Problem<M: Model> {
    pub model: M,
    pub entries: Vec<Entry<M::Op>>,
}

/// What preparing one operation gives.
pub(crate) enum Prepared<Op> {
    /// It took part in the history with this meaning.
    Op(Op),
    /// It provably did not take effect, or constrains nothing: leave it out.
    Skip,
}

/// Builds an entry from a prepared op, dropping indeterminate read-only ops, which constrain nothing.
pub(crate) fn entry<M: Model>(model: &M, history: &History, id: usize, op: M::Op) -> Option<Entry<M::Op>> {
    let o = &history.operations[id];
    let ret = history.definite_end(o);
    if ret.is_none() && model.is_read_only(&op) {
        return None;
    }
    Some(Entry { op, call: o.invoke, ret, id: id as u32 })
}

/// The error for an operation a model does not have.
pub(crate) fn unknown_f(history: &History, id: usize, model: ModelKind, expected: &str) -> Error {
    let e = history.invocation(&history.operations[id]);
    Error::input(
        &history.source,
        e.line,
        format!("operation f {:?} is not part of the {model} model (expected {expected})", &*e.f),
    )
}

/// The `[from, to]` of a cas invocation, or an error naming the line.
pub(crate) fn cas_pair(history: &History, id: usize) -> Result<(Value, Value), Error> {
    let e = history.invocation(&history.operations[id]);
    match e.value.as_list() {
        Some([from, to]) => Ok((from.clone(), to.clone())),
        _ => Err(Error::input(
            &history.source,
            e.line,
            format!("a cas value must be a list [from, to]; found {}", e.value),
        )),
    }
}
