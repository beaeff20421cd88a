//! An independent oracle for the causal models (CC, CM, CCv) and the four session guarantees, written from
//! their definitions and not from the checkers' code, run on thousands of small random histories with
//! failed cas, repeated values, the initial value written again, indeterminate operations and two keys.
//!
//! How the oracle reads a history (the checkers' reading, as the README states it): an `ok` read observed
//! its value; a `fail` or `info` read observed nothing. A `fail` write or cas never happened; an `info` one
//! may or may not have (both are tried). A successful cas `[a, b]` read `a` and then wrote `b`, atomically;
//! a cas that failed its comparison observed a value other than `a` (`--cas-fail observe`). A read's source
//! is any write of its key that wrote the value it returned (or the initial value), and every choice is
//! tried: a *world* is a choice of the indeterminate operations that happened and of every read's source.
//!
//! Causal models (Bouajjani, Enea, Guerraoui, Hamza, "On verifying causal consistency", POPL 2017), over
//! the causal order `co = (po ∪ rf)+` of a world (po: each process's order; rf: source to read), which
//! must be acyclic. A *serialization* of a set of operations is an order of them extending `co`, replayed
//! from the initial state of every key; an operation whose output is *kept* must see what it observed:
//!
//! - CC: for every operation `o`, its causal past and `o` have a serialization keeping `o`'s output.
//! - CM: for every operation `o`, its causal past and `o` have a serialization keeping the outputs of `o`
//!   and of every operation of its process before it.
//! - CCv: one order of all operations extending `co` whose restriction to each operation's causal past
//!   and itself keeps that operation's output.
//!
//! Session guarantees (Terry et al. 1994, as Viotti and Vukolić 2016 and Jepsen's model map state them,
//! with no real-time order): per key, a world and, for every session (process), an order of the key's
//! versions (its writes, after the initial value) in which the session's reads satisfy the guarantee; a
//! read of a value nothing could have written is left to the thin-air checks. With `x ⪯ y` in that order:
//!
//! - read-your-writes: every write of the session before a read precedes or is the version it read.
//! - monotonic reads: each read's version precedes or is every later read's.
//! - monotonic writes: once the session has read a write `w2` of process `q`, every write of `q` before
//!   `w2` precedes or is each version the session reads from then on.
//! - writes-follow-reads: once the session has read a write `w2` of process `q`, every version `q` read
//!   before writing `w2` (a cas's own read included) precedes or is each version the session reads from
//!   then on.
//!
//! Besides the comparison: adding operations on another key never changes a key's session verdict, and a
//! model the ladder reports implied by a stronger one holds when checked on its own. The number of
//! histories is `FAULTLINE_WEAK_ORACLE_CASES` (default 3000).

use faultline_checker::causal::{self, Status};
use faultline_checker::format::jsonl;
use faultline_checker::ladder::{self, Level};
use faultline_checker::model::{ModelKind, ModelOptions};
use faultline_checker::session::{self, Guarantee};
use faultline_checker::History;
use faultline_rng::Rng;

/// A value: `None` is null, the initial value.
type V = Option<i64>;

#[derive(Clone, Debug, PartialEq)]
enum Kind {
    /// An ok read of the value.
    Read(V),
    /// A write; `true` if it completed ok, `false` if indeterminate.
    Write(V, bool),
    /// A successful (or, `false`, indeterminate) cas from the first value to the second.
    Cas(V, V, bool),
    /// A cas whose comparison failed: the key held something other than the value.
    FailedCas(V),
}

#[derive(Clone, Debug)]
struct Op {
    process: u64,
    key: u8,
    kind: Kind,
}

impl Op {
    fn definite(&self) -> bool {
        !matches!(self.kind, Kind::Write(_, false) | Kind::Cas(_, _, false))
    }
    fn written(&self) -> Option<V> {
        match self.kind {
            Kind::Write(v, _) | Kind::Cas(_, v, _) => Some(v),
            _ => None,
        }
    }
    /// Whether a source that left `v` is what this operation observed; `None` if it observes nothing.
    fn accepts(&self, v: V) -> Option<bool> {
        match self.kind {
            Kind::Read(x) | Kind::Cas(x, _, _) => Some(x == v),
            Kind::FailedCas(x) => Some(x != v),
            Kind::Write(..) => None,
        }
    }
}

