//! Causal consistency, by the bad patterns of Bouajjani, Enea, Guerraoui and Hamza, "On verifying causal
//! consistency" (POPL 2017).
//!
//! Causal consistency has several variants that real stores mean when they say "causal"; a history can
//! satisfy one and not another, so each is reported on its own:
//!
//! - **CC** (weak causal consistency): every process sees the writes in an order that respects causality;
//!   two processes may disagree forever on the order of concurrent writes. Bad patterns: `CyclicCO`,
//!   `ThinAirRead`, `WriteCOInitRead`, `WriteCORead`.
//! - **CM** (causal memory, Ahamad et al.): as CC, and each process's successive views extend one another.
//!   Bad patterns: CC's, plus `WriteHBInitRead` and `CyclicHB`.
//! - **CCv** (causal convergence): as CC, and all processes agree on one arbitration order of conflicting
//!   writes, so replicas converge. Bad patterns: CC's, plus `CyclicCF`.
//!
//! The definitions (the paper's): over a causal order `co` containing program order `po` (each Jepsen
//! process's operations in order) and reads-from `rf` (the write each read read from), CC asks that every
//! operation's causal past have an order extending `co` in which it sees what it saw; CM, that the order
//! keep the results of every earlier operation of its process too; CCv, that one order of all operations do
//! it for every operation. The paper's theorem: for a *differentiated* history (every value written at most
//! once per key, so that `rf` is known and `co = (po ∪ rf)+`), a history satisfies a variant exactly when
//! it contains none of that variant's bad patterns. Where `rf` is not known (a value written twice, the
//! initial value written, a failed cas), each choice of it is a *world* (see [`crate::worlds`]), a
//! differentiated history of its own, and a variant holds when it holds in some world.
//!
//! How operations are read: a `fail` write never happened; an `info` write happened if some read observed
//! its value and is ignored otherwise (nothing could tell it apart from one that never happened); `fail` and
//! `info` reads observed nothing. A successful `cas [a, b]` is a read of `a` followed atomically by a write
//! of `b`; an `info` cas is included (as both) when `b` was observed. A cas that failed its comparison
//! (`--cas-fail observe`, unless its error says it never reached the store) wrote nothing and observed a
//! value other than `a`: a read whose possible sources are the other values' writes and, if it is not `a`,
//! the initial value. Under `--cas-fail drop` it is ignored.
//!
//! Algorithms and cost, for n operations, P process ids, W writers of a key:
//!
//! - `co` is acyclic iff `po ∪ rf` is (Kahn's algorithm, O(n)). Along a topological order every operation
//!   gets a vector clock of its strict causal past (the last operation of each process it depends on); a
//!   causal past is closed under program order, so this represents it exactly. The clocks are stored as
//!   copy-on-write chunks shared between operations (see `Clocks`): O(n·P) time at worst, and memory that
//!   grows with what operations learn, not with n·P (every indeterminate write retires a process, so P grows
//!   with the run: 97 MiB instead of 9 GiB for 1M operations of 2,410 processes). Past
//!   [`Options::memory_limit`], every variant is `unknown`.
//! - `WriteCORead` / `WriteCOInitRead`: for a read of key k, the writes of k in its causal past are, per
//!   process, a prefix of that process's writes of k, so only the last one per process needs testing, and
//!   only for the processes of which the read's past holds more than the past of the write it read (found by
//!   comparing the two clocks, chunk by chunk). O(n·P) at worst, O(n·W·log n) for initial reads.
//! - `CyclicCF`: conflict edges `w1 → w2` (a read of `w2` has `w1` in its causal past) reduced to the last
//!   write per process, then Kahn again, with the same restriction. O(n·W).
//! - `CM`: for each process, the happens-before `hb` of its last operation (the largest one; `hb` only grows
//!   along program order). Most processes are settled without it, in two steps that are each sound on their
//!   own: a process none of whose reads forced an order between concurrent writes (a conflict edge, found by
//!   CC's scan) has `hb` = causal order, and satisfies CM once CC holds; a process for which one shared
//!   order of the whole history (causal order, conflict edges, overlapping writes as later reads ordered
//!   them, else real time), restricted to the causal past of its last operation, is a valid view satisfies
//!   CM by definition (see [`cm::served_by_view`]): one binary search per read, and as many vector-clock
//!   lookups as there are writes of its key between the write it read and itself in that order; then the
//!   same with the order a caller may give ([`Options::view_hint`]: the ladder gives a sequential witness
//!   of the history less the processes of the cycles that refuted sequential consistency). The
//!   processes left (those of a store that is not nearly linearizable) get the exact fixpoint over vector
//!   clocks: its extra edges all end at writes the process read, so it suffices to keep a clock per such
//!   write. O(iterations·reads·W·P²) in the worst case, bounded by [`Options::time_limit`]. Where dense
//!   clocks of every operation would not fit in [`Options::memory_limit`] (many processes), the fixpoint
//!   runs only if a round of it stays under a fixed amount of work (`CM_WORK_LIMIT`), and is `unknown`
//!   otherwise: it joins dense per-process vectors.
//!
//! Reporting: each variant lists CC's anomalies when there are any (they violate CM and CCv too), and only
//! otherwise its own: CCv one conflict cycle, CM at most one anomaly per process. Measured (see the
//! crate's bench): 1M operations of 2,410 processes (issue 14's stale-read history): CC, CM and CCv all
//! decided in about 1.3 s on one core, CM with no process left to the fixpoint.

