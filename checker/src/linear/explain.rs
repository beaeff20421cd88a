//! Explaining a key that is not linearizable, in three steps a person can follow.
//!
//! The explanation runs after the verdict, within a deadline (see [`super::Options::explain_time`]); each
//! step stops at it with what it has, and every step only ever keeps sets it has seen to be non-linearizable,
//! so a cut-short explanation is still a sound counterexample, only perhaps not a minimal one.
//!
//! 1. The longest linearizable prefix: the first events of the key, up to the one event whose arrival makes
//!    the history impossible. Truncating a linearizable history keeps it linearizable (operations cut off
//!    mid-flight become indeterminate), so this is a binary search. The event that breaks it is always a
//!    completion: the operation that could not be placed.
//! 2. A minimal counterexample: the prefix's operations (or, where a polynomial check found the violation,
//!    the operations it names, a much smaller sound start), shrunk by delta debugging while the rest stays
//!    non-linearizable, until no single operation can be removed. Only sound removals are made: a subset of
//!    a linearizable history can itself be non-linearizable (drop the write a read saw), so an operation
//!    that changes the state goes only together with every operation that may have seen what it wrote
//!    ([`Removal`]). The counterexample is therefore a proof about the history, not only about itself.
//!    The shrinking is done twice: as of the first bad event, then with the operations as the history has
//!    them (an operation still running at that event completed later and constrains more, so the set may
//!    shrink further), so that "minimal" holds of the operations the report shows.
//! 3. The narrative: which operation cannot be placed, what it needs of the state, which operations had
//!    completed before it began, and every state the other operations allow while it runs.

use rustc_hash::FxHashSet;
use serde::Serialize;

use super::search::Outcome;
use super::{Decide, Decision};
use crate::budget::Budget;
use crate::history::History;
use crate::model::{Entry, Model, Problem, Removal};
use crate::op_ref::OpRef;
use crate::value::Value;

/// Bound on the enumeration of states a culprit could have seen.
const STATE_ENUMERATION_STEPS: usize = 4096;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Anomaly {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<Value>,
    /// The operation that could not be placed.
    pub culprit: OpRef,
    /// A set of operations that has no linearization, in invocation order: 1-minimal when `minimal`, with
    /// each operation as the history has it (its completion included).
    pub counterexample: Vec<OpRef>,
    /// Shrinking finished: removing any one operation (soundly) leaves a linearizable set. False when the
    /// explanation's time ran out first: the counterexample is still a proof, only perhaps not the smallest.
    pub minimal: bool,
    /// The key's history is linearizable up to and including this line...
    pub linearizable_through_line: Option<u32>,
    /// ...and this line (the culprit's completion in the full history) makes it not.
    pub first_bad_line: Option<u32>,
    /// The states the culprit could have observed, as the counterexample's other operations allow.
    pub possible_states: Vec<String>,
    pub explanation: String,
}

/// Entries cut off after event position `cut`: operations not yet invoked are gone, operations not yet
/// returned become indeterminate (and, if read-only, constrain nothing).
fn truncate<M: Model>(model: &M, entries: &[Entry<M::Op>], subset: &[u32], cut: u32) -> Vec<Entry<M::Op>> {
    subset
        .iter()
        .map(|&i| &entries[i as usize])
        .filter(|e| e.call <= cut)
        .map(|e| Entry { op: e.op.clone(), call: e.call, ret: e.ret.filter(|&r| r <= cut), id: e.id })
        .filter(|e| e.ret.is_some() || !model.is_read_only(&e.op))
        .collect()
}

fn select<Op: Clone>(entries: &[Entry<Op>], subset: &[u32]) -> Vec<Entry<Op>> {
    subset.iter().map(|&i| entries[i as usize].clone()).collect()
}