fn json(v: V) -> String {
    v.map_or("null".into(), |v| v.to_string())
}

/// A random history of at most `max_ops` operations, run one after another (real time plays no part in
/// these models), as JSONL text and as the oracle's operations. Written values are 1 to 3 (so repeated
/// often), or, one history in two, mostly fresh ones (so that versions are told apart and the rarer
/// violations occur); the initial value is written now and then.
fn random(rng: &mut Rng, max_ops: usize, keys: &[&str]) -> (String, Vec<Op>) {
    let fresh = rng.below(2) == 0;
    let mut next = 10;
    let clients = 2 + rng.below(2);
    let mut ids: Vec<u64> = (0..clients).collect();
    let mut next_id = clients;
    let n = 2 + rng.below(max_ops as u64 - 1) as usize;
    let mut text = String::new();
    let mut ops = Vec::new();
    // Values written so far per key: reads and comparisons mostly name one of them, so that every model
    // holds often enough to be tested both ways.
    let mut written: Vec<Vec<V>> = vec![vec![None]; keys.len()];
    let key_count = 1 + rng.below(keys.len() as u64);
    for _ in 0..n {
        let c = rng.below(clients) as usize;
        let p = ids[c];
        let k = rng.below(key_count) as u8;
        let key = keys[k as usize];
        let seen = written[k as usize].clone();
        let value = |rng: &mut Rng| match rng.below(10) {
            0 => [None, Some(1), Some(2), Some(3)][rng.below(4) as usize],
            1..=4 => *seen.last().expect("the initial value at least"),
            _ => seen[rng.below(seen.len() as u64) as usize],
        };
        let (f, invoked, completed, outcome, kind) = match rng.below(10) {
            0..=3 => {
                let v = value(rng);
                let outcome = ["ok", "ok", "ok", "ok", "ok", "ok", "fail", "info"][rng.below(8) as usize];
                ("read", json(None), json(v), outcome, (outcome == "ok").then_some(Kind::Read(v)))
            }
            4..=6 => {
                next += 1;
                let v = match rng.below(8) {
                    0 => None,
                    _ if fresh && rng.below(6) != 0 => Some(next),
                    _ => Some(1 + rng.below(3) as i64),
                };
                let outcome = ["ok", "ok", "ok", "ok", "info", "fail"][rng.below(6) as usize];
                let kind = match outcome {
                    "ok" => Some(Kind::Write(v, true)),
                    "info" => Some(Kind::Write(v, false)),
                    _ => None,
                };
                ("write", json(v), json(v), outcome, kind)
            }
            _ => {
                let (a, b) = (value(rng), Some(1 + rng.below(3) as i64));
                let pair = format!("[{},{}]", json(a), json(b));
                let outcome = ["ok", "ok", "fail", "fail", "fail", "info"][rng.below(6) as usize];
                let kind = match outcome {
                    "ok" => Kind::Cas(a, b, true),
                    "info" => Kind::Cas(a, b, false),
                    _ => Kind::FailedCas(a),
                };
                ("cas", pair.clone(), pair, outcome, Some(kind))
            }
        };
        text +=
            &format!("{{\"type\":\"invoke\",\"process\":{p},\"f\":\"{f}\",\"key\":\"{key}\",\"value\":{invoked}}}\n");
        text += &format!(
            "{{\"type\":\"{outcome}\",\"process\":{p},\"f\":\"{f}\",\"key\":\"{key}\",\"value\":{completed}}}\n"
        );
        if let Some(kind) = kind {
            if let Kind::Write(v, _) | Kind::Cas(_, v, _) = kind {
                written[k as usize].push(v);
            }
            ops.push(Op { process: p, key: k, kind });
        }
        if outcome == "info" {
            ids[c] = next_id;
            next_id += 1;
        }
    }
    (text, ops)
}

// ---- Worlds ----

/// Which operations happened, and each observing operation's source (`None`: the initial value).
struct World {
    included: Vec<bool>,
    source: Vec<Option<Option<usize>>>,
}

