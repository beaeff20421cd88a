//! The SAT problem: the assumptions a guessed or solved-for edge rests on (a write order, or where a failed
//! cas stood), their variables in the solver, and the clauses each cycle teaches.

use batsat::{lbool, BasicSolver, Lit, SolverInterface, Var};
use rustc_hash::FxHashMap;

use super::build::{Graph, FIXED};
use crate::graph::{Adjacency, Edge};

/// What a guessed or solved-for edge rests on: one variable of the SAT problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum Assumption {
    /// Write (or initial-value node) `.0` precedes write `.1` of the same key in the write order.
    Order(u32, u32),
    /// Failed cas `.0` stood outside the interval of the one value it could not have seen (its `from`):
    /// before that value's write when `.1` is that write, else after write `.1`, which comes after that
    /// value in the write order. Where it stood is solved for like the write order.
    Outside(u32, u32),
}

/// A cycle of graph edges, and the assumptions it rests on.
pub(super) type Learned = (Vec<Edge>, Vec<Assumption>);

impl<O> Graph<'_, O> {
    /// The edges of a guessed write order (each key's writes in order): each consecutive pair no process
    /// saw for itself becomes an assumption, appended to `all`, whose index labels its edges.
    pub(super) fn guessed_edges(&self, chains: &[Vec<u32>], all: &mut Vec<Assumption>, edges: &mut Vec<Edge>) {
        for sorted in chains {
            for w in sorted.windows(2) {
                if !self.forced.contains_key(&(w[0], w[1])) {
                    self.pair_edges(w[0], w[1], all.len() as u32, edges);
                    all.push(Assumption::Order(w[0], w[1]));
                }
            }
        }
    }

    /// The edges an assumption implies, labelled `label`.
    pub(super) fn assumption_edges(&self, a: Assumption, label: u32, out: &mut Vec<Edge>) {
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
}

/// The SAT variables, created as cycles mention them: write-order pairs, and where each failed cas stood.
pub(super) struct Orders {
    solver: BasicSolver,
    vars: FxHashMap<(u32, u32), Var>,
    /// Per failed cas: each of its candidates (see `Graph::candidates`) and the variable "it stood
    /// outside its forbidden value's interval there". At least one is true (a clause added with them).
    /// They prefer true: a model says where a failed cas may still stand (not where it stands), and the
    /// guess picks among those.
    pub(super) places: FxHashMap<u32, Vec<(u32, Var)>>,
    /// Paths over the fixed edges, to settle a new variable that they already decide.
    pub(super) settle: Settle,
    /// The cycles behind the unit clauses the fixed edges gave, for the proof.
    pub(super) settled: Vec<Learned>,
    /// The clauses added: a cycle whose clause is one of them teaches nothing.
    known: rustc_hash::FxHashSet<Vec<Lit>>,
    /// The (failed cas, candidate) whose consequences `outside_implications` added.
    implied: rustc_hash::FxHashSet<(u32, u32)>,
}

impl Orders {
    pub(super) fn new() -> Orders {
        Orders {
            solver: BasicSolver::default(),
            vars: FxHashMap::default(),
            places: FxHashMap::default(),
            settle: Settle::new(),
            settled: Vec::new(),
            known: Default::default(),
            implied: Default::default(),
        }
    }

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
    pub(super) fn outside_implications<O>(
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
pub(super) struct Settle {
    pub(super) position: Vec<u32>,
    mark: Vec<u32>,
    /// For a node marked by the current search: the node it was reached from, and that edge's label.
    parent: Vec<(u32, u32)>,
    stamp: u32,
}

impl Settle {
    const LIMIT: usize = 20_000;

    pub(super) fn new() -> Settle {
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
    fn path(&mut self, succ: &Adjacency, from: u32, to: u32) -> Option<Vec<Edge>> {
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

/// holds whatever the write order). Returns the assumptions, and whether the clause is new.
pub(super) fn learn<O>(
    orders: &mut Orders,
    g: &Graph<'_, O>,
    fixed: (&Adjacency, &Adjacency),
    cycle: &[Edge],
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
pub(super) struct SolverModel {
    /// The write-order pairs it fixes.
    pub(super) pairs: Vec<Assumption>,
    /// Per failed cas it has a say on: the writes it may still have seen.
    pub(super) allowed: FxHashMap<u32, Vec<u32>>,
}

pub(super) fn next_model<O>(orders: &mut Orders, g: &Graph<'_, O>) -> Option<SolverModel> {
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
