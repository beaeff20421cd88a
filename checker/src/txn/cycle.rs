//! Cycle search: a concrete cycle for every cycle anomaly the graph holds, however large its strongly
//! connected component, with no time bound to give up at.
//!
//! Every search is linear or nearly so. The graph is first cut into strongly connected components (an
//! iterative Tarjan: a deep history cannot overflow the stack); only the nontrivial ones can hold a cycle,
//! and each is searched on its own, with local ids. Within one, a shape of cycle is "a closing edge of some
//! kinds plus a path back over edges of allowed kinds":
//! - where the closing kinds are among the allowed ones (G0, G1c, G2-item), a cycle exists exactly when some
//!   closing edge has both ends in one component of the allowed subgraph;
//! - G-single (one rw edge, the rest ww/wr) asks whether the rw edge's head reaches its tail without rw
//!   edges: reachability in the condensation, answered for 64 rw edges at a time with bit masks;
//! - G-nonadjacent (rw edges never adjacent) is a component question on a doubled graph whose second copy
//!   of each transaction means "just arrived over an rw edge", from which no rw edge may leave.
//!
//! The path back is a breadth-first shortest path, so the cycle is simple. A doubled-graph walk may visit a
//! transaction twice; then other closing edges are tried, and if none gives a simple cycle the answer is
//! `unknown`, with that reason.

use super::anomaly::Name;
use super::graph::{Graph, Kind};
use super::history::NONE;

const WW: u8 = Kind::Ww.bit();
const WR: u8 = Kind::Wr.bit();
const RW: u8 = Kind::Rw.bit();
const PROCESS: u8 = Kind::Process.bit();
const REALTIME: u8 = Kind::Realtime.bit();

/// Which order edges a search may use besides the data edges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    Plain,
    Process,
    Realtime,
}