/// The first event position at which `subset` stops being linearizable, if the decider can tell.
fn first_bad_event<M: Model>(
    model: &M,
    entries: &[Entry<M::Op>],
    subset: &[u32],
    budget: &Budget,
    decide: &Decide<'_, M::Op>,
) -> Option<u32> {
    let mut positions: Vec<u32> =
        subset.iter().flat_map(|&i| [Some(entries[i as usize].call), entries[i as usize].ret]).flatten().collect();
    positions.sort_unstable();
    // Invariant: the prefix through positions[lo] is linearizable, through positions[hi] it is not.
    let (mut lo, mut hi) = (0usize, positions.len().checked_sub(1)?);
    if lo == hi {
        return Some(positions[hi]);
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        match decide(&truncate(model, entries, subset, positions[mid]), budget).outcome {
            Outcome::Linearizable(_) => lo = mid,
            Outcome::NotLinearizable => hi = mid,
            Outcome::Unknown(_) => return None,
        }
    }
    Some(positions[hi])
}

pub(crate) fn explain<M: Model>(
    history: &History,
    key: &Option<Value>,
    problem: &Problem<M>,
    first_bad: Option<u32>,
    budget: &Budget,
    decide: &Decide<'_, M::Op>,
) -> Option<Anomaly> {
    let model = &problem.model;
    let all: Vec<u32> = (0..problem.entries.len() as u32).collect();

    // 1. The longest linearizable prefix, unless the search that decided the key found it. From here on,
    // operations still running at its first bad event are indeterminate: `entries` is the key's history as
    // of that event.
    let bad = first_bad.or_else(|| first_bad_event(model, &problem.entries, &all, budget, decide));
    let (entries, first_bad_line, through_line) = match bad {
        Some(cut) => {
            let line = history.events[cut as usize].line;
            let before = problem
                .entries
                .iter()
                .flat_map(|e| [Some(e.call), e.ret])
                .flatten()
                .filter(|&p| p < cut)
                .max()
                .map(|p| history.events[p as usize].line);
            (truncate(model, &problem.entries, &all, cut), Some(line), before)
        }
        None => (problem.entries.clone(), None, None),
    };
    let entries = &entries;

    // 2. Shrink to a minimal counterexample, from the operations a polynomial check names if it can.
    let whole = || (0..entries.len() as u32).collect();
    let start = match first_bad {
        // The search names no operations: another search would only repeat it.
        Some(_) => whole(),
        None => match decide(entries, budget) {
            Decision { outcome: Outcome::NotLinearizable, witness: Some(witness), .. } => witness,
            _ => whole(),
        },
    };
    let (subset, minimal) = shrink(model, entries, start, budget, decide);
    // The counterexample is shown as the history has its operations, not as of the first bad event: an
    // operation still running then (indeterminate in `entries`) completed later and constrains more. The
    // set stays impossible with those constraints, but may now be shrunk further (a cas that was still
    // running can no longer be left out, so the read that forced it in goes), so shrink it once more.
    let full = &problem.entries;
    let index_of: rustc_hash::FxHashMap<u32, u32> = full.iter().enumerate().map(|(i, e)| (e.id, i as u32)).collect();
    let again: Vec<u32> = subset.iter().map(|&i| index_of[&entries[i as usize].id]).collect();
    let (subset, minimal_again) = shrink(model, full, again, budget, decide);
    let (entries, minimal) = (full, minimal && minimal_again);
    let culprit = first_bad_event(model, entries, &subset, budget, decide)
        .and_then(|cut| subset.iter().copied().find(|&i| entries[i as usize].ret == Some(cut)))
        .unwrap_or_else(|| *subset.last().expect("a non-linearizable set is not empty"));

    // 3. What the culprit could have seen.
    let states = possible_states(model, entries, &subset, culprit, budget);
    let ops: Vec<OpRef> = subset.iter().map(|&i| OpRef::new(history, entries[i as usize].id)).collect();
    let culprit_ref = OpRef::new(history, entries[culprit as usize].id);
    let explanation = narrate(model, entries, &subset, culprit, &culprit_ref, &ops, states.as_deref());
    Some(Anomaly {
        key: key.clone(),
        culprit: culprit_ref,
        counterexample: ops,
        minimal,
        linearizable_through_line: through_line,
        first_bad_line,
        possible_states: states.map(|s| s.iter().map(|s| model.describe_state(s)).collect()).unwrap_or_default(),
        explanation,
    })
}

