//! Session guarantees (Terry et al., "Session guarantees for weakly consistent replicated data", 1994):
//! what one client can rely on about its own reads and writes, even from a weakly consistent store.
//!
//! A session is a client process id (a Jepsen process; a client that timed out goes on under a new id, and
//! so in a new session). Each guarantee is reported on its own:
//!
//! - **read-your-writes**: a read sees the session's own earlier writes of its key (or something newer).
//! - **monotonic reads**: a read of a key never returns a version older than an earlier read of the session.
//! - **monotonic writes**: writes of a session become visible in order: once another session has read a
//!   session's write, it never reads a key at a version older than an earlier write of that session.
//! - **writes-follow-reads**: a write follows the reads that preceded it in its session: once another
//!   session has read it, it never reads a key at a version older than what the writer had read before
//!   writing.
//!
//! Version order. Values are unique per key, so a read names the write it read from (a value nobody wrote
//! is the eventual checker's thin-air read, and is skipped here). The versions of a key are ordered by the
//! written integer values when every written value of the key is an integer and they increase in invocation
//! order (the workloads' convention), otherwise by the real-time order of write completions; the initial
//! value precedes every write. A version counts as *older* than another only when that order is certain:
//! its write completed (`ok`) before the other write was invoked. Writes that overlapped in real time (or
//! an indeterminate write, which has no completion) may have been applied in either order, so going "back"
//! across them is not reported. For the integer convention this agrees with the integer order wherever it
//! decides; it also makes every check sound for linearizable histories, which never violate a guarantee.
//!
//! Cost: O(n · W) for n operations and W writing (or, for writes-follow-reads, reading) sessions of a key,
//! plus O(log n) per lookup.

use std::time::Instant;

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::causal::{parse, Meaning, Source};
use crate::error::Error;
use crate::history::{History, Outcome};
use crate::linear::OpRef;
use crate::model::ModelOptions;
use crate::value::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Guarantee {
    ReadYourWrites,
    MonotonicReads,
    MonotonicWrites,
    WritesFollowReads,
}

