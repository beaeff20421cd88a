//! A polynomial check for keys of the kv model whose appends and puts write telling strings: distinct, or
//! repeated only by a client's retry after the first attempt completed.
//!
//! When every appended string is unique and no string is a prefix of another (Porcupine's kv logs append
//! `"x 3 7 y"`, Elle's list-append appends unique elements), a `get` shows exactly which operations made the
//! value it returned: the put (or the initial value) it starts with, then the appends, in the order they took
//! effect. So the order of the key's versions is read off the gets instead of searched for, as the zone
//! check ([`super::zones`]) reads it off unique writes.
//!
//! The states a linearization passes through form *chains*: the initial value or a put, then appends, until
//! the next put. Each chain's observed part (the longest version any get returned; the others must be its
//! prefixes, and no append may sit in two places) is a *block*: its operations take effect in a fixed order,
//! version after version, each version's creator before its gets, and no other operation of the key takes
//! effect inside it (a put ends the chain for good; an append would change every later version). What is
//! free is the order of the blocks and of the appends no get saw (which take effect between blocks, where
//! nobody looks). Placed greedily, a unit of operations entered at time `E` fits exactly when `E` is before
//! its earliest return `D`, and leaves the clock at its latest call `C`, so units `j` before `k` need
//! `C_j < D_k`: the zone conditions again (no two units with `D_j < C_k` and `D_k < C_j`), with the initial
//! chain's block first. O(n log n) plus the length of the gets' values, where the search is exponential.
//!
//! Every violation comes with operations that show it: the gets involved, and for each get the put and
//! appends its value is made of. Keeping those keeps every kept get's value in any linearization of the
//! whole, so the set is a sound counterexample to start the explanation from.

use rustc_hash::FxHashMap;

use crate::model::{Entry, KvModel, KvOp};
use crate::value::Value;

/// The distinct strings the key's puts and appends write, prefix-free, for reading gets' values; each with
/// the operations that write it.
struct Tokens<'a> {
    by_text: FxHashMap<&'a [u8], u32>,
    /// The distinct token lengths, shortest first.
    lengths: Vec<usize>,
    /// For each token, the operations that write it, in real-time order (each returned before the next was
    /// invoked).
    writers: Vec<Vec<u32>>,
}

impl<'a> Tokens<'a> {
    /// `None` if an operation is outside the check (a cas, a put of something other than a non-empty
    /// string, an initial value other than null or ""), the strings are not prefix-free, or two operations
    /// writing the same string overlap in time.
    fn new(model: &'a KvModel, entries: &'a [Entry<KvOp>]) -> Option<Tokens<'a>> {
        if !(model.initial.is_null() || model.initial.as_str() == Some("")) {
            return None;
        }
        let mut texts: Vec<(&[u8], u32)> = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            match &e.op {
                KvOp::Get(_) => {}
                KvOp::Put(Value::Str(s)) if !s.is_empty() => texts.push((s.as_bytes(), i as u32)),
                KvOp::Append(s) if !s.is_empty() => texts.push((s.as_bytes(), i as u32)),
                KvOp::Put(_) | KvOp::Append(_) | KvOp::Cas(..) | KvOp::CasFailed(_) => return None,
            }
        }
        texts.sort_unstable_by_key(|&(text, i)| (text, entries[i as usize].call));
        let mut by_text: FxHashMap<&[u8], u32> = FxHashMap::default();
        let mut writers: Vec<Vec<u32>> = Vec::new();
        for (k, &(text, i)) in texts.iter().enumerate() {
            match k.checked_sub(1).map(|j| texts[j]) {
                Some((prev, j)) if prev == text => {
                    // The same string again: fine if the two cannot have taken effect in either order.
                    if entries[j as usize].ret.is_none_or(|r| r > entries[i as usize].call) {
                        return None;
                    }
                    writers.last_mut().expect("a previous token").push(i);
                }
                // In sorted order, a string that is a prefix of another is a prefix of the next one.
                Some((prev, _)) if text.starts_with(prev) => return None,
                _ => {
                    by_text.insert(text, writers.len() as u32);
                    writers.push(vec![i]);
                }
            }
        }
        let mut lengths: Vec<usize> = by_text.keys().map(|t| t.len()).collect();
        lengths.sort_unstable();
        lengths.dedup();
        Some(Tokens { by_text, lengths, writers })
    }

    /// True if some string is written by more than one operation.
    fn repeated(&self) -> bool {
        self.writers.iter().any(|w| w.len() > 1)
    }

    /// The tokens `text` is made of; `None` if it is not a concatenation of tokens. Unique, since no token
    /// is a prefix of another.
    fn split(&self, text: &[u8]) -> Option<Vec<u32>> {
        let mut tokens = Vec::new();
        let mut at = 0;
        while at < text.len() {
            let rest = &text[at..];
            let (len, token) = self
                .lengths
                .iter()
                .take_while(|&&l| l <= rest.len())
                .find_map(|&l| self.by_text.get(&rest[..l]).map(|&t| (l, t)))?;
            tokens.push(token);
            at += len;
        }
        Some(tokens)
    }
}