/// Calls `f` on every world until it returns true; `thin_air_skipped` leaves out (for the session
/// guarantees) observations that no write of the history and not the initial value could have made.
fn worlds(ops: &[Op], thin_air_skipped: bool, f: &mut dyn FnMut(&World) -> bool) -> bool {
    let n = ops.len();
    let maybe: Vec<usize> = (0..n).filter(|&i| !ops[i].definite()).collect();
    for mask in 0..1u32 << maybe.len() {
        let mut included = vec![true; n];
        for (b, &i) in maybe.iter().enumerate() {
            included[i] = mask >> b & 1 == 1;
        }
        // Candidate sources per observing operation.
        let mut candidates: Vec<Vec<Option<usize>>> = vec![Vec::new(); n];
        let mut observing = Vec::new();
        for i in (0..n).filter(|&i| included[i]) {
            let Some(init_ok) = ops[i].accepts(None) else { continue };
            let possible = |j: usize| j != i && ops[j].key == ops[i].key && ops[j].written().is_some();
            if thin_air_skipped
                && !init_ok
                && !(0..n).any(|j| possible(j) && ops[i].accepts(ops[j].written().unwrap()) == Some(true))
            {
                continue;
            }
            if init_ok {
                candidates[i].push(None);
            }
            for j in (0..n).filter(|&j| included[j] && possible(j)) {
                if ops[i].accepts(ops[j].written().unwrap()) == Some(true) {
                    candidates[i].push(Some(j));
                }
            }
            observing.push(i);
        }
        let mut world = World { included, source: vec![None; n] };
        if choose(&observing, &candidates, &mut world, f) {
            return true;
        }
    }
    false
}

fn choose(
    rest: &[usize],
    candidates: &[Vec<Option<usize>>],
    world: &mut World,
    f: &mut dyn FnMut(&World) -> bool,
) -> bool {
    let Some((&i, rest)) = rest.split_first() else { return f(world) };
    for &c in &candidates[i] {
        world.source[i] = Some(c);
        if choose(rest, candidates, world, f) {
            return true;
        }
    }
    world.source[i] = None;
    false
}

// ---- Causal models ----

/// `co` of a world as a closed relation, or `None` if it is cyclic.
fn causal_order(ops: &[Op], w: &World) -> Option<Vec<Vec<bool>>> {
    let n = ops.len();
    let mut co = vec![vec![false; n]; n];
    for a in (0..n).filter(|&a| w.included[a]) {
        for b in (a + 1..n).filter(|&b| w.included[b] && ops[b].process == ops[a].process) {
            co[a][b] = true;
        }
        if let Some(Some(s)) = w.source[a] {
            co[s][a] = true;
        }
    }
    for k in 0..n {
        for a in 0..n {
            for b in 0..n {
                if co[a][k] && co[k][b] {
                    co[a][b] = true;
                }
            }
        }
    }
    (0..n).all(|a| !co[a][a]).then_some(co)
}

/// Every order of `set` that extends `co`, until `f` returns true.
fn extensions(set: &[usize], co: &[Vec<bool>], f: &mut dyn FnMut(&[usize]) -> bool) -> bool {
    fn go(
        rest: &mut Vec<usize>,
        prefix: &mut Vec<usize>,
        co: &[Vec<bool>],
        f: &mut dyn FnMut(&[usize]) -> bool,
    ) -> bool {
        if rest.is_empty() {
            return f(prefix);
        }
        for i in 0..rest.len() {
            let v = rest[i];
            if rest.iter().any(|&u| co[u][v]) {
                continue;
            }
            rest.remove(i);
            prefix.push(v);
            let found = go(rest, prefix, co, f);
            prefix.pop();
            rest.insert(i, v);
            if found {
                return true;
            }
        }
        false
    }
    go(&mut set.to_vec(), &mut Vec::new(), co, f)
}

/// Replays `order` from the initial state: does every operation `kept` see what it observed?
fn replay(ops: &[Op], order: &[usize], kept: &dyn Fn(usize) -> bool) -> bool {
    let mut state: [V; 2] = [None, None];
    for &i in order {
        let k = ops[i].key as usize;
        if kept(i) && ops[i].accepts(state[k]) == Some(false) {
            return false;
        }
        if let Some(v) = ops[i].written() {
            state[k] = v;
        }
    }
    true
}

/// The causal past of `o` and `o` itself, in index order.
fn past_and(o: usize, co: &[Vec<bool>]) -> Vec<usize> {
    (0..co.len()).filter(|&a| a == o || co[a][o]).collect()
}

