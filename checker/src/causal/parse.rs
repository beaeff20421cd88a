//! Extraction: every operation read as a read, a write, a failed comparison or nothing, for the causal,
//! session and eventual checkers.

use rustc_hash::FxHashMap;

use crate::error::Error;
use crate::history::{History, Outcome};
use crate::model::{cas_pair, CasFail, ModelOptions};
use crate::value::Value;

/// What one history operation means for the causal, session and eventual checkers.
#[derive(Clone, Debug)]
pub(crate) enum Meaning {
    Read {
        key: u32,
        value: Value,
    },
    /// A write, or a cas (which also reads `from`); `definite` if it completed `ok`.
    Write {
        key: u32,
        value: Value,
        from: Option<Value>,
        definite: bool,
    },
    /// A cas whose comparison failed (read only where failed cas are observations): the key held a value
    /// other than `not`.
    Differs {
        key: u32,
        not: Value,
    },
    Skip,
}

/// Where a read's value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Source {
    Init,
    /// History operation id of the write.
    Write(u32),
    ThinAir,
}

pub(crate) struct Parsed {
    pub keys: Vec<Option<Value>>,
    /// One per history operation.
    pub meaning: Vec<Meaning>,
    /// For each (key, written value), the (first) writing operation.
    pub writers: FxHashMap<(u32, Value), u32>,
    /// For each (key, value) written more than once, or written although it is the initial value, every
    /// operation writing it (only where [`parse_observing`] allows them).
    pub repeated: FxHashMap<(u32, Value), Vec<u32>>,
    /// Per key, its writing operations in history order.
    pub key_writes: Vec<Vec<u32>>,
}

impl Parsed {
    pub fn source(&self, key: u32, value: &Value, initial: &Value) -> Source {
        if value == initial {
            Source::Init
        } else {
            self.writers.get(&(key, value.clone())).map_or(Source::ThinAir, |&w| Source::Write(w))
        }
    }
}

/// Reads every operation as a read, a write, or nothing; checks that written values are unique per key
/// (and never the initial value), so that every read names its source. A failed cas is left out.
pub(crate) fn parse(history: &History, opts: &ModelOptions) -> Result<Parsed, Error> {
    parse_with(history, opts, false)
}

/// As [`parse`], but a value may be written more than once or be the initial value (its readers' sources
/// are then a choice, see [`crate::worlds`]), and a cas whose comparison failed is, under
/// `--cas-fail observe`, an observation that the key held another value.
pub(crate) fn parse_observing(history: &History, opts: &ModelOptions) -> Result<Parsed, Error> {
    parse_with(history, opts, true)
}

fn parse_with(history: &History, opts: &ModelOptions, observing: bool) -> Result<Parsed, Error> {
    let mut key_ids: FxHashMap<Option<Value>, u32> = FxHashMap::default();
    let mut keys = Vec::new();
    let mut meaning = Vec::with_capacity(history.operations.len());
    let mut writers: FxHashMap<(u32, Value), u32> = FxHashMap::default();
    let mut repeated: FxHashMap<(u32, Value), Vec<u32>> = FxHashMap::default();
    let mut key_writes: Vec<Vec<u32>> = Vec::new();
    for (id, op) in history.operations.iter().enumerate() {
        let inv = history.invocation(op);
        let key = *key_ids.entry(inv.key.clone()).or_insert_with(|| {
            keys.push(inv.key.clone());
            keys.len() as u32 - 1
        });
        let m = match &*inv.f {
            "read" | "get" => match op.outcome {
                Outcome::Ok if opts.nil_read.ignores(history.result(op)) => Meaning::Skip,
                Outcome::Ok => Meaning::Read { key, value: history.result(op).clone() },
                _ => Meaning::Skip,
            },
            "write" | "put" => match op.outcome {
                Outcome::Fail => Meaning::Skip,
                o => Meaning::Write { key, value: inv.value.clone(), from: None, definite: o == Outcome::Ok },
            },
            "cas" => match op.outcome {
                Outcome::Fail if observing && opts.cas_fail == CasFail::Observe && !history.observed_nothing(op) => {
                    Meaning::Differs { key, not: cas_pair(history, id)?.0 }
                }
                Outcome::Fail => Meaning::Skip,
                o => {
                    let (from, to) = cas_pair(history, id)?;
                    Meaning::Write { key, value: to, from: Some(from), definite: o == Outcome::Ok }
                }
            },
            f => {
                return Err(Error::input(
                    &history.source,
                    inv.line,
                    format!(
                        "operation f {f:?} cannot be checked for causal, session or eventual consistency (expected \
                         read, write, cas, get or put: reads must name the write they read from)"
                    ),
                ))
            }
        };
        if let (true, Meaning::Write { value, .. }) = (observing, &m) {
            key_writes.resize(keys.len(), Vec::new());
            key_writes[key as usize].push(id as u32);
            if *value == opts.initial {
                repeated.entry((key, value.clone())).or_default().push(id as u32);
            } else if let Some(&first) = writers.get(&(key, value.clone())) {
                repeated.entry((key, value.clone())).or_insert_with(|| vec![first]).push(id as u32);
            } else {
                writers.insert((key, value.clone()), id as u32);
            }
        } else if let Meaning::Write { value, .. } = &m {
            if *value == opts.initial {
                return Err(Error::input(
                    &history.source,
                    inv.line,
                    format!(
                        "this write writes the initial value {value}, so reads of it cannot be told apart (this check \
                         needs unique written values; the causal and session checks do not)"
                    ),
                ));
            }
            if let Some(&other) = writers.get(&(key, value.clone())) {
                let line = history.invocation(&history.operations[other as usize]).line;
                return Err(Error::input(
                    &history.source,
                    inv.line,
                    format!(
                        "value {value} is written to this key again (first at line {line}); this check needs every \
                         value written at most once per key (the causal and session checks do not)"
                    ),
                ));
            }
            writers.insert((key, value.clone()), id as u32);
        }
        meaning.push(m);
    }
    key_writes.resize(keys.len(), Vec::new());
    Ok(Parsed { keys, meaning, writers, repeated, key_writes })
}
