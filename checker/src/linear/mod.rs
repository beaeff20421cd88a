//! Linearizability: does every operation appear to take effect atomically at one instant between its
//! invocation and its completion, in an order the model allows?
//!
//! The history is split per key (P-compositionality: a map is linearizable iff every key is) and the keys
//! are checked in parallel. A key whose writes all write distinct values is decided by the polynomial zone
//! check ([`zones`]); any other by the general search ([`search`]). For a key that is not linearizable,
//! [`explain`] finds the longest linearizable prefix, shrinks the key's operations to a minimal
//! counterexample, and says in words why it has no linearization.

pub mod explain;
pub mod search;
pub mod zones;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::error::Error;
use crate::history::History;
use crate::model::{self, Entry, Model, ModelKind, ModelOptions, Problem, RegisterModel};
use crate::value::Value;
pub use explain::{Anomaly, OpRef};
pub use search::{Budget, Limit, Outcome};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Valid,
    Unknown,
    Invalid,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::Invalid => "invalid",
            Verdict::Unknown => "unknown",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Options {
    pub model: ModelOptions,
    /// Wall-clock limit for the whole check; past it, undecided keys are `unknown`.
    pub time_limit: Option<Duration>,
    /// Bytes the search's memo tables may hold together; past it, undecided keys are `unknown`.
    pub memory_limit: usize,
    /// Worker threads; 0 means one per core.
    pub threads: usize,
    /// How many invalid keys get a minimal counterexample and an explanation (the rest are only named).
    pub explain_keys: usize,
    /// Decide every key even after one has made the history invalid (by default the others stop, as in
    /// Porcupine: the verdict cannot change, and a key can take exponential time).
    pub all_keys: bool,
}

impl Options {
    pub fn new(model: ModelOptions) -> Options {
        Options { model, time_limit: None, memory_limit: 768 << 20, threads: 0, explain_keys: 10, all_keys: false }
    }
}

/// Which algorithm decided a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Zones,
    Search,
}

#[derive(Clone, Debug, Serialize)]
pub struct KeyResult {
    /// `None` for a history without keys.
    pub key: Option<Value>,
    pub verdict: Verdict,
    /// Operations the key's check used (after dropping those that constrain nothing).
    pub operations: usize,
    pub method: Method,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown_cause: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anomaly: Option<Anomaly>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Analysis {
    pub verdict: Verdict,
    pub model: String,
    pub cas_fail: String,
    pub keys: usize,
    pub valid_keys: usize,
    /// Keys that are invalid or unknown, with their anomalies.
    pub problems: Vec<KeyResult>,
    pub operations: usize,
    pub elapsed_ms: f64,
}

/// Checks a history for linearizability.
pub fn check(history: &History, opts: &Options) -> Result<Analysis, Error> {
    let started = Instant::now();
    let partitions = partition(history);
    let budget = Budget::new(opts.time_limit.map(|t| started + t), opts.memory_limit);
    // Prepare every key first, so that bad input is reported before any time is spent searching.
    let problems: Vec<Prepared> = partitions
        .iter()
        .map(|(key, ids)| {
            Ok(match opts.model.kind {
                ModelKind::Register | ModelKind::CasRegister => {
                    Prepared::Register(key.clone(), model::prepare_register(history, ids, &opts.model)?)
                }
                ModelKind::Kv => Prepared::Kv(key.clone(), model::prepare_kv(history, ids, &opts.model)?),
            })
        })
        .collect::<Result<_, Error>>()?;

    // Largest keys first, so that one big key does not start last and finish alone.
    let mut order: Vec<usize> = (0..problems.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(problems[i].len()));
    let threads = match opts.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .min(order.len().max(1));
    let next = AtomicUsize::new(0);
    let explained = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(&p) = order.get(i) else { break };
            // Once the verdict is known, only the cheap zone check still runs: a search may take exponential
            // time to add nothing to the verdict.
            let result = if budget.cancelled.load(Ordering::Relaxed) && problems[p].method() == Method::Search {
                problems[p].undecided(Limit::Cancelled, &budget)
            } else {
                problems[p].check(history, &budget, &explained, opts.explain_keys)
            };
            if result.verdict == Verdict::Invalid && !opts.all_keys {
                budget.cancelled.store(true, Ordering::Relaxed);
            }
            done.push((p, result));
        }
        done
    };
    let mut results: Vec<(usize, KeyResult)> = if threads <= 1 {
        work()
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads).map(|_| scope.spawn(work)).collect();
            handles.into_iter().flat_map(|h| h.join().expect("checker thread panicked")).collect()
        })
    };
    results.sort_by_key(|(p, _)| *p);
    let keys = results.len();
    let verdict = results.iter().map(|(_, r)| r.verdict).max().unwrap_or(Verdict::Valid);
    let valid_keys = results.iter().filter(|(_, r)| r.verdict == Verdict::Valid).count();
    let operations = results.iter().map(|(_, r)| r.operations).sum();
    let problems = results.into_iter().map(|(_, r)| r).filter(|r| r.verdict != Verdict::Valid).collect();
    Ok(Analysis {
        verdict,
        model: opts.model.kind.to_string(),
        cas_fail: opts.model.cas_fail.to_string(),
        keys,
        valid_keys,
        problems,
        operations,
        elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
    })
}

