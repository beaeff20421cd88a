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
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use rustc_hash::{FxHashMap, FxHasher};

use crate::model::{Entry, Model};

/// Why a search stopped without a verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    Time,
    Memory,
    /// Another part of the check already decided the verdict, or the caller gave up.
    Cancelled,
}

/// The limits every search of one check shares.
pub struct Budget {
    pub deadline: Option<Instant>,
    /// Bytes that all memo tables together may hold.
    pub memory_limit: usize,
    pub memory_used: AtomicUsize,
    pub cancelled: AtomicBool,
}

impl Budget {
    pub fn new(deadline: Option<Instant>, memory_limit: usize) -> Budget {
        Budget { deadline, memory_limit, memory_used: AtomicUsize::new(0), cancelled: AtomicBool::new(false) }
    }

    pub fn unlimited() -> Budget {
        Budget::new(None, usize::MAX)
    }

    pub fn expired(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

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
    let mut memo = Memo::<M::State>::new(n);
    let zobrist: Vec<u64> = (0..n as u64).map(splitmix).collect();
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
struct Memo<S> {
    words: usize,
    table: FxHashMap<u64, u32>,
    bits: Vec<u64>,
    states: Vec<S>,
    chain: Vec<u32>,
    bytes: usize,
    entry_bytes: usize,
}

impl<S: Clone + Eq + Hash> Memo<S> {
    fn new(n: usize) -> Memo<S> {
        let words = n.div_ceil(64);
        // What one entry costs: its bitset, state and chain link, and about two table slots of (key, value).
        let entry_bytes = words * 8 + std::mem::size_of::<S>() + 4 + 2 * 16;
        Memo {
            words,
            table: FxHashMap::default(),
            bits: Vec::new(),
            states: Vec::new(),
            chain: Vec::new(),
            bytes: 0,
            entry_bytes,
        }
    }

    /// Inserts the configuration; `Some(true)` if it is new, `Some(false)` if seen, `None` if over budget.
    fn insert(&mut self, bits: &[u64], set_hash: u64, state: &S, budget: &Budget) -> Option<bool> {
        let mut h = FxHasher::default();
        state.hash(&mut h);
        let key = set_hash ^ h.finish().wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let head = self.table.get(&key).copied();
        let mut at = head.unwrap_or(u32::MAX);
        while at != u32::MAX {
            let a = at as usize;
            if self.states[a] == *state && self.bits[a * self.words..(a + 1) * self.words] == *bits {
                return Some(false);
            }
            at = self.chain[a];
        }
        let used = budget.memory_used.fetch_add(self.entry_bytes, Ordering::Relaxed) + self.entry_bytes;
        self.bytes += self.entry_bytes;
        if used > budget.memory_limit {
            return None;
        }
        let id = self.states.len() as u32;
        self.bits.extend_from_slice(bits);
        self.states.push(state.clone());
        self.chain.push(head.unwrap_or(u32::MAX));
        self.table.insert(key, id);
        Some(true)
    }
}

/// A well-mixed 64-bit value per operation, for incremental (Zobrist) hashing of the linearized set.
fn splitmix(i: u64) -> u64 {
    let mut z = i.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