/// True if the structural check decides this key: no cas, the initial value null or "", and the puts' and
/// appends' strings non-empty and prefix-free, each written by one operation or by several one after the
/// other (a client's retry).
pub fn applies(model: &KvModel, entries: &[Entry<KvOp>]) -> bool {
    Tokens::new(model, entries).is_some()
}

/// What the structural check found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Structure {
    Linearizable,
    /// Not linearizable: the operations (indices into the entries, sorted) that show it, a non-linearizable
    /// sub-history, sound for the whole.
    NotLinearizable(Vec<u32>),
    /// Not linearizable with the writers this check chose for repeated strings, and the operations that
    /// show it still repeat a string: undecided. The operations, with every writer of every string their
    /// gets hold that could have taken effect before the get returned (a set sound for the whole whichever
    /// writers took effect).
    Unconfirmed(Vec<u32>),
}

/// Which chain a version belongs to: 0 for the initial value's, `1 + put` for a put's.
type ChainId = usize;

/// A get's value, read as a version: its chain and the appends after the chain's start.
struct Version {
    chain: ChainId,
    appends: Vec<u32>,
}

/// The observed part of one chain.
#[derive(Default)]
struct Chain {
    /// The appends, in the order they took effect.
    appends: Vec<u32>,
    /// Gets by the version they returned (0 = the chain's start).
    gets: Vec<Vec<u32>>,
}

const NEVER: i64 = i64::MAX;
const BEFORE_ALL: i64 = -1;

/// Checks a key for which [`applies`] holds; `None` if it does not.
///
/// A string several operations wrote (one after the other: a client's retry) is read, in each get, as
/// written by the writer an earlier get showed at that place of the chain, else by the latest writer
/// invoked before the get returned (see [`agree_on_writers`]). A linearizable verdict under that choice is
/// final: the check has built a linearization. A violation under it is confirmed exactly on the operations
/// that show it with every writer that could have taken effect, when those repeat no string; otherwise it
/// is [`Structure::Unconfirmed`], for the search.
pub fn check(model: &KvModel, entries: &[Entry<KvOp>]) -> Option<Structure> {
    let tokens = Tokens::new(model, entries)?;
    let ops = match violation(model, entries, &tokens) {
        Ok(()) => return Some(Structure::Linearizable),
        Err(ops) if !tokens.repeated() => return Some(Structure::NotLinearizable(ops)),
        Err(ops) => ops,
    };

    // Keep, for every kept get, every writer of its strings that could have taken effect before it returned:
    // whichever of them did, the get's value stays what it was in a linearization of the whole.
    let mut all = ops.clone();
    for &g in &ops {
        let e = &entries[g as usize];
        let KvOp::Get(Value::Str(text)) = &e.op else { continue };
        let returned = e.ret.unwrap_or(u32::MAX);
        for t in tokens.split(text.as_bytes()).unwrap_or_default() {
            all.extend(tokens.writers[t as usize].iter().filter(|&&w| entries[w as usize].call < returned));
        }
    }
    let all = union(&[all]);
    // Often that leaves one writer per string: then the check is exact on those operations.
    let sub: Vec<Entry<KvOp>> = all.iter().map(|&i| entries[i as usize].clone()).collect();
    if let Some(sub_tokens) = Tokens::new(model, &sub).filter(|t| !t.repeated()) {
        if let Err(shown) = violation(model, &sub, &sub_tokens) {
            return Some(Structure::NotLinearizable(shown.iter().map(|&i| all[i as usize]).collect()));
        }
    }
    Some(Structure::Unconfirmed(all))
}