/// Client operations grouped by key, keys in order of first appearance.
pub fn partition(history: &History) -> Vec<(Option<Value>, Vec<usize>)> {
    let mut index: FxHashMap<Option<&Value>, usize> = FxHashMap::default();
    let mut parts: Vec<(Option<Value>, Vec<usize>)> = Vec::new();
    for (id, op) in history.operations.iter().enumerate() {
        let key = history.invocation(op).key.as_ref();
        let p = *index.entry(key).or_insert_with(|| {
            parts.push((key.cloned(), Vec::new()));
            parts.len() - 1
        });
        parts[p].1.push(id);
    }
    parts
}

enum Prepared {
    Register(Option<Value>, Problem<RegisterModel>),
    Kv(Option<Value>, Problem<model::KvModel>),
}

impl Prepared {
    fn len(&self) -> usize {
        match self {
            Prepared::Register(_, p) => p.entries.len(),
            Prepared::Kv(_, p) => p.entries.len(),
        }
    }

    fn method(&self) -> Method {
        match self {
            Prepared::Register(_, p) if zones::applies(&p.model, &p.entries) => Method::Zones,
            _ => Method::Search,
        }
    }

    fn undecided(&self, limit: Limit, budget: &Budget) -> KeyResult {
        let key = match self {
            Prepared::Register(key, _) | Prepared::Kv(key, _) => key,
        };
        KeyResult {
            key: key.clone(),
            verdict: Verdict::Unknown,
            operations: self.len(),
            method: self.method(),
            unknown_cause: Some(limit_cause(limit, budget)),
            anomaly: None,
        }
    }

    fn check(&self, history: &History, budget: &Budget, explained: &AtomicUsize, explain_keys: usize) -> KeyResult {
        match self {
            Prepared::Register(key, p) => {
                let decide =
                    |entries: &[Entry<model::RegisterOp>], budget: &Budget| decide_register(&p.model, entries, budget);
                check_key(history, key, p, budget, explained, explain_keys, &decide)
            }
            Prepared::Kv(key, p) => {
                let decide = |entries: &[Entry<model::KvOp>], budget: &Budget| {
                    (search::search(&p.model, entries, budget), Method::Search)
                };
                check_key(history, key, p, budget, explained, explain_keys, &decide)
            }
        }
    }
}

/// Decides one set of register operations: by zones where values are unique, by search otherwise.
pub(crate) fn decide_register(
    model: &RegisterModel,
    entries: &[Entry<model::RegisterOp>],
    budget: &Budget,
) -> (Outcome, Method) {
    if zones::applies(model, entries) {
        (zones::outcome(model, entries).0, Method::Zones)
    } else {
        (search::search(model, entries, budget), Method::Search)
    }
}

/// A function that decides a set of one key's operations.
pub(crate) type Decide<'a, Op> = dyn Fn(&[Entry<Op>], &Budget) -> (Outcome, Method) + Sync + 'a;

#[allow(clippy::too_many_arguments)]
fn check_key<M: Model>(
    history: &History,
    key: &Option<Value>,
    problem: &Problem<M>,
    budget: &Budget,
    explained: &AtomicUsize,
    explain_keys: usize,
    decide: &Decide<'_, M::Op>,
) -> KeyResult {
    let (outcome, method) = decide(&problem.entries, budget);
    let mut result = KeyResult {
        key: key.clone(),
        verdict: Verdict::Valid,
        operations: problem.entries.len(),
        method,
        unknown_cause: None,
        anomaly: None,
    };
    match outcome {
        Outcome::Linearizable(_) => {}
        Outcome::Unknown(limit) => {
            result.verdict = Verdict::Unknown;
            result.unknown_cause = Some(limit_cause(limit, budget));
        }
        Outcome::NotLinearizable => {
            result.verdict = Verdict::Invalid;
            if explained.fetch_add(1, Ordering::Relaxed) < explain_keys {
                result.anomaly = explain::explain(history, key, problem, budget, decide);
            }
        }
    }
    result
}