/// (CC, CM, CCv) by the definitions.
fn oracle_causal(ops: &[Op]) -> [bool; 3] {
    let observes = |i: usize| ops[i].accepts(None).is_some();
    let mut out = [false; 3];
    for (m, holds) in out.iter_mut().enumerate() {
        *holds = worlds(ops, false, &mut |w| {
            let Some(co) = causal_order(ops, w) else { return false };
            let live: Vec<usize> = (0..ops.len()).filter(|&i| w.included[i]).collect();
            match m {
                0 => live
                    .iter()
                    .filter(|&&o| observes(o))
                    .all(|&o| extensions(&past_and(o, &co), &co, &mut |order| replay(ops, order, &|i| i == o))),
                1 => live.iter().all(|&o| {
                    let mine = |i: usize| ops[i].process == ops[o].process && i <= o && observes(i);
                    extensions(&past_and(o, &co), &co, &mut |order| replay(ops, order, &mine))
                }),
                _ => extensions(&live, &co, &mut |arb| {
                    live.iter().filter(|&&o| observes(o)).all(|&o| {
                        let sub: Vec<usize> = arb.iter().copied().filter(|&a| a == o || co[a][o]).collect();
                        replay(ops, &sub, &|i| i == o)
                    })
                }),
            }
        });
    }
    out
}

// ---- Session guarantees ----

/// Does some order of `versions` (after the initial value, `None`) satisfy every `x ⪯ y`?
fn some_order(versions: &[usize], constraints: &[(Option<usize>, Option<usize>)]) -> bool {
    let mut order = versions.to_vec();
    permutations(&mut order, 0, &mut |order| {
        let pos = |x: Option<usize>| x.map_or(-1, |x| order.iter().position(|&v| v == x).unwrap() as i64);
        constraints.iter().all(|&(x, y)| pos(x) <= pos(y))
    })
}

fn permutations(items: &mut Vec<usize>, from: usize, f: &mut dyn FnMut(&[usize]) -> bool) -> bool {
    if from == items.len() {
        return f(items);
    }
    for i in from..items.len() {
        items.swap(from, i);
        if permutations(items, from + 1, f) {
            return true;
        }
        items.swap(from, i);
    }
    false
}

