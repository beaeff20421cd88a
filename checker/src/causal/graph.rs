//! The causal graph of one world: the operations taking part, program order and reads-from, and the
//! topological orders and cycles of it and of the relations built on it.

use rustc_hash::FxHashMap;

use super::parse::{Meaning, Parsed, Source};
use crate::history::History;

/// An operation taking part in the causal check.
#[derive(Clone, Debug)]
pub(super) struct Node {
    /// History operation id.
    pub(super) id: u32,
    pub(super) slot: u32,
    /// 1-based position in its process's included operations.
    pub(super) idx: u32,
    pub(super) key: u32,
    /// What it read (a read, or a cas's `from`), if it reads.
    pub(super) read: Option<Src>,
    pub(super) writes: bool,
}

/// A read's source, as a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Src {
    Init,
    Write(u32),
    ThinAir,
}

pub(super) struct Graph {
    pub(super) nodes: Vec<Node>,
    pub(super) slots: usize,
    /// Process id of each slot.
    pub(super) slot_process: Vec<u64>,
    /// Per key: its writes as (slot, index in the slot, node), by slot and then in program order; one flat
    /// array, so that a read's scan over every writer of its key reads memory in order (see [`writers`]).
    pub(super) key_writers: Vec<Vec<(u32, u32, u32)>>,
    /// Per (key, slot): that slot's writes of the key, as a range of `key_writers[key]`.
    pub(super) writer_range: FxHashMap<(u32, u32), (u32, u32)>,
    /// The previous node in the same process.
    pub(super) po_pred: Vec<Option<u32>>,
}

/// The causal graph of one world: `world[id]` is the source of operation `id`'s observation, `None` where
/// it observes nothing or its observation is left out (see [`crate::worlds`]).
pub(super) fn build(history: &History, parsed: &Parsed, world: &[Option<Source>]) -> Graph {
    let mut observed = vec![false; history.operations.len()];
    let mut reads: Vec<Option<Source>> = vec![None; history.operations.len()];
    // Operations that certainly happened observe what they read; an indeterminate cas observes its `from`
    // only once it is itself known to have happened (observed), else its read may never have taken place.
    let mut pending = Vec::new();
    for (id, m) in parsed.meaning.iter().enumerate() {
        let definite = match m {
            Meaning::Read { .. } | Meaning::Differs { .. } => true,
            Meaning::Write { from: Some(_), definite, .. } => *definite,
            _ => continue,
        };
        let Some(source) = world[id] else { continue };
        reads[id] = Some(source);
        match source {
            Source::Write(w) if definite => observed[w as usize] = true,
            Source::Write(w) => pending.push((id, w)),
            _ => {}
        }
    }
    // An indeterminate cas observed by someone happened, and so did its read; an indeterminate write or cas
    // nobody observed is left out. Repeat, since an included cas's read can observe another one.
    loop {
        let before = pending.len();
        pending.retain(|&(cas, w)| {
            if observed[cas] {
                observed[w as usize] = true;
            }
            !observed[cas]
        });
        if pending.len() == before {
            break;
        }
    }
    let included = |id: usize, observed: &[bool]| match &parsed.meaning[id] {
        Meaning::Read { .. } | Meaning::Differs { .. } => reads[id].is_some(),
        Meaning::Write { definite, .. } => *definite || observed[id],
        Meaning::Skip => false,
    };
    let mut node_of = vec![u32::MAX; history.operations.len()];
    let mut nodes = Vec::new();
    let mut slot_of: FxHashMap<u64, u32> = FxHashMap::default();
    let mut slot_process = Vec::new();
    let mut slot_len: Vec<u32> = Vec::new();
    let mut slot_last: Vec<u32> = Vec::new();
    let mut po_pred = Vec::new();
    for (id, op) in history.operations.iter().enumerate() {
        if !included(id, &observed) {
            continue;
        }
        let slot = *slot_of.entry(op.process).or_insert_with(|| {
            slot_process.push(op.process);
            slot_len.push(0);
            slot_last.push(u32::MAX);
            slot_process.len() as u32 - 1
        });
        slot_len[slot as usize] += 1;
        let (key, writes) = match &parsed.meaning[id] {
            Meaning::Read { key, .. } | Meaning::Differs { key, .. } => (*key, false),
            Meaning::Write { key, .. } => (*key, true),
            Meaning::Skip => unreachable!(),
        };
        node_of[id] = nodes.len() as u32;
        let last = slot_last[slot as usize];
        po_pred.push((last != u32::MAX).then_some(last));
        slot_last[slot as usize] = nodes.len() as u32;
        nodes.push(Node { id: id as u32, slot, idx: slot_len[slot as usize], key, read: None, writes });
    }
    for n in nodes.iter_mut() {
        n.read = reads[n.id as usize].map(|s| match s {
            Source::Init => Src::Init,
            Source::ThinAir => Src::ThinAir,
            Source::Write(w) => Src::Write(node_of[w as usize]),
        });
    }
    let mut key_writers: Vec<Vec<(u32, u32, u32)>> = vec![Vec::new(); parsed.keys.len()];
    for (i, n) in nodes.iter().enumerate().filter(|(_, n)| n.writes) {
        key_writers[n.key as usize].push((n.slot, n.idx, i as u32));
    }
    let mut writer_range = FxHashMap::default();
    for (key, list) in key_writers.iter_mut().enumerate() {
        list.sort_unstable();
        let mut start = 0;
        for group in list.chunk_by(|a, b| a.0 == b.0) {
            writer_range.insert((key as u32, group[0].0), (start, start + group.len() as u32));
            start += group.len() as u32;
        }
    }
    Graph { nodes, slots: slot_process.len(), slot_process, key_writers, writer_range, po_pred }
}