fn limit_cause(limit: Limit, budget: &Budget) -> String {
    match limit {
        Limit::Time => "the time limit was reached before the search decided this key".to_string(),
        Limit::Memory => format!(
            "the search's memo tables reached the memory limit of {} MiB before it decided this key",
            budget.memory_limit >> 20
        ),
        Limit::Cancelled => {
            "not decided: another key already made the history invalid (--all-keys decides every key)".to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::jsonl;
    use crate::model::ModelKind;

    /// 2 × 12 concurrent indeterminate writes (values repeat, so the zone check does not apply), then a read
    /// of a value nobody wrote: the search must try every subset and order of the writes before it can say no.
    fn exponential() -> History {
        let mut text = String::new();
        for p in 0..24 {
            text.push_str(&format!("{{\"type\":\"invoke\",\"process\":{p},\"f\":\"write\",\"value\":{}}}\n", p % 12));
        }
        text.push_str("{\"type\":\"invoke\",\"process\":99,\"f\":\"read\"}\n{\"type\":\"ok\",\"process\":99,\"f\":\"read\",\"value\":-1}\n");
        jsonl::parse("exponential", &text).unwrap()
    }

    #[test]
    fn memory_bound_gives_unknown_with_the_cause() {
        let opts = Options { memory_limit: 1 << 20, ..Options::new(ModelOptions::new(ModelKind::Register)) };
        let a = check(&exponential(), &opts).unwrap();
        assert_eq!(a.verdict, Verdict::Unknown);
        assert!(a.problems[0].unknown_cause.as_deref().unwrap().contains("memory limit of 1 MiB"));
    }

    #[test]
    fn time_bound_gives_unknown_with_the_cause() {
        let opts = Options {
            time_limit: Some(Duration::from_millis(50)),
            ..Options::new(ModelOptions::new(ModelKind::Register))
        };
        let started = Instant::now();
        let a = check(&exponential(), &opts).unwrap();
        assert_eq!(a.verdict, Verdict::Unknown);
        assert!(a.problems[0].unknown_cause.as_deref().unwrap().contains("time limit"));
        assert!(started.elapsed() < Duration::from_secs(5), "the limit was not respected: {:?}", started.elapsed());
    }

    #[test]
    fn a_cas_that_was_never_sent_observes_nothing() {
        let text = |error: &str| {
            format!(
                "{{\"type\":\"invoke\",\"process\":0,\"f\":\"cas\",\"value\":[1,2]}}\n\
                 {{\"type\":\"fail\",\"process\":0,\"f\":\"cas\",\"value\":[1,2]{error}}}\n"
            )
        };
        let opts = Options::new(ModelOptions { initial: Value::Int(1), ..ModelOptions::new(ModelKind::CasRegister) });
        // The register holds 1, so a cas from 1 that failed its comparison is impossible...
        let observed = jsonl::parse("h", &text(",\"error\":\"cas-mismatch\"")).unwrap();
        assert_eq!(check(&observed, &opts).unwrap().verdict, Verdict::Invalid);
        // ...but one whose connection was refused never compared anything.
        let refused = jsonl::parse("h", &text(",\"error\":\"not-sent: connection refused\"")).unwrap();
        assert_eq!(check(&refused, &opts).unwrap().verdict, Verdict::Valid);
        // ...nor one the store refused to perform (no quorum).
        let unavailable = jsonl::parse("h", &text(",\"error\":\"not-applied: unavailable\"")).unwrap();
        assert_eq!(check(&unavailable, &opts).unwrap().verdict, Verdict::Valid);
    }

    #[test]
    fn keys_are_checked_independently_and_reported_by_key() {
        let text = r#"{"type":"invoke","process":0,"f":"write","key":"a","value":1}
{"type":"ok","process":0,"f":"write","key":"a","value":1}
{"type":"invoke","process":1,"f":"read","key":"b"}
{"type":"ok","process":1,"f":"read","key":"b","value":1}
{"type":"invoke","process":2,"f":"read","key":"a"}
{"type":"ok","process":2,"f":"read","key":"a","value":1}
"#;
        let a =
            check(&jsonl::parse("keys", text).unwrap(), &Options::new(ModelOptions::new(ModelKind::Register))).unwrap();
        assert_eq!((a.verdict, a.keys, a.valid_keys), (Verdict::Invalid, 2, 1));
        assert_eq!(a.problems[0].key, Some(Value::str("b")));
        let anomaly = a.problems[0].anomaly.as_ref().unwrap();
        assert_eq!(anomaly.culprit.invoke_line, 3);
        assert_eq!(anomaly.possible_states, vec!["null".to_string()]);
    }
}
