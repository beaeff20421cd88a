//! Anomaly names (Elle's) and which imply which, and the non-cycle anomalies found while inferring.

use serde::Serialize;

/// Every anomaly faultline reports, named as Elle names them. The cycle anomalies come in three variants:
/// plain (data edges only), `-process` (process order needed too) and `-realtime` (real-time order needed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Name {
    G0,
    G0Process,
    G0Realtime,
    G1a,
    G1b,
    G1c,
    G1cProcess,
    G1cRealtime,
    G1,
    G1Process,
    G1Realtime,
    GSingle,
    GSingleProcess,
    GSingleRealtime,
    GNonadjacent,
    GNonadjacentProcess,
    GNonadjacentRealtime,
    G2Item,
    G2ItemProcess,
    G2ItemRealtime,
    G2,
    G2Process,
    G2Realtime,
    Internal,
    FutureRead,
    DirtyUpdate,
    DuplicateElements,
    IncompatibleOrder,
    LostUpdate,
    GarbageRead,
    CyclicVersions,
}

use Name::*;

impl Name {
    pub const ALL: [Name; 31] = [
        G0,
        G0Process,
        G0Realtime,
        G1a,
        G1b,
        G1c,
        G1cProcess,
        G1cRealtime,
        G1,
        G1Process,
        G1Realtime,
        GSingle,
        GSingleProcess,
        GSingleRealtime,
        GNonadjacent,
        GNonadjacentProcess,
        GNonadjacentRealtime,
        G2Item,
        G2ItemProcess,
        G2ItemRealtime,
        G2,
        G2Process,
        G2Realtime,
        Internal,
        FutureRead,
        DirtyUpdate,
        DuplicateElements,
        IncompatibleOrder,
        LostUpdate,
        GarbageRead,
        CyclicVersions,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            G0 => "G0",
            G0Process => "G0-process",
            G0Realtime => "G0-realtime",
            G1a => "G1a",
            G1b => "G1b",
            G1c => "G1c",
            G1cProcess => "G1c-process",
            G1cRealtime => "G1c-realtime",
            G1 => "G1",
            G1Process => "G1-process",
            G1Realtime => "G1-realtime",
            GSingle => "G-single",
            GSingleProcess => "G-single-process",
            GSingleRealtime => "G-single-realtime",
            GNonadjacent => "G-nonadjacent",
            GNonadjacentProcess => "G-nonadjacent-process",
            GNonadjacentRealtime => "G-nonadjacent-realtime",
            G2Item => "G2-item",
            G2ItemProcess => "G2-item-process",
            G2ItemRealtime => "G2-item-realtime",
            G2 => "G2",
            G2Process => "G2-process",
            G2Realtime => "G2-realtime",
            Internal => "internal",
            FutureRead => "future-read",
            DirtyUpdate => "dirty-update",
            DuplicateElements => "duplicate-elements",
            IncompatibleOrder => "incompatible-order",
            LostUpdate => "lost-update",
            GarbageRead => "garbage-read",
            CyclicVersions => "cyclic-versions",
        }
    }

    /// What the anomaly is, in a line.
    pub fn meaning(self) -> &'static str {
        match self {
            G0 | G0Process | G0Realtime => "write cycle: transactions overwrote each other in a cycle",
            G1a => "aborted read: a read saw a write of a transaction that failed",
            G1b => "intermediate read: a read saw a write its transaction later overwrote",
            G1c | G1cProcess | G1cRealtime => "circular information flow: a cycle of writes and reads",
            G1 | G1Process | G1Realtime => "G1a, G1b or G1c",
            GSingle | GSingleProcess | GSingleRealtime => {
                "read skew: a cycle with exactly one anti-dependency (a read that missed a write)"
            }
            GNonadjacent | GNonadjacentProcess | GNonadjacentRealtime => {
                "a cycle whose anti-dependencies are never adjacent"
            }
            G2Item | G2ItemProcess | G2ItemRealtime => "write skew: a cycle with adjacent anti-dependencies",
            G2 | G2Process | G2Realtime => "a cycle with anti-dependencies",
            Internal => "a transaction's read did not reflect its own earlier reads and writes",
            FutureRead => "a transaction read a value it only wrote later",
            DirtyUpdate => "a failed transaction's append was followed by committed ones",
            DuplicateElements => "a read returned a list holding one value twice",
            IncompatibleOrder => "two reads of a key are not prefixes of one another",
            LostUpdate => "two transactions read the same version of a key and both wrote it",
            GarbageRead => "a read returned a value nobody wrote",
            CyclicVersions => "the version order inferred for a key is cyclic",
        }
    }

    /// The anomalies this one directly implies (Elle's `implied-anomalies`; our G-single and G-nonadjacent
    /// are over items, so they are G2-item too).
    pub fn implies(self) -> &'static [Name] {
        match self {
            G0 => &[G1c, G0Process],
            G0Process => &[G1cProcess, G0Realtime],
            G0Realtime => &[G1cRealtime],
            G1a | G1b => &[G1],
            G1c => &[G1, G1cProcess],
            G1cProcess => &[G1cRealtime, G1Process],
            G1cRealtime => &[G1Realtime],
            G1 => &[G1Process],
            G1Process => &[G1Realtime],
            GSingle => &[GNonadjacent, GSingleProcess],
            GSingleProcess => &[GNonadjacentProcess, GSingleRealtime],
            GSingleRealtime => &[GNonadjacentRealtime],
            GNonadjacent => &[G2Item, GNonadjacentProcess],
            GNonadjacentProcess => &[G2ItemProcess, GNonadjacentRealtime],
            GNonadjacentRealtime => &[G2ItemRealtime],
            G2Item => &[G2, G2ItemProcess],
            G2ItemProcess => &[G2Process, G2ItemRealtime],
            G2ItemRealtime => &[G2Realtime],
            G2 => &[G2Process],
            G2Process => &[G2Realtime],
            IncompatibleOrder | DirtyUpdate | GarbageRead => &[G1a],
            FutureRead => &[G1c],
            LostUpdate => &[G2Item],
            G1Realtime | G2Realtime | Internal | DuplicateElements | CyclicVersions => &[],
        }
    }

    /// This anomaly and everything it implies.
    pub fn closure(found: impl IntoIterator<Item = Name>) -> Vec<Name> {
        let mut seen = [false; Name::ALL.len()];
        let mut stack: Vec<Name> = found.into_iter().collect();
        while let Some(n) = stack.pop() {
            if !std::mem::replace(&mut seen[n as usize], true) {
                stack.extend_from_slice(n.implies());
            }
        }
        Name::ALL.into_iter().filter(|n| seen[*n as usize]).collect()
    }
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Name {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One non-cycle anomaly: what it is, the transactions involved, and a sentence saying what happened.
#[derive(Clone, Debug, Serialize)]
pub struct Case {
    pub name: Name,
    pub txns: Vec<u32>,
    pub explanation: String,
}

/// The cases found, keeping the first few of each kind and counting all.
#[derive(Clone, Debug, Default)]
pub struct Cases {
    pub kept: Vec<Case>,
    pub counts: std::collections::BTreeMap<Name, usize>,
}

/// How many cases of each kind are kept to explain.
pub const KEEP: usize = 8;

impl Cases {
    pub fn add(&mut self, name: Name, txns: Vec<u32>, explanation: impl FnOnce() -> String) {
        let count = self.counts.entry(name).or_insert(0);
        *count += 1;
        if *count <= KEEP {
            self.kept.push(Case { name, txns, explanation: explanation() });
        }
    }
}
