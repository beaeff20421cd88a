//! Isolation levels as Elle's model graph: which level implies which, and which anomalies each proscribes.
//! Elle's intermediate models that faultline does not name (forward-consistent-view, update-serializable,
//! prefix, parallel snapshot isolation, causal-cerone, the strong-(session-)PL-1/2 family) are folded into
//! the named ones: their proscriptions go to the named level that implies them, their implications are
//! followed through.

use serde::Serialize;

use super::anomaly::Name::{self, *};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    ReadUncommitted,
    ReadCommitted,
    CursorStability,
    MonotonicAtomicView,
    ReadAtomic,
    ConsistentView,
    RepeatableRead,
    SnapshotIsolation,
    Serializable,
    StrongSessionSnapshotIsolation,
    StrongSessionSerializable,
    StrongSnapshotIsolation,
    StrictSerializable,
}

use Level::*;

impl Level {
    /// Weakest first.
    pub const ALL: [Level; 13] = [
        ReadUncommitted,
        ReadCommitted,
        CursorStability,
        MonotonicAtomicView,
        ReadAtomic,
        ConsistentView,
        RepeatableRead,
        SnapshotIsolation,
        Serializable,
        StrongSessionSnapshotIsolation,
        StrongSessionSerializable,
        StrongSnapshotIsolation,
        StrictSerializable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReadUncommitted => "read-uncommitted",
            ReadCommitted => "read-committed",
            CursorStability => "cursor-stability",
            MonotonicAtomicView => "monotonic-atomic-view",
            ReadAtomic => "read-atomic",
            ConsistentView => "consistent-view",
            RepeatableRead => "repeatable-read",
            SnapshotIsolation => "snapshot-isolation",
            Serializable => "serializable",
            StrongSessionSnapshotIsolation => "strong-session-snapshot-isolation",
            StrongSessionSerializable => "strong-session-serializable",
            StrongSnapshotIsolation => "strong-snapshot-isolation",
            StrictSerializable => "strict-serializable",
        }
    }

    pub fn parse(s: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.as_str() == s)
    }

    /// The levels this one directly implies (a history that has this level has those).
    pub fn implies(self) -> &'static [Level] {
        match self {
            ReadUncommitted => &[],
            ReadCommitted => &[ReadUncommitted],
            CursorStability => &[ReadCommitted],
            MonotonicAtomicView => &[ReadCommitted],
            ReadAtomic => &[MonotonicAtomicView],
            ConsistentView => &[CursorStability],
            RepeatableRead => &[CursorStability, MonotonicAtomicView],
            // Through forward-consistent-view, and through prefix / parallel SI and causal-cerone.
            SnapshotIsolation => &[ConsistentView, MonotonicAtomicView, ReadAtomic],
            // Through update-serializable and forward-consistent-view too.
            Serializable => &[RepeatableRead, SnapshotIsolation, ConsistentView],
            StrongSessionSnapshotIsolation => &[SnapshotIsolation],
            StrongSessionSerializable => &[Serializable, StrongSessionSnapshotIsolation],
            StrongSnapshotIsolation => &[StrongSessionSnapshotIsolation],
            StrictSerializable => {
                &[Serializable, SnapshotIsolation, StrongSnapshotIsolation, StrongSessionSerializable]
            }
        }
    }

    /// The anomalies this level proscribes directly (Elle's `direct-proscribed-anomalies`, folded).
    pub fn proscribes(self) -> &'static [Name] {
        match self {
            ReadUncommitted => &[G0, DuplicateElements, CyclicVersions],
            ReadCommitted => &[G1],
            CursorStability => &[G1, LostUpdate],
            MonotonicAtomicView => &[],
            ReadAtomic => &[Internal, G1a, FutureRead],
            ConsistentView => &[G1, GSingle],
            RepeatableRead => &[G1, G2Item, LostUpdate],
            SnapshotIsolation => &[Internal, G1, GNonadjacent],
            Serializable => &[Internal, G1, G2],
            StrongSessionSnapshotIsolation => &[Internal, G1Process, GNonadjacentProcess, G0Process, G1cProcess],
            StrongSessionSerializable => &[G1Process, G2Process],
            StrongSnapshotIsolation => &[Internal, G1Realtime, GNonadjacentRealtime, G0Realtime, G1cRealtime],
            StrictSerializable => &[G1, G1cRealtime, G2Realtime],
        }
    }

    /// This level and every level it implies.
    pub fn with_implied(self) -> Vec<Level> {
        let mut out = vec![self];
        let mut i = 0;
        while i < out.len() {
            for &l in out[i].implies() {
                if !out.contains(&l) {
                    out.push(l);
                }
            }
            i += 1;
        }
        out
    }

    /// Every anomaly that rules this level out: what it and the levels it implies proscribe, and whatever
    /// implies those.
    pub fn ruled_out_by(self) -> Vec<Name> {
        let proscribed: Vec<Name> = self.with_implied().iter().flat_map(|l| l.proscribes().iter().copied()).collect();
        Name::ALL.into_iter().filter(|n| Name::closure([*n]).iter().any(|m| proscribed.contains(m))).collect()
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Level {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Holds {
    Holds,
    Violated,
    Unknown,
}

/// Each level's verdict, given the anomalies found and those whose search could not be completed.
pub fn judge(found: &[Name], unsure: &[Name]) -> Vec<(Level, Holds)> {
    let found = Name::closure(found.iter().copied());
    let unsure = Name::closure(unsure.iter().copied());
    Level::ALL
        .into_iter()
        .map(|level| {
            let by = level.ruled_out_by();
            let verdict = if by.iter().any(|n| found.contains(n)) {
                Holds::Violated
            } else if by.iter().any(|n| unsure.contains(n)) {
                Holds::Unknown
            } else {
                Holds::Holds
            };
            (level, verdict)
        })
        .collect()
}

/// The weakest of the violated levels: those none of whose implied (weaker) levels is violated.
pub fn weakest_violated(verdicts: &[(Level, Holds)]) -> Vec<Level> {
    let violated: Vec<Level> = verdicts.iter().filter(|(_, h)| *h == Holds::Violated).map(|(l, _)| *l).collect();
    violated.iter().copied().filter(|l| !l.with_implied().iter().skip(1).any(|m| violated.contains(m))).collect()
}