fn violation(model: &KvModel, entries: &[Entry<KvOp>], tokens: &Tokens<'_>) -> Result<(), Vec<u32>> {
    let ret = |i: u32| entries[i as usize].ret.map_or(NEVER, i64::from);
    let call = |i: u32| i64::from(entries[i as usize].call);

    // Read every get's value as a version.
    let mut versions: FxHashMap<u32, Version> = FxHashMap::default();
    for (i, e) in entries.iter().enumerate() {
        let KvOp::Get(value) = &e.op else { continue };
        match read_version(model, tokens, entries, i as u32, value) {
            Some(v) => {
                versions.insert(i as u32, v);
            }
            // No linearization makes this value: the get alone shows it.
            None => return Err(vec![i as u32]),
        }
    }
    if tokens.repeated() {
        agree_on_writers(entries, tokens, &mut versions);
    }
    // The operations a get's value is made of, with the get.
    let made_of = |g: u32| -> Vec<u32> {
        let v = &versions[&g];
        let start = v.chain.checked_sub(1).map(|p| p as u32);
        start.into_iter().chain(v.appends.iter().copied()).chain([g]).collect()
    };

    // Assemble the chains: every get's version must extend or be a prefix of its chain's longest, and an
    // append may sit in one place only.
    let mut chains: FxHashMap<ChainId, Chain> = FxHashMap::default();
    chains.entry(0).or_default();
    // For each append in a chain: the get that showed where (its version holds the append).
    let mut placed_by: FxHashMap<u32, (ChainId, usize, u32)> = FxHashMap::default();
    let mut gets: Vec<u32> = versions.keys().copied().collect();
    gets.sort_unstable();
    for &g in &gets {
        let v = &versions[&g];
        let chain = chains.entry(v.chain).or_default();
        for (k, &a) in v.appends.iter().enumerate() {
            match chain.appends.get(k) {
                Some(&b) if b == a => {}
                Some(&b) => {
                    let other = placed_by[&b].2;
                    return Err(union(&[made_of(g), made_of(other)]));
                }
                None => {
                    if let Some(&(_, _, other)) = placed_by.get(&a) {
                        return Err(union(&[made_of(g), made_of(other)]));
                    }
                    placed_by.insert(a, (v.chain, k, g));
                    chain.appends.push(a);
                }
            }
        }
        let at = v.appends.len();
        if chain.gets.len() <= at {
            chain.gets.resize(at + 1, Vec::new());
        }
        chain.gets[at].push(g);
    }
    // What must be kept to pin an operation to its place in its chain.
    let pinned = |x: u32| -> Vec<u32> {
        match &entries[x as usize].op {
            KvOp::Get(_) => made_of(x),
            KvOp::Append(_) => placed_by.get(&x).map_or_else(|| vec![x], |&(_, _, g)| union(&[vec![x], made_of(g)])),
            _ => vec![x],
        }
    };

    // The units to order: each chain's block, and each append nobody saw that surely took effect.
    struct Unit {
        /// Latest call and its operation.
        c: (i64, u32),
        /// Earliest return and its operation.
        d: (i64, u32),
    }
    let mut units: Vec<Unit> = Vec::new();
    let mut initial_unit = None;
    let mut chain_ids: Vec<ChainId> = chains.keys().copied().collect();
    chain_ids.sort_unstable();
    for &id in &chain_ids {
        let chain = &chains[&id];
        // Version k's creator: the put (none for the initial value's chain), then the appends.
        let creator = |k: usize| if k == 0 { id.checked_sub(1).map(|p| p as u32) } else { Some(chain.appends[k - 1]) };
        let mut clock: (i64, u32) = (BEFORE_ALL, u32::MAX);
        let mut d: (i64, u32) = (NEVER, u32::MAX);
        let no_gets = Vec::new();
        for k in 0..=chain.appends.len() {
            let mut latest = clock;
            let mut after_creator = clock;
            if let Some(w) = creator(k) {
                if ret(w) < clock.0 {
                    return Err(union(&[pinned(w), pinned(clock.1)]));
                }
                if call(w) > clock.0 {
                    after_creator = (call(w), w);
                }
                latest = latest.max((call(w), w));
                d = d.min((ret(w), w));
            }
            for &g in chain.gets.get(k).unwrap_or(&no_gets) {
                if ret(g) < after_creator.0 {
                    return Err(union(&[pinned(g), pinned(after_creator.1)]));
                }
                latest = latest.max((call(g), g));
                d = d.min((ret(g), g));
            }
            clock = latest;
        }
        if id == 0 {
            initial_unit = Some(units.len());
        }
        units.push(Unit { c: clock, d });
    }
    for (i, e) in entries.iter().enumerate() {
        let i = i as u32;
        let unseen = match e.op {
            KvOp::Append(_) => !placed_by.contains_key(&i),
            KvOp::Put(_) => !chains.contains_key(&(i as usize + 1)),
            _ => false,
        };
        // One that may not have taken effect is best left out; one that did goes between blocks.
        if unseen && e.ret.is_some() {
            units.push(Unit { c: (call(i), i), d: (ret(i), i) });
        }
    }

    // The initial chain's block comes first: nothing else may have returned before its last call.
    let first = initial_unit.expect("the initial chain is always there");
    let initial = &units[first];
    let others = units.iter().enumerate().filter(|&(i, _)| i != first).map(|(_, u)| u);
    if let Some(u) = others.filter(|u| u.d.0 < initial.c.0).min_by_key(|u| u.d) {
        return Err(union(&[pinned(initial.c.1), pinned(u.d.1)]));
    }
    // The zone conditions between units.
    let conflict = |a: &Unit, b: &Unit| union(&[pinned(a.c.1), pinned(a.d.1), pinned(b.c.1), pinned(b.d.1)]);
    let mut forward: Vec<&Unit> = units.iter().filter(|u| u.d.0 < u.c.0).collect();
    forward.sort_unstable_by_key(|u| u.d.0);
    let mut widest: Option<&Unit> = None;
    for &u in &forward {
        if let Some(w) = widest {
            if u.d.0 < w.c.0 {
                return Err(conflict(w, u));
            }
        }
        if widest.is_none_or(|w| u.c.0 > w.c.0) {
            widest = Some(u);
        }
    }
    for u in units.iter().filter(|u| u.d.0 > u.c.0) {
        let at = forward.partition_point(|z| z.d.0 < u.c.0);
        if at > 0 {
            let z = forward[at - 1];
            if u.d.0 < z.c.0 {
                return Err(conflict(z, u));
            }
        }
    }
    Ok(())
}

