//! Sequential consistency: is there one total order of the operations that respects each process's own
//! order and the model? Unlike linearizability there is no real-time constraint between processes, so a
//! process may read a value that another process overwrote long before, as long as every process sees
//! the writes in one order consistent with its own program.
//!
//! Sequential consistency is not compositional: keys cannot be checked alone, since the one order must
//! serve all keys at once. With unique written values per key (and no appends), [`graph`] decides it as
//! a graph problem first: a witness order replayed against the model, or the cycles that prove no order
//! exists. What it does not cover or cannot decide goes to the search below, over the whole history, and
//! [`Analysis::method`] says which decided. A configuration is how far
//! each process has got in its own sequence, plus every key's state; from it, the next operation of any
//! process may take effect next. Configurations are memoised (as in Lowe's linearizability search) and
//! the same time and memory limits turn an exponential search into `unknown`. A configuration in which
//! an operation that must take effect never can any more is dropped at once, rather than after every order
//! of everything else has been tried (see [`Outlook`]): that is what lets the search decide real runs of
//! tens of thousands of operations.
//!
//! An operation with no definite result (`info`, or never completed) may or may not have taken effect: it
//! is either applied in its place in its process's order or skipped. A `fail` is left out, except a failed
//! compare-and-set under [`CasFail::Observe`], which is a read of any value but `from`.

mod graph;
mod step;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;

use crate::budget::{Budget, Limit};
use crate::error::Error;
use crate::history::History;
use crate::linear::partition;
use crate::model::{self, Model, ModelKind, ModelOptions, Problem};
use crate::verdict::Verdict;

pub use graph::{Cycle, CycleEdge, EdgeReason};
use step::Step;

#[derive(Clone, Debug)]
pub struct Options {
    pub model: ModelOptions,
    pub time_limit: Option<Duration>,
    /// Bytes the memo table may hold; past it, `unknown`.
    pub memory_limit: usize,
    /// Whether the memoised search runs where the graph method does not decide (else `unknown`): the
    /// ladder asks the graph method alone when it only wants a candidate view for causal memory.
    pub search: bool,
}

