//! Sequential consistency of register histories with unique written values, decided as a graph problem.
//!
//! With every written value unique per key, a read names the write it read from, and a history is
//! sequentially consistent exactly when some total order of each key's writes (the *write order*) makes
//! program order, reads-from, write order and the anti-dependencies it implies (a read of `w` precedes
//! every write after `w`) acyclic together (Gibbons and Korach, "Testing shared memories", 1997). A
//! topological order of that graph is then the one order of all operations, and it is replayed against
//! the model before it is believed.
//!
//! The write order is inferred as far as each process's own view fixes it (a process that wrote or read
//! `w` and later reads or writes `x` of the same key puts `w` before `x`; a cas that read `w` comes right
//! after it), and those edges are part of the graph from the start: a cycle among them is reported at once.
//! What is left open is guessed from a topological order, which follows the order operations were invoked
//! in, so a history from a real store is mostly decided on the first guess. When a guess closes a cycle,
//! the cycle's guessed write-order pairs become a clause (not all of these orders) for a CDCL SAT solver
//! ([batsat](https://crates.io/crates/batsat), a MiniSat port in pure Rust that adds clauses between
//! solves), whose next model fixes the pairs it was asked about; the rest are guessed again. The clauses
//! are lazily added cycle constraints, as in Cobra: when they are unsatisfiable, every write order closes
//! one of the cycles found, and those cycles are the proof. A variable the fixed edges already decide (a
//! path from one write to the other) is settled by a unit clause the moment a cycle first mentions it,
//! with the cycle the other choice closes: else the solver's next model may flip it, and each flip costs a
//! round to learn what one path says. A successful cas comes right after the write it read, so a cas
//! chain (a write, the one successful cas that read it, the one that read that, ...) is consecutive in
//! every order: the variables are per pair of chains, and the guesses keep a chain together. Else each
//! other write's place, before the chain or after, is learned again for each of its writes.
//!
//! What is covered: reads, writes, successful cas, and failed cas under `--cas-fail observe`. A failed cas
//! found anything but `from`: it stood outside the interval of that one value, before the value's write or
//! after some later write of its key. Which value it saw does not matter, only where it stood: one more
//! thing solved for (a variable per place: before the forbidden write, or after each other write, at least
//! one true), guessed from where the order places it. Most failed cas the order already places outside
//! that interval, and standing there adds edges the order keeps: the guess breaks it only where a failed
//! cas stands inside. (Guessing which value it saw instead put an edge to that value's read-by node, which
//! the order places early, and broke the order at thousands of failed cas each round.) One its own process
//! pins inside the interval (it wrote or read that value just before, and acts on the key right after)
//! stands after a write that nothing fixes before that value or after the failed cas, moved right after
//! that value in the guessed write order; a cycle through a guessed place becomes a clause like any other.
//! Its places the fixed edges rule out are settled at once, as write orders are.
//!
//! An indeterminate write or cas that someone read took effect; one nobody read is left out: that keeps
//! every order that worked with it (nothing read its value), except that a failed cas may have seen it.
//! So a key with failed cas is first tried with all of its indeterminate writes taking effect (a "holds"
//! there stands, its witness replayed), then with the unread ones left out, whose "violated" is a proof
//! when none of its clauses says where a failed cas stood that could have seen a write left out (a
//! store-buffering cycle on other keys is one); otherwise the search of [`super`] decides.
//! Appends and values written twice are not covered at all.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use batsat::{lbool, BasicSolver, Lit, SolverInterface, Var};
use rustc_hash::FxHashMap;

use super::Step;
use crate::history::{History, Outcome as OpOutcome};
use crate::linear::{Budget, OpRef};
use crate::model::{Model, Problem};

/// What the graph method concluded.
pub(super) enum Decision {
    /// The witness: history operation ids in one order that the model accepted, process orders kept.
    Holds(Vec<u32>),
    Violated(Proof),
    /// The method does not apply, or could not finish: why, in words.
    Undecided(String),
}

/// Why no order exists.
pub(super) struct Proof {
    /// Cycles each write order closes: one alone when the cycle needs no guessed order at all.
    pub cycles: Vec<Cycle>,
    /// In words, for the report.
    pub explanation: String,
}

/// A cycle of "must precede" edges, edge by edge.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Cycle {
    pub edges: Vec<CycleEdge>,
    /// The write orders the cycle assumes (empty when it holds whatever the write order).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub assumes: Vec<String>,
}

/// One edge of a cycle: `from` must precede `to`, for `reason`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CycleEdge {
    pub from: OpRef,
    pub to: OpRef,
    pub reason: EdgeReason,
    /// For an anti-dependency: the write whose value `from` read and `to` overwrote.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub through: Option<OpRef>,
    /// When the write order this edge rests on is one a process saw for itself: the operation by which it
    /// saw (wrote or read) the earlier value, and the later one by which it saw the later value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seen_by: Option<(OpRef, OpRef)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EdgeReason {
    ProgramOrder,
    ReadFrom,
    WriteOrder,
    /// The read saw a value that the later write overwrote (or the initial value, which every write
    /// overwrites).
    OverwrittenBeforeRead,
    /// A failed cas and a write of its key: the cas did not find the value it expected (`through`; none
    /// for the initial value), so it came before the write of that value (the cas first), or after a
    /// later write of the key (the write first). Where it stood is one of the cycle's assumptions.
    FailedCas,
}

/// What a kept operation does to its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Write,
    /// Reads the value of node `.0` (a write, or the key's initial-value node).
    Read(u32),
    /// A successful cas: reads node `.0`'s value and writes its own.
    Cas(u32),
    /// A failed cas: the key held anything but the value of node `.0` (`NONE` when no kept operation
    /// writes it); it only constrains the witness, which is placed outside that value's interval.
    FailedCas(u32),
}

const NONE: u32 = u32::MAX;

/// The graph's nodes: `ops` operation nodes, then for each of them a "read-by" node (the reads of its
/// value all precede it; it precedes whatever overwrites the value), then per key an initial-value node
/// and its read-by node.
struct Nodes {
    ops: usize,
    keys: usize,
}

impl Nodes {
    fn total(&self) -> usize {
        2 * self.ops + 2 * self.keys
    }
    fn read_by(&self, v: u32) -> u32 {
        if (v as usize) < self.ops {
            v + self.ops as u32
        } else {
            v + self.keys as u32
        }
    }
    fn init(&self, key: usize) -> u32 {
        (2 * self.ops + key) as u32
    }
    fn is_init(&self, v: u32) -> bool {
        (v as usize) >= 2 * self.ops && (v as usize) < 2 * self.ops + self.keys
    }
    fn is_op(&self, v: u32) -> bool {
        (v as usize) < self.ops
    }
    /// For a read-by node: the write (or initial-value node) whose reads it gathers.
    fn read_of(&self, v: u32) -> Option<u32> {
        let v = v as usize;
        if (self.ops..2 * self.ops).contains(&v) {
            Some((v - self.ops) as u32)
        } else if v >= 2 * self.ops + self.keys {
            Some((v - self.keys) as u32)
        } else {
            None
        }
    }
}

/// One kept operation.
struct Op {
    key: u32,
    process: u32,
    role: Role,
    id: u32,
    call: u32,
}

/// An edge's label: `FIXED`, or the index of the assumption it follows from.
const FIXED: u32 = u32::MAX;

struct Graph<'a, O> {
    history: &'a History,
    /// The model's view of each kept operation, by node.
    model_ops: Vec<O>,
    nodes: Nodes,
    ops: Vec<Op>,
    /// Per key: its writes (op nodes), in process order.
    writes: Vec<Vec<u32>>,
    /// Per write or initial-value node: the cas that read it.
    cas_readers: FxHashMap<u32, Vec<u32>>,
    /// Edges that hold whatever the write order: (from, to, FIXED).
    fixed: Vec<(u32, u32, u32)>,
    /// Write-order pairs (earlier, later) known from the processes' own views, with the two operations
    /// of the process that saw them in that order.
    forced: FxHashMap<(u32, u32), (u32, u32)>,
    /// Per key: why a failed cas of it may have seen a write left out (one nobody read). A witness of the
    /// whole history, less such writes, keeps every edge and clause of this graph but where those failed
    /// cas stood (one may stand where a left-out write's value was current, inside its forbidden value's
    /// interval once that write is gone). So the clauses prove a violation only when none of them says
    /// where a failed cas of such a key stood.
    unproven: Vec<Option<String>>,
    /// Per node: the first write of its cas chain (a write and the successful cas that read it, the cas
    /// that read that, ...), for writes; itself otherwise. A successful cas comes right after what it
    /// read, so in every order a chain's writes are consecutive, and where another write stands is one
    /// question per chain: the write-order variables are per pair of chains.
    head: Vec<u32>,
    /// Per chain head: its last write.
    tail: FxHashMap<u32, u32>,
}

