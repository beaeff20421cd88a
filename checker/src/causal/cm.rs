//! Causal memory: the shared views that settle most processes cheaply, and the exact per-process
//! happens-before fixpoint for the rest.

use std::time::Instant;

use rustc_hash::FxHashMap;

use super::ccv::Conflicts;
use super::checker::Checker;
use super::graph::{co_preds, writers, Src};
use super::types::{Anomaly, AnomalyKind, Status, Variant, VariantResult};
use crate::history::Outcome;

/// One total order of all nodes that extends causal order, and the conflict order too where that is
/// acyclic, taking nodes in real-time order wherever causality leaves a choice: the candidate view of every
/// process for [`served_by_view`]. Returned as each node's position.
///
/// The conflict edges are every process's first extra happens-before edges, so a view that follows them
/// serves most processes; following real time makes it close to the order in which a store that is nearly
/// linearizable served its reads. The choice of order only decides how many processes are left to the
/// fixpoint, never a verdict: [`served_by_view`] tests the view it gives exactly.
pub(super) fn view_order(c: &Checker<'_>, conflicts: &Conflicts) -> Vec<u32> {
    let n = c.g.nodes.len();
    let co = |v: u32, out: &mut Vec<u32>| co_preds(&c.g, v, out);
    let co_cf = |v: u32, out: &mut Vec<u32>| {
        co_preds(&c.g, v, out);
        out.extend_from_slice(&conflicts.cf[v as usize]);
    };
    // A read where it was invoked, a write where it completed: of a read and a write that overlap, the
    // read that did not see the write comes first, as a store that serves reads in real time would have
    // ordered them. An indeterminate write has no completion worth the name: where it was invoked.
    let rank: Vec<(u32, u32)> =
        c.g.nodes
            .iter()
            .enumerate()
            .map(|(v, node)| {
                let op = &c.history.operations[node.id as usize];
                let at = match op.complete {
                    Some(done) if node.writes && op.outcome == Outcome::Ok => done,
                    _ => op.invoke,
                };
                (at, v as u32)
            })
            .collect();
    // Of two writes of a key that overlap, the one a later read did not return was overwritten by the one
    // it did: `overwritten[w]` lists the writes `z` ordered before `w` so, taken from reads that began after
    // `z` completed.
    let span = |v: u32| {
        let op = &c.history.operations[c.g.nodes[v as usize].id as usize];
        (op.invoke, op.complete.filter(|_| op.outcome == Outcome::Ok).unwrap_or(u32::MAX))
    };
    let mut by_completion: Vec<Vec<(u32, u32)>> = vec![Vec::new(); c.g.key_writers.len()];
    for (key, list) in c.g.key_writers.iter().enumerate() {
        by_completion[key] = list.iter().map(|&(_, _, v)| (span(v).1, v)).collect();
        by_completion[key].sort_unstable();
    }
    let mut overwritten: Vec<Vec<u32>> = vec![Vec::new(); n];
    for (r, node) in c.g.nodes.iter().enumerate() {
        let Some(Src::Write(w)) = node.read else { continue };
        let ((w_invoke, w_complete), r_invoke) = (span(w), span(r as u32).0);
        let list = &by_completion[node.key as usize];
        let start = list.partition_point(|&(done, _)| done <= w_invoke);
        for &(done, z) in &list[start..] {
            if done >= r_invoke {
                break;
            }
            if z != w && span(z).0 < w_complete && !overwritten[w as usize].contains(&z) {
                overwritten[w as usize].push(z);
            }
        }
    }
    let co_cf_ww = |v: u32, out: &mut Vec<u32>| {
        co_cf(v, out);
        out.extend_from_slice(&overwritten[v as usize]);
    };
    let order = history_topological(&rank, &co_cf_ww)
        .or_else(|| history_topological(&rank, &co_cf))
        .unwrap_or_else(|| history_topological(&rank, &co).expect("causal order is acyclic when CM is checked"));
    positions(&order)
}