/// Where a string was written more than once, makes the gets agree on its writer: a get whose value
/// holds, at a place of its chain that an earlier get already showed, the same string as that get takes
/// the same writer; one that extends the chain with a string whose chosen writer is already placed takes
/// the latest other writer invoked before it returned. (A retried append read as its retry by a get that
/// ran while the retry was in flight would otherwise conflict with the earlier gets.)
fn agree_on_writers(entries: &[Entry<KvOp>], tokens: &Tokens<'_>, versions: &mut FxHashMap<u32, Version>) {
    let mut token_of: FxHashMap<u32, u32> = FxHashMap::default();
    for (t, writers) in tokens.writers.iter().enumerate() {
        token_of.extend(writers.iter().map(|&w| (w, t as u32)));
    }
    let mut chains: FxHashMap<ChainId, Vec<u32>> = FxHashMap::default();
    let mut placed: rustc_hash::FxHashSet<u32> = Default::default();
    let mut gets: Vec<u32> = versions.keys().copied().collect();
    gets.sort_unstable();
    for g in gets {
        let returned = entries[g as usize].ret.unwrap_or(u32::MAX);
        let v = versions.get_mut(&g).expect("a get with a version");
        let chain = chains.entry(v.chain).or_default();
        for k in 0..v.appends.len() {
            let t = token_of[&v.appends[k]];
            match chain.get(k) {
                Some(&b) if token_of[&b] == t => v.appends[k] = b,
                Some(_) => break,
                None => {
                    if placed.contains(&v.appends[k]) {
                        let used = &v.appends[..k];
                        let other = tokens.writers[t as usize].iter().rev().find(|&&w| {
                            entries[w as usize].call < returned && !placed.contains(&w) && !used.contains(&w)
                        });
                        match other {
                            Some(&w) => v.appends[k] = w,
                            None => break,
                        }
                    }
                    placed.insert(v.appends[k]);
                    chain.push(v.appends[k]);
                }
            }
        }
    }
}