impl<O> Graph<'_, O> {
    /// Finds the cas chains: a write read by exactly one successful cas is followed by it. (A write two
    /// successful cas read is a cycle of fixed edges already: each must come right after it.)
    fn chains(&mut self) {
        let total = self.nodes.total();
        self.head = (0..total as u32).collect();
        let next = |w: u32| match self.cas_readers.get(&w).map(|r| &r[..]) {
            Some(&[c]) if !self.nodes.is_init(w) => Some(c),
            _ => None,
        };
        let mut tails = FxHashMap::default();
        for list in &self.writes {
            for &w in list {
                // A head: not the one successful cas of a write that has only it.
                let first = match self.ops[w as usize].role {
                    Role::Cas(s) => next(s) != Some(w),
                    _ => true,
                };
                if !first {
                    continue;
                }
                let mut last = w;
                while let Some(c) = next(last) {
                    self.head[c as usize] = w;
                    last = c;
                }
                tails.insert(w, last);
            }
        }
        self.tail = tails;
    }

    /// The edges of a guessed write order (each key's writes in order): each consecutive pair no process
    /// saw for itself becomes an assumption, appended to `all`, whose index labels its edges.
    fn guessed_edges(&self, chains: &[Vec<u32>], all: &mut Vec<Assumption>, edges: &mut Vec<Edge>) {
        for sorted in chains {
            for w in sorted.windows(2) {
                if !self.forced.contains_key(&(w[0], w[1])) {
                    self.pair_edges(w[0], w[1], all.len() as u32, edges);
                    all.push(Assumption::Order(w[0], w[1]));
                }
            }
        }
    }

    /// The last write of the chain that starts at `head` (an initial-value node is its own).
    fn tail_of(&self, head: u32) -> u32 {
        self.tail.get(&head).copied().unwrap_or(head)
    }

    /// The edges that `earlier` preceding `later` in the write order implies: the write order itself,
    /// and every read of `earlier` (but `later`, if it is a cas) before `later`.
    fn pair_edges(&self, earlier: u32, later: u32, label: u32, out: &mut Vec<(u32, u32, u32)>) {
        out.push((earlier, later, label));
        out.push((self.nodes.read_by(earlier), later, label));
        for &c in self.cas_readers.get(&earlier).map_or(&[][..], |v| &v[..]) {
            if c != later {
                out.push((c, later, label));
            }
        }
    }
}

/// Builds the graph, or says why the method does not apply. A read of a value nobody wrote is a cycle of
/// one: reported as `Err(Ok(..))`.
pub(super) fn decide<M: Model>(
    history: &History,
    problems: &[Problem<M>],
    processes: &[(u64, Vec<Step<M::Op>>)],
    budget: &Budget,
) -> Decision {
    // First with every indeterminate write of a key with failed cas taking effect, since one of them
    // may be what a failed cas saw; when that finds no order, with none of the unread ones. Leaving out
    // a write nobody read loses no order, unless a failed cas of its key may have seen it: a "violated" of
    // the second attempt is a proof only when no clause the solver was given says where such a failed
    // cas stood (see `Graph::unproven`).
    let with_failed_cas = processes.iter().any(|(_, chain)| {
        chain.iter().any(|s| {
            let model = &problems[s.key].model;
            model.is_read_only(&s.op) && model.needs(&s.op).is_none()
        })
    });
    if with_failed_cas {
        // (An indeterminate cas of a value nobody wrote cannot take effect: that attempt ends there.)
        if let Ok(graph) = build(history, problems, processes, true) {
            if let Decision::Holds(order) = solve(graph, problems, budget) {
                return Decision::Holds(order);
            }
        }
    }
    let graph = match build(history, problems, processes, false) {
        Ok(g) => g,
        Err(d) => return d,
    };
    solve(graph, problems, budget)
}

fn build<'a, M: Model>(
    history: &'a History,
    problems: &[Problem<M>],
    processes: &[(u64, Vec<Step<M::Op>>)],
    take_unread_writes: bool,
) -> Result<Graph<'a, M::Op>, Decision> {
    let keys = problems.len();
    // Per key: which step writes each value. Steps are numbered in process order.
    let mut writer: Vec<FxHashMap<M::State, usize>> = vec![FxHashMap::default(); keys];
    let mut flat: Vec<(u32, &Step<M::Op>)> = Vec::new();
    for (p, (_, chain)) in processes.iter().enumerate() {
        flat.extend(chain.iter().map(|s| (p as u32, s)));
    }
    for (i, &(_, step)) in flat.iter().enumerate() {
        let model = &problems[step.key].model;
        match model.leaves(&step.op) {
            Some(value) => {
                if value == model.init() {
                    return Err(Decision::Undecided("a write of the initial value".into()));
                }
                if writer[step.key].insert(value, i).is_some() {
                    return Err(Decision::Undecided("a value written twice to one key".into()));
                }
            }
            None if !model.is_read_only(&step.op) => {
                return Err(Decision::Undecided("operations whose effect depends on the state (appends)".into()))
            }
            None => {}
        }
    }
    // What each step reads: Some(Some(writer step)), Some(None) for the initial value, None if it reads
    // nothing definite. A value nobody wrote cannot be read.
    let source = |i: usize| -> Result<Option<Option<usize>>, ()> {
        let step = flat[i].1;
        let model = &problems[step.key].model;
        let Some(value) = model.needs(&step.op) else { return Ok(None) };
        if value == model.init() {
            return Ok(Some(None));
        }
        writer[step.key].get(&value).map(|&w| Some(Some(w))).ok_or(())
    };
    // Keep every definite step, and every indeterminate one some kept step reads (transitively: a kept
    // cas keeps what it read).
    // (With `take_unread_writes`, every indeterminate write of a key with a failed cas is kept too.)
    let mut failed_cas_keys = vec![false; keys];
    for (_, s) in &flat {
        let model = &problems[s.key].model;
        if model.is_read_only(&s.op) && model.needs(&s.op).is_none() {
            failed_cas_keys[s.key] = true;
        }
    }
    let mut kept: Vec<bool> =
        flat.iter().map(|(_, s)| !s.optional || (take_unread_writes && failed_cas_keys[s.key])).collect();
    let mut work: Vec<usize> = (0..flat.len()).filter(|&i| kept[i]).collect();
    while let Some(i) = work.pop() {
        match source(i) {
            Ok(Some(Some(w))) if !kept[w] => {
                kept[w] = true;
                work.push(w);
            }
            Ok(_) => {}
            Err(()) => {
                return Err(Decision::Violated(thin_air(history, problems, flat[i].1)));
            }
        }
    }
    let mut unproven: Vec<Option<String>> = vec![None; keys];
    for (&(_, s), &k) in flat.iter().zip(&kept) {
        let model = &problems[s.key].model;
        if !k && failed_cas_keys[s.key] && model.leaves(&s.op).is_some() && unproven[s.key].is_none() {
            let o = OpRef::new(history, s.id);
            unproven[s.key] = Some(format!(
                "a failed cas may have seen {} ({}), left out since nobody read it",
                o.describe(),
                o.lines()
            ));
        }
    }
    let mut node_of = vec![NONE; flat.len()];
    let mut count = 0u32;
    for i in 0..flat.len() {
        if kept[i] {
            node_of[i] = count;
            count += 1;
        }
    }
    let nodes = Nodes { ops: count as usize, keys };
    let mut ops = Vec::with_capacity(count as usize);
    let mut model_ops = Vec::with_capacity(count as usize);
    let mut writes: Vec<Vec<u32>> = vec![Vec::new(); keys];
    let mut cas_readers: FxHashMap<u32, Vec<u32>> = FxHashMap::default();
    let mut fixed = Vec::with_capacity(4 * count as usize);
    for (i, &(process, step)) in flat.iter().enumerate() {
        if !kept[i] {
            continue;
        }
        let v = node_of[i];
        let model = &problems[step.key].model;
        let src = match source(i) {
            Ok(Some(Some(w))) => Some(node_of[w]),
            Ok(Some(None)) => Some(nodes.init(step.key)),
            Ok(None) => None,
            Err(()) => unreachable!("checked above"),
        };
        let role = match (src, model.leaves(&step.op)) {
            (Some(s), Some(_)) => Role::Cas(s),
            (None, Some(_)) => Role::Write,
            (Some(s), None) => Role::Read(s),
            (None, None) => {
                // The one value it could not have seen: the initial one, or a kept write's.
                let forbidden = if model.step(&model.init(), &step.op).is_none() {
                    // Nothing else to have seen: no order places it.
                    if !writer[step.key].values().any(|&w| kept[w]) {
                        return Err(match &unproven[step.key] {
                            Some(why) => Decision::Undecided(why.clone()),
                            None => Decision::Violated(thin_air(history, problems, step)),
                        });
                    }
                    nodes.init(step.key)
                } else {
                    writer[step.key]
                        .iter()
                        .find(|(state, &w)| kept[w] && model.step(state, &step.op).is_none())
                        .map_or(NONE, |(_, &w)| node_of[w])
                };
                Role::FailedCas(forbidden)
            }
        };
        if let Some(s) = src {
            // Reads-from.
            fixed.push((s, v, FIXED));
            match role {
                Role::Cas(_) => cas_readers.entry(s).or_default().push(v),
                _ => fixed.push((v, nodes.read_by(s), FIXED)),
            }
        }
        if role == Role::Write || matches!(role, Role::Cas(_)) {
            writes[step.key].push(v);
        }
        ops.push(Op { key: step.key as u32, process, role, id: step.id, call: step.call });
        model_ops.push(step.op.clone());
    }
    // Program order.
    for w in ops.windows(2).enumerate() {
        let (i, pair) = w;
        if pair[0].process == pair[1].process {
            fixed.push((i as u32, i as u32 + 1, FIXED));
        }
    }
    let mut graph = Graph {
        history,
        model_ops,
        nodes,
        ops,
        writes,
        cas_readers,
        fixed,
        forced: Default::default(),
        unproven,
        head: Vec::new(),
        tail: FxHashMap::default(),
    };
    // Every write follows the initial value, and every read of it precedes every write (a cas of the
    // initial value precedes every other write).
    let mut extra = Vec::new();
    for key in 0..keys {
        let init = graph.nodes.init(key);
        for &w in &graph.writes[key] {
            graph.pair_edges(init, w, FIXED, &mut extra);
        }
    }
    // Write orders each process's own view fixes: per process and key, the last write it wrote or read;
    // and a cas comes right after the write it read.
    let mut forced: Vec<((u32, u32), (u32, u32))> = Vec::new();
    // Per key: the last write seen, and the operation that saw it.
    let mut last: FxHashMap<u32, (u32, u32)> = FxHashMap::default();
    for (v, op) in graph.ops.iter().enumerate() {
        let v = v as u32;
        if v > 0 && graph.ops[v as usize - 1].process != op.process {
            last.clear();
        }
        let seen = match op.role {
            Role::Read(s) => Some(s),
            Role::Cas(s) => {
                if !graph.nodes.is_init(s) {
                    forced.push(((s, v), (v, v)));
                }
                Some(s)
            }
            _ => None,
        };
        if let Some(s) = seen.filter(|&s| !graph.nodes.is_init(s)) {
            if let Some(&(l, by)) = last.get(&op.key) {
                if l != s {
                    forced.push(((l, s), (by, v)));
                }
            }
            last.insert(op.key, (s, v));
        }
        if matches!(op.role, Role::Write | Role::Cas(_)) {
            if let Some(&(l, by)) = last.get(&op.key) {
                if l != v {
                    forced.push(((l, v), (by, v)));
                }
            }
            last.insert(op.key, (v, v));
        }
    }
    for &((a, b), _) in &forced {
        if !graph.forced.contains_key(&(a, b)) {
            graph.pair_edges(a, b, FIXED, &mut extra);
        }
        graph.forced.entry((a, b)).or_insert((0, 0));
    }
    graph.forced = forced.into_iter().rev().collect();
    graph.chains();
    graph.fixed.extend(extra);
    Ok(graph)
}