/// One key's writes as (slot, index in the slot, node).
pub(super) type Writes = [(u32, u32, u32)];

/// The writes of one key grouped by writer: (slot, that slot's writes of the key in program order).
pub(super) fn writers(list: &Writes) -> impl Iterator<Item = (u32, &Writes)> {
    list.chunk_by(|a, b| a.0 == b.0).map(|group| (group[0].0, group))
}

/// Topological order by Kahn's algorithm over predecessor lists; the nodes left out lie on or after a cycle.
pub(super) fn topological(n: usize, preds: &dyn Fn(u32, &mut Vec<u32>)) -> (Vec<u32>, Vec<bool>) {
    let mut indegree = vec![0u32; n];
    let mut succ_count = vec![0u32; n + 1];
    let mut buf = Vec::new();
    for v in 0..n as u32 {
        buf.clear();
        preds(v, &mut buf);
        indegree[v as usize] = buf.len() as u32;
        for &p in &buf {
            succ_count[p as usize + 1] += 1;
        }
    }
    for i in 0..n {
        succ_count[i + 1] += succ_count[i];
    }
    let mut fill = succ_count.clone();
    let mut succ = vec![0u32; succ_count[n] as usize];
    for v in 0..n as u32 {
        buf.clear();
        preds(v, &mut buf);
        for &p in &buf {
            succ[fill[p as usize] as usize] = v;
            fill[p as usize] += 1;
        }
    }
    let mut order: Vec<u32> = (0..n as u32).filter(|&v| indegree[v as usize] == 0).collect();
    let mut head = 0;
    while head < order.len() {
        let v = order[head] as usize;
        head += 1;
        for &s in &succ[succ_count[v] as usize..succ_count[v + 1] as usize] {
            indegree[s as usize] -= 1;
            if indegree[s as usize] == 0 {
                order.push(s);
            }
        }
    }
    let mut done = vec![false; n];
    for &v in &order {
        done[v as usize] = true;
    }
    (order, done)
}

/// A cycle among the nodes not `done`: walk back along undone predecessors until a node repeats.
pub(super) fn find_cycle(n: usize, done: &[bool], preds: &dyn Fn(u32, &mut Vec<u32>)) -> Vec<u32> {
    let Some(start) = (0..n).find(|&v| !done[v]) else { return Vec::new() };
    let mut seen_at = vec![usize::MAX; n];
    let mut path = Vec::new();
    let mut v = start as u32;
    let mut buf = Vec::new();
    loop {
        if seen_at[v as usize] != usize::MAX {
            let mut cycle = path[seen_at[v as usize]..].to_vec();
            cycle.reverse();
            return cycle;
        }
        seen_at[v as usize] = path.len();
        path.push(v);
        buf.clear();
        preds(v, &mut buf);
        // A node left over by Kahn has a predecessor left over too.
        match buf.iter().find(|&&p| !done[p as usize]) {
            Some(&p) => v = p,
            None => return Vec::new(),
        }
    }
}

/// The immediate causal predecessors of `v`: its predecessor in program order and the write it read.
pub(super) fn co_preds(g: &Graph, v: u32, out: &mut Vec<u32>) {
    if let Some(p) = g.po_pred[v as usize] {
        out.push(p);
    }
    if let Some(Src::Write(w)) = g.nodes[v as usize].read {
        out.push(w);
    }
}