/// The version get `g`'s value is, or `None` if no order of the key's operations could produce it.
fn read_version(
    model: &KvModel,
    tokens: &Tokens<'_>,
    entries: &[Entry<KvOp>],
    g: u32,
    value: &Value,
) -> Option<Version> {
    let text = match value {
        Value::Null => return model.initial.is_null().then(|| Version { chain: 0, appends: Vec::new() }),
        Value::Str(s) => s.as_bytes(),
        _ => return None,
    };
    let split = tokens.split(text)?;
    // The writer of each token, last occurrence first: the latest writer invoked before the get returned,
    // then the one before it for an earlier occurrence of the same string.
    let returned = entries[g as usize].ret.unwrap_or(u32::MAX);
    let mut below: FxHashMap<u32, usize> = FxHashMap::default();
    let mut ops = vec![0u32; split.len()];
    for (k, &t) in split.iter().enumerate().rev() {
        let writers = &tokens.writers[t as usize];
        let limit = below.entry(t).or_insert_with(|| writers.partition_point(|&w| entries[w as usize].call < returned));
        *limit = limit.checked_sub(1)?;
        ops[k] = writers[*limit];
    }
    let (chain, appends) = match ops.split_first() {
        Some((&first, rest)) if matches!(entries[first as usize].op, KvOp::Put(_)) => (1 + first as usize, rest),
        // Appends straight onto the initial value (null counts as empty)...
        Some(_) => (0, &ops[..]),
        // ...and the empty string is only the initial value itself.
        None => return (model.initial.as_str() == Some("")).then(|| Version { chain: 0, appends: Vec::new() }),
    };
    // A put in the middle of a value cannot be.
    if appends.iter().any(|&a| !matches!(entries[a as usize].op, KvOp::Append(_))) {
        return None;
    }
    Some(Version { chain, appends: appends.to_vec() })
}

fn union(parts: &[Vec<u32>]) -> Vec<u32> {
    let mut all: Vec<u32> = parts.iter().flatten().copied().filter(|&i| i != u32::MAX).collect();
    all.sort_unstable();
    all.dedup();
    all
}