impl Options {
    pub fn new(model: ModelOptions) -> Options {
        Options { model, time_limit: None, memory_limit: 768 << 20, search: true }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Analysis {
    pub verdict: Verdict,
    /// Operations the check used (after dropping those that constrain nothing).
    pub operations: usize,
    pub processes: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown_cause: Option<String>,
    /// For `invalid`: the cycles that prove it (graph method), or what the deepest order the search found
    /// could not continue with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
    /// Which method decided (or, for `unknown`, gave up last).
    pub method: Method,
    /// Why the graph method did not decide, when the search had to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub graph_undecided: Option<String>,
    /// For `invalid` by the graph method: the cycles, edge by edge. One cycle with no assumptions holds
    /// whatever the write order; otherwise every write order closes one of them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cycles: Vec<Cycle>,
    /// For `valid` by the graph method: the order found (history operation ids), replayed against the
    /// model. Indeterminate operations not in it did not take effect.
    #[serde(skip)]
    pub witness: Option<Vec<u32>>,
    pub elapsed_ms: f64,
}

/// How sequential consistency was decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Unique written values: the write order inferred, the rest solved for, a cycle or a witness order.
    Graph,
    /// The memoised search over every process's position and every key's state.
    Search,
}

/// Checks a history for sequential consistency.
pub fn check(history: &History, opts: &Options) -> Result<Analysis, Error> {
    let started = Instant::now();
    let parts = partition(history);
    match opts.model.kind {
        ModelKind::Register | ModelKind::CasRegister => {
            let problems = parts
                .iter()
                .map(|(_, ids)| model::prepare_register(history, ids, &opts.model))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(run(history, &problems, opts, started))
        }
        ModelKind::Kv => {
            let problems = parts
                .iter()
                .map(|(_, ids)| model::prepare_kv(history, ids, &opts.model))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(run(history, &problems, opts, started))
        }
    }
}

fn run<M: Model>(history: &History, problems: &[Problem<M>], opts: &Options, started: Instant) -> Analysis {
    // Each process's operations, in the order it invoked them.
    let mut chains: FxHashMap<u64, Vec<Step<M::Op>>> = FxHashMap::default();
    let mut entries: Vec<(u32, usize, &model::Entry<M::Op>)> = Vec::new();
    for (key, problem) in problems.iter().enumerate() {
        entries.extend(problem.entries.iter().map(|e| (e.call, key, e)));
    }
    entries.sort_unstable_by_key(|&(call, _, _)| call);
    for (_, key, e) in entries {
        let process = history.operations[e.id as usize].process;
        chains.entry(process).or_default().push(Step {
            key,
            op: e.op.clone(),
            optional: e.ret.is_none(),
            id: e.id,
            call: e.call,
        });
    }
    let mut processes: Vec<(u64, Vec<Step<M::Op>>)> = chains.into_iter().collect();
    processes.sort_unstable_by_key(|(p, _)| *p);
    let operations = processes.iter().map(|(_, c)| c.len()).sum();
    let budget = Budget::new(opts.time_limit.map(|t| started + t), opts.memory_limit);
    let analysis = |verdict, unknown_cause, explanation, method, graph_undecided, cycles, witness| Analysis {
        verdict,
        operations,
        processes: processes.len(),
        unknown_cause,
        explanation,
        method,
        graph_undecided,
        cycles,
        witness,
        elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
    };
    let graph_undecided = match graph::decide(history, problems, &processes, &budget) {
        graph::Decision::Holds(order) => {
            return analysis(Verdict::Valid, None, None, Method::Graph, None, vec![], Some(order))
        }
        graph::Decision::Violated(proof) => {
            return analysis(Verdict::Invalid, None, Some(proof.explanation), Method::Graph, None, proof.cycles, None)
        }
        graph::Decision::Undecided(why) => why,
    };
    if !opts.search {
        let cause = format!("the graph method did not decide ({graph_undecided}), and the search was not asked for");
        return analysis(Verdict::Unknown, Some(cause), None, Method::Graph, Some(graph_undecided), vec![], None);
    }
    let outcome = search(problems, &processes, &budget);
    let (verdict, unknown_cause, explanation) = match outcome {
        Search::Valid => (Verdict::Valid, None, None),
        Search::Unknown(limit) => (
            Verdict::Unknown,
            Some(match limit {
                Limit::Time => "the time limit was reached before the search decided".to_string(),
                _ => format!("the memo table reached the memory limit of {} MiB", budget.memory_limit >> 20),
            }),
            None,
        ),
        Search::Invalid { deepest } => (Verdict::Invalid, None, Some(explain(history, problems, &processes, &deepest))),
    };
    analysis(verdict, unknown_cause, explanation, Method::Search, Some(graph_undecided), vec![], None)
}

enum Search<S> {
    Valid,
    /// No order exists; `deepest` is the configuration with the most operations placed.
    Invalid {
        deepest: Deepest<S>,
    },
    Unknown(Limit),
}

/// The configuration with the most operations placed: how far each process got, every key's state there,
/// and, if the search dropped it because an operation could never take effect after it, why.
struct Deepest<S> {
    pos: Vec<usize>,
    states: Vec<S>,
    stranded: Option<Stranded<S>>,
}

/// An operation that must take effect needs `key` to hold `state`, and no operation left can make it hold
/// that state when it would be needed.
#[derive(Clone)]
struct Stranded<S> {
    key: usize,
    state: S,
    /// When the reason is an earlier operation of the waiting one's own process on the same key, after
    /// which the key holds another state: that process and the operation's index in its chain.
    behind: Option<(usize, usize)>,
}

/// What the operations not yet placed need and leave, key by key. With it the search drops a
/// configuration as soon as an operation that must take effect can no longer: with unique written values,
/// a read of a value that was overwritten, or that its own process will overwrite before it, when nothing
/// left writes the value again. Without it the search learns that only after trying every order of
/// everything else, which made it give up on histories of a few hundred operations.
struct Outlook<S> {
    /// Per key: how many operations that must take effect need each state.
    needed: Vec<FxHashMap<S, u32>>,
    /// Per key: how many operations (that may take effect) leave each state.
    leaving: Vec<FxHashMap<S, u32>>,
    /// Per key: operations that change the state in a way the model cannot say in advance (an append):
    /// while there are any, nothing is concluded about the key.
    opaque: Vec<u32>,
    /// Per key and needed state: operations that must take effect needing it, behind an earlier one of
    /// their process after which the key holds another state. While that earlier one is not placed, the
    /// state must be made again after it.
    guarded: Vec<FxHashMap<S, Vec<Guarded>>>,
}

/// An operation that must take effect, of `process`, and the index in that process's chain of an earlier
/// operation on the same key that must take effect too, after which the key holds another state than the
/// later one needs.
#[derive(Clone, Copy)]
struct Guarded {
    process: usize,
    guard: usize,
}

impl<S: Clone + Eq + std::hash::Hash> Outlook<S> {
    fn new<M: Model<State = S>>(problems: &[Problem<M>], processes: &[(u64, Vec<Step<M::Op>>)]) -> Outlook<S> {
        let keys = problems.len();
        let mut outlook = Outlook {
            needed: vec![FxHashMap::default(); keys],
            leaving: vec![FxHashMap::default(); keys],
            opaque: vec![0; keys],
            guarded: vec![FxHashMap::default(); keys],
        };
        for (p, (_, chain)) in processes.iter().enumerate() {
            // Per key: the latest operation so far that must take effect and the state it leaves the key in.
            let mut last: FxHashMap<usize, (usize, S)> = FxHashMap::default();
            for (i, step) in chain.iter().enumerate() {
                outlook.count(problems, step, true);
                if step.optional {
                    continue;
                }
                let model = &problems[step.key].model;
                if let (Some(needs), Some((g, after))) = (model.needs(&step.op), last.get(&step.key)) {
                    if *after != needs {
                        outlook.guarded[step.key].entry(needs).or_default().push(Guarded { process: p, guard: *g });
                    }
                }
                match state_after(model, &step.op) {
                    Some(state) => last.insert(step.key, (i, state)),
                    // What it leaves is not known: nothing after it is guarded by anything before it.
                    None if !model.is_read_only(&step.op) => last.remove(&step.key),
                    None => None,
                };
            }
        }
        outlook
    }