fn thin_air<M: Model>(history: &History, problems: &[Problem<M>], step: &Step<M::Op>) -> Proof {
    let op = OpRef::new(history, step.id);
    let need = problems[step.key].model.requirement(&step.op).unwrap_or_default();
    Proof {
        cycles: vec![],
        explanation: format!(
            "process {}: {} ({}) needs {need}, but no operation that may have taken effect wrote such a value to \
             that key, so it can take effect in no order.",
            op.process,
            op.describe(),
            op.lines()
        ),
    }
}

/// Compressed adjacency: successors of `v` are `to[start[v]..start[v + 1]]`, with their edge labels.
struct Adjacency {
    start: Vec<u32>,
    to: Vec<(u32, u32)>,
}

impl Adjacency {
    fn new(n: usize, edges: &[&[(u32, u32, u32)]], reverse: bool) -> Adjacency {
        let mut start = vec![0u32; n + 1];
        for list in edges {
            for &(a, b, _) in list.iter() {
                let from = if reverse { b } else { a };
                start[from as usize + 1] += 1;
            }
        }
        for i in 0..n {
            start[i + 1] += start[i];
        }
        let mut fill = start.clone();
        let mut to = vec![(0, 0); start[n] as usize];
        for list in edges {
            for &(a, b, l) in list.iter() {
                let (from, other) = if reverse { (b, a) } else { (a, b) };
                to[fill[from as usize] as usize] = (other, l);
                fill[from as usize] += 1;
            }
        }
        Adjacency { start, to }
    }

    fn of(&self, v: u32) -> &[(u32, u32)] {
        &self.to[self.start[v as usize] as usize..self.start[v as usize + 1] as usize]
    }
}

/// Several adjacencies read as one: the fixed edges' (built once) and each round's few others.
struct Edges<'a>(Vec<&'a Adjacency>);

impl Edges<'_> {
    fn of(&self, v: u32) -> impl Iterator<Item = &(u32, u32)> {
        self.0.iter().flat_map(move |a| a.of(v))
    }
    fn all(&self) -> impl Iterator<Item = &(u32, u32)> {
        self.0.iter().flat_map(|a| a.to.iter())
    }
}

/// Each node's rank among those a topological sort has ready at once, lowest first, with the node in the
/// low 32 bits (one integer compares faster than a pair, and a sort reads it for every node it places):
/// virtual nodes first, since they stand for nothing that happens, then operations as they were invoked.
fn sort_keys<O>(g: &Graph<'_, O>) -> Vec<u64> {
    (0..g.nodes.total() as u32)
        .map(|v| {
            let priority = if g.nodes.is_op(v) { g.ops[v as usize].call as u64 + 1 } else { 0 };
            (priority << 32) | v as u64
        })
        .collect()
}

/// A topological order, earliest-invoked operation first among those ready (`key`: [`sort_keys`]); or,
/// when there is a cycle, the nodes left over (every one of them on a cycle or after one).
fn topological<O>(g: &Graph<'_, O>, succ: &Edges<'_>, key: &[u64]) -> Result<Vec<u32>, Vec<bool>> {
    let n = g.nodes.total();
    let mut indegree = vec![0u32; n];
    for &(b, _) in succ.all() {
        indegree[b as usize] += 1;
    }
    let mut ready: BinaryHeap<Reverse<u64>> =
        (0..n as u32).filter(|&v| indegree[v as usize] == 0).map(|v| Reverse(key[v as usize])).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(Reverse(k)) = ready.pop() {
        let v = k as u32;
        order.push(v);
        for &(s, _) in succ.of(v) {
            indegree[s as usize] -= 1;
            if indegree[s as usize] == 0 {
                ready.push(Reverse(key[s as usize]));
            }
        }
    }
    if order.len() == n {
        return Ok(order);
    }
    let mut left = vec![true; n];
    for &v in &order {
        left[v as usize] = false;
    }
    Err(left)
}

/// A topological order kept from one graph to the next. The graphs the search sorts differ from one another
/// only in a round's guessed and solved-for edges, and mostly in few of them, so rather than sort the whole
/// history again each time, the last order is repaired, one edge it breaks at a time (Pearce and Kelly, "A
/// dynamic topological sort algorithm for directed acyclic graphs", 2006): for an edge from `x` to `y`
/// placed before it, what `y` reaches ahead of `x` and what reaches `x` behind `y` swap places among
/// themselves, each keeping its own order; `y` reaching `x` is a cycle, and that edge is left out. Every
/// graph sorted holds the fixed edges, so only the round's edges can be broken.
struct Topo {
    /// The last order (empty before the first sort): a topological order of the fixed edges and the last
    /// round's edges but those that closed a cycle; and each node's place in it.
    order: Vec<u32>,
    position: Vec<u32>,
    /// Scratch: the in-stretch edges into each node not yet placed (zero outside a sort).
    indegree: Vec<u32>,
    /// Scratch for the searches: marked with the current stamp.
    mark: Vec<u32>,
    stamp: u32,
    /// Each node's [`sort_keys`].
    key: Vec<u64>,
}

/// What the searches of one repair have visited, and how much they may.
struct Visits {
    count: usize,
    limit: usize,
}

/// Edges from one node to another, by their ends.
type Ends = rustc_hash::FxHashSet<(u32, u32)>;

impl Topo {
    fn new() -> Topo {
        Topo {
            order: Vec::new(),
            position: Vec::new(),
            indegree: Vec::new(),
            mark: Vec::new(),
            stamp: 0,
            key: Vec::new(),
        }
    }

    /// A topological order of the graph of the fixed edges (`fixed`: successors, predecessors) and
    /// `round`'s; or, when there is a cycle, left-over nodes each with a left-over predecessor, every cycle
    /// passing through them.
    fn sort<O>(
        &mut self,
        g: &Graph<'_, O>,
        fixed: (&Adjacency, &Adjacency),
        round: &[&[(u32, u32, u32)]],
    ) -> Result<(), Vec<bool>> {
        let n = g.nodes.total();
        if self.order.is_empty() {
            self.key = sort_keys(g);
            let round_succ = Adjacency::new(n, round, false);
            let order = topological(g, &Edges(vec![fixed.0, &round_succ]), &self.key)?;
            self.position = vec![0; n];
            for (i, &v) in order.iter().enumerate() {
                self.position[v as usize] = i as u32;
            }
            self.indegree = vec![0; n];
            self.mark = vec![0; n];
            self.order = order;
            return Ok(());
        }
        // The broken edges, each pair of ends once: out of the graph until repaired.
        let mut broken: Vec<(u32, u32)> = round
            .iter()
            .flat_map(|list| list.iter())
            .filter(|&&(a, b, _)| self.position[a as usize] > self.position[b as usize])
            .map(|&(a, b, _)| (a, b))
            .collect();
        if broken.is_empty() {
            return Ok(());
        }
        broken.sort_unstable();
        broken.dedup();
        // (Only now, since most sorts break nothing: building it is a pass over every node.)
        let round_succ = Adjacency::new(n, round, false);
        let succ = Edges(vec![fixed.0, &round_succ]);
        let round_pred = Adjacency::new(n, round, true);
        let pred = Edges(vec![fixed.1, &round_pred]);
        let mut out: Ends = broken.iter().copied().collect();
        let mut rejected = Vec::new();
        // A repair costs what it visits; past a quarter of the graph, re-sorting the stretches is cheaper
        // (checked as it goes: one search alone can visit most of the graph).
        let mut visits = Visits { count: 0, limit: n / 4 };
        for &(x, y) in &broken {
            if self.position[x as usize] < self.position[y as usize] {
                out.remove(&(x, y));
                continue;
            }
            let Some(ahead) = self.reach(&succ, &out, y, self.position[x as usize], true, &mut visits) else {
                return self.resort(g, &succ, round);
            };
            if self.mark[x as usize] == self.stamp {
                rejected.push((x, y));
                continue;
            }
            let Some(behind) = self.reach(&pred, &out, x, self.position[y as usize], false, &mut visits) else {
                return self.resort(g, &succ, round);
            };
            let mut places: Vec<u32> = ahead.iter().chain(&behind).map(|&v| self.position[v as usize]).collect();
            places.sort_unstable();
            let mut moved = behind;
            let mut ahead = ahead;
            moved.sort_unstable_by_key(|&v| self.position[v as usize]);
            ahead.sort_unstable_by_key(|&v| self.position[v as usize]);
            moved.extend(ahead);
            for (&v, &at) in moved.iter().zip(&places) {
                self.position[v as usize] = at;
                self.order[at as usize] = v;
            }
            out.remove(&(x, y));
        }
        if rejected.is_empty() {
            return Ok(());
        }
        // Left over: the nodes on a path from `y` to `x` of a rejected edge, over the edges kept (of which
        // the order is topological), each preceded by the one before it, and `y` by `x`.
        let mut left = vec![false; n];
        for &(x, y) in &rejected {
            let ahead = self
                .reach(&succ, &out, y, self.position[x as usize], true, &mut Visits { count: 0, limit: usize::MAX })
                .expect("no limit");
            let stamp = self.stamp;
            let on_path: Vec<u32> = {
                // Back from `x` within what `y` reaches.
                let mut found = vec![x];
                let mut stack = vec![x];
                let mut seen: rustc_hash::FxHashSet<u32> = [x].into_iter().collect();
                while let Some(v) = stack.pop() {
                    for &(p, _) in pred.of(v) {
                        if self.mark[p as usize] == stamp && !out.contains(&(p, v)) && seen.insert(p) {
                            found.push(p);
                            stack.push(p);
                        }
                    }
                }
                found
            };
            debug_assert!(ahead.contains(&x));
            for v in on_path {
                left[v as usize] = true;
            }
        }
        Err(left)
    }

