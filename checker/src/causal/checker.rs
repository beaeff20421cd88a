//! The checker of one world: its graph and clocks, the queries on them, and the words its anomalies are
//! told in.

use super::clocks::Clocks;
use super::graph::{writers, Graph, Src, Writes};
use super::parse::{Meaning, Parsed};
use super::types::{Anomaly, AnomalyKind};
use crate::history::History;
use crate::op_ref::OpRef;
use crate::value::Value;

pub(super) struct Checker<'a> {
    pub(super) history: &'a History,
    pub(super) parsed: &'a Parsed,
    pub(super) g: Graph,
    pub(super) clocks: Clocks,
    pub(super) max: usize,
}

impl Checker<'_> {
    pub(super) fn op(&self, v: u32) -> OpRef {
        OpRef::new(self.history, self.g.nodes[v as usize].id)
    }

    /// `a` is strictly causally before `b`.
    pub(super) fn co(&self, a: u32, b: u32) -> bool {
        let na = &self.g.nodes[a as usize];
        a != b && self.past(b, na.slot) >= na.idx
    }

    /// The writer groups of `r`'s key (as [`writers`] gives them) that may hold a write in `r`'s causal past
    /// that is not `w` nor causally before it: all of them if `r` read the initial value, else only the slots
    /// of which `r`'s past holds more than `w`'s, since the last write of a slot in `r`'s past is otherwise in
    /// `w`'s past or `w` itself.
    pub(super) fn candidates(&self, r: u32, w: Option<u32>, buf: &mut Vec<u32>) -> Vec<(u32, &Writes)> {
        let key = self.g.nodes[r as usize].key;
        let list = &self.g.key_writers[key as usize];
        let Some(w) = w else { return writers(list).collect() };
        self.clocks.ahead(&self.g, r, w, buf);
        buf.iter()
            .filter_map(|&slot| {
                let &(a, b) = self.g.writer_range.get(&(key, slot))?;
                Some((slot, &list[a as usize..b as usize]))
            })
            .collect()
    }

    /// How many operations of `slot`'s process are in `v`'s strict causal past.
    pub(super) fn past(&self, v: u32, slot: u32) -> u32 {
        self.clocks.get(&self.g, v, slot)
    }

    /// The last write of `key` by the writer entry `list` whose index is at most `bound`.
    pub(super) fn last_write(&self, list: &Writes, bound: u32) -> Option<u32> {
        let n = list.partition_point(|&(_, idx, _)| idx <= bound);
        n.checked_sub(1).map(|i| list[i].2)
    }

    pub(super) fn key(&self, v: u32) -> Option<Value> {
        self.parsed.keys[self.g.nodes[v as usize].key as usize].clone()
    }

    pub(super) fn key_words(&self, v: u32) -> String {
        self.key(v).map_or(String::new(), |k| format!(" of key {k}"))
    }

    /// What `v` observed, in words: the value it read, or for a failed cas "a value other than 1".
    pub(super) fn value_read(&self, v: u32) -> String {
        match &self.parsed.meaning[self.g.nodes[v as usize].id as usize] {
            Meaning::Read { value, .. } => value.to_string(),
            Meaning::Write { from: Some(f), .. } => f.to_string(),
            Meaning::Differs { not, .. } => format!("a value other than {not}"),
            _ => Value::Null.to_string(),
        }
    }

    /// "process 2 read the initial value of key "x" (line 9)", or for a failed cas, what it is read as.
    pub(super) fn saw_initial(&self, r: u32) -> String {
        match &self.parsed.meaning[self.g.nodes[r as usize].id as usize] {
            Meaning::Differs { not, .. } => format!(
                "process {}'s cas{} ({}) failed its comparison with {not}, so it saw another value: the initial \
                 value here",
                self.process(r),
                self.key_words(r),
                self.at(r)
            ),
            _ => format!("process {} read the initial value{} ({})", self.process(r), self.key_words(r), self.at(r)),
        }
    }

    pub(super) fn value_written(&self, v: u32) -> Value {
        match &self.parsed.meaning[self.g.nodes[v as usize].id as usize] {
            Meaning::Write { value, .. } => value.clone(),
            _ => Value::Null,
        }
    }

    pub(super) fn process(&self, v: u32) -> u64 {
        self.g.slot_process[self.g.nodes[v as usize].slot as usize]
    }

    pub(super) fn anomaly(&self, kind: AnomalyKind, nodes: &[u32], explanation: String) -> Anomaly {
        Anomaly {
            kind,
            key: nodes.first().and_then(|&v| self.key(v)),
            ops: nodes.iter().map(|&v| self.op(v)).collect(),
            explanation,
        }
    }

    pub(super) fn at(&self, v: u32) -> String {
        self.op(v).lines()
    }

    /// "write 2 to key "x" by process 1 (lines 3–4)", "read of key "x" by process 2 returned 1 (line 9)".
    pub(super) fn describe(&self, v: u32) -> String {
        let o = self.op(v);
        let key = self.key(v).map_or(String::new(), |k| format!(" key {k}"));
        let what = match &self.parsed.meaning[o.id as usize] {
            Meaning::Write { value, from: None, .. } => format!("write {value} to{key} by process {}", o.process),
            Meaning::Write { value, from: Some(f), .. } => {
                format!("cas{key} from {f} to {value} by process {}", o.process)
            }
            Meaning::Differs { not, .. } => {
                format!("failed cas{key} from {not} by process {} (it saw another value)", o.process)
            }
            _ => format!("read of{key} by process {} returned {}", o.process, self.value_read(v)),
        };
        format!("{what} ({})", o.lines())
    }

    pub(super) fn thin_air(&self, r: u32) -> Anomaly {
        if let Meaning::Differs { not, .. } = &self.parsed.meaning[self.g.nodes[r as usize].id as usize] {
            let text = format!(
                "process {}'s cas{} ({}) failed its comparison, so the key held a value other than {not}, but it \
                 never held another value: the initial value and every write of it are {not}.",
                self.process(r),
                self.key_words(r),
                self.at(r)
            );
            return self.anomaly(AnomalyKind::ThinAirRead, &[r], text);
        }
        let text = format!(
            "process {} read {}{} ({}), but no operation wrote that value to that key.",
            self.process(r),
            self.value_read(r),
            self.key_words(r),
            self.at(r)
        );
        self.anomaly(AnomalyKind::ThinAirRead, &[r], text)
    }

    pub(super) fn cycle_text(&self, cycle: &[u32], edge: &dyn Fn(u32, u32) -> String) -> String {
        let mut text = String::new();
        for (i, &v) in cycle.iter().enumerate() {
            let next = cycle[(i + 1) % cycle.len()];
            text.push_str(&format!("\n  - {}; {}", self.describe(v), edge(v, next)));
        }
        if let Some(&first) = cycle.first() {
            text.push_str(&format!(" the first one again ({}).", self.at(first)));
        }
        text
    }

    pub(super) fn edge_words(&self, a: u32, b: u32) -> String {
        if self.g.po_pred[b as usize] == Some(a) {
            format!("then process {} did", self.process(b))
        } else if self.g.nodes[b as usize].read == Some(Src::Write(a)) {
            "its value was read by".to_string()
        } else {
            "it is ordered before".to_string()
        }
    }
}