    /// Counts `step` as not yet placed (`pending`), or takes it out of the counts once placed.
    fn count<M: Model<State = S>>(&mut self, problems: &[Problem<M>], step: &Step<M::Op>, pending: bool) {
        let model = &problems[step.key].model;
        let change = |counts: &mut FxHashMap<S, u32>, state: S| {
            let n = counts.entry(state).or_insert(0);
            *n = if pending { *n + 1 } else { *n - 1 };
        };
        if !step.optional {
            if let Some(state) = model.needs(&step.op) {
                change(&mut self.needed[step.key], state);
            }
        }
        match model.leaves(&step.op) {
            Some(state) => change(&mut self.leaving[step.key], state),
            None if !model.is_read_only(&step.op) => {
                self.opaque[step.key] = if pending { self.opaque[step.key] + 1 } else { self.opaque[step.key] - 1 }
            }
            None => {}
        }
    }

    fn none_leave(&self, key: usize, state: &S) -> bool {
        self.leaving[key].get(state).is_none_or(|&n| n == 0)
    }

    /// Whether an operation that must take effect needs `key` to hold `state`, which it does not hold
    /// `now`, and no operation left leaves it.
    fn out_of_reach(&self, key: usize, state: &S, now: &S) -> bool {
        state != now && self.needed[key].get(state).is_some_and(|&n| n > 0) && self.none_leave(key, state)
    }

    /// A waiting operation that needs `state` on `key` behind an earlier operation of its process that is
    /// still to come, when no operation left leaves `state`.
    fn behind(&self, pos: &[usize], key: usize, state: &S) -> Option<Stranded<S>> {
        if self.opaque[key] > 0 || !self.none_leave(key, state) {
            return None;
        }
        let waiting = self.guarded[key].get(state)?.iter().find(|g| pos[g.process] <= g.guard)?;
        Some(Stranded { key, state: state.clone(), behind: Some((waiting.process, waiting.guard)) })
    }

    /// Whether the configuration `pos` (before anything is placed) already has a stranded operation.
    fn at_start(&self, pos: &[usize]) -> Option<Stranded<S>> {
        (0..self.guarded.len()).find_map(|key| self.guarded[key].keys().find_map(|state| self.behind(pos, key, state)))
    }