impl Guarantee {
    pub const ALL: [Guarantee; 4] = [
        Guarantee::ReadYourWrites,
        Guarantee::MonotonicReads,
        Guarantee::MonotonicWrites,
        Guarantee::WritesFollowReads,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Guarantee::ReadYourWrites => "read-your-writes",
            Guarantee::MonotonicReads => "monotonic reads",
            Guarantee::MonotonicWrites => "monotonic writes",
            Guarantee::WritesFollowReads => "writes-follow-reads",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Violation {
    pub guarantee: Guarantee,
    /// The session (process) whose guarantee was broken.
    pub process: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<Value>,
    /// The violating pair (the earlier operation, then the read that contradicts it), then any operations
    /// that explain why the pair conflicts.
    pub ops: Vec<OpRef>,
    pub explanation: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct GuaranteeResult {
    pub guarantee: Guarantee,
    pub holds: bool,
    pub violations: usize,
    /// The first violations, in full.
    pub examples: Vec<Violation>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Analysis {
    pub guarantees: Vec<GuaranteeResult>,
    pub sessions: usize,
    /// Keys whose versions are ordered by their integer values, and by write completion order.
    pub keys_by_value: usize,
    pub keys_by_completion: usize,
    pub elapsed_ms: f64,
}

impl Analysis {
    pub fn result(&self, g: Guarantee) -> &GuaranteeResult {
        self.guarantees.iter().find(|r| r.guarantee == g).expect("every guarantee is checked")
    }

    pub fn holds(&self) -> bool {
        self.guarantees.iter().all(|r| r.holds)
    }
}

/// How many violations of each guarantee are reported in full.
const EXAMPLES: usize = 10;

/// A version, as far as ordering goes: event positions of its write's invocation and (definite) completion.
/// The initial value is `(0, None)` with `init`.
#[derive(Clone, Copy, Debug)]
struct Version {
    write: Option<u32>,
    invoke: u32,
    complete: Option<u32>,
}

impl Version {
    const INIT: Version = Version { write: None, invoke: 0, complete: None };

    /// Certainly older than `other`.
    fn older(&self, other: &Version) -> bool {
        match (self.write, other.write) {
            (None, Some(_)) => true,
            (Some(_), Some(_)) => self.complete.is_some_and(|c| c < other.invoke),
            _ => false,
        }
    }
}

/// A session's read of a key: its position in the session, the version read, and the newest invocation rank
/// read so far.
type SessionRead = (u32, Version, u32);

struct Step {
    op: u32,
    key: u32,
    read: Option<Version>,
    writes: bool,
}

/// Checks the four session guarantees.
pub fn check(history: &History, opts: &ModelOptions) -> Result<Analysis, Error> {
    let started = Instant::now();
    let parsed = parse(history, opts)?;
    let version_of = |w: u32| {
        let o = &history.operations[w as usize];
        Version {
            write: Some(w),
            invoke: o.invoke,
            complete: (o.outcome == Outcome::Ok).then_some(o.complete).flatten(),
        }
    };
    let read_version = |key: u32, value: &Value| match parsed.source(key, value, &opts.initial) {
        Source::Init => Some(Version::INIT),
        Source::Write(w) => Some(version_of(w)),
        Source::ThinAir => None,
    };
    // Which keys follow the integer convention (for the report; the certainty rule decides violations).
    let mut last_int: Vec<Option<Option<i64>>> = vec![Some(None); parsed.keys.len()];
    for m in &parsed.meaning {
        if let Meaning::Write { key, value, .. } = m {
            let slot = &mut last_int[*key as usize];
            *slot = match (*slot, value) {
                (Some(prev), Value::Int(v)) if prev.is_none_or(|p| p < *v) => Some(Some(*v)),
                _ => None,
            };
        }
    }
    let written: Vec<bool> = (0..parsed.keys.len() as u32)
        .map(|k| parsed.meaning.iter().any(|m| matches!(m, Meaning::Write { key, .. } if *key == k)))
        .collect();
    let keys_by_value = (0..parsed.keys.len()).filter(|&k| written[k] && last_int[k].is_some()).count();
    let keys_by_completion = written.iter().filter(|&&w| w).count() - keys_by_value;

    // Each session's definite operations, in program order.
    let mut sessions: FxHashMap<u64, Vec<Step>> = FxHashMap::default();
    for (id, op) in history.operations.iter().enumerate() {
        let step = match &parsed.meaning[id] {
            Meaning::Read { key, value } => match read_version(*key, value) {
                Some(v) => Step { op: id as u32, key: *key, read: Some(v), writes: false },
                None => continue,
            },
            Meaning::Write { key, from, definite: true, .. } => {
                Step { op: id as u32, key: *key, read: from.as_ref().and_then(|f| read_version(*key, f)), writes: true }
            }
            _ => continue,
        };
        sessions.entry(op.process).or_default().push(step);
    }
    let mut order: Vec<u64> = sessions.keys().copied().collect();
    order.sort_unstable();

    // Per (session, key): its writes as (position in session, version), and its reads as (position,
    // version read, the newest-invoked version read so far at or before that position).
    let mut writes_of: FxHashMap<(u64, u32), Vec<(u32, Version)>> = FxHashMap::default();
    let mut reads_of: FxHashMap<(u64, u32), Vec<SessionRead>> = FxHashMap::default();
    let mut key_writers: Vec<Vec<u64>> = vec![Vec::new(); parsed.keys.len()];
    let mut key_readers: Vec<Vec<u64>> = vec![Vec::new(); parsed.keys.len()];
    // Where each write sits: (session, position).
    let mut position: FxHashMap<u32, (u64, u32)> = FxHashMap::default();
    for &p in &order {
        for (i, s) in sessions[&p].iter().enumerate() {
            if s.writes {
                let list = writes_of.entry((p, s.key)).or_default();
                if list.is_empty() {
                    key_writers[s.key as usize].push(p);
                }
                list.push((i as u32, version_of(s.op)));
                position.insert(s.op, (p, i as u32));
            }
            if let Some(v) = s.read {
                let list = reads_of.entry((p, s.key)).or_default();
                if list.is_empty() {
                    key_readers[s.key as usize].push(p);
                }
                // The newest version read so far, by invocation (the one later versions must not precede).
                let best = match list.last() {
                    Some(&(_, _, b)) => b.max(v.invoke_rank()),
                    None => v.invoke_rank(),
                };
                list.push((i as u32, v, best));
            }
        }
    }

    let mut found: FxHashMap<Guarantee, (usize, Vec<Violation>)> = FxHashMap::default();
    let key_of = |k: u32| parsed.keys[k as usize].clone();
    let key_words = |k: u32| parsed.keys[k as usize].as_ref().map_or(String::new(), |k| format!(" of key {k}"));
    // A version in words: "2 (written by process 0 at lines 3–4)".
    let what = |v: &Version| match v.write {
        None => "the initial value".to_string(),
        Some(w) => {
            let o = OpRef::new(history, w);
            let value = match &parsed.meaning[w as usize] {
                Meaning::Write { value, .. } => value.clone(),
                _ => o.value.clone(),
            };
            format!("{value} (written by process {} at {})", o.process, o.lines())
        }
    };
    // A write in words: "1 to key "x" (lines 1–2)".
    let written = |w: u32| {
        let o = OpRef::new(history, w);
        match &parsed.meaning[w as usize] {
            Meaning::Write { key, value, .. } => {
                format!("{value}{} ({})", key_words(*key).replace(" of ", " to "), o.lines())
            }
            _ => o.describe(),
        }
    };
    let mut report = |g: Guarantee, process: u64, key: u32, ops: Vec<u32>, explanation: String| {
        let entry = found.entry(g).or_default();
        entry.0 += 1;
        if entry.1.len() < EXAMPLES {
            entry.1.push(Violation {
                guarantee: g,
                process,
                key: key_of(key),
                ops: ops.into_iter().map(|o| OpRef::new(history, o)).collect(),
                explanation,
            });
        }
    };

    for &p in &order {
        let steps = &sessions[&p];
        // Per key: this session's newest own write and newest read, by invocation rank.
        let mut own: FxHashMap<u32, (Version, u32)> = FxHashMap::default();
        let mut seen: FxHashMap<u32, (Version, u32)> = FxHashMap::default();
        // Per other session: the latest position of its writes this session has read, and that read.
        let mut observed: FxHashMap<u64, (u32, u32, u32)> = FxHashMap::default();
        for s in steps {
            if let Some(v) = s.read {
                let here = s.op;
                if let Some(&(w, wop)) = own.get(&s.key) {
                    if v.older(&w) {
                        let text = format!(
                            "process {p} wrote {}{} ({}) and then read {} at {}, an older version: it did not \
                             read its own write.",
                            OpRef::new(history, wop).value,
                            key_words(s.key).replace(" of ", " to "),
                            OpRef::new(history, wop).lines(),
                            what(&v),
                            OpRef::new(history, here).lines()
                        );
                        report(Guarantee::ReadYourWrites, p, s.key, vec![wop, here], text);
                    }
                }
                if let Some(&(prev, prev_read)) = seen.get(&s.key) {
                    if v.older(&prev) {
                        // "the older 3 (written by ...)", but "the initial value", which is older than any write.
                        let older = match v.write {
                            None => what(&v),
                            Some(_) => format!("the older {}", what(&v)),
                        };
                        let text = format!(
                            "process {p} read {}{} at {}, then read {older} at {}: its reads went back in time.",
                            what(&prev),
                            key_words(s.key).replace(" of ", " from "),
                            OpRef::new(history, prev_read).lines(),
                            OpRef::new(history, here).lines()
                        );
                        report(Guarantee::MonotonicReads, p, s.key, vec![prev_read, here], text);
                    }
                }
                // Monotonic writes: writers this session has observed, and their earlier writes of this key.
                for &q in &key_writers[s.key as usize] {
                    let Some(&(pos, w2, r2)) = observed.get(&q) else { continue };
                    if q == p {
                        continue;
                    }
                    let list = &writes_of[&(q, s.key)];
                    let k = list.partition_point(|&(i, _)| i < pos);
                    let Some(&(_, w1)) = k.checked_sub(1).map(|k| &list[k]) else { continue };
                    if v.older(&w1) {
                        let w1op = w1.write.expect("a write");
                        let text = format!(
                            "process {q} wrote {} and later {}; process {p} read the later write at {} but then \
                             read {} at {}, older than the earlier write: process {q}'s writes became visible out \
                             of order.",
                            written(w1op),
                            written(w2),
                            OpRef::new(history, r2).lines(),
                            what(&v),
                            OpRef::new(history, here).lines()
                        );
                        report(Guarantee::MonotonicWrites, q, s.key, vec![w1op, here, w2, r2], text);
                    }
                }
                // Writes-follow-reads: what the writers this session observed had read before writing.
                for &q in &key_readers[s.key as usize] {
                    let Some(&(pos, w2, r2)) = observed.get(&q) else { continue };
                    if q == p {
                        continue;
                    }
                    let list = &reads_of[&(q, s.key)];
                    let k = list.partition_point(|&(i, _, _)| i < pos);
                    let Some(&(_, _, best)) = k.checked_sub(1).map(|k| &list[k]) else { continue };
                    // The read of q with the newest version before its write.
                    let Some(&(_, r1v, _)) = list[..k].iter().find(|(_, v, _)| v.invoke_rank() == best) else {
                        continue;
                    };
                    if v.older(&r1v) {
                        let r1 = steps_op(&sessions[&q], list[..k].iter().find(|(_, v, _)| v.invoke_rank() == best));
                        let text = format!(
                            "process {q} read {} at {} before writing {}; process {p} read that write at {} but \
                             then read {} at {}, older than what the writer had read: the write was visible \
                             without the reads it followed.",
                            what(&r1v),
                            OpRef::new(history, r1).lines(),
                            written(w2),
                            OpRef::new(history, r2).lines(),
                            what(&v),
                            OpRef::new(history, here).lines()
                        );
                        report(Guarantee::WritesFollowReads, q, s.key, vec![r1, here, w2, r2], text);
                    }
                }
                if let Some(w) = v.write {
                    if let Some(&(q, pos)) = position.get(&w) {
                        let e = observed.entry(q).or_insert((pos, w, here));
                        if pos > e.0 {
                            *e = (pos, w, here);
                        }
                    }
                }
                let e = seen.entry(s.key).or_insert((v, here));
                if v.invoke_rank() > e.0.invoke_rank() {
                    *e = (v, here);
                }
            }
            if s.writes {
                own.insert(s.key, (version_of(s.op), s.op));
            }
        }
    }
    let guarantees = Guarantee::ALL
        .iter()
        .map(|&g| {
            let (violations, examples) = found.remove(&g).unwrap_or_default();
            GuaranteeResult { guarantee: g, holds: violations == 0, violations, examples }
        })
        .collect();
    Ok(Analysis {
        guarantees,
        sessions: order.len(),
        keys_by_value,
        keys_by_completion,
        elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
    })
}

/// The operation of a session's read found by its position.
fn steps_op(steps: &[Step], found: Option<&SessionRead>) -> u32 {
    found.map_or(0, |&(i, _, _)| steps[i as usize].op)
}

impl Version {
    /// A rank by which "newest" is judged: later invocation is never certainly older. The initial value
    /// ranks lowest.
    fn invoke_rank(&self) -> u32 {
        match self.write {
            None => 0,
            Some(_) => self.invoke + 1,
        }
    }
}