    /// What `from` reaches (forward) or is reached from (backward) over the edges not `out`, among the
    /// nodes placed up to `bound` (forward) or from `bound` on (backward); marked with a new stamp.
    /// `None` once the visits counted in `visits` pass its limit.
    fn reach(
        &mut self,
        adj: &Edges<'_>,
        out: &Ends,
        from: u32,
        bound: u32,
        forward: bool,
        visits: &mut Visits,
    ) -> Option<Vec<u32>> {
        self.stamp += 1;
        let stamp = self.stamp;
        self.mark[from as usize] = stamp;
        let mut found = vec![from];
        let mut stack = vec![from];
        while let Some(v) = stack.pop() {
            if visits.count > visits.limit {
                return None;
            }
            for &(w, _) in adj.of(v) {
                visits.count += 1;
                let p = self.position[w as usize];
                let within = if forward { p <= bound } else { p >= bound };
                let edge = if forward { (v, w) } else { (w, v) };
                if within && self.mark[w as usize] != stamp && !out.contains(&edge) {
                    self.mark[w as usize] = stamp;
                    found.push(w);
                    stack.push(w);
                }
            }
        }
        Some(found)
    }

    /// Re-sorts the stretches of the order that the edges of `round` it breaks span: each broken edge
    /// spans the stretch from its head to its tail, and overlapping ones are merged. Exact: an edge into
    /// or out of a stretch keeps its direction (else it would be a broken edge, and a stretch would span
    /// it), and each cycle lies within one stretch (going back down from its latest node to its earliest,
    /// it crosses every place between them on broken edges, whose stretches therefore overlap).
    fn resort<O>(&mut self, g: &Graph<'_, O>, succ: &Edges<'_>, round: &[&[(u32, u32, u32)]]) -> Result<(), Vec<bool>> {
        let n = g.nodes.total();
        let mut spans: Vec<(u32, u32)> = round
            .iter()
            .flat_map(|list| list.iter())
            .map(|&(a, b, _)| (self.position[b as usize], self.position[a as usize]))
            .filter(|&(pb, pa)| pa > pb)
            .collect();
        spans.sort_unstable();
        let mut stretches: Vec<(usize, usize)> = Vec::new();
        for (lo, hi) in spans {
            match stretches.last_mut() {
                Some(last) if lo as usize <= last.1 => last.1 = last.1.max(hi as usize),
                _ => stretches.push((lo as usize, hi as usize)),
            }
        }
        let mut left: Option<Vec<bool>> = None;
        for (lo, hi) in stretches {
            if let Err(stuck) = self.resort_stretch(succ, lo, hi) {
                let left = left.get_or_insert_with(|| vec![false; n]);
                for v in stuck {
                    left[v as usize] = true;
                }
            }
        }
        left.map_or(Ok(()), Err)
    }

    /// Re-sorts the order's places `lo..=hi`, or leaves them and returns those of its nodes that no
    /// order of them places (each on a cycle or after one).
    fn resort_stretch(&mut self, succ: &Edges<'_>, lo: usize, hi: usize) -> Result<(), Vec<u32>> {
        let position = &self.position;
        let inside = |v: u32| (lo..=hi).contains(&(position[v as usize] as usize));
        let stretch = &self.order[lo..=hi];
        for &v in stretch {
            for &(s, _) in succ.of(v) {
                if inside(s) {
                    self.indegree[s as usize] += 1;
                }
            }
        }
        // As in `topological`: virtual nodes first, then the earliest invoked.
        let key = &self.key;
        let mut ready: BinaryHeap<Reverse<u64>> =
            stretch.iter().filter(|&&v| self.indegree[v as usize] == 0).map(|&v| Reverse(key[v as usize])).collect();
        let mut sorted = Vec::with_capacity(stretch.len());
        while let Some(Reverse(k)) = ready.pop() {
            let v = k as u32;
            sorted.push(v);
            for &(s, _) in succ.of(v) {
                if inside(s) {
                    self.indegree[s as usize] -= 1;
                    if self.indegree[s as usize] == 0 {
                        ready.push(Reverse(key[s as usize]));
                    }
                }
            }
        }
        if sorted.len() < stretch.len() {
            let mut placed = rustc_hash::FxHashSet::default();
            placed.extend(sorted.iter().copied());
            let stuck: Vec<u32> = stretch.iter().copied().filter(|v| !placed.contains(v)).collect();
            for &v in stretch {
                self.indegree[v as usize] = 0;
            }
            return Err(stuck);
        }
        for (i, &v) in sorted.iter().enumerate() {
            self.position[v as usize] = (lo + i) as u32;
        }
        self.order[lo..=hi].copy_from_slice(&sorted);
        Ok(())
    }
}

/// Disjoint cycles among the `left` nodes (at most `max`), each a shortest one through the node it was
/// found at, as (from, to, label) edges. After each, its nodes are taken out and so is everything only
/// they kept on a cycle, so that one round of guesses learns about every independent conflict at once.
fn cycles(n: usize, left: &mut [bool], succ: &Edges<'_>, pred: &Edges<'_>, max: usize) -> Vec<Vec<(u32, u32, u32)>> {
    // How many left-over predecessors each left-over node has.
    let mut live = vec![0u32; n];
    for v in 0..n as u32 {
        if left[v as usize] {
            live[v as usize] = pred.of(v).filter(|&&(p, _)| left[p as usize]).count() as u32;
        }
    }
    let mut found = Vec::new();
    let mut cursor = 0usize;
    let mut seen = vec![false; n];
    while found.len() < max {
        while cursor < n && !left[cursor] {
            cursor += 1;
        }
        if cursor == n {
            break;
        }
        // Walk back along left-over predecessors until a node repeats: it lies on a cycle.
        let mut v = cursor as u32;
        let mut walked = Vec::new();
        while !seen[v as usize] {
            seen[v as usize] = true;
            walked.push(v);
            v = pred.of(v).find(|&&(p, _)| left[p as usize]).expect("a left-over node has a left-over predecessor").0;
        }
        for w in walked {
            seen[w as usize] = false;
        }
        let c = shortest_cycle(v, left, succ);
        // Take the cycle out, and peel off whatever is left without a left-over predecessor.
        let mut gone: Vec<u32> = c.iter().map(|&(a, _, _)| a).collect();
        while let Some(x) = gone.pop() {
            if !left[x as usize] {
                continue;
            }
            left[x as usize] = false;
            for &(s, _) in succ.of(x) {
                if left[s as usize] {
                    live[s as usize] -= 1;
                    if live[s as usize] == 0 {
                        gone.push(s);
                    }
                }
            }
        }
        found.push(c);
    }
    found
}

/// A shortest cycle through `start` among the `left` nodes: breadth-first.
fn shortest_cycle(start: u32, left: &[bool], succ: &Edges<'_>) -> Vec<(u32, u32, u32)> {
    let mut parent: FxHashMap<u32, (u32, u32)> = FxHashMap::default();
    let mut queue = std::collections::VecDeque::from([start]);
    'search: while let Some(a) = queue.pop_front() {
        for &(b, l) in succ.of(a) {
            if !left[b as usize] || parent.contains_key(&b) {
                continue;
            }
            parent.insert(b, (a, l));
            if b == start {
                break 'search;
            }
            queue.push_back(b);
        }
    }
    let mut edges = Vec::new();
    let mut b = start;
    loop {
        let (a, l) = parent[&b];
        edges.push((a, b, l));
        b = a;
        if b == start {
            break;
        }
    }
    edges.reverse();
    edges
}

/// How many disjoint cycles one round learns from at most.
const CYCLES_PER_ROUND: usize = 10_000;

/// What a guessed or solved-for edge rests on: one variable of the SAT problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Assumption {
    /// Write (or initial-value node) `.0` precedes write `.1` of the same key in the write order.
    Order(u32, u32),
    /// Failed cas `.0` stood outside the interval of the one value it could not have seen (its `from`):
    /// before that value's write when `.1` is that write, else after write `.1`, which comes after that
    /// value in the write order. Where it stood is solved for like the write order.
    Outside(u32, u32),
}

