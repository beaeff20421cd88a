//! Directed graphs over dense `u32` nodes, for the checkers that decide a model as a graph problem: a
//! compressed adjacency, Kahn's topological sort taking the ready node of lowest rank first, and cycles
//! among the nodes a sort leaves over.
//!
//! Nodes are `0..n`; an edge carries a label, a number its user gives meaning to (why the edge is there).
//! The algorithms know nothing of histories: sequential consistency's graph method sorts its graphs and
//! finds its cycles here. (Causal's own sort and cycle walk still live in `causal.rs`, which another
//! change is splitting; they are meant to come here with it.)

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use rustc_hash::FxHashMap;

/// An edge: (from, to, label).
pub type Edge = (u32, u32, u32);

/// Compressed adjacency: the edges out of `v` (or, built `reverse`, into it) are `to[start[v]..start[v + 1]]`,
/// each as (the node at its other end, its label).
pub struct Adjacency {
    start: Vec<u32>,
    to: Vec<(u32, u32)>,
}

impl Adjacency {
    /// The adjacency of `n` nodes over the edges of every list in `edges`: successors, or with `reverse`
    /// predecessors.
    pub fn new(n: usize, edges: &[&[Edge]], reverse: bool) -> Adjacency {
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

    /// The edges of `v`: (the other end, the label).
    pub fn of(&self, v: u32) -> &[(u32, u32)] {
        &self.to[self.start[v as usize] as usize..self.start[v as usize + 1] as usize]
    }
}

/// Several adjacencies of the same nodes read as one: edges built once (those that always hold) beside a
/// few that change, without copying the first.
pub struct Edges<'a>(pub Vec<&'a Adjacency>);

impl Edges<'_> {
    /// The edges of `v` in every adjacency.
    pub fn of(&self, v: u32) -> impl Iterator<Item = &(u32, u32)> {
        self.0.iter().flat_map(move |a| a.of(v))
    }
}

/// A node's rank among the nodes a sort has ready at once (lowest first), which names the node too, so
/// that the sort's queue holds one value per node: a `u64` with the node in its low 32 bits (one integer
/// compares faster than a pair), or a pair whose second half is the node.
pub trait Rank: Ord + Copy {
    fn node(self) -> u32;
}

impl Rank for u64 {
    fn node(self) -> u32 {
        self as u32
    }
}

impl<R: Ord + Copy> Rank for (R, u32) {
    fn node(self) -> u32 {
        self.1
    }
}

/// Kahn's algorithm over the nodes `nodes` (edges to nodes not `within` them are left out), taking the
/// ready node of lowest `rank` first (`rank[v]` names `v`): their topological order, or, when they hold
/// a cycle, the nodes no order places, in `nodes`' order (every one on a cycle or after one).
///
/// `indegree` is scratch the size of the graph, zero at `nodes` on entry and left so: a sort of a few
/// nodes of a large graph costs what those nodes and their edges do.
pub fn ranked_order<K: Rank>(
    nodes: &[u32],
    within: impl Fn(u32) -> bool,
    succ: &Edges<'_>,
    rank: &[K],
    indegree: &mut [u32],
) -> Result<Vec<u32>, Vec<u32>> {
    for &v in nodes {
        for &(s, _) in succ.of(v) {
            if within(s) {
                indegree[s as usize] += 1;
            }
        }
    }
    let mut ready: BinaryHeap<Reverse<K>> =
        nodes.iter().filter(|&&v| indegree[v as usize] == 0).map(|&v| Reverse(rank[v as usize])).collect();
    let mut order = Vec::with_capacity(nodes.len());
    while let Some(Reverse(k)) = ready.pop() {
        let v = k.node();
        order.push(v);
        for &(s, _) in succ.of(v) {
            if within(s) {
                indegree[s as usize] -= 1;
                if indegree[s as usize] == 0 {
                    ready.push(Reverse(rank[s as usize]));
                }
            }
        }
    }
    if order.len() == nodes.len() {
        return Ok(order);
    }
    // A node left has an edge in from another left: its in-degree never reached zero.
    let left: Vec<u32> = nodes.iter().copied().filter(|&v| indegree[v as usize] > 0).collect();
    for &v in &left {
        indegree[v as usize] = 0;
    }
    Err(left)
}

