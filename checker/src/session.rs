//! Session guarantees (Terry et al., "Session guarantees for weakly consistent replicated data", 1994):
//! what one client can rely on about its own reads and writes, even from a weakly consistent store.
//!
//! A session is a client process id (a Jepsen process; a client that timed out goes on under a new id, and
//! so in a new session). As in Viotti and Vukolić's survey (2016) and Jepsen's model map, a guarantee holds
//! when an order of versions exists under which it is kept; no real-time order is assumed. Keys are
//! independent objects: per key, some world (see [`crate::worlds`]: a source for every read, where a value
//! was written more than once or a cas failed) and, for every session, an order of the key's versions
//! (its writes, after the initial value: the session's view of the key) must satisfy, with `x ⪯ y` for "x
//! precedes or is y" in that order:
//!
//! - **read-your-writes**: every write of the session before a read precedes or is the version it read.
//! - **monotonic reads**: each read's version precedes or is every later read's (of the same key).
//! - **monotonic writes**: once the session has read a write `w2` of process `q`, every write of `q` (of
//!   the key) before `w2` precedes or is each version the session reads from then on.
//! - **writes-follow-reads**: once the session has read a write `w2` of process `q`, every version `q`
//!   read (of the key) before writing `w2`, a cas's own comparison included, precedes or is each version
//!   the session reads from then on.
//!
//! So a read of 2 and then of 1 is no violation of monotonic reads alone (1 may be the newer version); a
//! session that reads 1, 2 and 1 again is. Causal memory, causal convergence and so sequential consistency
//! imply all four (a process's view, or the one arbitration order, is the order that exists); weak causal
//! consistency implies every one but monotonic reads (a process may see 1, 2, 1 under it). A read of a value
//! no write could have produced is left to the thin-air checks (eventual consistency, CC).
//!
//! How it is decided. For one session and key, the constraints of every guarantee have one shape: each read
//! `i` (in session order) must return a version `t_i` that every version of a set `S_i` precedes or is,
//! where `S_i` only grows along the session. Such constraints have an order exactly when no version `x`
//! entered `S` before (or at) the last read of another version `y` while `y` entered `S` before the last
//! read of `x` (a cycle of the order's constraints shortens to one of two versions), and no version entered
//! `S` before the last read of the initial value, which precedes every version. With each version's entry
//! into `S` and last read computed along the session, sorting the versions by entry finds such a pair:
//! O(n log n) per world for n operations. Keys with more than one world are searched world by world while
//! that stays within [`worlds::EXACT_WORK`]; beyond that the likeliest world can show a guarantee holds and
//! the world without the ambiguous reads that it is violated, and otherwise it is unknown.

use std::time::Instant;

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::causal::{parse_observing, Meaning, Parsed, Source};
use crate::error::Error;
use crate::history::{History, Outcome};
use crate::model::ModelOptions;
use crate::op_ref::OpRef;
use crate::value::Value;
use crate::worlds;

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
    /// The two reads whose versions no order can put each before the other (or the one read of the
    /// initial value), then the operations that explain why each version had to come first.
    pub ops: Vec<OpRef>,
    pub explanation: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct GuaranteeResult {
    pub guarantee: Guarantee,
    pub holds: bool,
    /// Sessions and keys (pairs) for which no order of the key's versions keeps the guarantee.
    pub violations: usize,
    /// The first violations, in full.
    pub examples: Vec<Violation>,
    /// Why the guarantee could not be decided (then `holds` is false and there are no violations).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown_cause: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Analysis {
    pub guarantees: Vec<GuaranteeResult>,
    pub sessions: usize,
    /// Keys some read of which could have read from more than one write, decided by trying every world.
    pub keys_searched: usize,
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

/// A violation found in one world: the session, the operations, the words.
struct Found {
    process: u64,
    ops: Vec<u32>,
    explanation: String,
}

/// What the check of a key needs, built once.
struct Context<'a> {
    history: &'a History,
    parsed: &'a Parsed,
    /// Per key, per process, its operations of the key in program order.
    steps: Vec<Vec<(u64, Vec<u32>)>>,
    /// Each operation's place among its process's operations of its key.
    place: Vec<u32>,
}

