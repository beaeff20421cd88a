//! Linearizability: does every operation appear to take effect atomically at one instant between its
//! invocation and its completion, in an order the model allows?
//!
//! The history is split per key (P-compositionality: a map is linearizable iff every key is) and the keys
//! are checked in parallel. A register key whose writes all write distinct values is decided by the
//! polynomial zone check ([`zones`]), a kv key whose puts and appends all write distinct strings by the
//! structural check ([`appends`]); any other by the general search ([`search`]). The verdict comes first:
//! once every key is decided (or one is invalid and the others are cancelled), [`explain`] finds, for the
//! keys that are not linearizable and within a time budget proportional to the check's own, the longest
//! linearizable prefix, a minimal counterexample, and says in words why it has no linearization.

pub mod appends;
pub mod explain;
pub mod search;
pub mod zones;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::budget::{Budget, Limit};
use crate::error::Error;
use crate::history::History;
use crate::model::{self, Entry, ModelKind, ModelOptions, Problem, RegisterModel};
use crate::value::Value;
use crate::verdict::Verdict;
pub use explain::Anomaly;
pub use search::Outcome;

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
    /// The least time explaining may take after the verdict (shared by the keys explained); the budget is
    /// the larger of this and [`EXPLAIN_FACTOR`] times the time the verdict took. Past it the explanation
    /// is the best found so far: still a counterexample, perhaps not a minimal one.
    pub explain_time: Duration,
    /// Decide every key by the general search, even where a polynomial check (zones, appends) applies: a
    /// second opinion on them, as the tests take it, at the search's cost.
    pub search_only: bool,
}

/// How many times the verdict's own time explaining may take, at least [`Options::explain_time`].
pub const EXPLAIN_FACTOR: u32 = 10;

/// The default [`Options::explain_time`]: enough for the explanation of a small history to finish.
pub const EXPLAIN_TIME: Duration = Duration::from_millis(50);

impl Options {
    pub fn new(model: ModelOptions) -> Options {
        Options {
            model,
            time_limit: None,
            memory_limit: 768 << 20,
            threads: 0,
            explain_keys: 10,
            all_keys: false,
            explain_time: EXPLAIN_TIME,
            search_only: false,
        }
    }
}

/// Which algorithm decided a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Zones,
    Appends,
    Search,
}

/// How the cause of a key left undecided begins: its search was not started or was stopped because another
/// key had already made the history invalid (a choice, not a failure to decide: `--all-keys` decides it).
pub const LEFT_UNDECIDED: &str = "not decided";

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