/// The candidate view `hint` gives (history operation ids in order), as each node's position: causal order
/// taken with the hint's order wherever causality leaves a choice, nodes it leaves out after the rest in
/// `view`'s order. Where the hint extends causal order, that is the hint's own order.
pub(super) fn hinted_order(c: &Checker<'_>, hint: &[u32], view: &[u32]) -> Vec<u32> {
    let mut at = vec![u32::MAX; c.history.operations.len()];
    for (i, &id) in hint.iter().enumerate() {
        if let Some(a) = at.get_mut(id as usize) {
            *a = i as u32;
        }
    }
    let rank: Vec<(u64, u32)> =
        c.g.nodes
            .iter()
            .enumerate()
            .map(|(v, node)| match at[node.id as usize] {
                u32::MAX => ((1 << 32) + u64::from(view[v]), v as u32),
                i => (u64::from(i), v as u32),
            })
            .collect();
    positions(&history_topological(&rank, &|v, out| co_preds(&c.g, v, out)).expect("causal order is acyclic here"))
}

/// Each node's place in `order`, a permutation of the nodes.
pub(super) fn positions(order: &[u32]) -> Vec<u32> {
    let mut position = vec![0u32; order.len()];
    for (i, &v) in order.iter().enumerate() {
        position[v as usize] = i as u32;
    }
    position
}

/// A topological order over predecessor lists that takes the ready node of smallest `rank` first (`rank[v]`
/// ends with `v`); `None` if there is a cycle.
pub(super) fn history_topological<R: Ord + Copy>(
    rank: &[(R, u32)],
    preds: &dyn Fn(u32, &mut Vec<u32>),
) -> Option<Vec<u32>> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let n = rank.len();
    let mut indegree = vec![0u32; n];
    let mut succ: Vec<Vec<u32>> = vec![Vec::new(); n];
    let mut buf = Vec::new();
    for v in 0..n as u32 {
        buf.clear();
        preds(v, &mut buf);
        indegree[v as usize] = buf.len() as u32;
        for &p in &buf {
            succ[p as usize].push(v);
        }
    }
    let mut ready: BinaryHeap<Reverse<(R, u32)>> =
        (0..n).filter(|&v| indegree[v] == 0).map(|v| Reverse(rank[v])).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(Reverse((_, v))) = ready.pop() {
        order.push(v);
        for &s in &succ[v as usize] {
            indegree[s as usize] -= 1;
            if indegree[s as usize] == 0 {
                ready.push(Reverse(rank[s as usize]));
            }
        }
    }
    (order.len() == n).then_some(order)
}

/// Clears `forced` for each process for which the order `position` (extending causal order), restricted to
/// the causal past of the process's last operation, is a valid causal-memory view: every read of the
/// process returns the last write of its key before it. Such an order restricted further to the causal past
/// of any earlier operation of the process is still valid for the reads up to it (it loses writes, never the
/// one a read returned, which is in the read's past), so the process satisfies CM, and its happens-before,
/// which every valid view extends, is acyclic with no write before a read of the initial value.
///
/// Cost: per read, the writes of its key between the write it returned (or the start) and itself in the
/// order, each tested against one vector clock.
pub(super) fn served_by_view(c: &Checker<'_>, position: &[u32], forced: &mut [bool]) {
    // Per key, its writes by position.
    let mut by_position: Vec<Vec<(u32, u32)>> = vec![Vec::new(); c.g.key_writers.len()];
    for (key, list) in c.g.key_writers.iter().enumerate() {
        by_position[key] = list.iter().map(|&(_, _, v)| (position[v as usize], v)).collect();
        by_position[key].sort_unstable();
    }
    let mut last = vec![u32::MAX; c.g.slots];
    for (v, node) in c.g.nodes.iter().enumerate() {
        last[node.slot as usize] = v as u32;
    }
    let mut unserved = vec![false; c.g.slots];
    for (v, node) in c.g.nodes.iter().enumerate() {
        let slot = node.slot as usize;
        if !forced[slot] || unserved[slot] {
            continue;
        }
        let from = match node.read {
            Some(Src::Init) => 0,
            Some(Src::Write(w)) => position[w as usize] + 1,
            _ => continue,
        };
        let to = position[v];
        let list = &by_position[node.key as usize];
        let start = list.partition_point(|&(p, _)| p < from);
        let end = list.partition_point(|&(p, _)| p < to);
        let l = last[slot];
        let in_view = |z: u32| {
            let zn = &c.g.nodes[z as usize];
            zn.slot == node.slot || c.past(l, zn.slot) >= zn.idx
        };
        if list[start..end.max(start)].iter().any(|&(_, z)| in_view(z)) {
            unserved[slot] = true;
        }
    }
    for (f, u) in forced.iter_mut().zip(unserved) {
        *f = *f && u;
    }
}

