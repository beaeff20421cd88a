//! Worlds: which write each observation read from, where the history does not say.
//!
//! Workloads write every value once per key, so a read's value names the write it read. Histories from
//! elsewhere write a value twice, or write the initial value again; a cas whose comparison failed observed
//! only that the key held *some other* value; and an indeterminate write happened only if something read
//! it. A *world* is one choice of every observation's source among the writes of its key (or the initial
//! value) that could have produced what it observed; the indeterminate writes that happened are those an
//! included observation chose. The causal models and the session guarantees hold of a history when they
//! hold in some world: their definitions ask for a causal order (or a version order) to exist, and the
//! source of each read is part of what exists.
//!
//! An observation with one possible source (the usual case) is fixed in every world; one with none is a
//! thin-air read in every world. Only the others, the *ambiguous* ones, multiply the worlds. While the
//! worlds times the operations stay within [`EXACT_WORK`], the checkers try every world (stopping once each
//! model holds in one), which decides the history exactly. Beyond that they
//! try the likeliest world (each ambiguous observation reading the latest write invoked before it
//! completed that could have produced it) and a second guess (the write that completed last before it was
//! invoked), which can only show that a model holds, and the world with the
//! ambiguous observations left out, which can only show it is violated (leaving an observation out drops
//! constraints, never adds one); a model neither settles is `unknown`, with [`beyond_cause`] as its cause.

use crate::causal::parse::{Meaning, Parsed, Source};
use crate::history::History;
use crate::value::Value;

/// How much the exact search may do: worlds times the operations checked in each (about a second's work).
pub const EXACT_WORK: u64 = 1 << 21;

/// Candidate sources listed per observation at most; beyond, only the likeliest is kept.
const LISTED: u64 = 4096;

/// The sources one operation's observation may have.
#[derive(Clone, Debug)]
enum Choice {
    /// It observes nothing.
    None,
    One(Source),
    /// Several sources, the likeliest first.
    Many(Vec<Source>),
    /// More sources than [`LISTED`] (not listed): the likeliest one.
    TooMany(Source),
}

/// Every operation's possible sources.
pub(crate) struct Sources {
    choices: Vec<Choice>,
    /// The ambiguous operations (history operation ids), in history order.
    ambiguous: Vec<u32>,
    /// Per ambiguous operation, a second guess: the possible write that completed last before it was
    /// invoked (what a read served in real time would return), or the initial value.
    second: Vec<Option<Source>>,
    /// How many worlds there are (saturating).
    pub worlds: u64,
}

/// The cause of a model left `unknown` because its history has more worlds than the exact search tries.
pub(crate) fn beyond_cause(ambiguous: usize, worlds: u64, operations: usize) -> String {
    format!(
        "{ambiguous} operations could have read from more than one write (a value written more than once, the \
         initial value written, or a failed cas, which saw only that the value was another): {} ways of reading \
         {operations} operations, more than the exact search tries ({EXACT_WORK} operations checked in all); \
         neither the likeliest way nor leaving those operations out decides it",
        if worlds == u64::MAX { "too many".to_string() } else { worlds.to_string() }
    )
}

/// Whether `worlds` worlds of `operations` operations are few enough to try every one.
pub(crate) fn exact(worlds: u64, operations: usize) -> bool {
    worlds.saturating_mul(operations as u64 + 1) <= EXACT_WORK
}