impl KeyResult {
    /// Left undecided because another key already made the history invalid ([`LEFT_UNDECIDED`]).
    pub fn left_undecided(&self) -> bool {
        self.verdict == Verdict::Unknown && self.unknown_cause.as_deref().is_some_and(|c| c.starts_with(LEFT_UNDECIDED))
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Analysis {
    pub verdict: Verdict,
    pub model: String,
    pub cas_fail: String,
    /// How an ok read of nil was read (`absent` or `any`).
    pub nil_read: String,
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
    let threads = opts.threads;

    // The verdict. Keys the polynomial checks decide go first, on this thread unless there are enough of
    // them to pay for starting threads; then the searches, in parallel, largest first so that one big key
    // does not start last and finish alone.
    let methods: Vec<Method> =
        problems.iter().map(|p| if opts.search_only { Method::Search } else { p.method() }).collect();
    let (mut cheap, mut searched): (Vec<usize>, Vec<usize>) =
        (0..problems.len()).partition(|&p| methods[p] != Method::Search);
    cheap.sort_by_key(|&i| std::cmp::Reverse(problems[i].len()));
    searched.sort_by_key(|&i| std::cmp::Reverse(problems[i].len()));
    let decide = |p: usize| {
        // Once the verdict is known, only the polynomial checks still run: a search may take exponential
        // time to add nothing to the verdict.
        let result = if budget.cancelled.load(Ordering::Relaxed) && methods[p] == Method::Search {
            (problems[p].undecided(methods[p], Limit::Cancelled, &budget), None)
        } else {
            problems[p].decide(&budget, opts.search_only)
        };
        if result.0.verdict == Verdict::Invalid && !opts.all_keys {
            budget.cancelled.store(true, Ordering::Relaxed);
        }
        result
    };
    let cheap_ops: usize = cheap.iter().map(|&p| problems[p].len()).sum();
    let cheap_threads = if cheap_ops < PARALLEL_OPS { 1 } else { threads };
    let mut results = parallel(cheap_threads, &cheap, decide);
    results.extend(parallel(threads, &searched, decide));
    results.sort_by_key(|(p, _)| *p);

    // The explanations, within a budget proportional to the verdict's time.
    let decided = started.elapsed();
    let deadline = Instant::now() + (decided * EXPLAIN_FACTOR).max(opts.explain_time);
    let deadline = budget.deadline.map_or(deadline, |d| d.min(deadline));
    let invalid: Vec<(usize, Option<u32>)> = results
        .iter()
        .filter(|(_, (r, _))| r.verdict == Verdict::Invalid)
        .map(|&(p, (_, first_bad))| (p, first_bad))
        .take(opts.explain_keys)
        .collect();
    let order: Vec<usize> = (0..invalid.len()).collect();
    let explain_threads = if decided < PARALLEL_EXPLAIN { 1 } else { threads };
    let anomalies = parallel(explain_threads, &order, |k| {
        let (p, first_bad) = invalid[k];
        problems[p].explain(history, first_bad, deadline, opts.memory_limit)
    });
    let mut results: Vec<(usize, KeyResult)> = results.into_iter().map(|(p, (r, _))| (p, r)).collect();
    for (k, anomaly) in anomalies {
        let p = invalid[k].0;
        let at = results.binary_search_by_key(&p, |(q, _)| *q).expect("an explained key was decided");
        results[at].1.anomaly = anomaly;
    }

    let keys = results.len();
    let verdict = results.iter().map(|(_, r)| r.verdict).max().unwrap_or(Verdict::Valid);
    let valid_keys = results.iter().filter(|(_, r)| r.verdict == Verdict::Valid).count();
    let operations = results.iter().map(|(_, r)| r.operations).sum();
    let problems = results.into_iter().map(|(_, r)| r).filter(|r| r.verdict != Verdict::Valid).collect();
    Ok(Analysis {
        verdict,
        model: opts.model.kind.to_string(),
        cas_fail: opts.model.cas_fail.to_string(),
        nil_read: opts.model.nil_read.to_string(),
        keys,
        valid_keys,
        problems,
        operations,
        elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
    })
}

/// How many operations the polynomial checks must have before they are spread over threads: below it,
/// starting and scheduling a thread (tens of microseconds, much more on a busy machine) costs more than the
/// check (about a microsecond per operation).
const PARALLEL_OPS: usize = 50_000;

/// The machine's cores, looked up once per process and only where there is more than one item to share:
/// `available_parallelism` reads the cgroup's CPU quota, which here costs about 0.4 ms, more than the whole
/// check of a small single-key history.
fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// How long the verdict must have taken before the explanations are spread over threads. Explaining costs
/// about as much as deciding, several times over; below this, a thread's start and a second allocator
/// arena cost more than they share: on this project's 2-core machine, shared with other work, the Porcupine
/// kv logs whose 3 and 10 invalid keys were explained on two threads (verdicts in 0.2 and 1.2 ms) took
/// 0.4-10 ms longer than on one in each of four runs of scripts/bench-porcupine.sh.
const PARALLEL_EXPLAIN: Duration = Duration::from_millis(20);

/// `work` on every item, by this thread and up to `threads - 1` more (0: one per core), each taking the next
/// item as it finishes one; the results with their items, in no particular order.
fn parallel<T: Send>(threads: usize, items: &[usize], work: impl Fn(usize) -> T + Sync) -> Vec<(usize, T)> {
    let next = AtomicUsize::new(0);
    let worker = || {
        let mut done = Vec::new();
        while let Some(&p) = items.get(next.fetch_add(1, Ordering::Relaxed)) {
            done.push((p, work(p)));
        }
        done
    };
    let helpers = match items.len() {
        0 | 1 => 0,
        n => (if threads == 0 { cores() } else { threads }).min(n) - 1,
    };
    if helpers == 0 {
        return worker();
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..helpers).map(|_| scope.spawn(worker)).collect();
        let mut done = worker();
        for h in handles {
            done.extend(h.join().expect("checker thread panicked"));
        }
        done
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
    fn key(&self) -> &Option<Value> {
        match self {
            Prepared::Register(key, _) | Prepared::Kv(key, _) => key,
        }
    }

    fn len(&self) -> usize {
        match self {
            Prepared::Register(_, p) => p.entries.len(),
            Prepared::Kv(_, p) => p.entries.len(),
        }
    }

    fn method(&self) -> Method {
        match self {
            Prepared::Register(_, p) if zones::applies(&p.model, &p.entries) => Method::Zones,
            Prepared::Kv(_, p) if appends::applies(&p.model, &p.entries) => Method::Appends,
            _ => Method::Search,
        }
    }

    fn undecided(&self, method: Method, limit: Limit, budget: &Budget) -> KeyResult {
        KeyResult {
            key: self.key().clone(),
            verdict: Verdict::Unknown,
            operations: self.len(),
            method,
            unknown_cause: Some(limit_cause(limit, budget)),
            anomaly: None,
        }
    }

    /// The key's result, and for one the search found not linearizable, its first bad event.
    fn decide(&self, budget: &Budget, search_only: bool) -> (KeyResult, Option<u32>) {
        let decision = match self {
            Prepared::Register(_, p) if search_only => Decision::searched(&p.model, &p.entries, budget),
            Prepared::Kv(_, p) if search_only => Decision::searched(&p.model, &p.entries, budget),
            Prepared::Register(_, p) => decide_register(&p.model, &p.entries, budget),
            Prepared::Kv(_, p) => decide_kv(&p.model, &p.entries, budget),
        };
        let mut result = KeyResult {
            key: self.key().clone(),
            verdict: Verdict::Valid,
            operations: self.len(),
            method: decision.method,
            unknown_cause: None,
            anomaly: None,
        };
        match decision.outcome {
            Outcome::Linearizable(_) => {}
            Outcome::Unknown(limit) => {
                result.verdict = Verdict::Unknown;
                result.unknown_cause = Some(limit_cause(limit, budget));
            }
            Outcome::NotLinearizable => result.verdict = Verdict::Invalid,
        }
        (result, decision.first_bad)
    }

    /// The anomaly of a key found not linearizable, explained by `deadline`.
    fn explain(
        &self,
        history: &History,
        first_bad: Option<u32>,
        deadline: Instant,
        memory_limit: usize,
    ) -> Option<Anomaly> {
        let budget = Budget::new(Some(deadline), memory_limit);
        match self {
            Prepared::Register(key, p) => {
                let decide =
                    |entries: &[Entry<model::RegisterOp>], budget: &Budget| decide_register(&p.model, entries, budget);
                explain::explain(history, key, p, first_bad, &budget, &decide)
            }
            Prepared::Kv(key, p) => {
                let decide = |entries: &[Entry<model::KvOp>], budget: &Budget| decide_kv(&p.model, entries, budget);
                explain::explain(history, key, p, first_bad, &budget, &decide)
            }
        }
    }
}

/// What deciding one set of a key's operations found.
pub(crate) struct Decision {
    pub outcome: Outcome,
    pub method: Method,
    /// For a polynomial check's violation: operations (indices into the entries) that are not linearizable
    /// on their own and whose removal from the rest was sound, for the explanation to start from.
    pub witness: Option<Vec<u32>>,
    /// For the search's: the first bad event (see [`search::search_with_frontier`]).
    pub first_bad: Option<u32>,
}

impl Decision {
    fn searched<M: model::Model>(model: &M, entries: &[Entry<M::Op>], budget: &Budget) -> Decision {
        let (outcome, first_bad) = search::search_with_frontier(model, entries, budget);
        Decision { outcome, method: Method::Search, witness: None, first_bad }
    }
}

/// Decides one set of register operations: by zones where values are unique, by search otherwise.
pub(crate) fn decide_register(
    model: &RegisterModel,
    entries: &[Entry<model::RegisterOp>],
    budget: &Budget,
) -> Decision {
    if zones::applies(model, entries) {
        let (outcome, violation) = zones::outcome(model, entries);
        Decision { outcome, method: Method::Zones, witness: violation.map(|v| v.entries()), first_bad: None }
    } else {
        Decision::searched(model, entries, budget)
    }
}

/// Decides one set of kv operations: by their structure where appended strings tell which appends a get
/// saw, by search otherwise (and where the structure finds a violation only under its own choice of
/// writers for a repeated string).
pub(crate) fn decide_kv(model: &model::KvModel, entries: &[Entry<model::KvOp>], budget: &Budget) -> Decision {
    let decision = |outcome, witness| Decision { outcome, method: Method::Appends, witness, first_bad: None };
    match appends::check(model, entries) {
        Some(appends::Structure::Linearizable) => decision(Outcome::Linearizable(Vec::new()), None),
        Some(appends::Structure::NotLinearizable(ops)) => decision(Outcome::NotLinearizable, Some(ops)),
        Some(appends::Structure::Unconfirmed(_)) | None => Decision::searched(model, entries, budget),
    }
}

/// A function that decides a set of one key's operations.
pub(crate) type Decide<'a, Op> = dyn Fn(&[Entry<Op>], &Budget) -> Decision + Sync + 'a;

fn limit_cause(limit: Limit, budget: &Budget) -> String {
    match limit {
        Limit::Time => "the time limit was reached before the search decided this key".to_string(),
        Limit::Memory => format!(
            "the search's memo tables reached the memory limit of {} MiB before it decided this key",
            budget.memory_limit >> 20
        ),
        Limit::Cancelled => {
            format!("{LEFT_UNDECIDED}: another key already made the history invalid (--all-keys decides every key)")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::jsonl;
    use crate::model::ModelKind;

    /// 2 × 12 concurrent writes (values repeat, so the zone check does not apply) that all complete, then a
    /// read of a value nobody wrote: the search must try every subset of the writes with every last value
    /// before it can say no. (Indeterminate writes would not do: a set of them that ends in a state already
    /// reached with fewer is pruned.)
    fn exponential() -> History {
        jsonl::parse("exponential", &exponential_lines("")).unwrap()
    }

    /// The lines of [`exponential`], with `key` (a JSON member with its comma, or nothing) on each.
    fn exponential_lines(key: &str) -> String {
        let mut text = String::new();
        for kind in ["invoke", "ok"] {
            for p in 0..24 {
                text.push_str(&format!(
                    "{{\"type\":\"{kind}\",\"process\":{p},\"f\":\"write\"{key},\"value\":{}}}\n",
                    p % 12
                ));
            }
        }
        text.push_str(&format!("{{\"type\":\"invoke\",\"process\":99,\"f\":\"read\"{key}}}\n"));
        text.push_str(&format!("{{\"type\":\"ok\",\"process\":99,\"f\":\"read\"{key},\"value\":-1}}\n"));
        text
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

    /// A key whose search would take exponential time is stopped as soon as another key, searched beside it,
    /// makes the history invalid: within a few of the search's cancellation checks, not at a limit.
    #[test]
    fn the_first_invalid_key_cancels_the_search_of_the_others() {
        // The history of `exponential`, under the key "slow".
        let mut text = exponential_lines(",\"key\":\"slow\"");
        // Values repeat, so this key too goes to the search, which finds no write of 2 at once.
        for (p, (kind, f, value)) in [
            ("invoke", "write", 1),
            ("ok", "write", 1),
            ("invoke", "write", 1),
            ("ok", "write", 1),
            ("invoke", "read", 0),
            ("ok", "read", 2),
        ]
        .into_iter()
        .enumerate()
        {
            let p = 100 + p / 2;
            text.push_str(&format!(
                "{{\"type\":\"{kind}\",\"process\":{p},\"f\":\"{f}\",\"key\":\"fast\",\"value\":{value}}}\n"
            ));
        }
        let history = jsonl::parse("two keys", &text).unwrap();
        let opts = Options {
            threads: 2,
            time_limit: Some(Duration::from_secs(30)),
            ..Options::new(ModelOptions::new(ModelKind::Register))
        };
        let started = Instant::now();
        let a = check(&history, &opts).unwrap();
        assert_eq!(a.verdict, Verdict::Invalid);
        let slow = a.problems.iter().find(|p| p.key == Some(Value::str("slow"))).unwrap();
        assert!(slow.left_undecided(), "{:?}", slow.unknown_cause);
        assert!(started.elapsed() < Duration::from_secs(5), "cancelled late: {:?}", started.elapsed());
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
