//! The dependency graph between transactions: ww, wr and rw edges inferred from the data, process order, and
//! real-time order as its transitive reduction. Edges are one flat vector; adjacency is a compressed index
//! over it (offsets per transaction), so no edge allocates.

use serde::Serialize;

use super::history::{Txns, NONE};
use crate::history::Outcome;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum Kind {
    /// Write-write: `to` overwrote (or appended after) `from`'s version.
    Ww = 0,
    /// Write-read: `to` read `from`'s version.
    Wr = 1,
    /// Read-write (anti-dependency): `from` read a version that `to` overwrote.
    Rw = 2,
    /// `from` and `to` ran on one process, `from` first.
    Process = 3,
    /// `from` completed before `to` was invoked.
    Realtime = 4,
}

impl Kind {
    pub const fn bit(self) -> u8 {
        1 << self as u8
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Ww => "ww",
            Kind::Wr => "wr",
            Kind::Rw => "rw",
            Kind::Process => "process",
            Kind::Realtime => "realtime",
        }
    }
}

/// How the order of two versions of a key is known (for ww and rw edges).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Why {
    /// A read (`witness`) shows `v1` immediately followed by `v2` (list-append).
    Read,
    /// `v2` was never read and `v1` ends the longest read (`witness`): every append not yet seen comes later.
    Tail,
    /// `v1` is the initial null (rw-register).
    Initial,
    /// `witness` read `v1` and then wrote `v2` (rw-register).
    WriteFollowsRead,
    /// `witness` touched `v2` after touching `v1` on the same process (`--sequential-keys`).
    Sequential,
    /// `witness` touched `v2` after a transaction that touched `v1` had completed (`--linearizable-keys`).
    Linearizable,
    /// Process and real-time edges need no versions.
    Order,
}

/// One edge. For data edges `key` and the versions say which key and values it comes from: ww `v1` (from's)
/// before `v2` (to's); wr `v1` the version read; rw `v1` the version `from` read (NONE for the empty list,
/// NIL for null) and `v2` to's later version.
#[derive(Clone, Copy, Debug)]
pub struct Edge {
    pub from: u32,
    pub to: u32,
    pub key: u32,
    pub v1: u32,
    pub v2: u32,
    pub witness: u32,
    pub kind: Kind,
    pub why: Why,
}

impl Edge {
    pub fn order(kind: Kind, from: u32, to: u32) -> Edge {
        Edge { from, to, key: NONE, v1: NONE, v2: NONE, witness: NONE, kind, why: Why::Order }
    }
}

/// The graph: edges, and for each transaction the ids of the edges leaving it.
pub struct Graph {
    pub edges: Vec<Edge>,
    pub offsets: Vec<u32>,
    pub out: Vec<u32>,
}

impl Graph {
    pub fn new(nodes: usize, edges: Vec<Edge>) -> Graph {
        let mut offsets = vec![0u32; nodes + 1];
        for e in &edges {
            offsets[e.from as usize + 1] += 1;
        }
        for i in 0..nodes {
            offsets[i + 1] += offsets[i];
        }
        let mut fill = offsets.clone();
        let mut out = vec![0u32; edges.len()];
        for (id, e) in edges.iter().enumerate() {
            out[fill[e.from as usize] as usize] = id as u32;
            fill[e.from as usize] += 1;
        }
        Graph { edges, offsets, out }
    }

    pub fn nodes(&self) -> usize {
        self.offsets.len() - 1
    }

    pub fn out(&self, v: u32) -> &[u32] {
        &self.out[self.offsets[v as usize] as usize..self.offsets[v as usize + 1] as usize]
    }
}

/// Process order: each transaction that did not fail, after the last `ok` one of its process.
pub fn process_edges(txns: &Txns, edges: &mut Vec<Edge>) {
    let mut last: rustc_hash::FxHashMap<u64, u32> = Default::default();
    for (t, txn) in txns.txns.iter().enumerate() {
        if txn.outcome == Outcome::Fail {
            continue;
        }
        if let Some(&prev) = last.get(&txn.process) {
            edges.push(Edge::order(Kind::Process, prev, t as u32));
        }
        if txn.outcome == Outcome::Ok {
            last.insert(txn.process, t as u32);
        }
    }
}

/// Real-time order as its transitive reduction, with a frontier of completed items that no later
/// completion has covered. When `b` is invoked it gets an edge from each member of the frontier; when `b`
/// completes, those members leave the frontier (they reach everything later through `b`) and `b` joins it.
/// The frontier stays as small as the concurrency, so the edges are linear in the history. Items are
/// `(id, invoke position, end position)`; `events` is the history's length (positions index a table).
pub fn realtime_edges(
    events: usize,
    items: impl Iterator<Item = (u32, u32, Option<u32>)>,
    mut edge: impl FnMut(u32, u32),
) {
    // Per event position: the item invoked there, or completed there (high bit set).
    const DONE: u32 = 1 << 31;
    let mut at = vec![NONE; events];
    let mut items_seen = 0u32;
    for (id, invoke, end) in items {
        at[invoke as usize] = id;
        if let Some(end) = end {
            at[end as usize] = id | DONE;
        }
        items_seen = items_seen.max(id + 1);
    }
    // Each item's predecessors: a range of `preds`.
    let mut pred_range = vec![(0u32, 0u32); items_seen as usize];
    let mut preds: Vec<u32> = Vec::new();
    let mut frontier: Vec<u32> = Vec::new();
    for &slot in &at {
        if slot == NONE {
            continue;
        }
        if slot & DONE == 0 {
            let start = preds.len() as u32;
            for &p in &frontier {
                edge(p, slot);
                preds.push(p);
            }
            pred_range[slot as usize] = (start, preds.len() as u32);
        } else {
            let id = slot & !DONE;
            let (a, b) = pred_range[id as usize];
            let covered = &preds[a as usize..b as usize];
            frontier.retain(|f| !covered.contains(f));
            frontier.push(id);
        }
    }
}

/// Real-time edges between the transactions that did not fail.
pub fn txn_realtime_edges(txns: &Txns, events: usize, edges: &mut Vec<Edge>) {
    let items = txns
        .txns
        .iter()
        .enumerate()
        .filter(|(_, t)| t.outcome != Outcome::Fail)
        .map(|(i, t)| (i as u32, t.invoke, if t.outcome == Outcome::Ok { t.end } else { None }));
    realtime_edges(events, items, |a, b| edges.push(Edge::order(Kind::Realtime, a, b)));
}
