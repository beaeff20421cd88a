//! Raft's rules (Ongaro and Ousterhout, "In Search of an Understandable Consensus Algorithm", figure 2)
//! as plain functions of a node's term, vote and log: granting a vote, matching a leader's entries
//! against this log (and where to cut a divergent tail), and how far a leader may commit; and the
//! messages nodes send each other, as they go over the wire. No network and no clock:
//! [`crate::consensus`] drives them, the tests below check them.
//!
//! Lengths, not indexes: `prev_len` entries precede the ones a leader sends, a follower "has" `n` entries,
//! a leader commits the first `n` entries of its log.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::log::Entry;

/// What a node must remember across restarts before it answers anyone: its term and whom it voted for
/// in it. Forgetting either would let it vote twice in one term, and so two leaders be elected in it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HardState {
    pub term: u64,
    pub voted_for: Option<usize>,
}

impl HardState {
    fn path(dir: &Path) -> PathBuf {
        dir.join("raft.json")
    }

    /// The state stored in `dir`; term 0 and no vote when there is none yet.
    pub fn load(dir: &Path) -> Result<HardState, String> {
        let path = HardState::path(dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(HardState::default()),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        serde_json::from_str(&text).map_err(|e| {
            format!("{}: expected {{\"term\": N, \"voted_for\": ID or null}}, found {text:?} ({e})", path.display())
        })
    }

    /// Stores the state durably: a new file, fsynced, renamed over the old one, the directory fsynced,
    /// so that a crash leaves either the old state or the new one.
    pub fn store(&self, dir: &Path) -> io::Result<()> {
        let path = HardState::path(dir);
        let next = dir.join("raft.json.next");
        let mut file = std::fs::File::create(&next)?;
        file.write_all(&serde_json::to_vec(self)?)?;
        file.sync_all()?;
        std::fs::rename(&next, &path)?;
        std::fs::File::open(dir)?.sync_all()
    }
}

/// The term of the last entry of `log` (0 for an empty log).
pub fn last_term(log: &[Entry]) -> u64 {
    log.last().map_or(0, |e| e.term)
}

/// A candidate's request for this node's vote (`POST /raft/vote`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoteRequest {
    pub term: u64,
    pub candidate: usize,
    /// The candidate's log: its length and the term of its last entry.
    pub len: usize,
    pub last_term: u64,
}

/// The answer to a [`VoteRequest`]: the voter's term after it, and whether it voted for the candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoteReply {
    pub term: u64,
    pub granted: bool,
}

/// A primary's entries for a follower, or a heartbeat when there are none (`POST /raft/append`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Append<'a> {
    pub term: u64,
    pub leader: usize,
    /// How many entries of the primary's log precede the ones sent, and the term of the last of them.
    pub prev_len: usize,
    pub prev_term: u64,
    /// Borrowed from the primary's log when sent, owned when received.
    pub entries: std::borrow::Cow<'a, [Entry]>,
    /// How many entries of its log the primary knows to be committed.
    pub commit: usize,
}

/// The answer to an [`Append`]: the follower's term, whether it took the entries, and its log's length
/// (on a conflict, where the primary should retry from).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendReply {
    pub term: u64,
    pub success: bool,
    pub len: usize,
}

/// Decides a vote request against this node's `hard` state and `log`, updating `hard` (a newer term is
/// adopted, with no vote in it yet; a granted vote is recorded). True if the vote is granted: the
/// request's term is current, this node has not voted for someone else in it, and the candidate's log is
/// at least as up to date as this one (a later last term, or the same last term and at least as long),
/// so that whoever wins holds every committed entry.
pub fn decide_vote(hard: &mut HardState, log: &[Entry], request: &VoteRequest) -> bool {
    if request.term < hard.term {
        return false;
    }
    if request.term > hard.term {
        *hard = HardState { term: request.term, voted_for: None };
    }
    let free = hard.voted_for.is_none_or(|v| v == request.candidate);
    let up_to_date = (request.last_term, request.len) >= (last_term(log), log.len());
    if free && up_to_date {
        hard.voted_for = Some(request.candidate);
    }
    free && up_to_date
}

/// What a follower does with entries a leader sent after its first `prev_len`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Matched {
    /// This log does not hold the leader's entry `prev_len - 1`: the leader should retry from at most
    /// `retry_from` (the start of the conflicting term here, or this log's end), skipping a whole term of
    /// divergent entries per round trip instead of one entry.
    Conflict { retry_from: usize },
    /// The logs agree up to `prev_len`. Cut this log to `truncate_to` entries if set (the first entry
    /// that differs from the leader's, and everything after it), then append the sent entries from
    /// `append_from` on. Entries that agree are kept, and so is whatever follows them when nothing
    /// differs: a late, shorter message must not cut entries a newer one added.
    Accept { truncate_to: Option<usize>, append_from: usize },
}

