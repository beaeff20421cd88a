//! The general linearizability search: Wing & Gong's backtracking over call and return events, with Lowe's
//! memoisation of (set of linearized operations, model state), as in Knossos's `wgl` and Porcupine.
//!
//! Operations sit in a doubly linked list of call and return events in real-time order. Walking it from the
//! front, a call is a candidate to linearize next: if the model accepts it and the resulting configuration
//! is new, the operation is lifted out of the list and the walk restarts. Reaching a return means an
//! operation that has already returned has not been linearized before it: undo the last choice and try the
//! next candidate after it. The history is linearizable when every operation with a return is linearized.
//!
//! Operations with no return (`info`, or never completed) have only a call in the list. Nothing ever waits
//! for them, so they are linearized only where that helps a later operation, and are otherwise left out:
//! "may or may not have taken effect, at any time after the call".

use std::hash::{Hash, Hasher};
use std::sync::atomic::Ordering;

use rustc_hash::{FxHashMap, FxHasher};

use crate::budget::{Budget, Limit};
use crate::model::{Entry, Model};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Linearizable; the order in which the entries took effect (indices into the entries).
    Linearizable(Vec<u32>),
    NotLinearizable,
    Unknown(Limit),
}

const HEAD: usize = 0;
const NIL: usize = usize::MAX;

/// Decides whether `entries` (one partition's operations) are linearizable with respect to `model`.
pub fn search<M: Model>(model: &M, entries: &[Entry<M::Op>], budget: &Budget) -> Outcome {
    search_with_frontier(model, entries, budget).0
}