mod ccv;
mod checker;
mod clocks;
mod cm;
mod graph;
pub(crate) mod parse;
mod types;

use std::time::Instant;

use crate::error::Error;
use crate::history::History;
use crate::worlds;
use ccv::{check_ccv, Conflicts};
use checker::Checker;
use clocks::{Clocks, CHUNK};
use cm::{check_cm, cm_work, hinted_order, served_by_view, view_order, CM_WORK_LIMIT};
use graph::{build, co_preds, find_cycle, topological, Src};
pub(crate) use parse::{parse, parse_observing, Meaning, Parsed, Source};
pub use types::{Analysis, Anomaly, AnomalyKind, Options, Status, Variant, VariantResult, CM_DEFERRED};

/// Checks a history for CC, CM and CCv: in its one world where every observation names its source, else
/// in every world while they are few (a model holds if it holds in some world), else in the likeliest world
/// and the one without the ambiguous observations (see [`crate::worlds`]).
pub fn check(history: &History, opts: &Options) -> Result<Analysis, Error> {
    let started = Instant::now();
    let parsed = parse_observing(history, &opts.model)?;
    let sources = worlds::sources(history, &parsed, &opts.model.initial);
    let first = check_world(history, &parsed, &sources.world(0), opts, started)?;
    if sources.ambiguous() == 0 {
        return Ok(first);
    }
    let mut best = first;
    let settled = |a: &Analysis| [&a.cc, &a.cm, &a.ccv].iter().all(|r| r.status == Status::Holds);
    // A variant's result in another world replaces the first world's where it is better: holds over unknown
    // over violated.
    let rank = |s: Status| match s {
        Status::Holds => 2,
        Status::Unknown => 1,
        Status::Violated => 0,
    };
    let merge = |best: &mut Analysis, other: Analysis| {
        for (b, o) in [(&mut best.cc, other.cc), (&mut best.cm, other.cm), (&mut best.ccv, other.ccv)] {
            if rank(o.status) > rank(b.status) {
                *b = o;
            }
        }
    };
    let operations = history.operations.len();
    if worlds::exact(sources.worlds, operations) {
        for n in 1..sources.worlds {
            if settled(&best) {
                break;
            }
            let other = check_world(history, &parsed, &sources.world(n), opts, started)?;
            merge(&mut best, other);
        }
        for r in [&mut best.cc, &mut best.cm, &mut best.ccv] {
            if r.status == Status::Violated {
                let note = format!(
                    " (The history can be read in {} ways, its repeated values or failed cas having more than \
                     one possible source; this is one of them, and every one is violated.)",
                    sources.worlds
                );
                r.anomalies.iter_mut().for_each(|a| a.explanation.push_str(&note));
            }
        }
    } else if !settled(&best) {
        let other = check_world(history, &parsed, &sources.second_guess(), opts, started)?;
        merge(&mut best, other);
        // Leaving the ambiguous observations out can only drop constraints: what it violates, every world does.
        let relaxed = check_world(history, &parsed, &sources.relaxed(), opts, started)?;
        let cause = worlds::beyond_cause(sources.ambiguous(), sources.worlds, operations);
        for (b, r) in [(&mut best.cc, relaxed.cc), (&mut best.cm, relaxed.cm), (&mut best.ccv, relaxed.ccv)] {
            if b.status == Status::Holds {
                continue;
            }
            if r.status == Status::Violated {
                *b = r;
            } else {
                *b = VariantResult {
                    variant: b.variant,
                    status: Status::Unknown,
                    anomalies: vec![],
                    anomaly_count: 0,
                    unknown_cause: Some(b.unknown_cause.clone().unwrap_or_else(|| cause.clone())),
                };
            }
        }
    }
    best.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
    Ok(best)
}

