//! The consistency ladder: which of the usual consistency models a history satisfies, from the strongest
//! down, so that a report can say "this store is sequentially consistent but not linearizable" rather than
//! only "not linearizable".
//!
//! The models and their implications (each holds whenever one above it does):
//!
//! ```text
//! linearizable ⇒ sequential ⇒ causal convergence (CCv) ⇒ causal (CC) ⇒ read-your-writes, monotonic
//!                          ⇒ causal memory (CM)        ⇒              writes, writes-follow-reads
//!                            CCv, CM ⇒ monotonic reads
//! ```
//!
//! Every edge follows from the definitions (see [`crate::causal`] and [`crate::session`]), and the weak
//! oracle test checks each on random histories against brute force: weak causal consistency lets a process
//! read 1, then 2, then 1 again (each read's own serialization orders the two writes its own way), which
//! breaks monotonic reads, so only CM and CCv imply that one. A model implied by a stronger one that holds
//! is reported holding, "implied by" the strongest such model, and is not checked again. Eventual
//! consistency (thin-air reads, convergence of final reads, lost writes) is not implied by the others (it
//! is about the final reads, not the run) and is always checked.
//!
//! A checker that cannot decide (a time or memory limit, an input it cannot read) gives `unknown` with the
//! cause; the ladder goes on below it.

use std::time::{Duration, Instant};

use serde::Serialize;

pub use crate::causal::Status;
use crate::causal::{self, Variant};
use crate::eventual;
use crate::history::{History, Process};
use crate::linear;
use crate::model::ModelOptions;
use crate::sequential;
use crate::session::{self, Guarantee};
use crate::verdict::Verdict;

#[derive(Clone, Debug)]
pub struct Options {
    pub model: ModelOptions,
    /// Wall-clock limit for each checker that can take long (linearizability, sequential, causal memory).
    pub time_limit: Option<Duration>,
    pub memory_limit: usize,
    /// Worker threads for the linearizability checker; 0 means one per core.
    pub threads: usize,
    /// Decide every key's linearizability even after one has made the history invalid (`--all-keys`).
    pub all_keys: bool,
}

impl Options {
    pub fn new(model: ModelOptions) -> Options {
        Options { model, time_limit: None, memory_limit: 768 << 20, threads: 0, all_keys: false }
    }
}

/// The models of the ladder, strongest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    Linearizable,
    Sequential,
    CausalConvergence,
    CausalMemory,
    Causal,
    ReadYourWrites,
    MonotonicReads,
    MonotonicWrites,
    WritesFollowReads,
    Eventual,
}