/// [`search`], and for a history that is not linearizable, its first bad event: the latest completion the
/// search ever got stuck at. Reaching a completion means every operation that completed before it has been
/// linearized, so the history cut just before it is linearizable; and the search tries every order a
/// linearization of the history cut at it could take, so had one existed it would have got past. That is
/// the event the explanation's binary search looks for, found without a further search.
pub fn search_with_frontier<M: Model>(model: &M, entries: &[Entry<M::Op>], budget: &Budget) -> (Outcome, Option<u32>) {
    let n = entries.len();
    // List nodes 1..: call and return events in real-time order; node 0 is the head.
    let mut events: Vec<(u32, u32, bool)> = Vec::with_capacity(2 * n);
    for (i, e) in entries.iter().enumerate() {
        events.push((e.call, i as u32, true));
        if let Some(ret) = e.ret {
            events.push((ret, i as u32, false));
        }
    }
    events.sort_unstable_by_key(|&(pos, _, is_call)| (pos, !is_call));
    let nodes = events.len() + 1;
    let mut next = vec![NIL; nodes];
    let mut prev = vec![NIL; nodes];
    let mut node_op = vec![0u32; nodes];
    let mut node_is_call = vec![false; nodes];
    let mut call_node = vec![0usize; n];
    let mut ret_node = vec![NIL; n];
    for (k, &(_, op, is_call)) in events.iter().enumerate() {
        let node = k + 1;
        node_op[node] = op;
        node_is_call[node] = is_call;
        prev[node] = node - 1;
        next[node - 1] = node;
        if is_call {
            call_node[op as usize] = node;
        } else {
            ret_node[op as usize] = node;
        }
    }

    // Optional operations with equal ops are interchangeable once both are invoked: neither ever has to be
    // linearized or blocks anything. Linearizing them only in call order (each waits for its twin before
    // it) visits one of each set of symmetric configurations instead of all of them.
    let mut twin_before = vec![u32::MAX; n];
    {
        let mut last: FxHashMap<&M::Op, u32> = FxHashMap::default();
        let mut by_call: Vec<usize> = (0..n).filter(|&i| entries[i].ret.is_none()).collect();
        by_call.sort_unstable_by_key(|&i| entries[i].call);
        for i in by_call {
            if let Some(prev) = last.insert(&entries[i].op, i as u32) {
                twin_before[i] = prev;
            }
        }
    }
    let mut remaining = entries.iter().filter(|e| e.ret.is_some()).count();
    // Operations with a return: a configuration must linearize all of them, the others it may skip.
    let mut required = vec![0u64; n.div_ceil(64)];
    for (i, e) in entries.iter().enumerate() {
        if e.ret.is_some() {
            required[i / 64] |= 1 << (i % 64);
        }
    }
    let mut memo = Memo::<M::State>::new(required);
    // The memo's hash covers the required operations only, so that configurations that differ only in
    // optional ones meet in one chain, where the one with fewer of them prunes the others (see [`Memo`]).
    let zobrist: Vec<u64> =
        (0..n as u64).map(|i| if entries[i as usize].ret.is_some() { splitmix(i) } else { 0 }).collect();
    let mut bits = vec![0u64; n.div_ceil(64)];
    let mut hash = 0u64;
    let mut state = model.init();
    let mut stack: Vec<(u32, M::State)> = Vec::new();
    let mut entry = next[HEAD];
    let mut steps = 0u32;
    let mut frontier: Option<u32> = None;

    let outcome = loop {
        if remaining == 0 {
            break Outcome::Linearizable(stack.iter().map(|&(i, _)| i).collect());
        }
        steps = steps.wrapping_add(1);
        if steps % 1024 == 0 {
            if budget.cancelled.load(Ordering::Relaxed) {
                break Outcome::Unknown(Limit::Cancelled);
            }
            if budget.expired() {
                break Outcome::Unknown(Limit::Time);
            }
        }
        if entry != NIL && node_is_call[entry] {
            let i = node_op[entry] as usize;
            let twin = twin_before[i] as usize;
            let waits = twin != u32::MAX as usize && bits[twin / 64] & (1 << (twin % 64)) == 0;
            if waits {
                entry = next[entry];
                continue;
            }
            if let Some(after) = model.step(&state, &entries[i].op) {
                bits[i / 64] |= 1 << (i % 64);
                hash ^= zobrist[i];
                match memo.insert(&bits, hash, &after, budget) {
                    Some(true) => {
                        stack.push((i as u32, std::mem::replace(&mut state, after)));
                        // Lift the operation out of the list.
                        let c = call_node[i];
                        next[prev[c]] = next[c];
                        if next[c] != NIL {
                            prev[next[c]] = prev[c];
                        }
                        let r = ret_node[i];
                        if r != NIL {
                            next[prev[r]] = next[r];
                            if next[r] != NIL {
                                prev[next[r]] = prev[r];
                            }
                            remaining -= 1;
                        }
                        entry = next[HEAD];
                        continue;
                    }
                    Some(false) => {}
                    None => break Outcome::Unknown(Limit::Memory),
                }
                bits[i / 64] &= !(1 << (i % 64));
                hash ^= zobrist[i];
            }
            entry = next[entry];
        } else {
            // A return whose operation is not linearized (or the end): undo the last choice.
            if entry != NIL {
                let stuck = entries[node_op[entry] as usize].ret;
                frontier = frontier.max(stuck);
            }
            let Some((i, before)) = stack.pop() else { break Outcome::NotLinearizable };
            let i = i as usize;
            state = before;
            bits[i / 64] &= !(1 << (i % 64));
            hash ^= zobrist[i];
            // Unlift in the reverse order of lifting, so the saved links are still right.
            let r = ret_node[i];
            if r != NIL {
                next[prev[r]] = r;
                if next[r] != NIL {
                    prev[next[r]] = r;
                }
                remaining += 1;
            }
            let c = call_node[i];
            next[prev[c]] = c;
            if next[c] != NIL {
                prev[next[c]] = c;
            }
            entry = next[c];
        }
    };
    budget.memory_used.fetch_sub(memo.bytes, Ordering::Relaxed);
    let frontier = if outcome == Outcome::NotLinearizable { frontier } else { None };
    (outcome, frontier)
}

/// The set of configurations seen: (linearized set, state). Bitsets live in one flat arena; the table maps
/// a configuration's hash to the first of the arena entries with that hash.
///
/// A configuration is also pruned when one seen has the same required operations linearized, the same
/// state, and a subset of its optional ones (operations without a return: they never have to be
/// linearized). The seen one can go on with any sequence the new one can (an optional operation the new
/// one already spent is still open to it, or, for an interchangeable twin, its earlier twin is), and it
/// has been explored, or is an ancestor still being explored; so if the new one led to a linearization,
/// or past a return, the search finds it from the seen one. Without this, k concurrent `info` writes
/// multiply the configurations by up to 2^k subsets that end in the same state.
struct Memo<S> {
    /// The required operations, as a bitset.
    required: Vec<u64>,
    words: usize,
    table: FxHashMap<u64, u32>,
    bits: Vec<u64>,
    states: Vec<S>,
    chain: Vec<u32>,
    bytes: usize,
    entry_bytes: usize,
}

