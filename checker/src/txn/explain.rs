//! Explanations: each edge of a cycle in words, with its key and values, after checking it again against
//! the transactions' micro-ops. The check is independent of the inference that produced the edge: it asks
//! only what the edge claims (this transaction appended that value, that read shows these two values side
//! by side...), so a bug in the inference shows as a refused edge rather than a false anomaly.

use serde::Serialize;

use super::graph::{Edge, Kind, Why};
use super::history::{Mop, MopKind, Txns, NIL, NONE};
use crate::history::{History, Outcome};

/// One edge of a reported cycle.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    pub from: u32,
    pub to: u32,
    pub kind: Kind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    pub explanation: String,
}

pub struct Verifier<'a> {
    txns: &'a Txns,
    history: &'a History,
    /// Versions that some `ok` read of another transaction returned (list-append), computed when first needed.
    read_somewhere: Option<Vec<bool>>,
}

impl<'a> Verifier<'a> {
    pub fn new(txns: &'a Txns, history: &'a History) -> Verifier<'a> {
        Verifier { txns, history, read_somewhere: None }
    }

    /// Checks the edge against the micro-ops, then says it in words.
    pub fn step(&mut self, e: &Edge) -> Result<Step, String> {
        self.verify(e)
            .map_err(|why| format!("edge T{} -{}-> T{} does not hold: {why}", e.from, e.kind.name(), e.to))?;
        let t = self.txns;
        let key = (e.key != NONE).then(|| t.key(e.key).to_string());
        let values: Vec<String> = [e.v1, e.v2].into_iter().filter(|&v| v != NONE).map(|v| t.value(v)).collect();
        Ok(Step { from: e.from, to: e.to, kind: e.kind, key, values, explanation: self.words(e) })
    }

    fn ops(&self, txn: u32, kind: MopKind, key: u32) -> impl Iterator<Item = &'a Mop> + 'a {
        self.txns.mops(txn).iter().filter(move |m| m.kind == kind && m.key == key)
    }

    fn writes(&self, txn: u32, key: u32, v: u32) -> bool {
        let kind = if self.list() { MopKind::Append } else { MopKind::Write };
        self.ops(txn, kind, key).any(|m| m.value == v)
    }

    fn list(&self) -> bool {
        self.txns.workload == super::history::Workload::ListAppend
    }

    /// The transaction's first read of the key, if known; for rw-register, only before its own writes.
    fn first_read(&self, txn: u32, key: u32) -> Option<&'a Mop> {
        if self.txns.txns[txn as usize].outcome != Outcome::Ok {
            return None;
        }
        let list = self.list();
        self.txns
            .mops(txn)
            .iter()
            .take_while(|m| list || !(m.key == key && m.kind != MopKind::Read))
            .find(|m| m.key == key && m.known())
    }

    /// The last version a read saw of others' writes: for a list, its last element that the reader did not
    /// append itself (NONE if none).
    fn read_last(&self, txn: u32, m: &Mop) -> u32 {
        if self.list() {
            let own = |v: &&u32| self.txns.writer[**v as usize] == txn;
            self.txns.list(m).iter().rev().find(|v| !own(v)).copied().unwrap_or(NONE)
        } else {
            m.value
        }
    }

    fn verify(&mut self, e: &Edge) -> Result<(), String> {
        let t = self.txns;
        let (from, to) = (&t.txns[e.from as usize], &t.txns[e.to as usize]);
        match e.kind {
            Kind::Process | Kind::Realtime => {
                let end = from.end.filter(|_| from.outcome == Outcome::Ok).ok_or("the first did not complete ok")?;
                if end >= to.invoke {
                    return Err("the first had not completed when the second was invoked".into());
                }
                if e.kind == Kind::Process && from.process != to.process {
                    return Err("they ran on different processes".into());
                }
                Ok(())
            }
            Kind::Wr => {
                if !self.writes(e.from, e.key, e.v1) {
                    return Err("the first did not write that value".into());
                }
                let read = self.first_read(e.to, e.key).ok_or("the second has no read of that key")?;
                if self.read_last(e.to, read) != e.v1 {
                    return Err("the second's read did not end in that value".into());
                }
                Ok(())
            }
            Kind::Ww => {
                if !self.writes(e.from, e.key, e.v1) || !self.writes(e.to, e.key, e.v2) {
                    return Err("the transactions did not write those values".into());
                }
                self.ordered(e)
            }
            Kind::Rw => {
                if !self.writes(e.to, e.key, e.v2) {
                    return Err("the second did not write that value".into());
                }
                let read = self.first_read(e.from, e.key).ok_or("the first has no read of that key")?;
                let last = self.read_last(e.from, read);
                if last != e.v1 && !(self.list() && e.v1 == NONE && last == NONE) {
                    return Err("the first's read did not end in that value".into());
                }
                self.ordered(e)
            }
        }
    }

    /// That `v1` comes before `v2` in the key's version order, for the reason the edge gives.
    fn ordered(&mut self, e: &Edge) -> Result<(), String> {
        let t = self.txns;
        let witness_read = || {
            (e.witness != NONE)
                .then(|| self.ops(e.witness, MopKind::Read, e.key).filter(|m| m.known()).collect::<Vec<_>>())
        };
        match e.why {
            Why::Read => {
                let shows = witness_read().unwrap_or_default().into_iter().any(|m| {
                    let list = t.list(m);
                    match e.v1 {
                        NONE => list.first() == Some(&e.v2),
                        v1 => list.windows(2).any(|w| w == [v1, e.v2]),
                    }
                });
                if shows {
                    Ok(())
                } else {
                    Err("no read of the witness shows the two values side by side".into())
                }
            }
            Why::Tail => {
                let ends = witness_read().unwrap_or_default().into_iter().any(|m| self.read_last(e.witness, m) == e.v1);
                if !ends {
                    return Err("the witness's read does not end in the first value".into());
                }
                if self.read_somewhere()[e.v2 as usize] {
                    return Err("the later value was read, so it is not after every read".into());
                }
                Ok(())
            }
            Why::Initial => {
                (e.v1 == NIL).then_some(()).ok_or_else(|| "the first version is not the initial null".into())
            }
            Why::WriteFollowsRead => {
                let read = self.first_read(e.witness, e.key).ok_or("the witness did not read the key")?;
                if read.value == e.v1 && self.writes(e.witness, e.key, e.v2) {
                    Ok(())
                } else {
                    Err("the witness did not read the first value and then write the second".into())
                }
            }
            Why::Sequential | Why::Linearizable => {
                let w = &t.txns[e.witness as usize];
                if !self.touches(e.witness, e.key, e.v2) {
                    return Err("the witness did not touch the later value".into());
                }
                let earlier = (0..t.txns.len() as u32).any(|o| {
                    let other = &t.txns[o as usize];
                    other.outcome == Outcome::Ok
                        && self.touches(o, e.key, e.v1)
                        && match e.why {
                            Why::Sequential => other.process == w.process && other.invoke < w.invoke,
                            _ => other.end.is_some_and(|end| end < w.invoke),
                        }
                });
                earlier.then_some(()).ok_or_else(|| "no earlier transaction touched the first value".into())
            }
            Why::Order => Err("a data edge without a reason".into()),
        }
    }

    fn touches(&self, txn: u32, key: u32, v: u32) -> bool {
        self.txns.mops(txn).iter().any(|m| m.key == key && (m.kind == MopKind::Write || m.known()) && m.value == v)
    }

    fn read_somewhere(&mut self) -> &[bool] {
        let t = self.txns;
        self.read_somewhere.get_or_insert_with(|| {
            let mut seen = vec![false; t.versions.len()];
            for txn in 0..t.txns.len() as u32 {
                if t.txns[txn as usize].outcome == Outcome::Ok {
                    for m in t.mops(txn).iter().filter(|m| m.known()) {
                        for &v in t.list(m).iter().filter(|&&v| t.writer[v as usize] != txn) {
                            seen[v as usize] = true;
                        }
                    }
                }
            }
            seen
        })
    }

    fn words(&self, e: &Edge) -> String {
        let t = self.txns;
        let (a, b) = (e.from, e.to);
        let key = if e.key != NONE { t.key(e.key).to_string() } else { String::new() };
        let (v1, v2) = (t.value(e.v1), t.value(e.v2));
        let write = if self.list() { "append" } else { "write" };
        let line = |pos: Option<u32>| pos.map_or(0, |p| self.history.events[p as usize].line);
        match (e.kind, e.why) {
            (Kind::Process, _) => format!(
                "T{a} completed (line {}) before T{b} began (line {}), on the same process {}",
                line(t.txns[a as usize].end),
                line(Some(t.txns[b as usize].invoke)),
                t.txns[a as usize].process
            ),
            (Kind::Realtime, _) => format!(
                "T{a} completed (line {}) before T{b} was invoked (line {})",
                line(t.txns[a as usize].end),
                line(Some(t.txns[b as usize].invoke))
            ),
            (Kind::Wr, _) => format!("T{b} observed T{a}'s {write} of {v1} to key {key}"),
            (Kind::Ww, Why::Tail) => format!(
                "T{b}'s {write} of {v2} to key {key} was never read, so it came after the end of the longest read \
                 (T{}'s), T{a}'s {write} of {v1}",
                e.witness
            ),
            (Kind::Ww, _) if self.list() => format!(
                "T{a}'s {write} of {v1} to key {key} came right before T{b}'s {write} of {v2}, as T{}'s read shows",
                e.witness
            ),
            (Kind::Ww, why) => format!(
                "T{a}'s {write} of {v1} to key {key} came before T{b}'s {write} of {v2}{}",
                reason(why, e.witness)
            ),
            (Kind::Rw, Why::Tail) => format!(
                "T{a} did not observe T{b}'s {write} of {v2} to key {key}: no read ever saw it, so it came after \
                 everything T{a} read"
            ),
            (Kind::Rw, _) if self.list() => match e.v1 {
                NONE => {
                    format!("T{a} did not observe T{b}'s {write} of {v2} to key {key}, which T{} saw first", e.witness)
                }
                _ => format!(
                    "T{a} did not observe T{b}'s {write} of {v2} to key {key}, which T{} saw after {v1}",
                    e.witness
                ),
            },
            (Kind::Rw, why) => format!(
                "T{a} read {v1} from key {key} and did not observe T{b}'s {write} of {v2}, which came later{}",
                reason(why, e.witness)
            ),
        }
    }
}

fn reason(why: Why, witness: u32) -> String {
    match why {
        Why::Initial => " (null is the initial state)".into(),
        Why::WriteFollowsRead => format!(" (T{witness} read the first and then wrote the second)"),
        Why::Sequential => format!(" (T{witness}'s process touched the first before it: --sequential-keys)"),
        Why::Linearizable => {
            format!(" (a transaction touching the first completed before T{witness} began: --linearizable-keys)")
        }
        _ => String::new(),
    }
}