/// Delta debugging: remove chunks of operations, halving the chunk size, while the rest stays
/// non-linearizable; ends 1-minimal (no single sound removal keeps it non-linearizable), which the second
/// value says, unless the budget ran out or a check was cut short by it. Every removal is sound (see
/// [`Removal`]), so the result proves the history non-linearizable on its own either way.
fn shrink<M: Model>(
    model: &M,
    entries: &[Entry<M::Op>],
    mut subset: Vec<u32>,
    budget: &Budget,
    decide: &Decide<'_, M::Op>,
) -> (Vec<u32>, bool) {
    let mut chunk = subset.len().div_ceil(2).max(1);
    // A removal whose check was cut short by the budget is not known to be impossible.
    let mut undecided = false;
    loop {
        let mut start = 0;
        let mut removed = false;
        while start < subset.len() {
            if budget.expired() {
                return (subset, false);
            }
            let end = (start + chunk).min(subset.len());
            let shrinks = remove_soundly(model, entries, &subset, &subset[start..end]).filter(|rest| {
                match decide(&select(entries, rest), budget).outcome {
                    Outcome::NotLinearizable => true,
                    Outcome::Linearizable(_) => false,
                    _ => {
                        undecided = true;
                        false
                    }
                }
            });
            match shrinks {
                Some(rest) => {
                    subset = rest;
                    removed = true;
                }
                None => start = end,
            }
        }
        if chunk == 1 && !removed {
            return (subset, !undecided);
        }
        if !removed {
            chunk = chunk.div_ceil(2);
        }
    }
}

/// `subset` without the removable operations of `chunk` and everything that must go with them; `None` if
/// nothing can go, or an operation that must go cannot.
fn remove_soundly<M: Model>(model: &M, entries: &[Entry<M::Op>], subset: &[u32], chunk: &[u32]) -> Option<Vec<u32>> {
    let mut gone: FxHashSet<u32> = FxHashSet::default();
    let mut overwritten: Vec<Value> = Vec::new();
    for &i in chunk {
        match model.removal(&entries[i as usize].op) {
            Removal::Free => {
                gone.insert(i);
            }
            Removal::WithObservers(v) => {
                gone.insert(i);
                overwritten.push(v);
            }
            Removal::Never => {}
        }
    }
    let mut done: FxHashSet<Value> = FxHashSet::default();
    while let Some(v) = overwritten.pop() {
        if !done.insert(v.clone()) {
            continue;
        }
        for &i in subset {
            let op = &entries[i as usize].op;
            if gone.contains(&i) || !model.depends_on(op, &v) {
                continue;
            }
            match model.removal(op) {
                Removal::Free => {}
                Removal::WithObservers(w) => overwritten.push(w),
                Removal::Never => return None,
            }
            gone.insert(i);
        }
    }
    if gone.is_empty() {
        return None;
    }
    Some(subset.iter().copied().filter(|i| !gone.contains(i)).collect())
}

/// Every state the model can be in at an instant where `culprit` could take effect, over all orders of
/// the other operations of `subset` that respect real time. `None` if there are too many orders to tell.
fn possible_states<M: Model>(
    model: &M,
    entries: &[Entry<M::Op>],
    subset: &[u32],
    culprit: u32,
    budget: &Budget,
) -> Option<Vec<M::State>> {
    let x = &entries[culprit as usize];
    // Only operations that may precede the culprit matter to what it sees.
    let others: Vec<&Entry<M::Op>> = subset
        .iter()
        .filter(|&&i| i != culprit)
        .map(|&i| &entries[i as usize])
        .filter(|e| x.ret.is_none_or(|r| e.call < r))
        .collect();
    if others.len() > 63 {
        return None;
    }
    let must_precede_x: u64 =
        others.iter().enumerate().filter(|(_, e)| e.ret.is_some_and(|r| r < x.call)).fold(0, |m, (i, _)| m | 1 << i);
    let preds: Vec<u64> = others
        .iter()
        .map(|e| {
            others.iter().enumerate().filter(|(_, o)| o.ret.is_some_and(|r| r < e.call)).fold(0, |m, (i, _)| m | 1 << i)
        })
        .collect();
    let mut seen: FxHashSet<(u64, M::State)> = FxHashSet::default();
    let mut found: FxHashSet<M::State> = FxHashSet::default();
    let mut states: Vec<M::State> = Vec::new();
    let mut stack = vec![(0u64, model.init())];
    while let Some((placed, state)) = stack.pop() {
        if !seen.insert((placed, state.clone())) {
            continue;
        }
        if seen.len() > STATE_ENUMERATION_STEPS || (seen.len() % 1024 == 0 && budget.expired()) {
            return None;
        }
        if placed & must_precede_x == must_precede_x && found.insert(state.clone()) {
            states.push(state.clone());
        }
        for (i, e) in others.iter().enumerate() {
            if placed & (1 << i) == 0 && preds[i] & placed == preds[i] {
                if let Some(next) = model.step(&state, &e.op) {
                    stack.push((placed | 1 << i, next));
                }
            }
        }
    }
    Some(states)
}

