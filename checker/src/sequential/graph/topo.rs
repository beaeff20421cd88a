//! A topological order of the graph, kept and repaired from one round's guesses to the next, and the
//! searches pruned by it.

use super::build::Graph;
use crate::graph::{ranked_order, topological, Adjacency, Edge, Edges};

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

/// A topological order kept from one graph to the next. The graphs the search sorts differ from one another
/// only in a round's guessed and solved-for edges, and mostly in few of them, so rather than sort the whole
/// history again each time, the last order is repaired, one edge it breaks at a time (Pearce and Kelly, "A
/// dynamic topological sort algorithm for directed acyclic graphs", 2006): for an edge from `x` to `y`
/// placed before it, what `y` reaches ahead of `x` and what reaches `x` behind `y` swap places among
/// themselves, each keeping its own order; `y` reaching `x` is a cycle, and that edge is left out. Every
/// graph sorted holds the fixed edges, so only the round's edges can be broken.
pub(super) struct Topo {
    /// The last order (empty before the first sort): a topological order of the fixed edges and the last
    /// round's edges but those that closed a cycle; and each node's place in it.
    pub(super) order: Vec<u32>,
    pub(super) position: Vec<u32>,
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
    pub(super) fn new() -> Topo {
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
    pub(super) fn sort<O>(
        &mut self,
        g: &Graph<'_, O>,
        fixed: (&Adjacency, &Adjacency),
        round: &[&[Edge]],
    ) -> Result<(), Vec<bool>> {
        let n = g.nodes.total();
        if self.order.is_empty() {
            self.key = sort_keys(g);
            let round_succ = Adjacency::new(n, round, false);
            let order = topological(&Edges(vec![fixed.0, &round_succ]), &self.key)?;
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
    fn resort<O>(&mut self, g: &Graph<'_, O>, succ: &Edges<'_>, round: &[&[Edge]]) -> Result<(), Vec<bool>> {
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
        // Ranked as the first sort was: virtual nodes first, then the earliest invoked.
        let sorted = ranked_order(&self.order[lo..=hi], inside, succ, &self.key, &mut self.indegree)?;
        for (i, &v) in sorted.iter().enumerate() {
            self.position[v as usize] = (lo + i) as u32;
        }
        self.order[lo..=hi].copy_from_slice(&sorted);
        Ok(())
    }
}

/// Marks for bounded searches of reachability, cleared by a new stamp.
pub(super) struct Marks {
    mark: Vec<u32>,
    stamp: u32,
}

impl Marks {
    pub(super) fn new(n: usize) -> Marks {
        Marks { mark: vec![0; n], stamp: 0 }
    }

    /// Whether `to` is reachable from `from`, in a graph of which `position` is a topological order: only
    /// nodes placed before `to` need a look. A search that grows too large answers yes (no cycle is
    /// avoided on a guess that expensive).
    pub(super) fn reaches(&mut self, succ: &Edges<'_>, position: &[u32], from: u32, to: u32) -> bool {
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