/// The log matching rule: entries with the same index and term are the same, and so are all before them.
pub fn match_entries(log: &[Entry], prev_len: usize, prev_term: u64, sent: &[Entry]) -> Matched {
    if prev_len > log.len() {
        return Matched::Conflict { retry_from: log.len() };
    }
    if prev_len > 0 && log[prev_len - 1].term != prev_term {
        let conflicting = log[prev_len - 1].term;
        let start = log[..prev_len].iter().rposition(|e| e.term != conflicting).map_or(0, |i| i + 1);
        return Matched::Conflict { retry_from: start };
    }
    let same = sent.iter().zip(&log[prev_len..]).take_while(|(s, e)| s.term == e.term).count();
    let truncate_to = (same < sent.len() && prev_len + same < log.len()).then_some(prev_len + same);
    Matched::Accept { truncate_to, append_from: same }
}

/// How many entries of its `log` a leader in `term` may consider committed, given how many each node
/// (the leader included) is known to hold (`matched`) and what is committed already: the largest length a
/// majority holds, provided its last entry is of the current term. An older term's entry is never
/// committed by counting (a later leader could still overwrite it, figure 8 of the paper): it becomes
/// committed with the first entry of the current term after it.
pub fn commit_len(matched: &[usize], log: &[Entry], term: u64, committed: usize) -> usize {
    let mut lengths = matched.to_vec();
    lengths.sort_unstable_by(|a, b| b.cmp(a));
    let majority = matched.len() / 2 + 1;
    let held = lengths.get(majority - 1).copied().unwrap_or(0).min(log.len());
    if held > committed && log[held - 1].term == term {
        held
    } else {
        committed
    }
}