/// Checks one world of a history (`world[id]`: operation `id`'s source, see [`build`]).
fn check_world(
    history: &History,
    parsed: &Parsed,
    world: &[Option<Source>],
    opts: &Options,
    started: Instant,
) -> Result<Analysis, Error> {
    let g = build(history, parsed, world);
    let n = g.nodes.len();
    let processes = g.slots;
    let result = |variant, status, anomalies: Vec<Anomaly>, count, cause: Option<String>| VariantResult {
        variant,
        status,
        anomalies,
        anomaly_count: count,
        unknown_cause: cause,
    };
    let finish = |cc: VariantResult, cm: VariantResult, ccv: VariantResult| Analysis {
        cc,
        cm,
        ccv,
        operations: n,
        processes,
        fixpoint_processes: 0,
        elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
    };
    let (order, done) = topological(n, &|v, out| co_preds(&g, v, out));
    let empty = Clocks { width: 1, row_of: vec![], rows: vec![0], chunks: vec![0; CHUNK] };
    let mut checker = Checker { history, parsed, g, clocks: empty, max: opts.max_anomalies };
    let mut cc: Vec<Anomaly> = Vec::new();
    let mut cc_count = 0;
    let push = |list: &mut Vec<Anomaly>, count: &mut usize, a: Anomaly, max: usize| {
        *count += 1;
        if list.len() < max {
            list.push(a);
        }
    };
    for v in 0..n as u32 {
        if checker.g.nodes[v as usize].read == Some(Src::ThinAir) {
            let a = checker.thin_air(v);
            push(&mut cc, &mut cc_count, a, checker.max);
        }
    }
    if order.len() < n {
        let cycle = find_cycle(n, &done, &|v, out| co_preds(&checker.g, v, out));
        let text = format!(
            "Causal order is cyclic: each operation below causally precedes the next, and the last precedes the \
             first, so some read returned a value that depends on its own future:{}",
            checker.cycle_text(&cycle, &|a, b| checker.edge_words(a, b))
        );
        let a = checker.anomaly(AnomalyKind::CyclicCO, &cycle, text);
        push(&mut cc, &mut cc_count, a, checker.max);
        let v = result(Variant::CC, Status::Violated, cc.clone(), cc_count, None);
        return Ok(finish(
            v.clone(),
            VariantResult { variant: Variant::CM, ..v.clone() },
            VariantResult { variant: Variant::CCv, ..v },
        ));
    }
    // Vector clocks of strict causal pasts, along the topological order.
    let Some(clocks) = Clocks::build(&checker.g, &order, opts.memory_limit) else {
        let cause = format!(
            "the causal vector clocks ({n} operations × {} processes) took more than the limit of {} MiB",
            checker.g.slots,
            opts.memory_limit >> 20
        );
        return Ok(finish(
            result(Variant::CC, Status::Unknown, vec![], 0, Some(cause.clone())),
            result(Variant::CM, Status::Unknown, vec![], 0, Some(cause.clone())),
            result(Variant::CCv, Status::Unknown, vec![], 0, Some(cause)),
        ));
    };
    checker.clocks = clocks;

    // WriteCOInitRead and WriteCORead, and CCv's conflict edges from the same scan (used only if CC holds,
    // that is, when no read's scan stopped early at an anomaly).
    let mut conflicts = Conflicts::new(n, checker.g.slots);
    let mut buf = Vec::new();
    for r in 0..n as u32 {
        let node = &checker.g.nodes[r as usize];
        let source = match node.read {
            Some(Src::Init) => None,
            Some(Src::Write(w)) => Some(w),
            _ => continue,
        };
        let src = node.read.expect("a read");
        for (slot, list) in checker.candidates(r, source, &mut buf) {
            let Some(z) = checker.last_write(list, checker.past(r, slot)) else { continue };
            if let Some(w) = source {
                conflicts.add(&checker, r, w, z);
            }
            match src {
                Src::Init => {
                    let text = format!(
                        "{}, but it had already causally seen {} ({}), which overwrote it.",
                        checker.saw_initial(r),
                        checker.op(z).describe(),
                        checker.at(z)
                    );
                    let a = checker.anomaly(AnomalyKind::WriteCOInitRead, &[r, z], text);
                    push(&mut cc, &mut cc_count, a, checker.max);
                    break;
                }
                Src::Write(w) if z != w && checker.co(w, z) => {
                    let text = format!(
                        "process {} read {}{} ({}), written by process {} ({}), but it had already causally seen \
                         {} written by process {} ({}), which was itself written causally after {}: the read \
                         returned an overwritten value.",
                        checker.process(r),
                        checker.value_read(r),
                        checker.key_words(r),
                        checker.at(r),
                        checker.process(w),
                        checker.at(w),
                        checker.value_written(z),
                        checker.process(z),
                        checker.at(z),
                        checker.value_written(w),
                    );
                    let a = checker.anomaly(AnomalyKind::WriteCORead, &[r, w, z], text);
                    push(&mut cc, &mut cc_count, a, checker.max);
                    break;
                }
                _ => {}
            }
        }
    }
    if cc_count > 0 {
        let v = result(Variant::CC, Status::Violated, cc.clone(), cc_count, None);
        return Ok(finish(
            v.clone(),
            VariantResult { variant: Variant::CM, ..v.clone() },
            VariantResult { variant: Variant::CCv, ..v },
        ));
    }
    let cc_result = result(Variant::CC, Status::Holds, vec![], 0, None);
    // Causal memory needs its fixpoint only for the processes whose reads forced a conflict edge (for the
    // others happens-before is causal order, which CC has just found sound), and among those only for the
    // ones one shared order of the whole history does not already serve as a valid view.
    let mut forced = conflicts.forced.clone();
    let view = view_order(&checker, &conflicts);
    served_by_view(&checker, &view, &mut forced);
    if let Some(hint) = opts.view_hint.as_deref().filter(|_| opts.cm_fixpoint && forced.iter().any(|&f| f)) {
        let position = hinted_order(&checker, hint, &view);
        served_by_view(&checker, &position, &mut forced);
    }
    let ccv_result = check_ccv(&checker, conflicts);
    let deadline = opts.time_limit.map(|t| started + t);
    // Where dense clocks would have fitted, causal memory runs as it always has; past that, only if its
    // dense fixpoint over the forced processes stays within a bounded amount of work.
    let dense_fits = n.saturating_mul(checker.g.slots).saturating_mul(4) <= opts.memory_limit;
    let cm_work = cm_work(&checker, &forced);
    let cm_result = if !opts.cm_fixpoint && forced.iter().any(|&f| f) {
        result(Variant::CM, Status::Unknown, vec![], 0, Some(CM_DEFERRED.into()))
    } else if dense_fits || cm_work <= CM_WORK_LIMIT {
        check_cm(&checker, &forced, deadline)
    } else {
        let cause = format!(
            "the causal-memory fixpoint would join about {} million vector-clock entries per round ({} of {} \
             processes' views, each a vector of one entry per process), over its limit of {} million",
            cm_work / 1_000_000,
            forced.iter().filter(|&&f| f).count(),
            checker.g.slots,
            CM_WORK_LIMIT / 1_000_000
        );
        result(Variant::CM, Status::Unknown, vec![], 0, Some(cause))
    };
    Ok(Analysis {
        fixpoint_processes: forced.iter().filter(|&&f| f).count(),
        ..finish(cc_result, cm_result, ccv_result)
    })
}