impl<S: Clone + Eq + Hash> Memo<S> {
    fn new(required: Vec<u64>) -> Memo<S> {
        let words = required.len();
        // What one entry costs: its bitset, state and chain link, and about two table slots of (key, value).
        let entry_bytes = words * 8 + std::mem::size_of::<S>() + 4 + 2 * 16;
        Memo {
            required,
            words,
            table: FxHashMap::default(),
            bits: Vec::new(),
            states: Vec::new(),
            chain: Vec::new(),
            bytes: 0,
            entry_bytes,
        }
    }

    /// Inserts the configuration; `Some(true)` if it is new, `Some(false)` if seen (or one seen has the same
    /// required operations and state with a subset of its optional ones), `None` if over budget.
    /// `set_hash` must cover the required operations only.
    fn insert(&mut self, bits: &[u64], set_hash: u64, state: &S, budget: &Budget) -> Option<bool> {
        let mut h = FxHasher::default();
        state.hash(&mut h);
        let key = set_hash ^ h.finish().wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut head = self.table.get(&key).copied().unwrap_or(u32::MAX);
        // Walk the chain; entries the new configuration dominates leave it (it prunes all they would), which
        // keeps chains of configurations that differ only in optional operations short.
        let (mut before, mut at) = (u32::MAX, head);
        while at != u32::MAX {
            let a = at as usize;
            let next = self.chain[a];
            if self.states[a] == *state {
                let seen = &self.bits[a * self.words..(a + 1) * self.words];
                if self.dominates(seen, bits) {
                    return Some(false);
                }
                if self.dominates(bits, seen) {
                    if before == u32::MAX {
                        head = next;
                    } else {
                        self.chain[before as usize] = next;
                    }
                    at = next;
                    continue;
                }
            }
            before = at;
            at = next;
        }
        let used = budget.memory_used.fetch_add(self.entry_bytes, Ordering::Relaxed) + self.entry_bytes;
        self.bytes += self.entry_bytes;
        if used > budget.memory_limit {
            return None;
        }
        let id = self.states.len() as u32;
        self.bits.extend_from_slice(bits);
        self.states.push(state.clone());
        self.chain.push(head);
        self.table.insert(key, id);
        Some(true)
    }

    /// `seen` linearized the same required operations as `new` and a subset of its optional ones.
    fn dominates(&self, seen: &[u64], new: &[u64]) -> bool {
        seen.iter().zip(new).zip(&self.required).all(|((&s, &n), &r)| s & !n == 0 && (s ^ n) & r == 0)
    }
}

/// A well-mixed 64-bit value per operation, for incremental (Zobrist) hashing of the linearized set.
fn splitmix(i: u64) -> u64 {
    let mut z = i.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::jsonl;
    use crate::model::{self, ModelKind, ModelOptions};

    /// 24 concurrent indeterminate writes of 12 values, then a read of a value nobody wrote. Without pruning
    /// configurations that spent more optional operations to reach the same state, the search visits up to
    /// 2^24 subsets of the writes (and runs out of any memory limit); with it, a few thousand configurations.
    #[test]
    fn indeterminate_writes_do_not_multiply_the_configurations() {
        let mut text = String::new();
        for p in 0..24 {
            text.push_str(&format!("{{\"type\":\"invoke\",\"process\":{p},\"f\":\"write\",\"value\":{}}}\n", p % 12));
        }
        text.push_str("{\"type\":\"invoke\",\"process\":99,\"f\":\"read\"}\n");
        text.push_str("{\"type\":\"ok\",\"process\":99,\"f\":\"read\",\"value\":-1}\n");
        let history = jsonl::parse("info-writes", &text).unwrap();
        let ids: Vec<usize> = (0..history.operations.len()).collect();
        let problem = model::prepare_register(&history, &ids, &ModelOptions::new(ModelKind::Register)).unwrap();
        // 1 MiB of memo holds about 16,000 configurations.
        let budget = Budget::new(None, 1 << 20);
        assert_eq!(search(&problem.model, &problem.entries, &budget), Outcome::NotLinearizable);
        // A read of a value one of them wrote is found, whichever of them it is.
        let text = text.replace("\"value\":-1", "\"value\":11");
        let history = jsonl::parse("info-writes", &text).unwrap();
        let problem = model::prepare_register(&history, &ids, &ModelOptions::new(ModelKind::Register)).unwrap();
        let outcome = search(&problem.model, &problem.entries, &Budget::new(None, 1 << 20));
        assert!(matches!(outcome, Outcome::Linearizable(_)), "{outcome:?}");
    }
}