fn narrate<M: Model>(
    model: &M,
    entries: &[Entry<M::Op>],
    subset: &[u32],
    culprit: u32,
    culprit_ref: &OpRef,
    ops: &[OpRef],
    states: Option<&[M::State]>,
) -> String {
    let x = &entries[culprit as usize];
    let mut text = String::new();
    let requirement = model.requirement(&x.op);
    let window = match culprit_ref.complete_line {
        Some(c) => format!("between its invocation (line {}) and its completion (line {c})", culprit_ref.invoke_line),
        None => format!("after its invocation (line {})", culprit_ref.invoke_line),
    };
    match &requirement {
        Some(r) => text.push_str(&format!(
            "The {} ({}) cannot be placed: it needs {r} at some instant {window}.",
            culprit_ref.describe(),
            culprit_ref.lines()
        )),
        None => text.push_str(&format!(
            "The {} ({}) cannot be placed: it must take effect {window}.",
            culprit_ref.describe(),
            culprit_ref.lines()
        )),
    }
    let completed: Vec<&OpRef> = subset
        .iter()
        .zip(ops)
        .filter(|(&i, _)| i != culprit && entries[i as usize].ret.is_some_and(|r| r < x.call))
        .map(|(_, o)| o)
        .collect();
    if completed.is_empty() {
        text.push_str("\nNo other operation of the counterexample had completed when it was invoked.");
    } else {
        text.push_str("\nAlready completed when it was invoked:");
        for o in completed {
            text.push_str(&format!("\n  - {} ({})", o.describe(), o.lines()));
        }
    }
    let concurrent: Vec<&OpRef> = subset
        .iter()
        .zip(ops)
        .filter(|(&i, _)| {
            let e = &entries[i as usize];
            i != culprit && e.ret.is_none_or(|r| r >= x.call) && x.ret.is_none_or(|r| e.call < r)
        })
        .map(|(_, o)| o)
        .collect();
    if !concurrent.is_empty() {
        text.push_str("\nConcurrent with it:");
        for o in concurrent {
            text.push_str(&format!("\n  - {} ({})", o.describe(), o.lines()));
        }
    }
    let accepting = states.map(|s| s.iter().any(|s| model.step(s, &x.op).is_some()));
    match (states, accepting) {
        (Some(states), Some(false)) if !states.is_empty() => {
            let held: Vec<String> = states.iter().map(|s| model.describe_state(s)).collect();
            text.push_str(&format!(
                "\nEvery order of these operations that respects real time leaves {} holding {} while it runs, so \
                 no linearization exists.",
                model.noun(),
                join_or(&held)
            ));
        }
        (Some([]), Some(false)) => text.push_str(
            "\nThe operations that must precede it cannot themselves be ordered to respect real time and their \
             results, so no linearization exists.",
        ),
        _ => text.push_str(&format!(
            "\nIt can take effect on its own, but then no order of the remaining {} operations respects real time \
             and their results; removing any one operation of this counterexample makes it linearizable.",
            subset.len() - 1
        )),
    }
    text
}

fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}