/// Entries of vector clocks the causal-memory fixpoint may join in one round, where dense clocks of every
/// operation would not have fitted in memory (a round costs about a second per few billion).
pub(super) const CM_WORK_LIMIT: u64 = 4_000_000_000;

/// The entries [`check_cm`] joins in one round of its fixpoint, at most: per process, every read and target
/// joins the last target of each writer process of its targets, a vector of one entry per process.
pub(super) fn cm_work(c: &Checker<'_>, forced: &[bool]) -> u64 {
    let mut reads = vec![0u64; c.g.slots];
    let mut targets: Vec<Vec<u32>> = vec![Vec::new(); c.g.slots];
    for node in c.g.nodes.iter().filter(|node| forced[node.slot as usize]) {
        if let Some(src) = node.read {
            reads[node.slot as usize] += 1;
            if let Src::Write(w) = src {
                targets[node.slot as usize].push(w);
            }
        }
    }
    let mut work = 0u64;
    for (slot, t) in targets.iter_mut().enumerate() {
        t.sort_unstable();
        t.dedup();
        let mut groups: Vec<u32> = t.iter().map(|&w| c.g.nodes[w as usize].slot).collect();
        groups.sort_unstable();
        groups.dedup();
        let joins = (reads[slot] + t.len() as u64) * groups.len() as u64;
        work = work.saturating_add(joins.saturating_mul(c.g.slots as u64));
    }
    work
}