impl Level {
    pub const ALL: [Level; 10] = [
        Level::Linearizable,
        Level::Sequential,
        Level::CausalConvergence,
        Level::CausalMemory,
        Level::Causal,
        Level::ReadYourWrites,
        Level::MonotonicReads,
        Level::MonotonicWrites,
        Level::WritesFollowReads,
        Level::Eventual,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Level::Linearizable => "linearizability",
            Level::Sequential => "sequential consistency",
            Level::CausalConvergence => "causal convergence (CCv)",
            Level::CausalMemory => "causal memory (CM)",
            Level::Causal => "causal consistency (CC)",
            Level::ReadYourWrites => "read-your-writes",
            Level::MonotonicReads => "monotonic reads",
            Level::MonotonicWrites => "monotonic writes",
            Level::WritesFollowReads => "writes-follow-reads",
            Level::Eventual => "eventual consistency",
        }
    }

    /// The models that directly imply this one.
    pub fn implied_by(self) -> &'static [Level] {
        match self {
            Level::Linearizable | Level::Eventual => &[],
            Level::Sequential => &[Level::Linearizable],
            Level::CausalConvergence | Level::CausalMemory => &[Level::Sequential],
            Level::Causal => &[Level::CausalConvergence, Level::CausalMemory],
            // A process may read 1, 2 and 1 again under weak causal consistency, not under CM or CCv.
            Level::MonotonicReads => &[Level::CausalConvergence, Level::CausalMemory],
            _ => &[Level::Causal],
        }
    }

    fn guarantee(self) -> Option<Guarantee> {
        match self {
            Level::ReadYourWrites => Some(Guarantee::ReadYourWrites),
            Level::MonotonicReads => Some(Guarantee::MonotonicReads),
            Level::MonotonicWrites => Some(Guarantee::MonotonicWrites),
            Level::WritesFollowReads => Some(Guarantee::WritesFollowReads),
            _ => None,
        }
    }

    fn variant(self) -> Option<Variant> {
        match self {
            Level::CausalConvergence => Some(Variant::CCv),
            Level::CausalMemory => Some(Variant::CM),
            Level::Causal => Some(Variant::CC),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Rung {
    pub level: Level,
    pub status: Status,
    /// Set when the model was not checked because a stronger one holds: the strongest such model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub implied_by: Option<Level>,
    /// One line: why it holds, or the cause of `unknown`, or how many anomalies.
    pub summary: String,
    /// For a violated model: its anomalies in plain words, with history line numbers (the first few).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub anomalies: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Ladder {
    pub rungs: Vec<Rung>,
    /// The first model of the ladder (strongest first, eventual last) that holds.
    pub strongest: Option<Level>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linear: Option<linear::Analysis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequential: Option<sequential::Analysis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub causal: Option<causal::Analysis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<session::Analysis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eventual: Option<eventual::Analysis>,
    pub elapsed_ms: f64,
}

impl Ladder {
    pub fn rung(&self, level: Level) -> &Rung {
        self.rungs.iter().find(|r| r.level == level).expect("every level has a rung")
    }
}

/// How many anomalies per model are carried into the ladder in words.
const WORDS: usize = 5;

fn rung(level: Level, status: Status, summary: String, anomalies: Vec<String>) -> Rung {
    Rung { level, status, implied_by: None, summary, anomalies }
}

fn unknown(level: Level, cause: String) -> Rung {
    rung(level, Status::Unknown, cause, vec![])
}

fn causal_check(
    history: &History,
    opts: &Options,
    cm_fixpoint: bool,
    view_hint: Option<Vec<u32>>,
) -> Result<causal::Analysis, String> {
    let co = causal::Options {
        time_limit: opts.time_limit,
        memory_limit: opts.memory_limit,
        cm_fixpoint,
        view_hint,
        ..causal::Options::new(opts.model.clone())
    };
    causal::check(history, &co).map_err(|e| e.to_string())
}

/// How many times [`view_hint`] takes more processes out, each time the rest is refuted again.
const VIEW_HINT_ATTEMPTS: usize = 3;

/// When cycles refuted sequential consistency: a sequential witness of the history less every process on
/// them, in the history's operation ids, if one exists; when the rest is refuted too, its cycles'
/// processes are taken out as well, a few times. A store that is sequentially consistent but for a few
/// processes (store buffering between two, a stale read) leaves causal memory's fixpoint a process for
/// every reader of stale values, and the witness serves each whose causal past it covers as a view (see
/// `causal::Options::view_hint`). A few more runs of the graph method, to spare the fixpoint seconds.
fn view_hint(history: &History, refuted: &sequential::Analysis, so: &sequential::Options) -> Option<Vec<u32>> {
    let mut out: rustc_hash::FxHashSet<u64> = rustc_hash::FxHashSet::default();
    let mut cycles = &refuted.cycles;
    let mut last;
    for _ in 0..VIEW_HINT_ATTEMPTS {
        if cycles.is_empty() {
            return None;
        }
        out.extend(cycles.iter().flat_map(|c| &c.edges).flat_map(|e| [e.from.process, e.to.process]));
        let kept = |p: &Process| !matches!(p, Process::Client(c) if out.contains(c));
        let events = history.events.iter().filter(|e| kept(&e.process)).cloned().collect();
        let rest = History::new(history.source.clone(), events).ok()?;
        // The graph method alone: a search that cannot decide would cost its whole time limit for nothing.
        last = sequential::check(&rest, &sequential::Options { search: false, ..so.clone() }).ok()?;
        if let Some(witness) = last.witness.as_ref().filter(|_| last.verdict == Verdict::Valid) {
            // The rest's operations are the history's of the processes kept, in the same order.
            let ids: Vec<u32> = (0..history.operations.len() as u32)
                .filter(|&id| !out.contains(&history.operations[id as usize].process))
                .collect();
            return Some(witness.iter().map(|&id| ids[id as usize]).collect());
        }
        if last.verdict != Verdict::Invalid {
            return None;
        }
        cycles = &last.cycles;
    }
    None
}

/// Whether an analysis left causal memory for its fixpoint, which was not run.
fn cm_deferred(a: &Result<causal::Analysis, String>) -> bool {
    a.as_ref()
        .is_ok_and(|a| a.cm.status == Status::Unknown && a.cm.unknown_cause.as_deref() == Some(causal::CM_DEFERRED))
}

/// Runs the ladder.
pub fn check(history: &History, opts: &Options) -> Ladder {
    let started = Instant::now();
    let mut ladder = Ladder {
        rungs: Vec::new(),
        strongest: None,
        linear: None,
        sequential: None,
        causal: None,
        session: None,
        eventual: None,
        elapsed_ms: 0.0,
    };
    let mut causal_done: Option<Result<causal::Analysis, String>> = None;
    let mut session_done: Option<Result<session::Analysis, String>> = None;
    // A candidate view for causal memory's fixpoint, from the sequential rung (see `view_hint`).
    let mut cm_view_hint: Option<Vec<u32>> = None;
    for level in Level::ALL {
        // Implied by a stronger model that holds?
        let implied = level.implied_by().iter().find_map(|&parent| {
            let r = ladder.rungs.iter().find(|r| r.level == parent)?;
            (r.status == Status::Holds).then(|| r.implied_by.unwrap_or(parent))
        });
        if let Some(by) = implied {
            ladder.rungs.push(Rung {
                level,
                status: Status::Holds,
                implied_by: Some(by),
                summary: format!("holds: implied by {}", by.name()),
                anomalies: vec![],
            });
            continue;
        }
        let r = match level {
            Level::Linearizable => {
                let lo = linear::Options {
                    time_limit: opts.time_limit,
                    memory_limit: opts.memory_limit,
                    threads: opts.threads,
                    all_keys: opts.all_keys,
                    ..linear::Options::new(opts.model.clone())
                };
                match linear::check(history, &lo) {
                    Ok(a) => {
                        let r = linear_rung(&a);
                        ladder.linear = Some(a);
                        r
                    }
                    Err(e) => unknown(level, e.to_string()),
                }
            }
            Level::Sequential => {
                // A weaker model that is violated rules sequential consistency out without its search
                // (sequential implies CCv and CM, which imply CC): the causal checks are polynomial, the
                // search is not. Causal memory's fixpoint is left out here: it can cost more than the
                // graph method (seconds on a minute's pinned run), and sequential consistency, when it
                // holds, implies it.
                let causal = causal_done.get_or_insert_with(|| causal_check(history, opts, false, None));
                let weaker_violated =
                    [Level::Causal, Level::CausalMemory, Level::CausalConvergence].into_iter().find_map(|weaker| {
                        let a = causal.as_ref().ok()?;
                        let v = a.variant(weaker.variant()?);
                        (v.status == Status::Violated).then(|| (weaker, causal_rung(weaker, v)))
                    });
                if let Some((weaker, r)) = weaker_violated {
                    ladder.rungs.push(rung(
                        level,
                        Status::Violated,
                        format!("violated: {} is violated, and sequential consistency implies it", weaker.name()),
                        r.anomalies,
                    ));
                    continue;
                }
                let so = sequential::Options {
                    time_limit: opts.time_limit,
                    memory_limit: opts.memory_limit,
                    ..sequential::Options::new(opts.model.clone())
                };
                match sequential::check(history, &so) {
                    Ok(a) => {
                        let r = match a.verdict {
                            Verdict::Valid => rung(level, Status::Holds, "holds".into(), vec![]),
                            Verdict::Unknown => unknown(level, a.unknown_cause.clone().unwrap_or_default()),
                            Verdict::Invalid => rung(
                                level,
                                Status::Violated,
                                "violated: no single order of all operations respects every process's order".into(),
                                a.explanation.iter().cloned().collect(),
                            ),
                        };
                        if a.verdict == Verdict::Invalid && causal_done.as_ref().is_some_and(cm_deferred) {
                            cm_view_hint = view_hint(history, &a, &so);
                        }
                        ladder.sequential = Some(a);
                        if r.status == Status::Holds && causal_done.as_ref().is_some_and(cm_deferred) {
                            if let Some(Ok(c)) = causal_done.as_mut() {
                                // Implied: sequential consistency holds.
                                c.cm.status = Status::Holds;
                                c.cm.unknown_cause = None;
                            }
                        }
                        r
                    }
                    Err(e) => unknown(level, e.to_string()),
                }
            }
            Level::CausalConvergence | Level::CausalMemory | Level::Causal => {
                if causal_done.as_ref().is_some_and(cm_deferred) {
                    causal_done = None;
                }
                let done = causal_done.get_or_insert_with(|| causal_check(history, opts, true, cm_view_hint.take()));
                match done {
                    Ok(a) => causal_rung(level, a.variant(level.variant().expect("a causal level"))),
                    Err(e) => unknown(level, e.clone()),
                }
            }
            Level::Eventual => match eventual::check(history, &eventual::Options::new(opts.model.clone())) {
                Ok(a) => {
                    let mut words: Vec<String> = a.thin_air.iter().map(|t| t.explanation.clone()).collect();
                    words.extend(a.diverged.iter().map(|d| d.explanation.clone()));
                    words.extend(a.lost_writes.iter().map(|l| l.explanation.clone()));
                    words.truncate(WORDS);
                    let r = if a.verdict == Verdict::Valid {
                        rung(level, Status::Holds, "holds".to_string(), vec![])
                    } else if a.verdict == Verdict::Unknown && a.final_reads_tried > 0 {
                        let why = format!(
                            "unknown: the final reads were tried ({}) and none succeeded (convergence and lost \
                             writes not observed)",
                            a.final_reads_tried
                        );
                        unknown(level, why)
                    } else if a.verdict == Verdict::Unknown {
                        unknown(level, "unknown: no final reads (convergence and lost writes not observed)".into())
                    } else {
                        rung(
                            level,
                            Status::Violated,
                            format!(
                                "violated: {} thin-air reads, {} keys diverged, {} lost writes",
                                a.thin_air_count, a.diverged_count, a.lost_count
                            ),
                            words,
                        )
                    };
                    ladder.eventual = Some(a);
                    r
                }
                Err(e) => unknown(level, e.to_string()),
            },
            _ => {
                let g = level.guarantee().expect("a session guarantee");
                let done =
                    session_done.get_or_insert_with(|| session::check(history, &opts.model).map_err(|e| e.to_string()));
                match done {
                    Ok(a) => {
                        let res = a.result(g);
                        if res.holds {
                            rung(level, Status::Holds, "holds".into(), vec![])
                        } else if let Some(cause) = &res.unknown_cause {
                            unknown(level, cause.clone())
                        } else {
                            rung(
                                level,
                                Status::Violated,
                                format!(
                                    "violated: {} {}",
                                    res.violations,
                                    if res.violations == 1 { "violation" } else { "violations" }
                                ),
                                res.examples.iter().take(WORDS).map(|v| v.explanation.clone()).collect(),
                            )
                        }
                    }
                    Err(e) => unknown(level, e.clone()),
                }
            }
        };
        ladder.rungs.push(r);
    }
    ladder.causal = causal_done.and_then(Result::ok);
    ladder.session = session_done.and_then(Result::ok);
    ladder.strongest = ladder.rungs.iter().find(|r| r.status == Status::Holds).map(|r| r.level);
    ladder.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
    ladder
}

fn linear_rung(a: &linear::Analysis) -> Rung {
    let level = Level::Linearizable;
    match a.verdict {
        Verdict::Valid => rung(level, Status::Holds, "holds".into(), vec![]),
        Verdict::Unknown => {
            let causes: Vec<String> = a.problems.iter().filter_map(|p| p.unknown_cause.clone()).take(1).collect();
            unknown(level, causes.join("; "))
        }
        Verdict::Invalid => {
            let words = a
                .problems
                .iter()
                .filter(|p| p.verdict == Verdict::Invalid)
                .filter_map(|p| {
                    let an = p.anomaly.as_ref()?;
                    let key = p.key.as_ref().map_or(String::new(), |k| format!("key {k}: "));
                    Some(format!("{key}{}", an.explanation))
                })
                .take(WORDS)
                .collect();
            let bad = a.problems.iter().filter(|p| p.verdict == Verdict::Invalid).count();
            let verb = if bad == 1 { "is" } else { "are" };
            let keys = if a.keys == 1 { "key" } else { "keys" };
            rung(
                level,
                Status::Violated,
                format!("violated: {bad} of {} {keys} {verb} not linearizable", a.keys),
                words,
            )
        }
    }
}

fn causal_rung(level: Level, r: &causal::VariantResult) -> Rung {
    match r.status {
        Status::Holds => rung(level, Status::Holds, "holds".into(), vec![]),
        Status::Unknown => unknown(level, r.unknown_cause.clone().unwrap_or_default()),
        Status::Violated => {
            // Each kind once, in order of first appearance.
            let mut kinds: Vec<&str> = Vec::new();
            for a in &r.anomalies {
                if !kinds.contains(&anomaly_name(a.kind)) {
                    kinds.push(anomaly_name(a.kind));
                }
            }
            rung(
                level,
                Status::Violated,
                format!(
                    "violated: {} {} ({})",
                    r.anomaly_count,
                    if r.anomaly_count == 1 { "anomaly" } else { "anomalies" },
                    kinds.join(", ")
                ),
                r.anomalies
                    .iter()
                    .take(WORDS)
                    .map(|a| format!("{}: {}", anomaly_name(a.kind), a.explanation))
                    .collect(),
            )
        }
    }
}

/// A causal anomaly as Bouajjani et al. name its bad pattern, in words.
fn anomaly_name(kind: causal::AnomalyKind) -> &'static str {
    use causal::AnomalyKind::*;
    match kind {
        CyclicCO => "cyclic causal order",
        ThinAirRead => "thin-air read",
        WriteCOInitRead => "write-co-initial-read",
        WriteCORead => "write-co-read",
        WriteHBInitRead => "write-hb-initial-read",
        CyclicHB => "cyclic happens-before",
        CyclicCF => "cyclic conflict order",
    }
}
