//! Transactional histories: operations with `f` = `txn` whose value is a list of micro-ops, turned into flat
//! vectors of integer ids so that inference and the graph never hash or clone a [`Value`] again.
//!
//! A micro-op is `[f, key, value]`: `["append", k, v]` (list-append), `["w", k, v]` (rw-register) or
//! `["r", k, v]`, where an `ok` completion fills in what the read returned (a list for list-append, one value
//! or null for rw-register). Keys and values are any scalars. An `ok` transaction's micro-ops are taken from
//! its completion, everyone else's from its invocation (their reads returned nothing we know).

use rustc_hash::FxHashMap;

use crate::error::Error;
use crate::history::{History, Outcome};
use crate::value::Value;

pub use super::mop::{MopValue, Workload};

/// An absent id: no writer, no read result.
pub const NONE: u32 = u32::MAX;
/// A register read that returned null (the initial state).
pub const NIL: u32 = u32::MAX - 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MopKind {
    Append,
    Write,
    Read,
}

/// One micro-op. `value` is a version id (the pair of key and value) for an append or write; for a read,
/// the start of its result in [`Txns::read_values`] (list-append) or the version read, [`NIL`] for null
/// (rw-register), or [`NONE`] when the result is unknown.
#[derive(Clone, Copy, Debug)]
pub struct Mop {
    pub kind: MopKind,
    pub key: u32,
    pub value: u32,
    /// A list-append read's length; 0 otherwise.
    pub len: u32,
}

impl Mop {
    /// True for a read whose result is known.
    pub fn known(&self) -> bool {
        self.kind == MopKind::Read && self.value != NONE
    }
}

/// One transaction: an operation of the history whose `f` is `txn`.
#[derive(Clone, Copy, Debug)]
pub struct Txn {
    pub process: u64,
    pub outcome: Outcome,
    /// Event positions of its invocation and its `ok` or `fail` completion (an `info` end bounds nothing).
    pub invoke: u32,
    pub end: Option<u32>,
    /// The event its micro-ops were read from (the `ok` completion, else the invocation), and its line.
    pub event: u32,
    pub line: u32,
    pub mops: (u32, u32),
}

/// A history's transactions as flat vectors.
#[derive(Clone, Debug)]
pub struct Txns {
    pub workload: Workload,
    pub txns: Vec<Txn>,
    pub mops: Vec<Mop>,
    pub read_values: Vec<u32>,
    pub keys: Vec<Value>,
    /// Version id to its key id and value.
    pub versions: Vec<(u32, Value)>,
    /// Version id to the transaction that appended or wrote it (the first such, others are bad input).
    pub writer: Vec<u32>,
}

impl Txns {
    pub fn mops(&self, t: u32) -> &[Mop] {
        let (a, b) = self.txns[t as usize].mops;
        &self.mops[a as usize..b as usize]
    }

    /// A list-append read's elements.
    pub fn list(&self, m: &Mop) -> &[u32] {
        &self.read_values[m.value as usize..(m.value + m.len) as usize]
    }

    pub fn key(&self, k: u32) -> &Value {
        &self.keys[k as usize]
    }

    pub fn value(&self, v: u32) -> String {
        match v {
            NIL | NONE => "null".to_string(),
            v => self.versions[v as usize].1.to_string(),
        }
    }

    /// True if the transaction may have taken effect: it did not fail.
    pub fn happened(&self, t: u32) -> bool {
        self.txns[t as usize].outcome != Outcome::Fail
    }
}

/// Reads the transactions of a history. `workload` is what the caller named; otherwise it is what the
/// micro-ops say (`append` list-append, `w` rw-register; reads alone: list-append if a read returned a list).
/// Errors name the line: an operation that is not a txn, a malformed micro-op, a read of the wrong shape, a
/// value appended or written twice to one key, or append and write micro-ops mixed.
pub fn read(history: &History, workload: Option<Workload>) -> Result<Txns, Error> {
    read_with(history, workload, None)
}