/// CM: per process, the happens-before of its last operation, as a fixpoint.
///
/// `hb` is the smallest transitive relation containing causal order (within the causal past) and, for each
/// read `r` of this process of `w` on key k, an edge `z → w` for every other write `z` of k with `z hb r`.
/// Every extra edge ends at a write the process read (a *target*), so the strict `hb`-past of any operation
/// is its causal past joined with the `hb`-pasts of the targets causally before it, plus, for a target, the
/// extra edges into it. `hb`-pasts are closed under program order, so they are vector clocks too.
///
/// Only the processes `forced` are computed. For any other process, the first round adds no extra edge: a
/// read `r` of `w` adds `z → w` only for a write `z` of its key in its (then causal) past that is not `w`
/// nor causally before it, and the scan of CC's patterns has found none (per writer, only the last write
/// in `r`'s past needs looking at, as there). With no extra edge `hb` is causal order, which is acyclic,
/// and a read of the initial value with a write of its key in its `hb`-past is CC's `WriteCOInitRead`; CC
/// holds when this runs, so such a process satisfies CM.
pub(super) fn check_cm(c: &Checker<'_>, forced: &[bool], deadline: Option<Instant>) -> VariantResult {
    let n = c.g.nodes.len();
    let slots = c.g.slots;
    let mut by_slot: Vec<Vec<u32>> = vec![Vec::new(); slots];
    for v in 0..n as u32 {
        let slot = c.g.nodes[v as usize].slot as usize;
        if forced[slot] {
            by_slot[slot].push(v);
        }
    }
    let mut anomalies = Vec::new();
    for reads_of in &by_slot {
        let reads: Vec<u32> = reads_of.iter().copied().filter(|&v| c.g.nodes[v as usize].read.is_some()).collect();
        if reads.is_empty() {
            continue;
        }
        // Targets and their hb-pasts, grouped by slot in program order.
        let mut targets: Vec<u32> = reads
            .iter()
            .filter_map(|&r| if let Some(Src::Write(w)) = c.g.nodes[r as usize].read { Some(w) } else { None })
            .collect();
        targets.sort_unstable_by_key(|&t| (c.g.nodes[t as usize].slot, c.g.nodes[t as usize].idx));
        targets.dedup();
        let mut h: FxHashMap<u32, Vec<u32>> = targets.iter().map(|&t| (t, c.clocks.dense(&c.g, t))).collect();
        let mut groups: Vec<(u32, Vec<u32>)> = Vec::new();
        for &t in &targets {
            let s = c.g.nodes[t as usize].slot;
            match groups.last_mut() {
                Some((gs, list)) if *gs == s => list.push(t),
                _ => groups.push((s, vec![t])),
            }
        }
        // Inclusive hb-past of any node: its causal past, joined with the targets before it, to a fixpoint.
        let hb = |v: u32, h: &FxHashMap<u32, Vec<u32>>, inclusive: bool| -> Vec<u32> {
            let mut row = match h.get(&v) {
                Some(r) => r.clone(),
                None => c.clocks.dense(&c.g, v),
            };
            let nv = &c.g.nodes[v as usize];
            if inclusive {
                row[nv.slot as usize] = row[nv.slot as usize].max(nv.idx);
            }
            loop {
                let mut grew = false;
                for (s, list) in &groups {
                    let bound = row[*s as usize];
                    let k = list.partition_point(|&t| c.g.nodes[t as usize].idx <= bound);
                    let k = if k > 0 && list[k - 1] == v { k - 1 } else { k };
                    if k == 0 {
                        continue;
                    }
                    let t = list[k - 1];
                    for (a, b) in row.iter_mut().zip(&h[&t]) {
                        if *b > *a {
                            *a = *b;
                            grew = true;
                        }
                    }
                }
                if !grew {
                    return row;
                }
            }
        };
        // Extra edges into each target, with the read that forced each.
        let mut into: FxHashMap<u32, Vec<(u32, u32)>> = FxHashMap::default();
        let mut because: FxHashMap<u32, (u32, u32)> = FxHashMap::default();
        let mut violated: Option<Anomaly> = None;
        loop {
            if deadline.is_some_and(|d| Instant::now() > d) {
                return VariantResult {
                    variant: Variant::CM,
                    status: Status::Unknown,
                    anomalies,
                    anomaly_count: 0,
                    unknown_cause: Some("the time limit was reached during the causal-memory fixpoint".into()),
                };
            }
            let mut changed = false;
            for &r in &reads {
                let node = &c.g.nodes[r as usize];
                let Some(Src::Write(w)) = node.read else { continue };
                let mut hr = hb(r, &h, true);
                // A cas reads before it writes: its own write is not in the past of its read.
                if node.writes {
                    hr[node.slot as usize] = node.idx - 1;
                }
                for (slot, list) in writers(&c.g.key_writers[node.key as usize]) {
                    let Some(z) = c.last_write(list, hr[slot as usize]) else { continue };
                    let zn = &c.g.nodes[z as usize];
                    if z == w || h[&w][zn.slot as usize] >= zn.idx {
                        continue;
                    }
                    let edges = into.entry(w).or_default();
                    if !edges.iter().any(|&(e, _)| e == z) {
                        edges.push((z, r));
                    }
                }
            }
            for &t in &targets {
                // A target's strict hb-past: its own and the targets' before it, and the extra edges into it.
                let mut acc = hb(t, &h, false);
                for &(z, r) in into.get(&t).map_or(&[][..], |e| &e[..]) {
                    // Already in t's hb-past: then so is z's (hb-pasts are closed), up to the fixpoint, which
                    // the joins of targets in `hb` reach.
                    let zn = &c.g.nodes[z as usize];
                    if acc[zn.slot as usize] >= zn.idx {
                        continue;
                    }
                    let hz = hb(z, &h, true);
                    let mut grew = false;
                    for (a, b) in acc.iter_mut().zip(&hz) {
                        if *b > *a {
                            *a = *b;
                            grew = true;
                        }
                    }
                    if grew {
                        because.entry(t).or_insert((z, r));
                    }
                }
                let ht = h.get_mut(&t).expect("target");
                if acc.iter().zip(ht.iter()).any(|(a, b)| a > b) {
                    for (a, b) in ht.iter_mut().zip(&acc) {
                        *a = (*a).max(*b);
                    }
                    changed = true;
                }
            }
            if !changed {
                break;
            }
            let cyclic = targets.iter().any(|&t| {
                let tn = &c.g.nodes[t as usize];
                h[&t][tn.slot as usize] >= tn.idx
            });
            if cyclic {
                break;
            }
        }
        if violated.is_none() {
            for &t in &targets {
                let tn = &c.g.nodes[t as usize];
                if h[&t][tn.slot as usize] >= tn.idx {
                    let Some(&(z, r)) = because.get(&t) else { continue };
                    let text = format!(
                        "process {}'s happens-before order is cyclic: {} must precede {} (because of its read at {}) \
                         and also follows it.",
                        c.process(r),
                        c.describe(z),
                        c.describe(t),
                        c.at(r)
                    );
                    violated = Some(c.anomaly(AnomalyKind::CyclicHB, &[r, t, z], text));
                    break;
                }
            }
        }
        if violated.is_none() {
            for &r in &reads {
                let node = &c.g.nodes[r as usize];
                if node.read != Some(Src::Init) {
                    continue;
                }
                let hr = hb(r, &h, true);
                let own = &mut hr.clone();
                own[node.slot as usize] = node.idx - 1;
                for (slot, list) in writers(&c.g.key_writers[node.key as usize]) {
                    if let Some(z) = c.last_write(list, own[slot as usize]) {
                        // Which forced order put z before the read: a target before the read whose view has z.
                        let zn = &c.g.nodes[z as usize];
                        let why = targets
                            .iter()
                            .filter(|&&t| {
                                let tn = &c.g.nodes[t as usize];
                                own[tn.slot as usize] >= tn.idx && h[&t][zn.slot as usize] >= zn.idx
                            })
                            .find_map(|&t| because.get(&t).map(|&(y, by)| (t, y, by)));
                        let mut text = format!(
                            "{}, but in its view {} ({}) happened before that read.",
                            c.saw_initial(r),
                            c.op(z).describe(),
                            c.at(z)
                        );
                        let mut nodes = vec![r, z];
                        if let Some((t, y, by)) = why {
                            text.push_str(&format!(
                                " Its view must place {} ({}) before {} ({}), since it read {} ({}) while the former \
                                 was already in its view; the write of {} comes after {}, and {} before the read of \
                                 the initial value.",
                                c.op(y).describe(),
                                c.at(y),
                                c.op(t).describe(),
                                c.at(t),
                                c.value_read(by),
                                c.at(by),
                                c.value_written(y),
                                c.value_written(z),
                                c.value_written(t),
                            ));
                            nodes.extend([t, y, by]);
                        }
                        violated = Some(c.anomaly(AnomalyKind::WriteHBInitRead, &nodes, text));
                        break;
                    }
                }
                if violated.is_some() {
                    break;
                }
            }
        }
        if let Some(a) = violated {
            anomalies.push(a);
        }
    }
    let count = anomalies.len();
    anomalies.truncate(c.max);
    VariantResult {
        variant: Variant::CM,
        status: if count > 0 { Status::Violated } else { Status::Holds },
        anomalies,
        anomaly_count: count,
        unknown_cause: None,
    }
}
