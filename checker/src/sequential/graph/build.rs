//! The graph of a history: an operation node per kept operation, a read-by node per value, and the edges
//! that hold whatever the write order (program order, reads-from, what each process saw for itself); the
//! cas chains that the write-order variables are per pair of.

use rustc_hash::FxHashMap;

use super::decision::{Decision, Proof};
use crate::graph::Edge;
use crate::history::History;
use crate::model::{Model, Problem};
use crate::op_ref::OpRef;
use crate::sequential::step::Step;

/// What a kept operation does to its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Role {
    Write,
    /// Reads the value of node `.0` (a write, or the key's initial-value node).
    Read(u32),
    /// A successful cas: reads node `.0`'s value and writes its own.
    Cas(u32),
    /// A failed cas: the key held anything but the value of node `.0` (`NONE` when no kept operation
    /// writes it); it only constrains the witness, which is placed outside that value's interval.
    FailedCas(u32),
}

pub(super) const NONE: u32 = u32::MAX;

/// The graph's nodes: `ops` operation nodes, then for each of them a "read-by" node (the reads of its
/// value all precede it; it precedes whatever overwrites the value), then per key an initial-value node
/// and its read-by node.
pub(super) struct Nodes {
    pub(super) ops: usize,
    pub(super) keys: usize,
}

impl Nodes {
    pub(super) fn total(&self) -> usize {
        2 * self.ops + 2 * self.keys
    }
    pub(super) fn read_by(&self, v: u32) -> u32 {
        if (v as usize) < self.ops {
            v + self.ops as u32
        } else {
            v + self.keys as u32
        }
    }
    pub(super) fn init(&self, key: usize) -> u32 {
        (2 * self.ops + key) as u32
    }
    pub(super) fn is_init(&self, v: u32) -> bool {
        (v as usize) >= 2 * self.ops && (v as usize) < 2 * self.ops + self.keys
    }
    pub(super) fn is_op(&self, v: u32) -> bool {
        (v as usize) < self.ops
    }
    /// For a read-by node: the write (or initial-value node) whose reads it gathers.
    pub(super) fn read_of(&self, v: u32) -> Option<u32> {
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
pub(super) struct Op {
    pub(super) key: u32,
    pub(super) process: u32,
    pub(super) role: Role,
    pub(super) id: u32,
    pub(super) call: u32,
}

/// An edge's label: `FIXED`, or the index of the assumption it follows from.
pub(super) const FIXED: u32 = u32::MAX;

pub(super) struct Graph<'a, O> {
    pub(super) history: &'a History,
    /// The model's view of each kept operation, by node.
    pub(super) model_ops: Vec<O>,
    pub(super) nodes: Nodes,
    pub(super) ops: Vec<Op>,
    /// Per key: its writes (op nodes), in process order.
    pub(super) writes: Vec<Vec<u32>>,
    /// Per write or initial-value node: the cas that read it.
    pub(super) cas_readers: FxHashMap<u32, Vec<u32>>,
    /// Edges that hold whatever the write order: (from, to, FIXED).
    pub(super) fixed: Vec<Edge>,
    /// Write-order pairs (earlier, later) known from the processes' own views, with the two operations
    /// of the process that saw them in that order.
    pub(super) forced: FxHashMap<(u32, u32), (u32, u32)>,
    /// Per key: why a failed cas of it may have seen a write left out (one nobody read). A witness of the
    /// whole history, less such writes, keeps every edge and clause of this graph but where those failed
    /// cas stood (one may stand where a left-out write's value was current, inside its forbidden value's
    /// interval once that write is gone). So the clauses prove a violation only when none of them says
    /// where a failed cas of such a key stood.
    pub(super) unproven: Vec<Option<String>>,
    /// Per node: the first write of its cas chain (a write and the successful cas that read it, the cas
    /// that read that, ...), for writes; itself otherwise. A successful cas comes right after what it
    /// read, so in every order a chain's writes are consecutive, and where another write stands is one
    /// question per chain: the write-order variables are per pair of chains.
    pub(super) head: Vec<u32>,
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

    /// The last write of the chain that starts at `head` (an initial-value node is its own).
    pub(super) fn tail_of(&self, head: u32) -> u32 {
        self.tail.get(&head).copied().unwrap_or(head)
    }

    /// The edges that `earlier` preceding `later` in the write order implies: the write order itself,
    /// and every read of `earlier` (but `later`, if it is a cas) before `later`.
    pub(super) fn pair_edges(&self, earlier: u32, later: u32, label: u32, out: &mut Vec<Edge>) {
        out.push((earlier, later, label));
        out.push((self.nodes.read_by(earlier), later, label));
        for &c in self.cas_readers.get(&earlier).map_or(&[][..], |v| &v[..]) {
            if c != later {
                out.push((c, later, label));
            }
        }
    }

    /// Where value `v` (a write, or its key's initial-value node) stands among its key's values when `chain`
    /// is their write order: the initial value at 0, `chain[i]` at `i + 1` (0 also for a write not in it).
    pub(super) fn place_in(&self, chain: &[u32], v: u32) -> usize {
        if self.nodes.is_init(v) {
            0
        } else {
            chain.iter().position(|&w| w == v).map_or(0, |i| i + 1)
        }
    }

    /// The value failed cas `f` could not have seen: a write, or its key's initial-value node.
    pub(super) fn forbidden(&self, f: u32) -> u32 {
        match self.ops[f as usize].role {
            Role::FailedCas(forbidden) => forbidden,
            _ => unreachable!("only a failed cas has a forbidden value"),
        }
    }

    /// Where failed cas `f` may have stood, as the writes of its `Outside` assumptions: before the write of
    /// its forbidden value (that write itself; not for the initial value, which precedes everything), or
    /// after any other write of its key.
    pub(super) fn candidates(&self, f: u32) -> Vec<u32> {
        debug_assert!(self.forbidden(f) != NONE);
        self.writes[self.ops[f as usize].key as usize].clone()
    }
}

pub(super) fn build<'a, M: Model>(
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