    /// After `step` was placed (taking effect or not), moving its key from `before` to `now`, with the
    /// processes at `pos`: an operation that can never take effect. Only states this move could have put
    /// out of reach are looked at: the one the key left, and the one the step leaves (or would have).
    fn stranded<M: Model<State = S>>(
        &self,
        problems: &[Problem<M>],
        step: &Step<M::Op>,
        pos: &[usize],
        before: &S,
        now: &S,
    ) -> Option<Stranded<S>> {
        if self.opaque[step.key] > 0 {
            return None;
        }
        if self.out_of_reach(step.key, before, now) {
            return Some(Stranded { key: step.key, state: before.clone(), behind: None });
        }
        let left = problems[step.key].model.leaves(&step.op)?;
        if self.out_of_reach(step.key, &left, now) {
            return Some(Stranded { key: step.key, state: left, behind: None });
        }
        self.behind(pos, step.key, &left)
    }
}

fn search<M: Model>(
    problems: &[Problem<M>],
    processes: &[(u64, Vec<Step<M::Op>>)],
    budget: &Budget,
) -> Search<M::State> {
    let start: (Vec<usize>, Vec<M::State>) =
        (vec![0; processes.len()], problems.iter().map(|p| p.model.init()).collect());
    let total: usize = processes.iter().map(|(_, c)| c.len()).sum();
    if total == 0 {
        return Search::Valid;
    }
    // What one remembered configuration costs: its positions and states, stored once in the set and
    // at most once on the path, and the set's slot.
    let entry_bytes =
        2 * (processes.len() * std::mem::size_of::<usize>() + problems.len() * std::mem::size_of::<M::State>()) + 96;
    let mut seen: FxHashSet<(Vec<usize>, Vec<M::State>)> = FxHashSet::default();
    seen.insert(start.clone());
    // A depth-first search that makes one move at a time from the configuration on top: only the path
    // and the configurations already visited are held, never every unexplored sibling.
    let mut outlook = Outlook::new(problems, processes);
    let mut path =
        vec![Frame { moves: moves(problems, processes, &start), config: start.clone(), next: 0, entered_by: None }];
    let (pos, states) = start;
    if let Some(stranded) = outlook.at_start(&pos) {
        return Search::Invalid { deepest: Deepest { pos, states, stranded: Some(stranded) } };
    }
    let mut deepest = (0usize, Deepest { pos, states, stranded: None });
    let mut steps = 0u32;
    let result = loop {
        let Some(top) = path.last_mut() else { break Search::Invalid { deepest: deepest.1 } };
        let Some(&(p, apply)) = top.moves.get(top.next) else {
            if let Some((p, at)) = path.pop().and_then(|frame| frame.entered_by) {
                outlook.count(problems, &processes[p].1[at], true);
            }
            continue;
        };
        top.next += 1;
        let (pos, states) = &top.config;
        let step = &processes[p].1[pos[p]];
        let mut next_states = states.clone();
        if apply {
            match problems[step.key].model.step(&states[step.key], &step.op) {
                Some(after) => next_states[step.key] = after,
                None => continue,
            }
        }
        let mut next_pos = pos.clone();
        next_pos[p] += 1;
        let config = (next_pos, next_states);
        if seen.contains(&config) {
            continue;
        }
        seen.insert(config.clone());
        let placed: usize = config.0.iter().sum();
        if placed == total {
            break Search::Valid;
        }
        outlook.count(problems, step, false);
        let stranded = outlook.stranded(problems, step, &config.0, &states[step.key], &config.1[step.key]);
        if placed > deepest.0 {
            deepest = (placed, Deepest { pos: config.0.clone(), states: config.1.clone(), stranded: stranded.clone() });
        }
        if stranded.is_some() {
            outlook.count(problems, step, true);
            continue;
        }
        let entered_by = Some((p, pos[p]));
        steps = steps.wrapping_add(1);
        if steps % 1024 == 0 && budget.expired() {
            break Search::Unknown(Limit::Time);
        }
        if seen.len() * entry_bytes > budget.memory_limit {
            break Search::Unknown(Limit::Memory);
        }
        path.push(Frame { moves: moves(problems, processes, &config), config, next: 0, entered_by });
    };
    budget.memory_used.fetch_add(seen.len() * entry_bytes, Ordering::Relaxed);
    result
}

/// The state `op` leaves its key in, when that is known without knowing what it found: what it writes,
/// or, for a read-only operation, the one state it needs.
fn state_after<M: Model>(model: &M, op: &M::Op) -> Option<M::State> {
    match model.leaves(op) {
        Some(state) => Some(state),
        None if model.is_read_only(op) => model.needs(op),
        None => None,
    }
}

/// A configuration on the search's path: the moves out of it, and how many were tried.
struct Frame<S> {
    config: (Vec<usize>, Vec<S>),
    /// (process, whether its next operation takes effect), in the order to try.
    moves: Vec<(usize, bool)>,
    next: usize,
    /// The process whose operation (at this index in its chain) was placed to get here.
    entered_by: Option<(usize, usize)>,
}

/// The moves out of a configuration, best first.
fn moves<M: Model>(
    problems: &[Problem<M>],
    processes: &[(u64, Vec<Step<M::Op>>)],
    (pos, states): &(Vec<usize>, Vec<M::State>),
) -> Vec<(usize, bool)> {
    // An operation that never changes the state (a read, a failed cas) and can take effect now is taken
    // now, alone: any order that takes it later also works with it moved here, since nothing between sees
    // it and its process's later operations stay after it. Only writes are branched on. (An operation
    // that merely happens to leave the state as it is now, such as a write of the value the key holds, is
    // not one: at a later place it would have set the state.)
    let free = (0..processes.len()).find(|&p| {
        processes[p].1.get(pos[p]).is_some_and(|step| {
            let model = &problems[step.key].model;
            model.is_read_only(&step.op) && model.step(&states[step.key], &step.op).is_some()
        })
    });
    if let Some(p) = free {
        return vec![(p, true)];
    }
    // The next operation of each process, tried in the order they were invoked: a history from a real
    // store is usually close to an order in real time, so the first tries mostly succeed and the memo
    // stays small. (Completion order, tried too, decided fewer of the reference cluster's histories.) An
    // indeterminate operation is tried taking effect, then not.
    let mut next: Vec<usize> = (0..processes.len()).filter(|&p| pos[p] < processes[p].1.len()).collect();
    next.sort_unstable_by_key(|&p| processes[p].1[pos[p]].call);
    let mut moves = Vec::with_capacity(next.len() + 1);
    for p in next {
        moves.push((p, true));
        if processes[p].1[pos[p]].optional {
            moves.push((p, false));
        }
    }
    moves
}

fn explain<M: Model>(
    history: &History,
    problems: &[Problem<M>],
    processes: &[(u64, Vec<Step<M::Op>>)],
    deepest: &Deepest<M::State>,
) -> String {
    let placed: usize = deepest.pos.iter().sum();
    let total: usize = processes.iter().map(|(_, c)| c.len()).sum();
    let mut text = format!(
        "No single order of all {total} operations respects every process's own order and explains every result. \
         The longest order the search found places {placed}; "
    );
    // An operation, and what it needs of the state beside what the state is at the deepest configuration.
    let describe = |process: u64, step: &Step<M::Op>, with_state: bool| {
        let op = crate::op_ref::OpRef::new(history, step.id);
        let key = history
            .invocation(&history.operations[step.id as usize])
            .key
            .as_ref()
            .map_or(String::new(), |k| format!(" on key {k}"));
        let model = &problems[step.key].model;
        let held = model.describe_state(&deepest.states[step.key]);
        let needs = match model.requirement(&step.op) {
            Some(r) if with_state => format!("; it needs {r}, and {} holds {held}", model.noun()),
            Some(r) => format!("; it needs {r}"),
            None => String::new(),
        };
        format!("process {process}: {}{key} ({}){needs}", op.describe(), op.lines())
    };
    if let Some(Stranded { key, state, behind }) = &deepest.stranded {
        // The operation that can never take effect: one still to come on that key that needs that state
        // (behind the earlier operation of its own process, when that is the reason).
        let waiting = processes.iter().enumerate().zip(&deepest.pos).find_map(|((p, (process, chain)), &at)| {
            let from = match behind {
                Some((q, guard)) if *q == p => guard + 1,
                Some(_) => return None,
                None => at,
            };
            chain[from..]
                .iter()
                .find(|step| {
                    step.key == *key && !step.optional && problems[*key].model.needs(&step.op).as_ref() == Some(state)
                })
                .map(|step| (*process, step))
        });
        if let Some((process, step)) = waiting {
            let model = &problems[*key].model;
            let noun = model.noun();
            let wanted = model.describe_state(state);
            match behind {
                None => text.push_str(&format!(
                    "after it, this operation can never take effect, since no operation left makes {noun} hold \
                     {wanted} again:\n  - {}",
                    describe(process, step, true)
                )),
                Some((q, guard)) => {
                    let first = &processes[*q].1[*guard];
                    let after =
                        state_after(model, &first.op).map_or("another state".to_string(), |s| model.describe_state(&s));
                    text.push_str(&format!(
                        "after it, this operation can never take effect: its process must first perform the \
                         one below it, after which {noun} holds {after}, and no operation left makes it hold \
                         {wanted} again:\n  - {}\n  - first: {}",
                        describe(process, step, false),
                        describe(processes[*q].0, first, false)
                    ))
                }
            }
            return text;
        }
    }
    text.push_str("after it, no process can go on:");
    for ((process, chain), &at) in processes.iter().zip(&deepest.pos) {
        if let Some(step) = chain.get(at) {
            text.push_str(&format!("\n  - {}", describe(*process, step, true)));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::jsonl;

    fn verdict(text: &str) -> Analysis {
        let history = jsonl::parse("h", text).unwrap();
        check(&history, &Options::new(ModelOptions::new(ModelKind::Register))).unwrap()
    }

    fn op(p: u64, f: &str, kind: &str, key: &str, value: &str) -> String {
        format!("{{\"type\":\"{kind}\",\"process\":{p},\"f\":\"{f}\",\"key\":\"{key}\",\"value\":{value}}}\n")
    }

    #[test]
    fn a_stale_read_by_another_process_is_sequential() {
        // Process 0 writes 1 and it completes; then process 1 reads null: not linearizable, but process 1
        // may be ordered before the write.
        let text = [
            op(0, "write", "invoke", "x", "1"),
            op(0, "write", "ok", "x", "1"),
            op(1, "read", "invoke", "x", "null"),
            op(1, "read", "ok", "x", "null"),
        ]
        .concat();
        assert_eq!(verdict(&text).verdict, Verdict::Valid);
    }

    #[test]
    fn readers_disagreeing_on_the_order_of_writes_are_not_sequential() {
        // Writes of 1 and 2; process 2 reads 1 then 2, process 3 reads 2 then 1: no single order.
        let mut text = String::new();
        for (p, v) in [(0, "1"), (1, "2")] {
            text += &op(p, "write", "invoke", "x", v);
            text += &op(p, "write", "ok", "x", v);
        }
        for (p, first, second) in [(2, "1", "2"), (3, "2", "1")] {
            text += &op(p, "read", "invoke", "x", "null");
            text += &op(p, "read", "ok", "x", first);
            text += &op(p, "read", "invoke", "x", "null");
            text += &op(p, "read", "ok", "x", second);
        }
        let a = verdict(&text);
        assert_eq!(a.verdict, Verdict::Invalid);
        assert_eq!(a.method, Method::Graph);
        // Each reader fixes the order of the two writes for itself, the opposite ways: a cycle of two
        // write-order edges, each with the reads that saw it.
        let explanation = a.explanation.unwrap();
        assert_eq!(a.cycles.len(), 1, "{explanation}");
        let edges = &a.cycles[0].edges;
        assert_eq!(edges.len(), 2, "{explanation}");
        assert!(edges.iter().all(|e| e.reason == EdgeReason::WriteOrder && e.seen_by.is_some()), "{explanation}");
        assert!(explanation.contains("as process 2 saw: read by process 2 returned 1 (lines 5–6)"), "{explanation}");
        assert!(explanation.contains("as process 3 saw: read by process 3 returned 2 (lines 9–10)"), "{explanation}");
    }

    #[test]
    fn keys_are_not_checked_alone() {
        // Each key alone is fine, but process 2 sees x's write before y's and process 3 the reverse.
        let mut text = [
            op(0, "write", "invoke", "x", "1"),
            op(0, "write", "ok", "x", "1"),
            op(1, "write", "invoke", "y", "1"),
            op(1, "write", "ok", "y", "1"),
        ]
        .concat();
        for (p, (k1, k2)) in [(2, ("x", "y")), (3, ("y", "x"))] {
            text += &op(p, "read", "invoke", k1, "null");
            text += &op(p, "read", "ok", k1, "1");
            text += &op(p, "read", "invoke", k2, "null");
            text += &op(p, "read", "ok", k2, "null");
        }
        let a = verdict(&text);
        assert_eq!(a.verdict, Verdict::Invalid);
        // The cycle that proves it, whatever the write order: x's write, read by process 2, which then
        // read y's initial value, before y's write, read by process 3, which then read x's initial value,
        // before x's write.
        let explanation = a.explanation.unwrap();
        assert_eq!(a.cycles.len(), 1, "{explanation}");
        assert!(a.cycles[0].assumes.is_empty());
        let reasons: Vec<EdgeReason> = a.cycles[0].edges.iter().map(|e| e.reason).collect();
        let mut expected = vec![EdgeReason::ReadFrom, EdgeReason::ProgramOrder, EdgeReason::OverwrittenBeforeRead];
        expected.extend(expected.clone());
        let rotations: Vec<Vec<EdgeReason>> =
            (0..6).map(|i| expected[i..].iter().chain(&expected[..i]).copied().collect()).collect();
        assert!(rotations.contains(&reasons), "{reasons:?}\n{explanation}");
        assert!(
            explanation.contains("the former read the initial value, which every write overwrites"),
            "{explanation}"
        );
    }

    #[test]
    fn readers_that_need_a_search_over_write_orders_get_every_cycle() {
        // Three writes of x; process 3 reads 1 then 2, process 4 reads 3 then 1, and process 5 reads 2
        // then 3: no process's view fixes the order of all three writes, so the write order is solved for.
        let mut text = String::new();
        for (p, v) in [(0, "1"), (1, "2"), (2, "3")] {
            text += &op(p, "write", "invoke", "x", v);
            text += &op(p, "write", "ok", "x", v);
        }
        for (p, first, second) in [(3, "1", "2"), (4, "3", "1"), (5, "2", "3")] {
            text += &op(p, "read", "invoke", "x", "null");
            text += &op(p, "read", "ok", "x", first);
            text += &op(p, "read", "invoke", "x", "null");
            text += &op(p, "read", "ok", "x", second);
        }
        let a = verdict(&text);
        assert_eq!(a.verdict, Verdict::Invalid);
        assert_eq!(a.method, Method::Graph);
        assert!(!a.cycles.is_empty());
    }

    #[test]
    fn a_stale_read_behind_much_independent_work_is_decided() {
        // Process 0 writes x first; process 1 reads x as it was before, but only after a long run of its
        // own; twelve other processes work on their own keys meanwhile. Taking the write first (it was
        // invoked first) strands the stale read at once; a search that noticed only on reaching the read
        // would first try every interleaving of the others' work (some 5^12 configurations).
        // Four writes by each of `processes`, each to its own key, in rounds.
        let work = |processes: std::ops::Range<u64>| {
            let mut text = String::new();
            for value in 1..=4 {
                for p in processes.clone() {
                    text += &op(p, "write", "invoke", &format!("k{p}"), &value.to_string());
                    text += &op(p, "write", "ok", &format!("k{p}"), &value.to_string());
                }
            }
            text
        };
        let mut text = op(0, "write", "invoke", "x", "1") + &work(1..14);
        text += &op(0, "write", "ok", "x", "1");
        text += &op(1, "read", "invoke", "x", "null");
        text += &op(1, "read", "ok", "x", "null");
        let opts = Options { memory_limit: 16 << 20, ..Options::new(ModelOptions::new(ModelKind::Register)) };
        let a = check(&jsonl::parse("h", &text).unwrap(), &opts).unwrap();
        assert_eq!(a.verdict, Verdict::Valid, "{:?}", a.unknown_cause);

        // The same, with the read behind a write of its own process: process 0's write of 1 must come after
        // process 1's write of 2 and before its read of 1, so taking it first strands that read as soon
        // as it is taken, though the register holds 1 right then.
        let mut text = op(0, "write", "invoke", "x", "1");
        text += &op(1, "write", "invoke", "x", "2");
        text += &op(1, "write", "ok", "x", "2");
        text += &work(2..15);
        text += &op(0, "write", "ok", "x", "1");
        text += &op(1, "read", "invoke", "x", "null");
        text += &op(1, "read", "ok", "x", "1");
        let a = check(&jsonl::parse("h", &text).unwrap(), &opts).unwrap();
        assert_eq!(a.verdict, Verdict::Valid, "{:?}", a.unknown_cause);
    }

    fn cas_verdict(text: &str) -> Analysis {
        let history = jsonl::parse("h", text).unwrap();
        check(&history, &Options::new(ModelOptions::new(ModelKind::CasRegister))).unwrap()
    }

    #[test]
    fn a_failed_cas_right_after_its_own_write_saw_another_write() {
        // Process 0 writes 1, then its cas from 1 fails, then it reads 2: process 1's write of 2 came
        // between, and the failed cas saw it. Its own process pins the failed cas inside the interval of 1,
        // so where it was invoked says nothing; where it stood is solved for.
        let mut text = op(1, "write", "invoke", "x", "2");
        text += &op(0, "write", "invoke", "x", "1");
        text += &op(0, "write", "ok", "x", "1");
        text += &op(0, "cas", "invoke", "x", "[1, 3]");
        text += &op(0, "cas", "fail", "x", "[1, 3]");
        text += &op(0, "read", "invoke", "x", "null");
        text += &op(0, "read", "ok", "x", "2");
        text += &op(1, "write", "ok", "x", "2");
        let a = cas_verdict(&text);
        assert_eq!(a.verdict, Verdict::Valid, "{:?}", a.graph_undecided);
        assert_eq!(a.method, Method::Graph);
    }

    #[test]
    fn without_the_search_what_the_graph_method_leaves_is_unknown() {
        // A value written twice: the graph method does not apply, and the search is not asked for.
        let text = [
            op(0, "write", "invoke", "x", "1"),
            op(0, "write", "ok", "x", "1"),
            op(1, "write", "invoke", "x", "1"),
            op(1, "write", "ok", "x", "1"),
            op(2, "read", "invoke", "x", "null"),
            op(2, "read", "ok", "x", "1"),
        ]
        .concat();
        let history = jsonl::parse("h", &text).unwrap();
        let opts = Options { search: false, ..Options::new(ModelOptions::new(ModelKind::Register)) };
        let a = check(&history, &opts).unwrap();
        assert_eq!(a.verdict, Verdict::Unknown);
        assert_eq!(a.method, Method::Graph);
        let cause = a.unknown_cause.unwrap();
        assert!(cause.contains("the graph method did not decide (a value written twice to one key)"), "{cause}");
        assert_eq!(verdict(&text).verdict, Verdict::Valid, "the search decides it");
    }

    #[test]
    fn a_cycle_on_other_keys_is_a_proof_though_a_failed_cas_may_have_seen_a_write_left_out() {
        // Store buffering on x and y (each key sequential alone, the whole not), beside key z, where a
        // failed cas may have seen an indeterminate write nobody read. Leaving that write out could
        // only matter for where z's failed cas stood, and the cycle says nothing of it: the graph method's
        // "violated" stands, rather than the search deciding.
        let text = [
            op(0, "write", "invoke", "x", "1"),
            op(0, "write", "ok", "x", "1"),
            op(1, "write", "invoke", "y", "1"),
            op(1, "write", "ok", "y", "1"),
            op(0, "read", "invoke", "y", "null"),
            op(0, "read", "ok", "y", "null"),
            op(1, "read", "invoke", "x", "null"),
            op(1, "read", "ok", "x", "null"),
            op(2, "write", "invoke", "z", "1"),
            op(2, "write", "ok", "z", "1"),
            op(4, "write", "invoke", "z", "5"),
            op(4, "write", "ok", "z", "5"),
            op(3, "write", "invoke", "z", "2"),
            op(3, "write", "info", "z", "2"),
            op(2, "cas", "invoke", "z", "[1, 3]"),
            op(2, "cas", "fail", "z", "[1, 3]"),
        ]
        .concat();
        let a = cas_verdict(&text);
        assert_eq!(a.verdict, Verdict::Invalid);
        assert_eq!(a.method, Method::Graph, "{:?}", a.graph_undecided);
        assert_eq!(a.cycles.len(), 1, "{:?}", a.explanation);
        assert!(a.cycles[0].assumes.is_empty(), "{:?}", a.explanation);
    }

    #[test]
    fn a_failed_cas_that_saw_nothing_it_could_have_is_a_cycle() {
        // As above, but process 0 reads 1 after its failed cas: the cas saw something but 1 (the initial
        // value or 2), and either way 1 cannot be read after it. Every cycle assumes where it stood.
        let mut text = op(1, "write", "invoke", "x", "2");
        text += &op(1, "write", "ok", "x", "2");
        text += &op(0, "write", "invoke", "x", "1");
        text += &op(0, "write", "ok", "x", "1");
        text += &op(0, "cas", "invoke", "x", "[1, 3]");
        text += &op(0, "cas", "fail", "x", "[1, 3]");
        text += &op(0, "read", "invoke", "x", "null");
        text += &op(0, "read", "ok", "x", "1");
        let a = cas_verdict(&text);
        assert_eq!(a.verdict, Verdict::Invalid);
        assert_eq!(a.method, Method::Graph);
        let explanation = a.explanation.unwrap();
        assert!(a.cycles.len() >= 2, "{explanation}");
        assert!(
            a.cycles.iter().all(|c| c
                .assumes
                .iter()
                .any(|s| s.contains("failed") && (s.contains(" came before ") || s.contains(" came after ")))),
            "{explanation}"
        );
    }

    #[test]
    fn the_time_limit_gives_unknown() {
        let mut text = String::new();
        for p in 0..40 {
            text += &op(p, "write", "invoke", "x", &(p % 5).to_string());
        }
        text += &op(99, "read", "invoke", "x", "null");
        text += &op(99, "read", "ok", "x", "7");
        let history = jsonl::parse("h", &text).unwrap();
        let opts = Options {
            time_limit: Some(Duration::from_millis(100)),
            ..Options::new(ModelOptions::new(ModelKind::Register))
        };
        let a = check(&history, &opts).unwrap();
        assert_eq!(a.verdict, Verdict::Unknown);
        assert!(a.unknown_cause.unwrap().contains("time limit"));
    }
}