impl<O> Graph<'_, O> {
    /// The edges an assumption implies, labelled `label`.
    fn assumption_edges(&self, a: Assumption, label: u32, out: &mut Vec<(u32, u32, u32)>) {
        match a {
            Assumption::Order(earlier, later) => self.pair_edges(earlier, later, label, out),
            Assumption::Outside(f, w) => {
                let forbidden = self.forbidden(f);
                if w == forbidden {
                    out.push((f, w, label));
                } else {
                    // After `w`, which overwrote the value, so that everything that read it came first.
                    out.push((w, f, label));
                    self.pair_edges(forbidden, w, label, out);
                }
            }
        }
    }

    /// Where value `v` (a write, or its key's initial-value node) stands among its key's values when `chain`
    /// is their write order: the initial value at 0, `chain[i]` at `i + 1` (0 also for a write not in it).
    fn place_in(&self, chain: &[u32], v: u32) -> usize {
        if self.nodes.is_init(v) {
            0
        } else {
            chain.iter().position(|&w| w == v).map_or(0, |i| i + 1)
        }
    }

    /// The value failed cas `f` could not have seen: a write, or its key's initial-value node.
    fn forbidden(&self, f: u32) -> u32 {
        match self.ops[f as usize].role {
            Role::FailedCas(forbidden) => forbidden,
            _ => unreachable!("only a failed cas has a forbidden value"),
        }
    }

    /// Where failed cas `f` may have stood, as the writes of its `Outside` assumptions: before the write of
    /// its forbidden value (that write itself; not for the initial value, which precedes everything), or
    /// after any other write of its key.
    fn candidates(&self, f: u32) -> Vec<u32> {
        debug_assert!(self.forbidden(f) != NONE);
        self.writes[self.ops[f as usize].key as usize].clone()
    }
}

/// The SAT variables, created as cycles mention them: write-order pairs, and where each failed cas stood.
struct Orders {
    solver: BasicSolver,
    vars: FxHashMap<(u32, u32), Var>,
    /// Per failed cas: each of its candidates (see `Graph::candidates`) and the variable "it stood
    /// outside its forbidden value's interval there". At least one is true (a clause added with them).
    /// They prefer true: a model says where a failed cas may still stand (not where it stands), and the
    /// guess picks among those.
    places: FxHashMap<u32, Vec<(u32, Var)>>,
    /// Paths over the fixed edges, to settle a new variable that they already decide.
    settle: Settle,
    /// The cycles behind the unit clauses the fixed edges gave, for the proof.
    settled: Vec<Learned>,
    /// The clauses added: a cycle whose clause is one of them teaches nothing.
    known: rustc_hash::FxHashSet<Vec<Lit>>,
    /// The (failed cas, candidate) whose consequences `outside_implications` added.
    implied: rustc_hash::FxHashSet<(u32, u32)>,
}

impl Orders {
    /// The literal for `a`. A new write-order variable prefers what was guessed when a cycle first
    /// mentioned it, so that the solver's next model changes as few guesses as the clauses force, rather
    /// than some arbitrary half of them. When the fixed edges already decide it (a path from one write to
    /// the other, or one that puts a failed cas where it cannot stand: see `Settle::unplaceable`), it is
    /// settled at once by a unit clause: else each model the solver offered could flip it, and each such
    /// flip would cost a whole round to learn what a path already says.
    fn lit<O>(&mut self, g: &Graph<'_, O>, fixed: (&Adjacency, &Adjacency), a: Assumption) -> Lit {
        match a {
            Assumption::Order(a, b) => {
                // One variable per pair of cas chains (see `Graph::head`); within a chain, per pair.
                let (ha, hb) = (g.head[a as usize], g.head[b as usize]);
                let (a, b) = if ha != hb { (ha, hb) } else { (a, b) };
                let (lo, hi, sign) = if a < b { (a, b, true) } else { (b, a, false) };
                if let Some(&var) = self.vars.get(&(lo, hi)) {
                    return Lit::new(var, sign);
                }
                let var = self.solver.new_var(lbool::new(sign), true);
                self.vars.insert((lo, hi), var);
                for (x, y) in [(lo, hi), (hi, lo)] {
                    // `x`'s chain is first in every order when its first write precedes the last of `y`'s.
                    let last = if ha != hb { g.tail_of(y) } else { y };
                    if let Some(mut cycle) = self.settle.path(fixed.0, x, last) {
                        // `y`'s chain before `x`'s would close the path with the write order's edge back.
                        cycle.push((last, x, 0));
                        self.settled.push((cycle, vec![Assumption::Order(last, x)]));
                        self.solver.add_clause_reuse(&mut vec![Lit::new(var, x == lo)]);
                        break;
                    }
                }
                Lit::new(var, sign)
            }
            Assumption::Outside(f, place) => {
                if !self.places.contains_key(&f) {
                    let candidates = g.candidates(f);
                    let vars: Vec<(u32, Var)> =
                        candidates.iter().map(|&c| (c, self.solver.new_var(lbool::TRUE, true))).collect();
                    let mut some: Vec<Lit> = vars.iter().map(|&(_, v)| Lit::new(v, true)).collect();
                    self.solver.add_clause_reuse(&mut some);
                    for (cycle, c) in self.settle.unplaceable(g, fixed, f, &candidates) {
                        let var = vars.iter().find(|&&(w, _)| w == c).expect("a candidate").1;
                        self.settled.push((cycle, vec![Assumption::Outside(f, c)]));
                        self.solver.add_clause_reuse(&mut vec![Lit::new(var, false)]);
                    }
                    self.places.insert(f, vars);
                }
                let vars = &self.places[&f];
                let var = vars.iter().find(|&&(c, _)| c == place).expect("a failed cas's place is a candidate").1;
                Lit::new(var, true)
            }
        }
    }

    /// What failed cas `f` standing at candidate `c` says of the write order over the fixed edges, as
    /// clauses with their cycles. Before its forbidden value `c`: every write of its key that reaches
    /// `f` comes before `c`. After write `c`: every write `f` reaches comes after `c`. A round learns one
    /// such write at a time from its cycle, and a solver that keeps `f` where it is would move `c` past
    /// them one round each.
    fn outside_implications<O>(
        &mut self,
        g: &Graph<'_, O>,
        fixed: (&Adjacency, &Adjacency),
        f: u32,
        c: u32,
        learned: &mut Vec<Learned>,
    ) {
        if self.settle.position.is_empty() || !self.implied.insert((f, c)) {
            return;
        }
        let before = c == g.forbidden(f);
        let key = g.ops[f as usize].key as usize;
        let writes = &g.writes[key];
        let positions = writes.iter().map(|&w| self.settle.position[w as usize]);
        let bound = if before { positions.min() } else { positions.max() };
        let Some(bound) = bound else { return };
        self.settle.search(if before { fixed.1 } else { fixed.0 }, f, bound, !before);
        let found: Vec<u32> = writes
            .iter()
            .copied()
            .filter(|&z| self.settle.reached(z) && g.head[z as usize] != g.head[c as usize])
            .collect();
        // (The paths first: `lit` searches again.)
        let mut implied = Vec::new();
        for z in found {
            // Between `z` and `f` over the fixed edges: `z` to `f` (before), or `f` to `z`.
            let path = self.settle.trail(f, z, !before);
            let (order, cycle) = if before {
                // f -> c (it stood before c), c -> z (c before z), z ~> f.
                let mut cycle = vec![(f, c, 0), (c, z, 0)];
                cycle.extend(path);
                (Assumption::Order(c, z), cycle)
            } else {
                // c -> f (it stood after c), f ~> z, z -> c (z before c).
                let mut cycle = vec![(c, f, 0)];
                cycle.extend(path);
                cycle.push((z, c, 0));
                (Assumption::Order(z, c), cycle)
            };
            implied.push((order, cycle));
        }
        let outside = self.lit(g, fixed, Assumption::Outside(f, c));
        for (order, cycle) in implied {
            // A new variable prefers the order the fixed edges' topological order has (what the
            // guesses follow), not the one this clause is against.
            if let Assumption::Order(a, b) = order {
                let placed = |v: u32| self.settle.position[v as usize];
                self.lit(g, fixed, if placed(a) < placed(b) { order } else { Assumption::Order(b, a) });
            }
            let ordered = self.lit(g, fixed, order);
            let mut clause = vec![!outside, !ordered];
            clause.sort_unstable();
            if self.known.insert(clause.clone()) {
                self.solver.add_clause_reuse(&mut clause);
                learned.push((cycle, vec![Assumption::Outside(f, c), order]));
            }
        }
    }
}

/// Searches over the fixed edges, pruned by a topological order of them (`position`; empty until the
/// first round has sorted them): nothing placed after `to` leads to it. Each search visits at most
/// [`Settle::LIMIT`] nodes; one that stops there finds nothing (a unit clause is an optimisation: the
/// rounds learn what it misses).
struct Settle {
    position: Vec<u32>,
    mark: Vec<u32>,
    /// For a node marked by the current search: the node it was reached from, and that edge's label.
    parent: Vec<(u32, u32)>,
    stamp: u32,
}

impl Settle {
    const LIMIT: usize = 20_000;

    fn new() -> Settle {
        Settle { position: Vec::new(), mark: Vec::new(), parent: Vec::new(), stamp: 0 }
    }