/// [`ranked_order`] of the whole graph of `rank.len()` nodes; the nodes left over as a mask.
pub fn topological<K: Rank>(succ: &Edges<'_>, rank: &[K]) -> Result<Vec<u32>, Vec<bool>> {
    let n = rank.len();
    let nodes: Vec<u32> = (0..n as u32).collect();
    ranked_order(&nodes, |_| true, succ, rank, &mut vec![0; n]).map_err(|stuck| {
        let mut left = vec![false; n];
        for v in stuck {
            left[v as usize] = true;
        }
        left
    })
}

/// A node on a cycle among the `left` nodes, found by walking back from `start` (one of them) along
/// predecessors also left until a node repeats. Every node a sort leaves over has a predecessor left over
/// too, so the walk ends; `seen` is scratch the size of the graph, all false, and left so.
fn back_to_cycle(start: u32, left: &[bool], pred: &Edges<'_>, seen: &mut [bool]) -> u32 {
    let mut v = start;
    let mut walked = Vec::new();
    while !seen[v as usize] {
        seen[v as usize] = true;
        walked.push(v);
        v = pred.of(v).find(|&&(p, _)| left[p as usize]).expect("a left-over node has a left-over predecessor").0;
    }
    for w in walked {
        seen[w as usize] = false;
    }
    v
}