/// Checks the four session guarantees.
pub fn check(history: &History, opts: &ModelOptions) -> Result<Analysis, Error> {
    let started = Instant::now();
    let parsed = parse_observing(history, opts)?;
    let sources = worlds::sources(history, &parsed, &opts.initial);
    let mut by_key: Vec<FxHashMap<u64, Vec<u32>>> = vec![FxHashMap::default(); parsed.keys.len()];
    let mut place = vec![0u32; history.operations.len()];
    for (id, op) in history.operations.iter().enumerate() {
        let key = match &parsed.meaning[id] {
            Meaning::Read { key, .. } | Meaning::Write { key, .. } | Meaning::Differs { key, .. } => *key,
            Meaning::Skip => continue,
        };
        let list = by_key[key as usize].entry(op.process).or_default();
        place[id] = list.len() as u32;
        list.push(id as u32);
    }
    let mut sessions: Vec<u64> = by_key.iter().flat_map(|m| m.keys().copied()).collect();
    sessions.sort_unstable();
    sessions.dedup();
    let steps = by_key
        .into_iter()
        .map(|m| {
            let mut list: Vec<(u64, Vec<u32>)> = m.into_iter().collect();
            list.sort_unstable_by_key(|(p, _)| *p);
            list
        })
        .collect();
    let c = Context { history, parsed: &parsed, steps, place };

    let mut results: Vec<GuaranteeResult> = Guarantee::ALL
        .iter()
        .map(|&g| GuaranteeResult { guarantee: g, holds: true, violations: 0, examples: vec![], unknown_cause: None })
        .collect();
    let likeliest = sources.world(0);
    let second = sources.second_guess();
    let mut keys_searched = 0;
    for (key, (ambiguous, count)) in sources.per_key(&parsed).into_iter().enumerate() {
        let key = key as u32;
        let first = check_key(&c, key, &likeliest);
        let mut outcome: Vec<KeyOutcome> = first.into_iter().map(KeyOutcome::Found).collect();
        if !ambiguous.is_empty() {
            let unsettled = |o: &[KeyOutcome]| o.iter().any(|x| matches!(x, KeyOutcome::Found(f) if !f.is_empty()));
            let operations: usize = c.steps[key as usize].iter().map(|(_, l)| l.len()).sum();
            if worlds::exact(count, operations) {
                keys_searched += 1;
                let mut world = likeliest.clone();
                for n in 1..count {
                    if !unsettled(&outcome) {
                        break;
                    }
                    sources.set(&mut world, &ambiguous, n);
                    for (o, f) in outcome.iter_mut().zip(check_key(&c, key, &world)) {
                        if f.is_empty() {
                            *o = KeyOutcome::Found(f);
                        }
                    }
                }
            } else if unsettled(&outcome) {
                for (o, f) in outcome.iter_mut().zip(check_key(&c, key, &second)) {
                    if f.is_empty() {
                        *o = KeyOutcome::Found(f);
                    }
                }
                let mut relaxed = likeliest.clone();
                sources.drop(&mut relaxed, &ambiguous);
                for (o, f) in outcome.iter_mut().zip(check_key(&c, key, &relaxed)) {
                    if matches!(o, KeyOutcome::Found(found) if !found.is_empty()) {
                        *o = if f.is_empty() { KeyOutcome::Unknown } else { KeyOutcome::Found(f) };
                    }
                }
            }
        }
        for (r, o) in results.iter_mut().zip(outcome) {
            match o {
                KeyOutcome::Found(found) => {
                    for f in found {
                        r.holds = false;
                        r.violations += 1;
                        if r.examples.len() < EXAMPLES {
                            let mut explanation = f.explanation;
                            if !ambiguous.is_empty() {
                                explanation.push_str(
                                    " (The key's repeated values or failed cas can be read in more than one way; \
                                     this is one of them, and none keeps the guarantee.)",
                                );
                            }
                            r.examples.push(Violation {
                                guarantee: r.guarantee,
                                process: f.process,
                                key: parsed.keys[key as usize].clone(),
                                ops: f.ops.iter().map(|&o| OpRef::new(history, o)).collect(),
                                explanation,
                            });
                        }
                    }
                }
                KeyOutcome::Unknown => {
                    if r.unknown_cause.is_none() {
                        let k = parsed.keys[key as usize].as_ref().map_or(String::new(), |k| format!("key {k}: "));
                        let operations: usize = c.steps[key as usize].iter().map(|(_, l)| l.len()).sum();
                        r.unknown_cause =
                            Some(format!("{k}{}", worlds::beyond_cause(ambiguous.len(), count, operations)));
                    }
                }
            }
        }
    }
    for r in &mut results {
        // A violation anywhere decides; otherwise an undecided key leaves the guarantee unknown.
        if r.violations > 0 {
            r.unknown_cause = None;
        }
        r.holds = r.violations == 0 && r.unknown_cause.is_none();
    }
    Ok(Analysis {
        guarantees: results,
        sessions: sessions.len(),
        keys_searched,
        elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
    })
}