/// The `x ⪯ y` constraints guarantee `g` puts on session `s`'s order of key `k`'s versions in world `w`.
fn constraints(ops: &[Op], w: &World, g: Guarantee, s: u64, k: u8) -> Vec<(Option<usize>, Option<usize>)> {
    let n = ops.len();
    let on_k = |i: usize| w.included[i] && ops[i].key == k;
    let reads: Vec<usize> = (0..n).filter(|&i| on_k(i) && ops[i].process == s && w.source[i].is_some()).collect();
    let src = |i: usize| w.source[i].expect("an observation");
    let mut out = Vec::new();
    for (at, &r) in reads.iter().enumerate() {
        match g {
            Guarantee::ReadYourWrites => {
                for v in (0..r).filter(|&v| on_k(v) && ops[v].process == s && ops[v].written().is_some()) {
                    out.push((Some(v), src(r)));
                }
            }
            Guarantee::MonotonicReads => {
                for &earlier in &reads[..at] {
                    out.push((src(earlier), src(r)));
                }
            }
            Guarantee::MonotonicWrites | Guarantee::WritesFollowReads => {
                // Every write the session has read by now.
                for &seen in &reads[..=at] {
                    let Some(w2) = src(seen) else { continue };
                    let q = ops[w2].process;
                    for before in (0..=w2).filter(|&v| on_k(v) && ops[v].process == q) {
                        if g == Guarantee::MonotonicWrites && before < w2 && ops[before].written().is_some() {
                            out.push((Some(before), src(r)));
                        }
                        if g == Guarantee::WritesFollowReads {
                            if let Some(x) = w.source[before] {
                                out.push((x, src(r)));
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

/// Each guarantee, by the definitions: per key, some world serves every session.
fn oracle_session(ops: &[Op]) -> [bool; 4] {
    let mut out = [true; 4];
    for (gi, g) in Guarantee::ALL.into_iter().enumerate() {
        for k in 0..2u8 {
            let mine: Vec<Op> = ops.iter().filter(|o| o.key == k).cloned().collect();
            let sessions: Vec<u64> = mine.iter().map(|o| o.process).collect();
            let served = worlds(&mine, true, &mut |w| {
                let versions: Vec<usize> =
                    (0..mine.len()).filter(|&i| w.included[i] && mine[i].written().is_some()).collect();
                sessions.iter().all(|&s| some_order(&versions, &constraints(&mine, w, g, s, k)))
            });
            out[gi] &= served;
        }
    }
    out
}

// ---- The comparison ----

fn cases() -> u64 {
    std::env::var("FAULTLINE_WEAK_ORACLE_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(3000)
}

fn model() -> ModelOptions {
    ModelOptions::new(ModelKind::CasRegister)
}

fn checked_causal(h: &History) -> [Status; 3] {
    let a = causal::check(h, &causal::Options::new(model())).unwrap();
    [a.cc.status, a.cm.status, a.ccv.status]
}

fn checked_session(h: &History) -> [Status; 4] {
    let a = session::check(h, &model()).unwrap();
    Guarantee::ALL.map(|g| {
        let r = a.result(g);
        match (r.holds, &r.unknown_cause) {
            (true, _) => Status::Holds,
            (false, None) => Status::Violated,
            (false, Some(_)) => Status::Unknown,
        }
    })
}

fn status(holds: bool) -> Status {
    if holds {
        Status::Holds
    } else {
        Status::Violated
    }
}

#[test]
fn causal_models_match_the_oracle() {
    let mut rng = Rng(2024);
    let mut seen = [[0usize; 2]; 3];
    for i in 0..cases() {
        let (text, ops) = random(&mut rng, 7, &["x", "y"]);
        let h = jsonl::parse("random", &text).unwrap();
        let expected = oracle_causal(&ops);
        let got = checked_causal(&h);
        for (m, name) in ["CC", "CM", "CCv"].iter().enumerate() {
            assert_eq!(got[m], status(expected[m]), "history {i}: {name}\n{text}");
            seen[m][expected[m] as usize] += 1;
        }
    }
    // Both verdicts of each model, often, or the comparison says little.
    let least = cases() as usize / 10;
    assert!(seen.iter().flatten().all(|&n| n >= least), "violated/holds per model: {seen:?}");
}

#[test]
fn session_guarantees_match_the_oracle() {
    let mut rng = Rng(1994);
    let mut seen = [[0usize; 2]; 4];
    for i in 0..cases() {
        // One key in two histories, with more operations on it: monotonic writes needs two writes of one
        // process, a read of the second and then of something before the first.
        let (text, ops) = if i % 2 == 0 { random(&mut rng, 9, &["x", "y"]) } else { random(&mut rng, 11, &["x"]) };
        let h = jsonl::parse("random", &text).unwrap();
        let expected = oracle_session(&ops);
        let got = checked_session(&h);
        for (gi, g) in Guarantee::ALL.iter().enumerate() {
            assert_eq!(got[gi], status(expected[gi]), "history {i}: {}\n{text}", g.name());
            seen[gi][expected[gi] as usize] += 1;
        }
    }
    // Monotonic writes on its own is rarely violated (two writes of one process, a read of the second and
    // later one of something before the first): about one history in 200.
    let least = cases() as usize / 400;
    assert!(seen.iter().flatten().all(|&n| n >= least), "violated/holds per guarantee: {seen:?}");
}

/// Operations on another key (`zz`, by the same processes and new ones) never change a key's session
/// verdict, whichever way they go.
#[test]
fn other_keys_never_change_a_keys_session_verdict() {
    let mut rng = Rng(77);
    let mut violated = 0;
    for i in 0..cases() {
        let (text, _) = random(&mut rng, 6, &["x"]);
        let (other, _) = random(&mut rng, 6, &["zz"]);
        // The other key's processes overlap this one's: interleave the two histories' operations.
        let mut lines: Vec<&str> = Vec::new();
        let (a, b): (Vec<&str>, Vec<&str>) = (text.lines().collect(), other.lines().collect());
        let (mut ia, mut ib) = (0, 0);
        while ia < a.len() || ib < b.len() {
            let take_a = ib >= b.len() || (ia < a.len() && rng.below(2) == 0);
            // Whole operations (invocation and completion) at a time.
            if take_a {
                lines.extend(&a[ia..ia + 2]);
                ia += 2;
            } else {
                lines.extend(&b[ib..ib + 2]);
                ib += 2;
            }
        }
        let both = lines.join("\n") + "\n";
        // Processes of the two histories share numbers; one may have ended with info in one of them.
        let Ok(combined) = jsonl::parse("combined", &both) else { continue };
        let alone = checked_session(&jsonl::parse("alone", &text).unwrap());
        let a = session::check(&combined, &model()).unwrap();
        for (gi, g) in Guarantee::ALL.into_iter().enumerate() {
            let r = a.result(g);
            assert!(r.unknown_cause.is_none() && r.examples.len() == r.violations, "history {i}");
            let on_x = r.examples.iter().any(|v| v.key.as_ref().and_then(|k| k.as_str()) == Some("x"));
            assert_eq!(status(!on_x), alone[gi], "history {i}: {} on key x\n{text}\nwith\n{both}", g.name());
            violated += usize::from(on_x);
        }
    }
    assert!(violated as u64 >= cases() / 20, "only {violated} violations on key x");
}

/// The ladder reports a model implied by a stronger one without checking it: checked on its own, it
/// holds. Ladder edges that hold only by definition are tested here against the oracle, too.
#[test]
fn a_model_the_ladder_calls_implied_holds_when_checked() {
    let mut rng = Rng(5);
    let mut implied = 0;
    for i in 0..cases() / 2 {
        let (text, ops) = random(&mut rng, 7, &["x", "y"]);
        let h = jsonl::parse("random", &text).unwrap();
        let l = ladder::check(&h, &ladder::Options::new(model()));
        let causal = oracle_causal(&ops);
        let sessions = oracle_session(&ops);
        for r in l.rungs.iter().filter(|r| r.implied_by.is_some()) {
            let holds = match r.level {
                Level::CausalConvergence => causal[2],
                Level::CausalMemory => causal[1],
                Level::Causal => causal[0],
                Level::ReadYourWrites => sessions[0],
                Level::MonotonicReads => sessions[1],
                Level::MonotonicWrites => sessions[2],
                Level::WritesFollowReads => sessions[3],
                Level::Sequential => continue,
                other => panic!("{other:?} is never implied"),
            };
            assert!(holds, "history {i}: {:?} implied by {:?} but violated\n{text}", r.level, r.implied_by);
            implied += 1;
        }
    }
    assert!(implied as u64 >= cases(), "only {implied} implied rungs");
}

fn ladder_of(text: &str) -> ladder::Ladder {
    ladder::check(&jsonl::parse("h", text).unwrap(), &ladder::Options::new(model()))
}

/// Issue 24 item 1: a failed cas is an observation for every model. One process wrote 1 and then failed a
/// cas from 1: with one process every causal model is sequential consistency, so none holds.
#[test]
fn a_failed_cas_is_an_observation_for_the_causal_models() {
    let text = r#"{"type":"invoke","process":0,"f":"write","key":"x","value":1}
{"type":"ok","process":0,"f":"write","key":"x","value":1}
{"type":"invoke","process":0,"f":"cas","key":"x","value":[1,2]}
{"type":"fail","process":0,"f":"cas","key":"x","value":[1,2]}
"#;
    assert_eq!(checked_causal(&jsonl::parse("h", text).unwrap()), [Status::Violated; 3]);
    let l = ladder_of(text);
    for level in [Level::Sequential, Level::CausalConvergence, Level::CausalMemory, Level::Causal] {
        assert_eq!(l.rung(level).status, Status::Violated, "{level:?}");
    }
    // Read-your-writes: the failed cas saw a value other than the 1 its own process wrote before, and only
    // the initial value is another.
    assert_eq!(l.rung(Level::ReadYourWrites).status, Status::Violated);
    // The same on kv: a cas from null fails on a key nobody wrote, beside an unrelated put.
    let kv = r#"{"type":"invoke","process":0,"f":"put","key":"a","value":"v"}
{"type":"ok","process":0,"f":"put","key":"a","value":"v"}
{"type":"invoke","process":1,"f":"cas","key":"b","value":[null,"a"]}
{"type":"fail","process":1,"f":"cas","key":"b","value":[null,"a"]}
"#;
    let h = jsonl::parse("kv", kv).unwrap();
    let a = causal::check(&h, &causal::Options::new(ModelOptions::new(ModelKind::Kv))).unwrap();
    assert_eq!([a.cc.status, a.cm.status, a.ccv.status], [Status::Violated; 3]);
    assert!(a.cc.anomalies[0].explanation.contains("failed its comparison"), "{}", a.cc.anomalies[0].explanation);
    // Dropped (--cas-fail drop), the failed cas says nothing.
    let drop = ModelOptions { cas_fail: faultline_checker::model::CasFail::Drop, ..model() };
    let a = causal::check(&jsonl::parse("h", text).unwrap(), &causal::Options::new(drop)).unwrap();
    assert_eq!(a.cc.status, Status::Holds);
}

/// Issue 24 item 2: read-your-writes on key x does not depend on an unrelated key, and holds where the
/// ladder calls it implied: process 0 wrote 1 and then read 2, a write that may be the newer version.
#[test]
fn read_your_writes_is_judged_without_real_time_and_per_key() {
    let text = r#"{"type":"invoke","process":1,"f":"write","key":"x","value":2}
{"type":"ok","process":1,"f":"write","key":"x","value":2}
{"type":"invoke","process":0,"f":"write","key":"x","value":1}
{"type":"ok","process":0,"f":"write","key":"x","value":1}
{"type":"invoke","process":0,"f":"read","key":"x","value":null}
{"type":"ok","process":0,"f":"read","key":"x","value":2}
"#;
    let other = r#"{"type":"invoke","process":9,"f":"read","key":"zz","value":null}
{"type":"ok","process":9,"f":"read","key":"zz","value":987654}
"#;
    for t in [text.to_string(), format!("{text}{other}")] {
        let h = jsonl::parse("h", &t).unwrap();
        assert_eq!(checked_session(&h), [Status::Holds; 4], "{t}");
        let l = ladder_of(&t);
        assert_eq!(l.rung(Level::ReadYourWrites).status, Status::Holds, "{t}");
    }
}

/// Weak causal consistency lets a process read 1, then 2, then 1 again (each read's serialization orders
/// the two writes its own way); monotonic reads forbids it, so the ladder does not call it implied by CC.
#[test]
fn weak_causal_consistency_does_not_imply_monotonic_reads() {
    let text = r#"{"type":"invoke","process":0,"f":"write","key":"x","value":1}
{"type":"ok","process":0,"f":"write","key":"x","value":1}
{"type":"invoke","process":1,"f":"write","key":"x","value":2}
{"type":"ok","process":1,"f":"write","key":"x","value":2}
{"type":"invoke","process":2,"f":"read","key":"x","value":null}
{"type":"ok","process":2,"f":"read","key":"x","value":1}
{"type":"invoke","process":2,"f":"read","key":"x","value":null}
{"type":"ok","process":2,"f":"read","key":"x","value":2}
{"type":"invoke","process":2,"f":"read","key":"x","value":null}
{"type":"ok","process":2,"f":"read","key":"x","value":1}
"#;
    let h = jsonl::parse("h", text).unwrap();
    assert_eq!(checked_causal(&h), [Status::Holds, Status::Violated, Status::Violated]);
    let l = ladder_of(text);
    assert_eq!(l.rung(Level::Causal).status, Status::Holds);
    let mr = l.rung(Level::MonotonicReads);
    assert_eq!((mr.status, mr.implied_by), (Status::Violated, None));
    assert!(mr.anomalies[0].contains("process 2 read"), "{:?}", mr.anomalies);
    assert_eq!(l.rung(Level::ReadYourWrites).implied_by, Some(Level::Causal));
}

/// Issue 24 item 5: a value written twice, and the initial value written, are decided on a small history
/// (by trying every way of reading it), not left unknown.
#[test]
fn repeated_values_and_the_initial_value_written_are_decided() {
    // Process 2 reads 1 and then null. Process 0 wrote 1 twice with null between: reading the second 1
    // and then the first null is a causal violation in no world only if the reads can be read as (first 1,
    // written null): they can, so everything holds.
    let holds = r#"{"type":"invoke","process":0,"f":"write","key":"x","value":1}
{"type":"ok","process":0,"f":"write","key":"x","value":1}
{"type":"invoke","process":0,"f":"write","key":"x","value":null}
{"type":"ok","process":0,"f":"write","key":"x","value":null}
{"type":"invoke","process":0,"f":"write","key":"x","value":1}
{"type":"ok","process":0,"f":"write","key":"x","value":1}
{"type":"invoke","process":2,"f":"read","key":"x","value":null}
{"type":"ok","process":2,"f":"read","key":"x","value":1}
{"type":"invoke","process":2,"f":"read","key":"x","value":null}
{"type":"ok","process":2,"f":"read","key":"x","value":null}
"#;
    let h = jsonl::parse("h", holds).unwrap();
    assert_eq!(checked_causal(&h), [Status::Holds; 3]);
    assert_eq!(checked_session(&h), [Status::Holds; 4]);
    // Process 0 wrote 1 twice and then 2, and read 1: whichever 1 it read, its own 2 overwrote it.
    let violated = r#"{"type":"invoke","process":0,"f":"write","key":"x","value":1}
{"type":"ok","process":0,"f":"write","key":"x","value":1}
{"type":"invoke","process":0,"f":"write","key":"x","value":1}
{"type":"ok","process":0,"f":"write","key":"x","value":1}
{"type":"invoke","process":0,"f":"write","key":"x","value":2}
{"type":"ok","process":0,"f":"write","key":"x","value":2}
{"type":"invoke","process":0,"f":"read","key":"x","value":null}
{"type":"ok","process":0,"f":"read","key":"x","value":1}
"#;
    let h = jsonl::parse("h", violated).unwrap();
    assert_eq!(checked_causal(&h), [Status::Violated; 3]);
    let a = causal::check(&h, &causal::Options::new(model())).unwrap();
    assert!(a.cc.anomalies[0].explanation.contains("every one is violated"), "{}", a.cc.anomalies[0].explanation);
    // Each guarantee alone: the session's view may order 2 before either 1 (no guarantee but monotonic
    // writes, which concerns other sessions, orders a process's own writes).
    assert_eq!(checked_session(&h), [Status::Holds; 4]);
}

/// Beyond the exact search (here 2^30 ways of reading key y, whose 30 reads of 1 may each have read
/// either of two writes of 1): the likeliest world decides what holds, the world without the ambiguous
/// reads what is violated, and the rest is unknown with the reason.
#[test]
fn beyond_the_exact_search_the_likeliest_world_and_the_relaxed_one_decide_or_it_is_unknown() {
    let op = |p: u64, f: &str, key: &str, value: &str| {
        let inv = if f == "write" { value } else { "null" };
        format!(
            "{{\"type\":\"invoke\",\"process\":{p},\"f\":\"{f}\",\"key\":\"{key}\",\"value\":{inv}}}\n\
             {{\"type\":\"ok\",\"process\":{p},\"f\":\"{f}\",\"key\":\"{key}\",\"value\":{value}}}\n"
        )
    };
    let mut noise = op(1, "write", "y", "1") + &op(2, "write", "y", "1");
    for p in 100..130 {
        noise += &op(p, "read", "y", "1");
    }
    let analyse =
        |text: &str| causal::check(&jsonl::parse("h", text).unwrap(), &causal::Options::new(model())).unwrap();
    // Consistent: the likeliest world (each read of the latest write of 1 before it) shows it.
    let a = analyse(&noise);
    assert_eq!([a.cc.status, a.cm.status, a.ccv.status], [Status::Holds; 3]);
    // Process 3 read 2 and then 1: the likeliest 1 (process 0's, invoked last) was overwritten by 2, but
    // process 5's 1 was not. No world decides it within the bound: unknown, with the reason.
    let x = [op(5, "write", "x", "1"), op(0, "write", "x", "1"), op(0, "write", "x", "2")].concat()
        + &op(3, "read", "x", "2")
        + &op(3, "read", "x", "1");
    let a = analyse(&format!("{noise}{x}"));
    assert_eq!(a.cc.status, Status::Unknown, "{:?}", a.cc);
    let cause = a.cc.unknown_cause.as_deref().unwrap();
    assert!(cause.contains("31 operations could have read from more than one write"), "{cause}");
    // The session guarantees search key x's two worlds exactly, whatever key y has.
    let s = session::check(&jsonl::parse("h", &format!("{noise}{x}")).unwrap(), &model()).unwrap();
    assert!(s.holds(), "{s:#?}");
    // A violation among the operations that name their source is found without any world: process 4
    // read 3 and then the 1 only process 0 wrote, before its 3.
    let bad =
        [op(0, "write", "z", "1"), op(0, "write", "z", "3"), op(4, "read", "z", "3"), op(4, "read", "z", "1")].concat();
    let a = analyse(&format!("{noise}{x}{bad}"));
    assert_eq!(a.cc.status, Status::Violated);
    assert!(a.cc.anomalies[0].explanation.contains("process 4 read 1"), "{}", a.cc.anomalies[0].explanation);
}