/// Disjoint cycles among the `left` nodes of a graph of `n` nodes (at most `max`), each a shortest one
/// through the node it was found at, edge by edge. `left` must be closed as a sort leaves it: every node in
/// it has a predecessor in it. After each cycle, its nodes are taken out of `left`, and so is everything
/// only they kept on a cycle, so that the cycles found are independent conflicts, and `left` ends empty
/// unless `max` stopped the search.
pub fn disjoint_cycles(n: usize, left: &mut [bool], succ: &Edges<'_>, pred: &Edges<'_>, max: usize) -> Vec<Vec<Edge>> {
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
        let v = back_to_cycle(cursor as u32, left, pred, &mut seen);
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

/// A shortest cycle through `start` among the `left` nodes, edge by edge from `start`: breadth-first.
/// `start` must lie on a cycle among them.
pub fn shortest_cycle(start: u32, left: &[bool], succ: &Edges<'_>) -> Vec<Edge> {
    let mut parent: FxHashMap<u32, (u32, u32)> = FxHashMap::default();
    let mut queue = VecDeque::from([start]);
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

#[cfg(test)]
mod tests {
    //! Each algorithm against a brute-force oracle on small random graphs: the sort against picking, over
    //! and over, the lowest-ranked node none of whose predecessors is still unplaced; cycles against
    //! breadth-first distances between every pair of nodes.

    use super::*;
    use faultline_rng::Rng;

    fn random_edges(rng: &mut Rng, n: usize, density: f64) -> Vec<Edge> {
        let mut edges = Vec::new();
        for a in 0..n as u32 {
            for b in 0..n as u32 {
                if a != b && rng.unit() < density {
                    edges.push((a, b, rng.below(4) as u32));
                }
            }
        }
        edges
    }

    /// The ranked order, or the nodes no order places, by repeated selection.
    fn oracle_order(n: usize, edges: &[Edge], rank: &[u64]) -> Result<Vec<u32>, Vec<bool>> {
        let mut placed = vec![false; n];
        let mut order = Vec::new();
        loop {
            let ready = (0..n as u32)
                .filter(|&v| !placed[v as usize])
                .filter(|&v| edges.iter().all(|&(a, b, _)| b != v || placed[a as usize]))
                .min_by_key(|&v| rank[v as usize]);
            match ready {
                Some(v) => {
                    placed[v as usize] = true;
                    order.push(v);
                }
                None if order.len() == n => return Ok(order),
                None => return Err(placed.iter().map(|&p| !p).collect()),
            }
        }
    }

    /// Breadth-first distances: `dist[a][b]` edges from `a` to `b` through nodes `inside`, if any.
    fn distances(n: usize, edges: &[Edge], inside: &[bool]) -> Vec<Vec<Option<usize>>> {
        (0..n)
            .map(|a| {
                let mut dist = vec![None; n];
                let mut queue = VecDeque::from([(a, 0)]);
                while let Some((v, d)) = queue.pop_front() {
                    for &(x, y, _) in edges {
                        if x as usize == v && inside[y as usize] && dist[y as usize].is_none() {
                            dist[y as usize] = Some(d + 1);
                            queue.push_back((y as usize, d + 1));
                        }
                    }
                }
                dist
            })
            .collect()
    }

    #[test]
    fn ranked_order_is_kahn_lowest_rank_first() {
        let mut rng = Rng(26);
        for case in 0..3000 {
            let n = 1 + rng.below(9) as usize;
            let edges = random_edges(&mut rng, n, [0.05, 0.15, 0.3][case % 3]);
            // Ranks with ties broken by the node, in the low bits.
            let rank: Vec<u64> = (0..n as u64).map(|v| (rng.below(3) << 32) | v).collect();
            let succ = Adjacency::new(n, &[&edges], false);
            let got = topological(&Edges(vec![&succ]), &rank);
            assert_eq!(got, oracle_order(n, &edges, &rank), "case {case}: {edges:?}");
            // The same sort over a split adjacency and with (rank, node) pairs.
            let (a, b) = edges.split_at(edges.len() / 2);
            let (sa, sb) = (Adjacency::new(n, &[a], false), Adjacency::new(n, &[b], false));
            let pairs: Vec<(u64, u32)> = rank.iter().map(|&r| (r >> 32, r as u32)).collect();
            assert_eq!(topological(&Edges(vec![&sa, &sb]), &pairs), got, "case {case}");
        }
    }

    #[test]
    fn ranked_order_of_some_nodes_sorts_those_alone() {
        let mut rng = Rng(27);
        for case in 0..2000 {
            let n = 2 + rng.below(9) as usize;
            let edges = random_edges(&mut rng, n, 0.2);
            let inside: Vec<bool> = (0..n).map(|_| rng.below(2) == 0).collect();
            let nodes: Vec<u32> = (0..n as u32).filter(|&v| inside[v as usize]).collect();
            let rank: Vec<u64> = (0..n as u64).map(|v| (rng.below(3) << 32) | v).collect();
            let succ = Adjacency::new(n, &[&edges], false);
            let mut indegree = vec![0; n];
            let got = ranked_order(&nodes, |v| inside[v as usize], &Edges(vec![&succ]), &rank, &mut indegree);
            assert!(indegree.iter().all(|&d| d == 0), "case {case}: scratch left dirty");
            // The oracle on the subgraph the nodes induce.
            let sub: Vec<Edge> =
                edges.iter().copied().filter(|&(a, b, _)| inside[a as usize] && inside[b as usize]).collect();
            let expected = match oracle_order(n, &sub, &rank) {
                Ok(order) => Ok(order.into_iter().filter(|&v| inside[v as usize]).collect()),
                Err(left) => Err((0..n as u32).filter(|&v| left[v as usize]).collect()),
            };
            assert_eq!(got, expected, "case {case}: {edges:?} inside {inside:?}");
        }
    }

    #[test]
    fn disjoint_cycles_are_shortest_cycles_of_the_left_nodes() {
        let mut rng = Rng(28);
        let mut cyclic = 0;
        for case in 0..3000 {
            let n = 2 + rng.below(8) as usize;
            let edges = random_edges(&mut rng, n, [0.1, 0.2, 0.35][case % 3]);
            let rank: Vec<u64> = (0..n as u64).collect();
            let succ = Adjacency::new(n, &[&edges], false);
            let pred = Adjacency::new(n, &[&edges], true);
            let Err(mut left) = topological(&Edges(vec![&succ]), &rank) else { continue };
            cyclic += 1;
            let before = left.clone();
            let max = 1 + rng.below(3) as usize;
            let cycles = disjoint_cycles(n, &mut left, &Edges(vec![&succ]), &Edges(vec![&pred]), max);
            assert!(!cycles.is_empty(), "case {case}: a cycle exists");
            let mut used = vec![false; n];
            let mut inside = before.clone();
            for c in &cycles {
                let dist = distances(n, &edges, &inside);
                let start = c[0].0 as usize;
                // Edges of the graph, each starting where the last ended, back to the start.
                for (i, e) in c.iter().enumerate() {
                    assert!(edges.contains(e), "case {case}: {e:?} is not an edge");
                    assert_eq!(e.1, c[(i + 1) % c.len()].0, "case {case}: {c:?} is not a path");
                    assert!(!used[e.0 as usize], "case {case}: cycles share {}", e.0);
                    used[e.0 as usize] = true;
                }
                assert_eq!(Some(c.len()), dist[start][start], "case {case}: {c:?} is not a shortest cycle");
                for &(a, _, _) in c {
                    inside[a as usize] = false;
                }
            }
            if cycles.len() < max {
                assert!(left.iter().all(|&l| !l), "case {case}: a cycle was left unreported");
            }
        }
        assert!(cyclic > 1000, "only {cyclic} cyclic graphs drawn");
    }
}