    /// Marks what `from` reaches forward over `succ` (placed no later than `bound`) or backward over the
    /// predecessors `pred` (placed no earlier than `bound`).
    fn search(&mut self, adj: &Adjacency, from: u32, bound: u32, forward: bool) {
        if self.mark.len() != self.position.len() {
            self.mark = vec![0; self.position.len()];
            self.parent = vec![(0, 0); self.position.len()];
        }
        self.stamp += 1;
        let stamp = self.stamp;
        self.mark[from as usize] = stamp;
        let mut stack = vec![from];
        let mut visited = 0;
        while let Some(v) = stack.pop() {
            visited += 1;
            if visited > Self::LIMIT {
                return;
            }
            for &(w, l) in adj.of(v) {
                let p = self.position[w as usize];
                let within = if forward { p <= bound } else { p >= bound };
                if within && self.mark[w as usize] != stamp {
                    self.mark[w as usize] = stamp;
                    self.parent[w as usize] = (v, l);
                    stack.push(w);
                }
            }
        }
    }

    fn reached(&self, v: u32) -> bool {
        self.mark.get(v as usize) == Some(&self.stamp)
    }

    /// The path the last search (from `from`) found to `to`, which it reached, edge by edge in the
    /// graph's direction: `from` to `to` for a search forward, `to` to `from` for one backward.
    fn trail(&self, from: u32, to: u32, forward: bool) -> Vec<Edge> {
        let mut edges = Vec::new();
        let mut v = to;
        while v != from {
            let (u, l) = self.parent[v as usize];
            edges.push(if forward { (u, v, l) } else { (v, u, l) });
            v = u;
        }
        if forward {
            edges.reverse();
        }
        edges
    }

    /// A path from `from` to `to` over `succ`, edge by edge, if the search finds one.
    fn path(&mut self, succ: &Adjacency, from: u32, to: u32) -> Option<Vec<(u32, u32, u32)>> {
        if self.position.is_empty() || self.position[from as usize] > self.position[to as usize] {
            return None;
        }
        self.search(succ, from, self.position[to as usize], true);
        self.reached(to).then(|| self.trail(from, to, true))
    }

    /// The candidates of failed cas `f` that the fixed edges rule out, each with the cycle standing there
    /// closes: before its forbidden write when that write reaches `f`; after a write that `f` reaches, or
    /// that reaches the forbidden write or a read of it (it would have to come after them).
    fn unplaceable<O>(
        &mut self,
        g: &Graph<'_, O>,
        fixed: (&Adjacency, &Adjacency),
        f: u32,
        candidates: &[u32],
    ) -> Vec<(Vec<Edge>, u32)> {
        let mut found = Vec::new();
        if self.position.is_empty() {
            return found;
        }
        let forbidden = g.forbidden(f);
        if candidates.contains(&forbidden) {
            if let Some(path) = self.path(fixed.0, forbidden, f) {
                // f -> forbidden (it stood before it), forbidden ~> f.
                let mut cycle = vec![(f, forbidden, 0)];
                cycle.extend(path);
                found.push((cycle, forbidden));
            }
        }
        let at = self.position[f as usize];
        let last = candidates.iter().map(|&c| self.position[c as usize]).max().unwrap_or(0);
        if last > at {
            self.search(fixed.0, f, last, true);
            for &c in candidates {
                if c != forbidden && self.reached(c) {
                    // c -> f (it stood after c), f ~> c.
                    let mut cycle = vec![(c, f, 0)];
                    cycle.extend(self.trail(f, c, true));
                    found.push((cycle, c));
                }
            }
        }
        let first = candidates.iter().map(|&c| self.position[c as usize]).min().unwrap_or(u32::MAX);
        for target in [forbidden, g.nodes.read_by(forbidden)] {
            if self.position[target as usize] <= first {
                continue;
            }
            self.search(fixed.1, target, first, false);
            for &c in candidates {
                if c != forbidden && self.reached(c) && !found.iter().any(|&(_, d)| d == c) {
                    // target -> c (c comes after the forbidden value and its reads), c ~> target.
                    let mut cycle = vec![(target, c, 0)];
                    cycle.extend(self.trail(target, c, false));
                    found.push((cycle, c));
                }
            }
        }
        found
    }
}

/// A graph edge: (from, to, label).
type Edge = (u32, u32, u32);

/// A cycle of graph edges, and the assumptions it rests on.
type Learned = (Vec<Edge>, Vec<Assumption>);