/// Whether `acks` nodes out of `nodes` are a majority.
pub fn is_majority(acks: usize, nodes: usize) -> bool {
    acks > nodes / 2
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A log whose entries have these terms.
    fn log(terms: &[u64]) -> Vec<Entry> {
        terms.iter().enumerate().map(|(i, &t)| Entry::write(t, &format!("k{i}"), serde_json::json!(i))).collect()
    }

    fn request(term: u64, candidate: usize, terms: &[u64]) -> VoteRequest {
        VoteRequest { term, candidate, len: terms.len(), last_term: terms.last().copied().unwrap_or(0) }
    }

    #[test]
    fn a_vote_goes_to_one_candidate_per_term_with_an_up_to_date_log() {
        let mine = log(&[1, 1, 2]);
        let mut hard = HardState { term: 2, voted_for: None };
        // A stale term is refused and changes nothing.
        assert!(!decide_vote(&mut hard, &mine, &request(1, 1, &[1, 1, 2, 2])));
        assert_eq!(hard, HardState { term: 2, voted_for: None });
        // Shorter with the same last term, or a longer log with an older last term: not up to date; the
        // newer term is adopted all the same.
        assert!(!decide_vote(&mut hard, &mine, &request(3, 1, &[1, 2])));
        assert!(!decide_vote(&mut hard, &mine, &request(3, 1, &[1, 1, 1, 1, 1])));
        assert_eq!(hard, HardState { term: 3, voted_for: None });
        // As long with the same last term: granted, and asked again by the same candidate, granted again.
        assert!(decide_vote(&mut hard, &mine, &request(3, 1, &[1, 1, 2])));
        assert!(decide_vote(&mut hard, &mine, &request(3, 1, &[1, 1, 2])));
        // Another candidate in the same term, even with a better log: refused.
        assert!(!decide_vote(&mut hard, &mine, &request(3, 2, &[1, 1, 2, 3])));
        assert_eq!(hard, HardState { term: 3, voted_for: Some(1) });
        // A later term frees the vote; a later last term wins over a longer log.
        assert!(decide_vote(&mut hard, &mine, &request(4, 2, &[3])));
        assert_eq!(hard, HardState { term: 4, voted_for: Some(2) });
    }

    #[test]
    fn entries_are_matched_and_a_divergent_tail_is_cut() {
        let mine = log(&[1, 1, 2, 2, 2]);
        // The leader's previous entry is beyond this log: retry from its end.
        assert_eq!(match_entries(&mine, 7, 3, &log(&[3])), Matched::Conflict { retry_from: 5 });
        // This log has a different term there: retry from the start of that term here.
        assert_eq!(match_entries(&mine, 4, 3, &log(&[3])), Matched::Conflict { retry_from: 2 });
        assert_eq!(match_entries(&mine, 2, 2, &[]), Matched::Conflict { retry_from: 0 });
        // Agreement up to prev_len, then a different term: the tail from there is cut.
        let sent = log(&[2, 3, 3]);
        assert_eq!(
            match_entries(&mine, 2, 1, &sent),
            Matched::Accept { truncate_to: Some(3), append_from: 1 },
            "entry 2 agrees (term 2); entry 3 differs (3 against 2): cut to 3 entries, append the rest"
        );
        // Everything sent is already here: nothing cut, nothing appended, the tail after it kept.
        assert_eq!(match_entries(&mine, 1, 1, &log(&[1, 2])), Matched::Accept { truncate_to: None, append_from: 2 });
        // Sent entries that run past this log's end: appended from there.
        assert_eq!(
            match_entries(&mine, 3, 2, &log(&[2, 2, 4, 4])),
            Matched::Accept { truncate_to: None, append_from: 2 }
        );
        // A heartbeat (nothing sent) from the start.
        assert_eq!(match_entries(&mine, 0, 0, &[]), Matched::Accept { truncate_to: None, append_from: 0 });
    }

    /// The leader's repair loop, as the node runs it, on random divergent logs: the follower ends with
    /// exactly the leader's log, whatever the two held, in at most one round trip per term it had plus
    /// one, and never cuts an entry the two share.
    #[test]
    fn repair_makes_any_follower_log_the_leaders() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |bound: u64| {
            // SplitMix64.
            seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = seed;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            (z ^ (z >> 31)) % bound
        };
        for _ in 0..2000 {
            // A shared prefix, then each side's own entries in later terms (the leader's newest).
            let shared: Vec<u64> = (0..next(6))
                .scan(1, |t, _| {
                    *t += next(2);
                    Some(*t)
                })
                .collect();
            let base = shared.last().copied().unwrap_or(1);
            let mut follower = shared.clone();
            follower.extend((0..next(6)).scan(base, |t, _| {
                *t += next(2);
                Some(*t)
            }));
            let top = follower.last().copied().unwrap_or(1).max(base);
            let mut leader_terms = shared.clone();
            // At least the no-op entry a new leader appends in its own term.
            leader_terms.extend((0..1 + next(5)).map(|i| top + 1 + i / 2));
            let leader = log(&leader_terms);
            let mut follower = log(&follower);
            let terms_here = follower.iter().map(|e| e.term).collect::<std::collections::BTreeSet<_>>().len();
            let mut from = leader.len();
            let mut rounds = 0;
            loop {
                rounds += 1;
                assert!(rounds <= terms_here + 2, "{leader_terms:?} against {follower:?}: no end");
                let prev_term = if from > 0 { leader[from - 1].term } else { 0 };
                match match_entries(&follower, from, prev_term, &leader[from..]) {
                    Matched::Conflict { retry_from } => {
                        assert!(retry_from < from);
                        from = retry_from;
                    }
                    Matched::Accept { truncate_to, append_from } => {
                        if let Some(len) = truncate_to {
                            assert!(len >= shared.len(), "cut a shared entry: {leader_terms:?}");
                            follower.truncate(len);
                        }
                        follower.extend_from_slice(&leader[from + append_from..]);
                        break;
                    }
                }
            }
            assert_eq!(follower, leader);
        }
    }

    #[test]
    fn a_leader_commits_by_counting_only_entries_of_its_term() {
        let leader = log(&[1, 1, 2, 3, 3]);
        // Five nodes; three hold at least 4 entries: entry 4 is of term 3, committed.
        assert_eq!(commit_len(&[5, 4, 4, 1, 0], &leader, 3, 0), 4);
        // Only two hold 5: not yet a majority.
        assert_eq!(commit_len(&[5, 5, 4, 1, 0], &leader, 3, 2), 4);
        // A majority holds 3 entries, but entry 3 is of term 2: not committed by counting in term 3.
        assert_eq!(commit_len(&[5, 3, 3, 1, 0], &leader, 3, 2), 2);
        // Never backwards.
        assert_eq!(commit_len(&[5, 1, 1, 1, 0], &leader, 3, 4), 4);
        // One node alone is its own majority.
        assert_eq!(commit_len(&[5], &leader, 3, 0), 5);
        // Three nodes, one cut off: the other two are a majority.
        assert_eq!(commit_len(&[5, 5, 0], &leader, 3, 0), 5);
        assert!(is_majority(2, 3) && !is_majority(1, 3) && is_majority(1, 1) && !is_majority(2, 4));
    }

    #[test]
    fn the_term_and_vote_survive_a_restart_and_garbage_is_refused() {
        let dir = std::env::temp_dir().join(format!("faultline-raft-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(HardState::load(&dir).unwrap(), HardState::default());
        HardState { term: 7, voted_for: Some(2) }.store(&dir).unwrap();
        assert_eq!(HardState::load(&dir).unwrap(), HardState { term: 7, voted_for: Some(2) });
        HardState { term: 8, voted_for: None }.store(&dir).unwrap();
        assert_eq!(HardState::load(&dir).unwrap(), HardState { term: 8, voted_for: None });
        std::fs::write(dir.join("raft.json"), "{\"term\": -1}").unwrap();
        let error = HardState::load(&dir).unwrap_err();
        assert!(error.contains("raft.json") && error.contains("expected"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