/// One guarantee's verdict on one key.
enum KeyOutcome {
    /// The violations of the world it was decided in (none: it holds).
    Found(Vec<Found>),
    Unknown,
}

/// Which operations of a key's world happened: definite ones, and indeterminate ones an included
/// observation read from (an indeterminate cas's own observation counts only once it is included).
fn included(c: &Context<'_>, key: u32, world: &[Option<Source>]) -> FxHashMap<u32, bool> {
    let mut inc: FxHashMap<u32, bool> = FxHashMap::default();
    let definite = |id: u32| {
        c.history.operations[id as usize].outcome == Outcome::Ok
            || matches!(c.parsed.meaning[id as usize], Meaning::Read { .. } | Meaning::Differs { .. })
    };
    let mut pending = Vec::new();
    for (_, ids) in &c.steps[key as usize] {
        for &id in ids {
            let yes = definite(id);
            inc.insert(id, yes);
            if let Some(Source::Write(w)) = world[id as usize] {
                pending.push((id, w));
            }
        }
    }
    loop {
        let mut grew = false;
        pending.retain(|&(reader, w)| {
            if inc[&reader] {
                if !inc[&w] {
                    inc.insert(w, true);
                    grew = true;
                }
                false
            } else {
                true
            }
        });
        if !grew {
            return inc;
        }
    }
}

/// A version: the initial value or a write.
type Version = Source;