/// The possible sources of every observation of `parsed` (read with [`crate::causal::parse_observing`]).
pub(crate) fn sources(history: &History, parsed: &Parsed, initial: &Value) -> Sources {
    let n = history.operations.len();
    let mut choices = Vec::with_capacity(n);
    let mut ambiguous = Vec::new();
    let mut second = Vec::new();
    // Where a write completed, if it completed ok.
    let completed = |w: u32| {
        let o = &history.operations[w as usize];
        o.complete.filter(|_| o.outcome == crate::history::Outcome::Ok)
    };
    let mut worlds: u64 = 1;
    // The written value of a write, and where it was invoked.
    let written = |w: u32| match &parsed.meaning[w as usize] {
        Meaning::Write { value, .. } => value,
        _ => unreachable!("a writer writes"),
    };
    let invoked = |w: u32| history.operations[w as usize].invoke;
    for (id, m) in parsed.meaning.iter().enumerate() {
        let (key, observed, not) = match m {
            Meaning::Read { key, value } => (*key, value, false),
            Meaning::Write { key, from: Some(from), .. } => (*key, from, false),
            Meaning::Differs { key, not } => (*key, not, true),
            _ => {
                choices.push(Choice::None);
                continue;
            }
        };
        let op = &history.operations[id];
        // The latest possible write invoked before the observation completed comes first.
        let end = op.complete.unwrap_or(op.invoke);
        let init = (*observed == *initial) != not;
        let writes = &parsed.key_writes[key as usize];
        let repeated = if not { None } else { parsed.repeated.get(&(key, observed.clone())) };
        let choice = if let (false, None) = (not, repeated) {
            // The usual case, without allocating: one writer, or the initial value, or nothing.
            match parsed.writers.get(&(key, observed.clone())) {
                Some(&w) if w != id as u32 && !init => Choice::One(Source::Write(w)),
                Some(&w) if w != id as u32 => ordered(vec![w], init, &|w| invoked(w) < end, &invoked),
                _ if init => Choice::One(Source::Init),
                _ => Choice::One(Source::ThinAir),
            }
        } else if let Some(list) = repeated {
            let list: Vec<u32> = list.iter().copied().filter(|&w| w != id as u32).collect();
            ordered(list, init, &|w| invoked(w) < end, &invoked)
        } else {
            // Every write of the key of another value: count them before listing them.
            let same = parsed
                .repeated
                .get(&(key, observed.clone()))
                .map_or_else(|| usize::from(parsed.writers.contains_key(&(key, observed.clone()))), Vec::len);
            let count = (writes.len() - same) as u64 + u64::from(init);
            if count > LISTED {
                let before = writes.partition_point(|&w| invoked(w) < end);
                let latest = writes[..before].iter().rev().find(|&&w| written(w) != observed);
                let first = writes.iter().find(|&&w| written(w) != observed);
                let pick = match (latest, init) {
                    (Some(&w), _) => Source::Write(w),
                    (None, true) => Source::Init,
                    (None, false) => Source::Write(*first.expect("more than one source")),
                };
                Choice::TooMany(pick)
            } else {
                let list: Vec<u32> = writes.iter().copied().filter(|&w| written(w) != observed).collect();
                ordered(list, init, &|w| invoked(w) < end, &invoked)
            }
        };
        // The second guess, among the possible writes invoked before the observation was (the last 64 of
        // them at most, for a failed cas with many).
        if matches!(choice, Choice::Many(_) | Choice::TooMany(_)) {
            let before = writes.partition_point(|&w| invoked(w) < op.invoke);
            let fits = |w: u32| w != id as u32 && (written(w) == observed) != not;
            let best = writes[..before]
                .iter()
                .rev()
                .filter(|&&w| fits(w))
                .take(64)
                .filter_map(|&w| completed(w).filter(|&c| c < op.invoke).map(|c| (c, w)))
                .max();
            second.push(match best {
                Some((_, w)) => Some(Source::Write(w)),
                None if init => Some(Source::Init),
                None => None,
            });
        }
        match &choice {
            Choice::Many(list) => {
                ambiguous.push(id as u32);
                worlds = worlds.saturating_mul(list.len() as u64);
            }
            Choice::TooMany(_) => {
                ambiguous.push(id as u32);
                worlds = u64::MAX;
            }
            _ => {}
        }
        choices.push(choice);
    }
    Sources { choices, ambiguous, second, worlds }
}

