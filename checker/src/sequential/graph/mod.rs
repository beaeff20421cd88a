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
//!
//! The method in layers, each a file: [`build`] the graph of a history (its nodes, the edges that hold
//! whatever the write order, the cas chains); [`topo`] the topological order kept and repaired from round
//! to round; [`sat`] the assumptions a guess rests on and the solver that learns which cannot hold
//! together; [`proof`] a violation's cycles in words; [`decision`] what the method concludes. This file
//! decides: the rounds of guesses, and the witness replayed.

mod build;
mod decision;
mod proof;
mod sat;
mod topo;

use rustc_hash::FxHashMap;

use crate::budget::Budget;
use crate::graph::{disjoint_cycles, Adjacency, Edge, Edges};
use crate::history::History;
use crate::model::{Model, Problem};
use crate::op_ref::OpRef;
use crate::sequential::step::Step;
use build::{build, Graph, Role, NONE};
pub(super) use decision::Decision;
pub use decision::{Cycle, CycleEdge, EdgeReason};
use proof::prove;
use sat::{learn, next_model, Assumption, Learned, Orders, SolverModel};
use topo::{Marks, Topo};

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

/// How many disjoint cycles one round learns from at most.
const CYCLES_PER_ROUND: usize = 10_000;

fn solve<M: Model>(g: Graph<'_, M::Op>, problems: &[Problem<M>], budget: &Budget) -> Decision {
    let n = g.nodes.total();
    let mut orders = Orders::new();
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
                    round: &[&[Edge]],
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
        for c in disjoint_cycles(n, left, &succ, &pred, CYCLES_PER_ROUND) {
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
    let mut marks = Marks::new(n);
    // Sorts the graph of the fixed edges and `round`'s (labelled by `all`); when that closes cycles, learns
    // from them and starts the next round under the solver's next model, or returns the decision.
    macro_rules! sort_or_next_round {
        ($round:expr, $all:expr) => {
            if let Err(mut left) = topo.sort(&g, (&fixed_succ, &fixed_pred), $round) {
                match conflict(&mut left, $round, $all, &mut orders, &mut learned, &mut stalled) {
                    Ok(m) => (pairs, allowed) = (m.pairs, m.allowed),
                    Err(decision) => return decision,
                }
                continue;
            }
        };
    }
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
        sort_or_next_round!(&[&chosen], &pairs);
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
        sort_or_next_round!(&[&chosen, &guess_edges], &all);
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
            sort_or_next_round!(&[&chosen, &guess_edges], &all);
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