/// The violations of each guarantee (in [`Guarantee::ALL`] order) on one key in one world.
fn check_key(c: &Context<'_>, key: u32, world: &[Option<Source>]) -> [Vec<Found>; 4] {
    let inc = included(c, key, world);
    let observes = |id: u32| match world[id as usize] {
        Some(Source::ThinAir) | None => None,
        Some(s) if inc[&id] => Some(s),
        _ => None,
    };
    let writes = |id: u32| inc[&id] && matches!(c.parsed.meaning[id as usize], Meaning::Write { .. });
    let process_of = |id: u32| c.history.operations[id as usize].process;
    let steps_of: FxHashMap<u64, &Vec<u32>> = c.steps[key as usize].iter().map(|(p, l)| (*p, l)).collect();
    let mut out: [Vec<Found>; 4] = Default::default();
    for (s, ids) in &c.steps[key as usize] {
        let reads: Vec<(u32, Version)> = ids.iter().filter_map(|&id| observes(id).map(|v| (id, v))).collect();
        if reads.is_empty() {
            continue;
        }
        // The last read of each version.
        let mut last: FxHashMap<Version, usize> = FxHashMap::default();
        for (i, &(_, v)) in reads.iter().enumerate() {
            last.insert(v, i);
        }
        for (gi, g) in Guarantee::ALL.into_iter().enumerate() {
            // Entry of each version into S: (read index, why), and the first entry of any write.
            let mut entry: FxHashMap<Version, (usize, Why)> = FxHashMap::default();
            let mut first_write: Option<(usize, Version, Why)> = None;
            let mut enter = |v: Version, i: usize, why: Why, entry: &mut FxHashMap<Version, (usize, Why)>| {
                if v != Source::Init && first_write.is_none() {
                    first_write = Some((i, v, why));
                }
                entry.entry(v).or_insert((i, why));
            };
            match g {
                Guarantee::ReadYourWrites => {
                    let mut i = 0;
                    for &id in ids.iter() {
                        while i < reads.len() && reads[i].0 <= id {
                            i += 1;
                        }
                        if writes(id) && i < reads.len() {
                            enter(Source::Write(id), i, Why::Wrote(id), &mut entry);
                        }
                    }
                }
                Guarantee::MonotonicReads => {
                    for (i, &(id, v)) in reads.iter().enumerate() {
                        if i + 1 < reads.len() {
                            enter(v, i + 1, Why::Read(id), &mut entry);
                        }
                    }
                }
                Guarantee::MonotonicWrites | Guarantee::WritesFollowReads => {
                    // Per writer, the furthest of its operations of the key read so far.
                    let mut furthest: FxHashMap<u64, u32> = FxHashMap::default();
                    for (i, &(rid, v)) in reads.iter().enumerate() {
                        let Source::Write(w2) = v else { continue };
                        let q = process_of(w2);
                        let at = c.place[w2 as usize];
                        let before = furthest.get(&q).copied();
                        if before.is_some_and(|b| b >= at) {
                            continue;
                        }
                        furthest.insert(q, at);
                        // Behind it already: q's writes before its place (monotonic writes), or what q observed
                        // up to and at it (writes-follow-reads).
                        let from = before.map_or(0, |b| b as usize + usize::from(g == Guarantee::WritesFollowReads));
                        let qsteps = steps_of[&q];
                        // The operations of q now behind the furthest read: its writes before w2, or what it
                        // observed up to w2 (a cas's own comparison included).
                        let upto = if g == Guarantee::MonotonicWrites { at as usize } else { at as usize + 1 };
                        for &o in &qsteps[from.min(upto)..upto] {
                            if g == Guarantee::MonotonicWrites {
                                if writes(o) {
                                    enter(Source::Write(o), i, Why::WroteBefore(o, w2, rid), &mut entry);
                                }
                            } else if let Some(x) = observes(o) {
                                enter(x, i, Why::ReadBefore(o, w2, rid), &mut entry);
                            }
                        }
                    }
                }
            }
            if let Some(f) = conflict(c, *s, g, &reads, &last, &entry, first_write) {
                out[gi].push(f);
            }
        }
    }
    out
}

/// Why a version entered a session's set of versions that later reads must not precede.
#[derive(Clone, Copy, Debug)]
enum Why {
    /// The session wrote it.
    Wrote(u32),
    /// The session read it.
    Read(u32),
    /// Its writer wrote it before the write (second) the session read (third).
    WroteBefore(u32, u32, u32),
    /// The writer of the write (second) the session read (third) had observed it at the first.
    ReadBefore(u32, u32, u32),
}