/// The choice among writers `list` (and the initial value if `init`), the likeliest first: the latest
/// writer invoked `before` the observation completed, else the initial value, else the first writer.
fn ordered(list: Vec<u32>, init: bool, before: &dyn Fn(u32) -> bool, invoked: &dyn Fn(u32) -> u32) -> Choice {
    let mut sources: Vec<Source> = list.iter().map(|&w| Source::Write(w)).collect();
    if init {
        sources.push(Source::Init);
    }
    let likeliest = list.iter().copied().filter(|&w| before(w)).max_by_key(|&w| invoked(w));
    let first = match likeliest {
        Some(w) => sources.iter().position(|&s| s == Source::Write(w)),
        None if init => Some(sources.len() - 1),
        None => None,
    };
    if let Some(i) = first {
        sources.swap(0, i);
    }
    match sources.len() {
        0 => Choice::One(Source::ThinAir),
        1 => Choice::One(sources[0]),
        _ => Choice::Many(sources),
    }
}

impl Sources {
    /// How many observations have more than one possible source.
    pub fn ambiguous(&self) -> usize {
        self.ambiguous.len()
    }

    /// World number `n` of [`Sources::worlds`] (0 is the likeliest): each operation's source.
    pub fn world(&self, mut n: u64) -> Vec<Option<Source>> {
        self.choices
            .iter()
            .map(|c| match c {
                Choice::None => None,
                Choice::One(s) | Choice::TooMany(s) => Some(*s),
                Choice::Many(list) => {
                    let s = list[(n % list.len() as u64) as usize];
                    n /= list.len() as u64;
                    Some(s)
                }
            })
            .collect()
    }

    /// The likeliest world, with each ambiguous observation's second guess where it has one.
    pub fn second_guess(&self) -> Vec<Option<Source>> {
        let mut world = self.world(0);
        for (&id, s) in self.ambiguous.iter().zip(&self.second) {
            if s.is_some() {
                world[id as usize] = *s;
            }
        }
        world
    }

    /// The world with every ambiguous observation left out.
    pub fn relaxed(&self) -> Vec<Option<Source>> {
        let mut world = self.world(0);
        for &id in &self.ambiguous {
            world[id as usize] = None;
        }
        world
    }

    /// The ambiguous operations of each key, and how many worlds each key has: keys are independent for
    /// the session guarantees, so each is searched on its own. A key with an unlisted choice has
    /// `u64::MAX` worlds.
    pub fn per_key(&self, parsed: &Parsed) -> Vec<(Vec<u32>, u64)> {
        let mut out: Vec<(Vec<u32>, u64)> = vec![(Vec::new(), 1); parsed.keys.len()];
        for &id in &self.ambiguous {
            let key = match &parsed.meaning[id as usize] {
                Meaning::Read { key, .. } | Meaning::Write { key, .. } | Meaning::Differs { key, .. } => *key,
                Meaning::Skip => continue,
            };
            let slot = &mut out[key as usize];
            slot.0.push(id);
            slot.1 = match &self.choices[id as usize] {
                Choice::Many(list) => slot.1.saturating_mul(list.len() as u64),
                _ => u64::MAX,
            };
        }
        out
    }

    /// Sets, in `world`, the sources of the operations `ids` to their choice number `n` (mixed radix, as
    /// in [`Sources::world`]).
    pub fn set(&self, world: &mut [Option<Source>], ids: &[u32], mut n: u64) {
        for &id in ids {
            if let Choice::Many(list) = &self.choices[id as usize] {
                world[id as usize] = Some(list[(n % list.len() as u64) as usize]);
                n /= list.len() as u64;
            }
        }
    }

    /// Leaves the operations `ids` out of `world`.
    pub fn drop(&self, world: &mut [Option<Source>], ids: &[u32]) {
        for &id in ids {
            world[id as usize] = None;
        }
    }
}