impl Variant {
    fn extra(self) -> u8 {
        match self {
            Variant::Plain => 0,
            Variant::Process => PROCESS,
            Variant::Realtime => PROCESS | REALTIME,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    G0,
    G1c,
    GSingle,
    GNonadjacent,
    G2Item,
}

impl Shape {
    pub fn name(self, variant: Variant) -> Name {
        use Name::*;
        match (self, variant) {
            (Shape::G0, Variant::Plain) => G0,
            (Shape::G0, Variant::Process) => G0Process,
            (Shape::G0, Variant::Realtime) => G0Realtime,
            (Shape::G1c, Variant::Plain) => G1c,
            (Shape::G1c, Variant::Process) => G1cProcess,
            (Shape::G1c, Variant::Realtime) => G1cRealtime,
            (Shape::GSingle, Variant::Plain) => GSingle,
            (Shape::GSingle, Variant::Process) => GSingleProcess,
            (Shape::GSingle, Variant::Realtime) => GSingleRealtime,
            (Shape::GNonadjacent, Variant::Plain) => GNonadjacent,
            (Shape::GNonadjacent, Variant::Process) => GNonadjacentProcess,
            (Shape::GNonadjacent, Variant::Realtime) => GNonadjacentRealtime,
            (Shape::G2Item, Variant::Plain) => G2Item,
            (Shape::G2Item, Variant::Process) => G2ItemProcess,
            (Shape::G2Item, Variant::Realtime) => G2ItemRealtime,
        }
    }
}

/// What a cycle of these edges is, by its edges: the anomaly it shows.
pub fn classify(kinds: &[Kind]) -> Name {
    let rw = kinds.iter().filter(|&&k| k == Kind::Rw).count();
    let wr = kinds.contains(&Kind::Wr);
    let adjacent = (0..kinds.len()).any(|i| kinds[i] == Kind::Rw && kinds[(i + 1) % kinds.len()] == Kind::Rw);
    let variant = if kinds.contains(&Kind::Realtime) {
        Variant::Realtime
    } else if kinds.contains(&Kind::Process) {
        Variant::Process
    } else {
        Variant::Plain
    };
    let shape = match (rw, wr) {
        (0, false) => Shape::G0,
        (0, true) => Shape::G1c,
        (1, _) => Shape::GSingle,
        (_, _) if !adjacent => Shape::GNonadjacent,
        _ => Shape::G2Item,
    };
    shape.name(variant)
}

/// A compressed adjacency list over local ids: `off[v]..off[v+1]` index `to` and `eid`.
struct Csr {
    off: Vec<u32>,
    to: Vec<u32>,
    eid: Vec<u32>,
}

impl Csr {
    fn build(n: usize, edges: impl Iterator<Item = (u32, u32, u32)> + Clone) -> Csr {
        let mut off = vec![0u32; n + 1];
        for (a, _, _) in edges.clone() {
            off[a as usize + 1] += 1;
        }
        for i in 0..n {
            off[i + 1] += off[i];
        }
        let mut fill = off.clone();
        let total = off[n] as usize;
        let (mut to, mut eid) = (vec![0u32; total], vec![0u32; total]);
        for (a, b, e) in edges {
            let at = fill[a as usize] as usize;
            to[at] = b;
            eid[at] = e;
            fill[a as usize] += 1;
        }
        Csr { off, to, eid }
    }

    fn n(&self) -> usize {
        self.off.len() - 1
    }

    fn range(&self, v: u32) -> std::ops::Range<usize> {
        self.off[v as usize] as usize..self.off[v as usize + 1] as usize
    }
}

/// Strongly connected components, iteratively. Components are numbered in the order Tarjan's algorithm
/// completes them, so every component reachable from another has a smaller number.
fn tarjan(g: &Csr) -> (Vec<u32>, u32) {
    let n = g.n();
    let mut index = vec![NONE; n];
    let mut low = vec![0u32; n];
    let mut comp = vec![NONE; n];
    let mut stack: Vec<u32> = Vec::new();
    let mut call: Vec<(u32, u32)> = Vec::new();
    let (mut counter, mut comps) = (0u32, 0u32);
    for s in 0..n as u32 {
        if index[s as usize] != NONE {
            continue;
        }
        index[s as usize] = counter;
        low[s as usize] = counter;
        counter += 1;
        stack.push(s);
        call.push((s, g.off[s as usize]));
        while let Some(&mut (v, ref mut i)) = call.last_mut() {
            if *i < g.off[v as usize + 1] {
                let w = g.to[*i as usize];
                *i += 1;
                if index[w as usize] == NONE {
                    index[w as usize] = counter;
                    low[w as usize] = counter;
                    counter += 1;
                    stack.push(w);
                    call.push((w, g.off[w as usize]));
                } else if comp[w as usize] == NONE {
                    low[v as usize] = low[v as usize].min(index[w as usize]);
                }
            } else {
                call.pop();
                if let Some(&(u, _)) = call.last() {
                    low[u as usize] = low[u as usize].min(low[v as usize]);
                }
                if low[v as usize] == index[v as usize] {
                    loop {
                        let w = stack.pop().expect("v is on the stack");
                        comp[w as usize] = comps;
                        if w == v {
                            break;
                        }
                    }
                    comps += 1;
                }
            }
        }
    }
    (comp, comps)
}

/// The transactions of each nontrivial strongly connected component of the whole graph.
pub fn components(graph: &Graph) -> Vec<Vec<u32>> {
    let csr = Csr {
        off: graph.offsets.clone(),
        to: graph.out.iter().map(|&e| graph.edges[e as usize].to).collect(),
        eid: Vec::new(),
    };
    let (comp, comps) = tarjan(&csr);
    let mut size = vec![0u32; comps as usize];
    for &c in &comp {
        size[c as usize] += 1;
    }
    let mut groups: Vec<Vec<u32>> = vec![Vec::new(); comps as usize];
    for (v, &c) in comp.iter().enumerate() {
        if size[c as usize] > 1 {
            groups[c as usize].push(v as u32);
        }
    }
    groups.retain(|g| !g.is_empty());
    groups
}

/// One component, with local ids, searched for cycles of each shape.
pub struct Component<'g> {
    graph: &'g Graph,
    /// Local edges: (from, to, edge id), both ends inside.
    edges: Vec<(u32, u32, u32)>,
    n: usize,
}

/// A search's answer: a cycle (edge ids, in order), none, or unknown with the reason.
pub enum Found {
    Cycle(Vec<u32>),
    None,
    Unknown(String),
}

impl<'g> Component<'g> {
    /// `local` maps transactions to local ids (NONE outside); it is reset before returning.
    pub fn new(graph: &'g Graph, members: &[u32], local: &mut [u32]) -> Component<'g> {
        for (i, &v) in members.iter().enumerate() {
            local[v as usize] = i as u32;
        }
        let mut edges = Vec::new();
        for &v in members {
            for &e in graph.out(v) {
                let to = local[graph.edges[e as usize].to as usize];
                if to != NONE {
                    edges.push((local[v as usize], to, e));
                }
            }
        }
        for &v in members {
            local[v as usize] = NONE;
        }
        Component { graph, edges, n: members.len() }
    }

    fn kind(&self, e: u32) -> Kind {
        self.graph.edges[e as usize].kind
    }

    fn subgraph(&self, allowed: u8) -> Csr {
        Csr::build(self.n, self.edges.iter().copied().filter(|&(_, _, e)| self.kind(e).bit() & allowed != 0))
    }

    pub fn search(&self, shape: Shape, variant: Variant) -> Found {
        let extra = variant.extra();
        match shape {
            Shape::G0 => self.closing_within(WW | extra, WW | extra),
            Shape::G1c => self.closing_within(WW | WR | extra, WR),
            Shape::G2Item => self.closing_within(WW | WR | RW | extra, RW),
            Shape::GSingle => self.single(WW | WR | extra),
            Shape::GNonadjacent => self.nonadjacent(WW | WR | extra),
        }
    }

    /// A cycle over `allowed` edges holding an edge of `closing` kinds (a subset of `allowed`).
    fn closing_within(&self, allowed: u8, closing: u8) -> Found {
        let g = self.subgraph(allowed);
        let (comp, _) = tarjan(&g);
        for &(a, b, e) in &self.edges {
            if self.kind(e).bit() & closing != 0 && comp[a as usize] == comp[b as usize] {
                if let Some(path) = bfs(&g, b, a) {
                    let mut cycle = vec![e];
                    cycle.extend(path.into_iter().map(|(_, e)| e));
                    return Found::Cycle(cycle);
                }
            }
        }
        Found::None
    }

    /// A cycle of one rw edge and a path back over `allowed` (no rw) edges.
    fn single(&self, allowed: u8) -> Found {
        let g = self.subgraph(allowed);
        let (comp, comps) = tarjan(&g);
        // Only an rw edge whose tail's component completed no later than its head's can close a cycle.
        // Batches of 64 edges with nearby tails, so that each propagates over a window of components
        // (from the lowest tail to the highest head) rather than all of them: rw edges mostly join
        // transactions close in the order, which keeps the total near linear.
        let mut candidates: Vec<(u32, u32, u32)> = self
            .edges
            .iter()
            .copied()
            .filter(|&(a, b, e)| self.kind(e) == Kind::Rw && comp[a as usize] <= comp[b as usize])
            .collect();
        candidates.sort_unstable_by_key(|&(a, _, _)| comp[a as usize]);
        // Members of each component, to propagate component by component.
        let mut by_comp: Vec<Vec<u32>> = vec![Vec::new(); comps as usize];
        for v in 0..g.n() as u32 {
            by_comp[comp[v as usize] as usize].push(v);
        }
        let mut mask = vec![0u64; comps as usize];
        for batch in candidates.chunks(64) {
            let lo = batch.iter().map(|&(a, _, _)| comp[a as usize]).min().unwrap_or(0) as usize;
            let hi = batch.iter().map(|&(_, b, _)| comp[b as usize]).max().unwrap_or(0) as usize;
            for (i, &(a, _, _)) in batch.iter().enumerate() {
                mask[comp[a as usize] as usize] |= 1 << i;
            }
            // mask[c]: which batch tails component c reaches. Successors completed earlier, so one pass;
            // those below the window reach no tail of the batch.
            for c in lo..=hi {
                let mut m = mask[c];
                for &v in &by_comp[c] {
                    for i in g.range(v) {
                        let d = comp[g.to[i] as usize] as usize;
                        if d >= lo {
                            m |= mask[d];
                        }
                    }
                }
                mask[c] = m;
            }
            let found =
                batch.iter().enumerate().find(|(i, &(_, b, _))| mask[comp[b as usize] as usize] & (1 << i) != 0);
            if let Some((_, &(a, b, e))) = found {
                let path = bfs(&g, b, a).expect("the masks say b reaches a");
                let mut cycle = vec![e];
                cycle.extend(path.into_iter().map(|(_, e)| e));
                return Found::Cycle(cycle);
            }
            mask[lo..=hi].iter_mut().for_each(|m| *m = 0);
        }
        Found::None
    }

    /// A cycle whose rw edges are never adjacent (and at least one), other edges from `allowed`.
    fn nonadjacent(&self, allowed: u8) -> Found {
        // Transaction v is 2v ("arrived over a non-rw edge") and 2v+1 ("arrived over an rw edge").
        let mut doubled: Vec<(u32, u32, u32)> = Vec::with_capacity(self.edges.len() * 2);
        for &(a, b, e) in &self.edges {
            let kind = self.kind(e);
            if kind == Kind::Rw {
                doubled.push((2 * a, 2 * b + 1, e));
            } else if kind.bit() & allowed != 0 {
                doubled.push((2 * a, 2 * b, e));
                doubled.push((2 * a + 1, 2 * b, e));
            }
        }
        let g = Csr::build(self.n * 2, doubled.iter().copied());
        let (comp, _) = tarjan(&g);
        let mut walks = 0;
        for &(a, b, e) in &self.edges {
            if self.kind(e) != Kind::Rw || comp[2 * a as usize] != comp[2 * b as usize + 1] {
                continue;
            }
            let path = bfs(&g, 2 * b + 1, 2 * a).expect("one component");
            // Simple if no transaction is visited twice: b, then each edge's head but the last (a).
            let mut seen = vec![false; self.n];
            seen[a as usize] = true;
            let simple = std::iter::once(2 * b + 1)
                .chain(path[..path.len() - 1].iter().map(|&(v, _)| v))
                .all(|v| !std::mem::replace(&mut seen[v as usize / 2], true));
            if simple {
                let mut cycle = vec![e];
                cycle.extend(path.iter().map(|&(_, e)| e));
                return Found::Cycle(cycle);
            }
            walks += 1;
            if walks == 64 {
                break;
            }
        }
        if walks > 0 {
            Found::Unknown(format!(
                "{walks} closed walks with no two adjacent rw edges were found, but each visits some transaction \
                 twice and no simple cycle was derived from them"
            ))
        } else {
            Found::None
        }
    }
}

/// A shortest path from `from` to `to`: each step's head vertex and edge id, in order.
fn bfs(g: &Csr, from: u32, to: u32) -> Option<Vec<(u32, u32)>> {
    let mut parent = vec![(NONE, NONE); g.n()];
    parent[from as usize] = (from, NONE);
    let mut queue = std::collections::VecDeque::from([from]);
    while let Some(v) = queue.pop_front() {
        if v == to {
            let mut path = Vec::new();
            let mut u = to;
            while u != from {
                let (p, e) = parent[u as usize];
                path.push((u, e));
                u = p;
            }
            path.reverse();
            return Some(path);
        }
        for i in g.range(v) {
            let w = g.to[i];
            if parent[w as usize].0 == NONE {
                parent[w as usize] = (v, g.eid[i]);
                queue.push_back(w);
            }
        }
    }
    None
}