/// As [`read`], with each event's value given as its JSON text (`raw[event position]`) instead of in the
/// events (see [`super::fast`]).
pub fn read_with(history: &History, workload: Option<Workload>, raw: Option<&[&str]>) -> Result<Txns, Error> {
    let source = &history.source;
    let workload = match (workload, raw) {
        (Some(w), _) => w,
        (None, Some(raw)) => super::fast::detect(raw),
        (None, None) => detect(history),
    };
    let mut b = Builder {
        out: Txns {
            workload,
            txns: Vec::with_capacity(history.operations.len()),
            mops: Vec::with_capacity(history.operations.len() * 3),
            read_values: Vec::new(),
            keys: Vec::new(),
            versions: Vec::new(),
            writer: Vec::new(),
        },
        key_ids: FxHashMap::default(),
        version_ids: FxHashMap::default(),
        last_read: Vec::new(),
    };
    let mut scratch = super::fast::Scratch::default();
    for op in &history.operations {
        let invocation = history.invocation(op);
        let is_null = |pos: u32| match raw {
            Some(raw) => raw[pos as usize] == "null",
            None => history.events[pos as usize].value.is_null(),
        };
        let (event_pos, reads_known) = match (op.outcome, op.complete) {
            (Outcome::Ok, Some(c)) if !is_null(c) => (c, true),
            _ => (op.invoke, false),
        };
        let event = &history.events[event_pos as usize];
        let bad = |message: String| Error::input(source, event.line, message);
        if &*invocation.f != "txn" {
            return Err(Error::input(
                source,
                invocation.line,
                format!(
                    "operation {:?} in a transactional history; every operation of a {} history has f \"txn\"",
                    &*invocation.f,
                    workload.name()
                ),
            ));
        }
        let start = b.out.mops.len() as u32;
        let known = reads_known && op.outcome == Outcome::Ok;
        if let Some(raw) = raw {
            let mut i = 0;
            super::fast::mops(raw[event_pos as usize], &mut scratch, |f, key, value| {
                i += 1;
                let m = b.mop(f, key, value, known).map_err(|e| format!("micro-op {i} of this txn: {e}"))?;
                b.out.mops.push(m);
                Ok(())
            })
            .map_err(bad)?;
        } else {
            let Some(mops) = event.value.as_list() else {
                return Err(bad(format!(
                    "a txn's value is a list of micro-ops such as [\"r\", \"x\", null], not {}",
                    event.value
                )));
            };
            for (i, mop) in mops.iter().enumerate() {
                let m = decompose(mop, b.out.workload)
                    .and_then(|(f, key, value)| b.mop(f, key, value, known))
                    .map_err(|e| bad(format!("micro-op {} of this txn: {e}", i + 1)))?;
                b.out.mops.push(m);
            }
        }
        b.out.txns.push(Txn {
            process: op.process,
            outcome: op.outcome,
            invoke: op.invoke,
            end: history.definite_end(op),
            event: event_pos,
            line: event.line,
            mops: (start, b.out.mops.len() as u32),
        });
    }
    // A value written twice to one key would make every edge through it ambiguous.
    let mut writer = vec![NONE; b.out.versions.len()];
    for t in 0..b.out.txns.len() as u32 {
        let mops = b.out.mops(t);
        for (i, m) in mops.iter().enumerate() {
            if m.kind == MopKind::Read {
                continue;
            }
            let w = &mut writer[m.value as usize];
            let again = *w == t && mops[..i].iter().any(|p| p.kind != MopKind::Read && p.value == m.value);
            if *w != NONE && (*w != t || again) {
                let (k, v) = &b.out.versions[m.value as usize];
                return Err(Error::input(
                    source,
                    b.out.txns[t as usize].line,
                    format!(
                        "value {v} is written to key {} here and at line {}; {} needs every value written to a key \
                         to be unique",
                        b.out.keys[*k as usize],
                        b.out.txns[*w as usize].line,
                        workload.name()
                    ),
                ));
            }
            *w = t;
        }
    }
    b.out.writer = writer;
    Ok(b.out)
}

/// The workload the micro-ops imply.
fn detect(history: &History) -> Workload {
    let mut read_list = false;
    for op in &history.operations {
        let value =
            history.completion(op).filter(|c| !c.value.is_null()).map_or(&history.invocation(op).value, |c| &c.value);
        for mop in value.as_list().unwrap_or(&[]) {
            match mop.as_list() {
                Some([f, ..]) if f.as_str() == Some("append") => return Workload::ListAppend,
                Some([f, ..]) if f.as_str() == Some("w") => return Workload::RwRegister,
                Some([f, _, Value::List(_)]) if f.as_str() == Some("r") => read_list = true,
                _ => {}
            }
        }
    }
    if read_list {
        Workload::ListAppend
    } else {
        Workload::RwRegister
    }
}

struct Builder {
    out: Txns,
    key_ids: FxHashMap<Value, u32>,
    version_ids: FxHashMap<(u32, Value), u32>,
    /// Per key, the last list read of it: most reads extend the previous one, so their elements' ids are
    /// found by comparing values, without hashing.
    last_read: Vec<Vec<u32>>,
}