fn solve<M: Model>(g: Graph<'_, M::Op>, problems: &[Problem<M>], budget: &Budget) -> Decision {
    let n = g.nodes.total();
    let mut orders = Orders {
        solver: BasicSolver::default(),
        vars: FxHashMap::default(),
        places: FxHashMap::default(),
        settle: Settle::new(),
        settled: Vec::new(),
        known: Default::default(),
        implied: Default::default(),
    };
    // What the solver's current model fixes.
    let mut pairs: Vec<Assumption> = Vec::new();
    let mut allowed: FxHashMap<u32, Vec<u32>> = FxHashMap::default();
    let mut learned: Vec<Learned> = Vec::new();
    // The fixed edges' adjacency, both ways (the other way only once a cycle needs it).
    let fixed_succ = Adjacency::new(n, &[&g.fixed], false);
    let fixed_pred = Adjacency::new(n, &[&g.fixed], true);
    let mut rounds = 0usize;
    let mut topo = Topo::new();
    let with_failed_cas = g.ops.iter().any(|op| matches!(op.role, Role::FailedCas(f) if f != NONE));
    // Learns a clause from each cycle among the `left` nodes of the graph of the fixed edges and
    // `round`'s, whose labels index `all`, counting in `stalled` the rounds in a row that taught it
    // nothing new; then the solver's next model, or the decision when that is the end.
    let conflict = |left: &mut Vec<bool>,
                    round: &[&[(u32, u32, u32)]],
                    all: &[Assumption],
                    orders: &mut Orders,
                    learned: &mut Vec<Learned>,
                    stalled: &mut u32|
     -> Result<SolverModel, Decision> {
        let round_succ = Adjacency::new(n, round, false);
        let round_pred = Adjacency::new(n, round, true);
        let succ = Edges(vec![&fixed_succ, &round_succ]);
        let pred = Edges(vec![&fixed_pred, &round_pred]);
        let mut new = false;
        for c in cycles(n, left, &succ, &pred, CYCLES_PER_ROUND) {
            match learn(orders, &g, (&fixed_succ, &fixed_pred), &c, all) {
                None => return Err(Decision::Violated(prove(&g, problems, vec![(c, vec![])]))),
                Some((assumed, fresh)) => {
                    new |= fresh;
                    if fresh {
                        // Where a failed cas stood and one write order: the rest of that write order
                        // with that place, at once.
                        if let [Assumption::Order(a, b), Assumption::Outside(f, c)] = assumed[..] {
                            let hc = g.head[c as usize];
                            if g.head[a as usize] == hc || g.head[b as usize] == hc {
                                orders.outside_implications(&g, (&fixed_succ, &fixed_pred), f, c, learned);
                            }
                        }
                        learned.push((c, assumed));
                    }
                }
            }
        }
        learned.append(&mut orders.settled);
        *stalled = if new { 0 } else { *stalled + 1 };
        next_model(orders, &g).ok_or_else(|| {
            // Unsatisfiable; a proof unless a clause places a failed cas that may have seen a write left out.
            let unproven = orders.places.keys().find_map(|&f| g.unproven[g.ops[f as usize].key as usize].as_ref());
            match unproven {
                Some(why) => Decision::Undecided(why.clone()),
                None => Decision::Violated(prove(&g, problems, std::mem::take(learned))),
            }
        })
    };
    // Rounds in a row that learned nothing new: the failed-cas moves of the write order are guesses the
    // clauses do not steer, so a round whose conflict the solver already knew is followed by one
    // without them; a second such round would repeat itself until the time limit, and the search is
    // given that time instead.
    let mut stalled = 0u32;
    // Scratch, kept from round to round: where each write was first read; marks for the searches.
    let mut seen_at = vec![u32::MAX; n];
    let mut marks = Marks { mark: vec![0; n], stamp: 0 };
    loop {
        rounds += 1;
        if budget.expired() {
            return Decision::Undecided(format!("the time limit was reached after {rounds} write-order guesses"));
        }
        if stalled >= 2 {
            return Decision::Undecided(format!("the write-order guesses stopped learning after {rounds} rounds"));
        }
        // The graph under the solver's answers so far.
        let mut chosen = Vec::new();
        for (i, &a) in pairs.iter().enumerate() {
            g.assumption_edges(a, i as u32, &mut chosen);
        }
        match topo.sort(&g, (&fixed_succ, &fixed_pred), &[&chosen]) {
            Ok(()) => {}
            Err(mut left) => {
                match conflict(&mut left, &[&chosen], &pairs, &mut orders, &mut learned, &mut stalled) {
                    Ok(m) => (pairs, allowed) = (m.pairs, m.allowed),
                    Err(decision) => return decision,
                }
                continue;
            }
        };
        if orders.settle.position.is_empty() {
            // The first round sorts the fixed edges alone.
            orders.settle.position = topo.position.clone();
        }
        // Guess the rest of the write order from that order. A write is taken to come where it was first
        // read (where it is, if nobody read it): the order the readers saw, which a real store's history
        // mostly keeps even for writes invoked the other way round.
        let position = &topo.position;
        seen_at.fill(u32::MAX);
        for (v, op) in g.ops.iter().enumerate() {
            if let Role::Read(s) | Role::Cas(s) = op.role {
                seen_at[s as usize] = seen_at[s as usize].min(position[v]);
            }
        }
        let mut chains: Vec<Vec<u32>> = g
            .writes
            .iter()
            .map(|list| {
                let mut sorted = list.clone();
                for &w in &sorted {
                    if seen_at[w as usize] == u32::MAX {
                        seen_at[w as usize] = position[w as usize];
                    }
                }
                // A cas chain stays together, where its first write was first read, in its own order.
                sorted.sort_unstable_by_key(|&w| {
                    let h = g.head[w as usize] as usize;
                    (seen_at[h], position[h], position[w as usize])
                });
                sorted
            })
            .collect();
        let mut all = pairs.clone();
        let mut guess_edges = Vec::new();
        g.guessed_edges(&chains, &mut all, &mut guess_edges);
        match topo.sort(&g, (&fixed_succ, &fixed_pred), &[&chosen, &guess_edges]) {
            Ok(()) => {}
            Err(mut left) => {
                match conflict(&mut left, &[&chosen, &guess_edges], &all, &mut orders, &mut learned, &mut stalled) {
                    Ok(m) => (pairs, allowed) = (m.pairs, m.allowed),
                    Err(decision) => return decision,
                }
                continue;
            }
        };
        if !with_failed_cas {
            return holds(&g, problems, &topo.order);
        }
        // Guess where each failed cas stood, among what the solver still allows: where this order places
        // it, when that is outside the interval of the value it could not have seen (no new edge breaks
        // the order); else the nearest place that closes no cycle.
        let position = &topo.position;
        let before = all.len();
        let round_succ = Adjacency::new(n, &[&chosen, &guess_edges], false);
        let succ = Edges(vec![&fixed_succ, &round_succ]);
        let chosen_succ = Adjacency::new(n, &[&chosen], false);
        let base = Edges(vec![&fixed_succ, &chosen_succ]);
        let mut places = Vec::new();
        // Writes moved in the guessed write order: (key, write, the value it now comes right after).
        let mut moves: Vec<(usize, u32, u32)> = Vec::new();
        for (v, op) in g.ops.iter().enumerate() {
            let Role::FailedCas(forbidden) = op.role else { continue };
            if forbidden == NONE {
                continue;
            }
            let f = v as u32;
            // The key's values in the guessed write order, the initial one first.
            let chain = &chains[op.key as usize];
            let init = g.nodes.init(op.key as usize);
            let value = |i: usize| if i == 0 { init } else { chain[i - 1] };
            let fits = |w: u32| allowed.get(&f).is_none_or(|a| a.contains(&w));
            // The forbidden value's place among the values, and the write that overwrites it.
            let k = g.place_in(chain, forbidden);
            let next = chain.get(k).copied();
            let at = position[v];
            // Where the order already places it outside the interval.
            if forbidden != init && at < position[forbidden as usize] && fits(forbidden) {
                places.push(Assumption::Outside(f, forbidden));
                continue;
            }
            if let Some(y) = next.filter(|&y| position[y as usize] < at && fits(y)) {
                places.push(Assumption::Outside(f, y));
                continue;
            }
            // Inside it: before the forbidden write (unless that reaches `f`), or after a write that comes
            // after it (unless `f` reaches that write), nearest first.
            let distance = |w: u32| position[w as usize].abs_diff(at);
            let mut near: Vec<u32> = (k + 1..=chain.len()).map(value).take(32).collect();
            if forbidden != init {
                near.push(forbidden);
            }
            near.retain(|&w| fits(w));
            near.sort_by_key(|&w| distance(w));
            let placeable = |w: u32, marks: &mut Marks| {
                if w == forbidden {
                    !marks.reaches(&succ, position, forbidden, f)
                } else {
                    !marks.reaches(&succ, position, f, w)
                }
            };
            if let Some(&w) = near.iter().find(|&&w| placeable(w, &mut marks)) {
                places.push(Assumption::Outside(f, w));
                continue;
            }
            // No place near: its process pins it inside the interval (it wrote or read that value just
            // before, and acts on the key right after). Then it stood after a write that came right after
            // that value: one it does not reach, moved there in the guessed write order (once per key a
            // round) that nothing fixes or solves for (over those edges only: through the guessed order,
            // `f` reaches every write after the one it is pinned before) to come elsewhere: every write up
            // to that value before it, every later one after, nearest first, on both sides, since the
            // write that overwrote a process's own value is often guessed before it.
            // (A whole cas chain moves, after a value that ends one: a chain stays together.)
            let ends_chain = g.nodes.is_init(forbidden) || g.tail_of(g.head[forbidden as usize]) == forbidden;
            let movable = |w: u32, marks: &mut Marks| {
                fits(w)
                    && ends_chain
                    && g.head[w as usize] == w
                    && (g.nodes.is_init(forbidden) || g.head[forbidden as usize] != w)
                    && !marks.reaches(&base, position, f, w)
                    && (0..=chain.len()).filter(|&i| g.head[value(i) as usize] != w).all(|i| {
                        if i <= k {
                            !marks.reaches(&base, position, w, value(i))
                        } else {
                            // (What reaches any of its chain reaches the chain's last write.)
                            !marks.reaches(&base, position, value(i), g.tail_of(w))
                        }
                    })
            };
            let moved = if stalled > 0 || moves.iter().any(|&(key, _, _)| key == op.key as usize) {
                None
            } else {
                let around = (1..=chain.len()).flat_map(|d| [k + 1 + d, k.wrapping_sub(d)]);
                around.filter(|&i| i <= chain.len() && i != 0).take(64).map(value).find(|&w| movable(w, &mut marks))
            };
            let w = match moved {
                Some(w) => {
                    moves.push((op.key as usize, w, forbidden));
                    w
                }
                // The nearest that fits, a cycle to learn from. (The solver allows at least one.)
                None => match near.first().copied().or_else(|| g.candidates(f).into_iter().find(|&w| fits(w))) {
                    Some(w) => w,
                    None => return Decision::Undecided("a failed cas was left no place to stand".into()),
                },
            };
            places.push(Assumption::Outside(f, w));
        }
        drop(succ);
        drop(base);
        if !moves.is_empty() {
            for &(key, w, after) in &moves {
                let chain = &mut chains[key];
                let moving: Vec<u32> = chain.iter().copied().filter(|&x| g.head[x as usize] == w).collect();
                chain.retain(|&x| g.head[x as usize] != w);
                let at = g.place_in(chain, after);
                chain.splice(at..at, moving);
            }
            all.truncate(pairs.len());
            guess_edges.clear();
            g.guessed_edges(&chains, &mut all, &mut guess_edges);
        }
        for a in places {
            g.assumption_edges(a, all.len() as u32, &mut guess_edges);
            all.push(a);
        }
        if !moves.is_empty() || all.len() > before {
            match topo.sort(&g, (&fixed_succ, &fixed_pred), &[&chosen, &guess_edges]) {
                Ok(()) => {}
                Err(mut left) => {
                    match conflict(&mut left, &[&chosen, &guess_edges], &all, &mut orders, &mut learned, &mut stalled) {
                        Ok(m) => (pairs, allowed) = (m.pairs, m.allowed),
                        Err(decision) => return decision,
                    }
                    continue;
                }
            };
        }
        return holds(&g, problems, &topo.order);
    }
}

/// The witness a topological order gives, replayed before it is believed.
fn holds<M: Model>(g: &Graph<'_, M::Op>, problems: &[Problem<M>], order: &[u32]) -> Decision {
    let witness: Vec<u32> = order.iter().filter(|&&v| g.nodes.is_op(v)).map(|&v| g.ops[v as usize].id).collect();
    match replay(g, problems, &witness) {
        Ok(()) => Decision::Holds(witness),
        Err(why) => Decision::Undecided(why),
    }
}

/// Marks for bounded searches of reachability, cleared by a new stamp.
struct Marks {
    mark: Vec<u32>,
    stamp: u32,
}

impl Marks {
    /// Whether `to` is reachable from `from`, in a graph of which `position` is a topological order: only
    /// nodes placed before `to` need a look. A search that grows too large answers yes (no cycle is
    /// avoided on a guess that expensive).
    fn reaches(&mut self, succ: &Edges<'_>, position: &[u32], from: u32, to: u32) -> bool {
        const LIMIT: usize = 50_000;
        if position[from as usize] > position[to as usize] {
            return false;
        }
        self.stamp += 1;
        let bound = position[to as usize];
        let mut stack = vec![from];
        let mut visited = 0;
        self.mark[from as usize] = self.stamp;
        while let Some(x) = stack.pop() {
            if x == to {
                return true;
            }
            visited += 1;
            if visited > LIMIT {
                return true;
            }
            for &(y, _) in succ.of(x) {
                if position[y as usize] <= bound && self.mark[y as usize] != self.stamp {
                    self.mark[y as usize] = self.stamp;
                    stack.push(y);
                }
            }
        }
        false
    }
}

/// Adds the clause "not every assumption this cycle rests on"; `None` if it rests on none (the cycle
/// holds whatever the write order). Returns the assumptions, and whether the clause is new.
fn learn<O>(
    orders: &mut Orders,
    g: &Graph<'_, O>,
    fixed: (&Adjacency, &Adjacency),
    cycle: &[(u32, u32, u32)],
    all: &[Assumption],
) -> Option<(Vec<Assumption>, bool)> {
    let mut assumed: Vec<Assumption> =
        cycle.iter().filter(|&&(_, _, l)| l != FIXED).map(|&(_, _, l)| all[l as usize]).collect();
    assumed.sort_unstable();
    assumed.dedup();
    if assumed.is_empty() {
        return None;
    }
    let mut clause: Vec<Lit> = assumed.iter().map(|&a| !orders.lit(g, fixed, a)).collect();
    clause.sort_unstable();
    clause.dedup();
    // Two assumptions can be one variable's two values (a write on either side of one cas chain):
    // such a clause always holds.
    let always = clause.windows(2).any(|w| w[0].var() == w[1].var());
    if always || !orders.known.insert(clause.clone()) {
        return Some((assumed, false));
    }
    orders.solver.add_clause_reuse(&mut clause);
    Some((assumed, true))
}