/// The violation of one session and key, if its constraints have no order (see the module's comment).
fn conflict(
    c: &Context<'_>,
    s: u64,
    g: Guarantee,
    reads: &[(u32, Version)],
    last: &FxHashMap<Version, usize>,
    entry: &FxHashMap<Version, (usize, Why)>,
    first_write: Option<(usize, Version, Why)>,
) -> Option<Found> {
    let key_words = |id: u32| {
        let key = match &c.parsed.meaning[id as usize] {
            Meaning::Read { key, .. } | Meaning::Write { key, .. } | Meaning::Differs { key, .. } => *key,
            Meaning::Skip => 0,
        };
        c.parsed.keys[key as usize].as_ref().map_or(String::new(), |k| format!(" of key {k}"))
    };
    // The initial value precedes every version: no write may enter before its last read.
    if let (Some(&li), Some((ei, v, why))) = (last.get(&Source::Init), first_write) {
        if ei <= li {
            let r = reads[li].0;
            let text = format!(
                "process {s} read the initial value{} at {}, after {}: under {}, {} must precede that read's \
                 version, but the initial value precedes every version.",
                key_words(r),
                OpRef::new(c.history, r).lines(),
                reason(c, why),
                g.name(),
                version(c, v)
            );
            let mut ops = vec![r];
            ops.extend(why_ops(why));
            return Some(Found { process: s, ops, explanation: text });
        }
    }
    // Versions both read and entered, by entry; the two largest last reads of each prefix.
    let mut both: Vec<(usize, usize, Version)> = entry
        .iter()
        .filter(|(v, _)| **v != Source::Init)
        .filter_map(|(v, (e, _))| last.get(v).map(|&l| (*e, l, *v)))
        .collect();
    both.sort_unstable_by_key(|&(e, l, _)| (e, l));
    let mut top: [Option<(usize, Version)>; 2] = [None, None];
    let mut prefix: Vec<[Option<(usize, Version)>; 2]> = Vec::with_capacity(both.len());
    for &(_, l, v) in &both {
        if top[0].is_none_or(|(tl, _)| l > tl) {
            top = [Some((l, v)), top[0]];
        } else if top[1].is_none_or(|(tl, _)| l > tl) {
            top[1] = Some((l, v));
        }
        prefix.push(top);
    }
    for &(ey, ly, y) in &both {
        // Among the versions entered by y's last read, one (not y) last read at or after y's entry.
        let k = both.partition_point(|&(e, _, _)| e <= ly);
        let Some(t) = k.checked_sub(1).map(|k| prefix[k]) else { continue };
        let Some((lx, x)) = t.into_iter().flatten().find(|&(_, v)| v != y) else { continue };
        if lx < ey {
            continue;
        }
        let (ry, rx) = (reads[ly].0, reads[lx].0);
        let (why_x, why_y) = (entry[&x].1, entry[&y].1);
        let text = format!(
            "process {s} read {}{} at {} after {}, and read {} at {} after {}: under {}, each of the two versions \
             must precede the other in the session's view of the key.",
            version(c, y),
            key_words(ry),
            OpRef::new(c.history, ry).lines(),
            reason(c, why_x),
            version(c, x),
            OpRef::new(c.history, rx).lines(),
            reason(c, why_y),
            g.name()
        );
        let mut ops = vec![ry, rx];
        ops.extend(why_ops(why_x));
        ops.extend(why_ops(why_y));
        ops.dedup();
        return Some(Found { process: s, ops, explanation: text });
    }
    None
}

/// "2 (written by process 0 at lines 3–4)", "the initial value".
fn version(c: &Context<'_>, v: Version) -> String {
    match v {
        Source::Write(w) => {
            let o = OpRef::new(c.history, w);
            let value = match &c.parsed.meaning[w as usize] {
                Meaning::Write { value, .. } => value.clone(),
                _ => o.value.clone(),
            };
            format!("{value} (written by process {} at {})", o.process, o.lines())
        }
        _ => "the initial value".to_string(),
    }
}

/// Why a version had to come first, in words.
fn reason(c: &Context<'_>, why: Why) -> String {
    let at = |id: u32| OpRef::new(c.history, id).lines();
    let observed = |id: u32| match &c.parsed.meaning[id as usize] {
        Meaning::Write { from: Some(f), .. } => format!("compared it with {f}"),
        Meaning::Differs { not, .. } => format!("saw a value other than {not}"),
        _ => "read it".to_string(),
    };
    match why {
        Why::Wrote(w) => format!("writing {} itself", version(c, Source::Write(w))),
        Why::Read(r) => format!("reading {} at {}", value_of(c, r), at(r)),
        Why::WroteBefore(w1, w2, r) => format!(
            "reading at {} the write {}, which its writer made after writing {}",
            at(r),
            version(c, Source::Write(w2)),
            version(c, Source::Write(w1))
        ),
        Why::ReadBefore(o, w2, r) => format!(
            "reading at {} the write {}, whose writer first {} at {}",
            at(r),
            version(c, Source::Write(w2)),
            observed(o),
            at(o)
        ),
    }
}

/// The value an observation saw, in words.
fn value_of(c: &Context<'_>, id: u32) -> String {
    match &c.parsed.meaning[id as usize] {
        Meaning::Read { value, .. } => value.to_string(),
        Meaning::Write { from: Some(f), .. } => f.to_string(),
        Meaning::Differs { not, .. } => format!("a value other than {not}"),
        _ => String::new(),
    }
}

fn why_ops(why: Why) -> Vec<u32> {
    match why {
        Why::Wrote(w) => vec![w],
        Why::Read(r) => vec![r],
        Why::WroteBefore(a, b, r) | Why::ReadBefore(a, b, r) => vec![a, b, r],
    }
}