impl Builder {
    fn key(&mut self, key: &Value) -> u32 {
        if let Some(&k) = self.key_ids.get(key) {
            return k;
        }
        let k = self.out.keys.len() as u32;
        self.out.keys.push(key.clone());
        self.key_ids.insert(key.clone(), k);
        self.last_read.push(Vec::new());
        k
    }

    fn version(&mut self, key: u32, value: &Value) -> u32 {
        if let Some(&v) = self.version_ids.get(&(key, value.clone())) {
            return v;
        }
        let v = self.out.versions.len() as u32;
        self.out.versions.push((key, value.clone()));
        self.version_ids.insert((key, value.clone()), v);
        v
    }

    fn mop(&mut self, f: &str, key: &Value, value: MopValue, known: bool) -> Result<Mop, String> {
        let workload = self.out.workload;
        let expected = expected(workload);
        if !scalar(key) || key.is_null() {
            return Err(format!("a key is a scalar (string, number, keyword), not {key}"));
        }
        let kind = match (f, workload) {
            ("append", Workload::ListAppend) => MopKind::Append,
            ("w", Workload::RwRegister) => MopKind::Write,
            ("r", _) => MopKind::Read,
            (other @ ("append" | "w"), _) => {
                return Err(format!("{other:?} does not belong in a {} history; expected {expected}", workload.name()))
            }
            _ => return Err(format!("unknown micro-op {f:?}; expected {expected}")),
        };
        let k = self.key(key);
        if kind != MopKind::Read {
            let value = match value {
                MopValue::One(v) if !v.is_null() => v,
                other => return Err(format!("the value to {f} to key {key} is a scalar other than null, not {other}")),
            };
            let v = self.version(k, value);
            return Ok(Mop { kind, key: k, value: v, len: 0 });
        }
        if !known {
            return Ok(Mop { kind, key: k, value: NONE, len: 0 });
        }
        match workload {
            Workload::RwRegister => {
                let MopValue::One(value) = value else {
                    return Err(format!("a read of key {key} in rw-register returns one value or null, not {value}"));
                };
                let v = if value.is_null() { NIL } else { self.version(k, value) };
                Ok(Mop { kind, key: k, value: v, len: 0 })
            }
            Workload::ListAppend => {
                let list: &[Value] = match value {
                    MopValue::One(Value::Null) => &[],
                    MopValue::List(l) => l,
                    other => return Err(format!("a read of key {key} in list-append returns a list, not {other}")),
                };
                let start = self.out.read_values.len() as u32;
                let mut last = std::mem::take(&mut self.last_read[k as usize]);
                let mut shared = 0;
                while shared < list.len()
                    && shared < last.len()
                    && self.out.versions[last[shared] as usize].1 == list[shared]
                {
                    shared += 1;
                }
                last.truncate(shared);
                for element in &list[shared..] {
                    if !scalar(element) || element.is_null() {
                        return Err(format!("the list read from key {key} holds {element}; elements are scalars"));
                    }
                    last.push(self.version(k, element));
                }
                self.out.read_values.extend_from_slice(&last);
                self.last_read[k as usize] = last;
                Ok(Mop { kind, key: k, value: start, len: list.len() as u32 })
            }
        }
    }
}

fn expected(workload: Workload) -> &'static str {
    match workload {
        Workload::ListAppend => "[\"append\", key, value] or [\"r\", key, list]",
        Workload::RwRegister => "[\"w\", key, value] or [\"r\", key, value]",
    }
}

/// A micro-op's three parts: `[f, key, value]`, or `[f, key]` for a read.
fn decompose(mop: &Value, workload: Workload) -> Result<(&str, &Value, MopValue<'_>), String> {
    const NULL: &Value = &Value::Null;
    fn value(v: &Value) -> MopValue<'_> {
        match v {
            Value::List(l) => MopValue::List(l),
            v => MopValue::One(v),
        }
    }
    match mop.as_list() {
        Some([Value::Str(f), key, v]) => Ok((f, key, value(v))),
        Some([Value::Str(f), key]) if &**f == "r" => Ok((f, key, MopValue::One(NULL))),
        Some([f, _, _]) if f.as_str().is_none() => {
            Err(format!("unknown micro-op {f}; expected {}", expected(workload)))
        }
        _ => Err(format!("expected {}, not {mop}", expected(workload))),
    }
}

pub(super) fn scalar(v: &Value) -> bool {
    !matches!(v, Value::List(_))
}