/// What the solver's next model says, or `None` when the clauses are unsatisfiable.
struct SolverModel {
    /// The write-order pairs it fixes.
    pairs: Vec<Assumption>,
    /// Per failed cas it has a say on: the writes it may still have seen.
    allowed: FxHashMap<u32, Vec<u32>>,
}

fn next_model<O>(orders: &mut Orders, g: &Graph<'_, O>) -> Option<SolverModel> {
    if orders.solver.solve_limited(&[]) != lbool::TRUE {
        return None;
    }
    let solver = &orders.solver;
    let mut pairs: Vec<Assumption> = orders
        .vars
        .iter()
        .map(|(&(lo, hi), &var)| {
            let (first, second) = if solver.value_var(var) == lbool::TRUE { (lo, hi) } else { (hi, lo) };
            if g.head[lo as usize] == g.head[hi as usize] {
                Assumption::Order(first, second)
            } else {
                // One chain before another: its last write before the other's first.
                Assumption::Order(g.tail_of(first), second)
            }
        })
        .collect();
    pairs.sort_unstable();
    let allowed = orders
        .places
        .iter()
        .map(|(&f, vars)| {
            (f, vars.iter().filter(|&&(_, v)| solver.value_var(v) == lbool::TRUE).map(|&(c, _)| c).collect())
        })
        .collect();
    Some(SolverModel { pairs, allowed })
}

/// Runs `witness` through the model, key by key, and checks that it keeps every process's order.
fn replay<M: Model>(g: &Graph<'_, M::Op>, problems: &[Problem<M>], witness: &[u32]) -> Result<(), String> {
    let mut states: Vec<M::State> = problems.iter().map(|p| p.model.init()).collect();
    let node_of: FxHashMap<u32, usize> = g.ops.iter().enumerate().map(|(v, op)| (op.id, v)).collect();
    let mut last_of: FxHashMap<u32, usize> = FxHashMap::default();
    for &id in witness {
        let v = node_of[&id];
        let op = &g.ops[v];
        if let Some(&prev) = last_of.get(&op.process) {
            if prev > v {
                return Err("the witness order broke a process's order".into());
            }
        }
        last_of.insert(op.process, v);
        let problem = &problems[op.key as usize];
        match problem.model.step(&states[op.key as usize], &g.model_ops[v]) {
            Some(next) => states[op.key as usize] = next,
            None => {
                let o = OpRef::new(g.history, id);
                return Err(format!(
                    "the order the graph gave does not replay: {} ({}) cannot take effect where it was placed",
                    o.describe(),
                    o.lines()
                ));
            }
        }
    }
    Ok(())
}

/// The proof, edge by edge in words, from the cycles and what each assumed.
fn prove<M: Model>(g: &Graph<'_, M::Op>, problems: &[Problem<M>], cycles: Vec<Learned>) -> Proof {
    let cycles: Vec<Cycle> = cycles.iter().map(|(c, assumed)| narrate(g, problems, c, assumed)).collect();
    let mut text = String::new();
    if cycles.len() == 1 && cycles[0].assumes.is_empty() {
        text.push_str(
            "No single order of the operations exists: each operation below must precede the next, and the last \
             the first:",
        );
        text.push_str(&words(&cycles[0]));
    } else {
        text.push_str(&format!(
            "No single order of the operations exists: every order of the writes of each key (and every place each \
             failed cas may have stood) closes one of these {} cycles (each operation must precede the next, and \
             the last the first):",
            cycles.len()
        ));
        const SHOWN: usize = 4;
        for (i, c) in cycles.iter().take(SHOWN).enumerate() {
            text.push_str(&format!("\n cycle {} (if {}):", i + 1, c.assumes.join(" and ")));
            text.push_str(&words(c));
        }
        if cycles.len() > SHOWN {
            text.push_str(&format!("\n ... and {} more cycles.", cycles.len() - SHOWN));
        }
    }
    Proof { cycles, explanation: text }
}

fn words(c: &Cycle) -> String {
    let mut text = String::new();
    for e in &c.edges {
        let at = |o: &OpRef| format!("{} ({})", o.describe(), o.lines());
        let why = match e.reason {
            EdgeReason::ProgramOrder => {
                format!("program order: process {} did the one and then the other", e.to.process)
            }
            EdgeReason::ReadFrom => "read-from: the latter read what the former wrote".to_string(),
            EdgeReason::WriteOrder => "write order: the latter overwrote the former".to_string(),
            EdgeReason::OverwrittenBeforeRead => match &e.through {
                Some(w) => format!(
                    "overwritten before read: the former read the value of {}, which the latter overwrote",
                    at(w)
                ),
                None => "overwritten before read: the former read the initial value, which every write overwrites"
                    .to_string(),
            },
            EdgeReason::FailedCas => {
                let expected = e.through.as_ref().map_or("the initial value".to_string(), at);
                if e.from.outcome == OpOutcome::Fail {
                    format!("failed cas: the former did not find the value of {expected}, and came before that write")
                } else {
                    format!(
                        "failed cas: the latter did not find the value of {expected}, and came after the former, a \
                         later write"
                    )
                }
            }
        };
        let why = match &e.seen_by {
            Some((x, y)) => format!("{why} (as process {} saw: {}, then {})", x.process, at(x), at(y)),
            None => why,
        };
        text.push_str(&format!("\n  - {} precedes {}: {why}", at(&e.from), at(&e.to)));
    }
    text
}

/// A cycle of graph edges as operation-to-operation edges with reasons: a read-by node is folded into
/// the edge from a read to the write that overwrote what it read.
fn narrate<M: Model>(
    g: &Graph<'_, M::Op>,
    _problems: &[Problem<M>],
    c: &[(u32, u32, u32)],
    assumed: &[Assumption],
) -> Cycle {
    let op = |v: u32| OpRef::new(g.history, g.ops[v as usize].id);
    let describe_write = |v: u32| {
        if g.nodes.is_init(v) {
            "the initial value".to_string()
        } else {
            let o = op(v);
            format!("{} ({})", o.describe(), o.lines())
        }
    };
    // The operations by which a process saw `a`'s value and then `b`'s, when that fixed their order.
    let seen = |a: u32, b: u32| g.forced.get(&(a, b)).filter(|&&(x, y)| x != y).map(|&(x, y)| (op(x), op(y)));
    // Rotate so that the cycle starts at an operation node.
    let start = c.iter().position(|&(a, _, _)| g.nodes.is_op(a)).unwrap_or(0);
    let rotated: Vec<(u32, u32, u32)> = c[start..].iter().chain(&c[..start]).copied().collect();
    let mut edges = Vec::new();
    let mut i = 0;
    while i < rotated.len() {
        let (a, b, _) = rotated[i];
        if g.nodes.is_op(b) {
            let (oa, ob) = (&g.ops[a as usize], &g.ops[b as usize]);
            let reads_a = matches!(ob.role, Role::Read(s) | Role::Cas(s) if s == a);
            let outside = |f: u32, w: u32| assumed.contains(&Assumption::Outside(f, w));
            // Before its forbidden value's write, or after a later write.
            let failed_cas = match (oa.role, ob.role) {
                (Role::FailedCas(x), _) if x == b && outside(a, b) => Some(x),
                (_, Role::FailedCas(x)) if x != a && outside(b, a) => Some(x),
                _ => None,
            };
            let reason = if reads_a {
                EdgeReason::ReadFrom
            } else if failed_cas.is_some() {
                EdgeReason::FailedCas
            } else if oa.process == ob.process && a + 1 == b {
                EdgeReason::ProgramOrder
            } else if matches!(oa.role, Role::Cas(_) | Role::Write) && oa.key == ob.key {
                EdgeReason::WriteOrder
            } else {
                // A cas that read a value precedes what overwrote it.
                EdgeReason::OverwrittenBeforeRead
            };
            let (through, earlier) = match (reason, oa.role, failed_cas) {
                (EdgeReason::OverwrittenBeforeRead, Role::Cas(s), _) => ((!g.nodes.is_init(s)).then(|| op(s)), s),
                (EdgeReason::FailedCas, _, Some(x)) => ((!g.nodes.is_init(x)).then(|| op(x)), a),
                _ => (None, a),
            };
            let seen_by = match reason {
                EdgeReason::WriteOrder | EdgeReason::OverwrittenBeforeRead => seen(earlier, b),
                _ => None,
            };
            edges.push(CycleEdge { from: op(a), to: op(b), reason, through, seen_by });
            i += 1;
        } else {
            // a → read-by(w) → b: a read of w, before b overwrote it.
            let (_, b2, _) = rotated[(i + 1) % rotated.len()];
            let w = g.nodes.read_of(b).expect("a read-by node");
            let through = (!g.nodes.is_init(w)).then(|| op(w));
            let seen_by = seen(w, b2);
            edges.push(CycleEdge {
                from: op(a),
                to: op(b2),
                reason: EdgeReason::OverwrittenBeforeRead,
                through,
                seen_by,
            });
            i += 2;
        }
    }
    let assumes = assumed
        .iter()
        .map(|&a| match a {
            Assumption::Order(a, b) => format!("{} is overwritten by {}", describe_write(a), describe_write(b)),
            Assumption::Outside(f, w) if w == g.forbidden(f) => {
                format!("{} came before {}", describe_write(f), describe_write(w))
            }
            Assumption::Outside(f, w) => format!(
                "{} came after {}, written after {}",
                describe_write(f),
                describe_write(w),
                describe_write(g.forbidden(f))
            ),
        })
        .collect();
    Cycle { edges, assumes }
}
