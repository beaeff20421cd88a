//! The modes with elections (`linearizable`, `unsafe`, `stale-leader`): Raft, driven by the rules in
//! [`crate::raft`].
//!
//! - **Elections.** A node that hears from no primary for its election timeout (random, 400 to 800 ms;
//!   200 to 400 ms for the preferred primary, `--primary`, until it first hears of a primary, so that a
//!   fresh cluster's first primary is predictable) stands for election in the next term; a majority of votes makes it the primary, which
//!   appends a no-op entry of its term (its earlier entries commit with it). Terms and votes are fsynced
//!   before anything is answered.
//! - **Replication.** The primary runs one task per follower: it sends the entries that follower lacks
//!   (batched, one message in flight), or an empty message as a heartbeat every 50 ms, and repairs a
//!   divergent follower log by stepping back a term at a time. A follower cut off only stalls its own
//!   task: the primary commits once a majority, itself included, holds an entry of its term.
//! - **Clients.** A follower forwards client requests to the primary it knows; with none it waits up to
//!   the request timeout for an election, then answers 503. A write is answered 200 once committed (504
//!   if the node loses its primacy or time runs out first: it may still take effect). Reads, and
//!   compare-and-sets that find another value, use ReadIndex: the state they saw is answered once every
//!   entry before it is committed and a majority has answered a heartbeat sent after the request
//!   arrived, which proves no other primary had been elected by then. No clock is trusted, so no lease:
//!   a paused primary or a skewed clock cannot make it answer stale.
//! - A primary that has heard from no majority for 800 ms steps down (it answers nothing meanwhile
//!   anyway), so that `GET /status` does not keep naming a primary that a partition deposed.
//!
//! `stale-leader` mode is the same except for reads: the primary answers them at once from its committed
//! state, without the heartbeat round, and never steps down on its own. A primary cut off from the others
//! keeps answering reads while the majority elects another and takes writes: the classic stale read. (A
//! primary paused long enough to be replaced does the same with the requests waiting for it when it
//! resumes, until its first heartbeat answer tells it of the new term.)
//!
//! `unsafe` mode acknowledges a write as soon as the primary has it in memory, and reads from there. The
//! log is written out (never fsynced) every flush interval, and a primary ships only what it has written:
//! killing the primary loses the writes of its last flush interval, acknowledged as they were, and the
//! new primary's log replaces what the old one had when it comes back.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tracing::{error, info, warn};

use crate::http::{Request, Response};
use crate::log::Entry;
use crate::node::{apply, next_value, read, read_value, root_cause, Core, Node, Op};
use crate::raft::{self, HardState, Matched, VoteRequest};
use crate::{node_name, Mode};

/// How often a primary sends followers it has nothing for an empty append.
pub const HEARTBEAT: Duration = Duration::from_millis(50);
/// The election timeout's lower bound for nodes other than the preferred primary (the upper is twice).
const ELECTION: Duration = Duration::from_millis(400);
/// A primary that has heard from no majority for this long steps down: the longest election timeout,
/// by which the others have elected a new primary if they can.
const QUORUM_WINDOW: Duration = Duration::from_millis(800);
/// The longest a Raft message waits for its answer.
pub const PEER_TIMEOUT: Duration = Duration::from_millis(500);
/// Entries per append message at most.
const BATCH: usize = 512;
/// How often the election timer looks at the clock.
const TICK: Duration = Duration::from_millis(10);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Follower,
    Candidate,
    Primary,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Follower => "follower",
            Role::Candidate => "candidate",
            Role::Primary => "primary",
        }
    }
}

/// A node's Raft state: the durable term and vote, and what lives only as long as the process.
pub struct Raft {
    pub hard: HardState,
    pub role: Role,
    /// The primary of the current term, once this node knows it.
    pub leader: Option<usize>,
    /// When the election timer last started: a message from the term's primary, a granted vote, or a
    /// candidacy.
    heard: Instant,
    /// This node's current election timeout.
    timeout: Duration,
    /// Elections lost in a row (the first is logged, then every tenth).
    lost: u32,
    /// Whether this process has heard of a primary yet (the preferred primary's head start ends then).
    seen_primary: bool,
    /// The primary's view of each follower: the entries it is known to hold, where to send from next,
    /// the last read round it answered, and when it last answered.
    matched: HashMap<usize, usize>,
    next: HashMap<usize, usize>,
    acked_round: HashMap<usize, u64>,
    answered: HashMap<usize, Instant>,
    /// The latest read round a client operation asked the followers to confirm.
    round: u64,
}

impl Raft {
    pub fn new(hard: HardState) -> Raft {
        Raft {
            hard,
            role: Role::Follower,
            leader: None,
            heard: Instant::now(),
            timeout: ELECTION,
            lost: 0,
            seen_primary: false,
            matched: HashMap::new(),
            next: HashMap::new(),
            acked_round: HashMap::new(),
            answered: HashMap::new(),
            round: 0,
        }
    }
}

/// Why a primary stopped waiting for a condition.
enum Waited {
    /// It is no longer the primary of the term it started in.
    Deposed,
    TimedOut,
}

/// A uniformly random fraction in [0, 1), from the standard library's randomly keyed hasher.
fn random_fraction() -> f64 {
    let bits = std::collections::hash_map::RandomState::new().hash_one(Instant::now());
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

fn entry_json(e: &Entry) -> Value {
    json!({"term": e.term, "key": e.key, "value": e.value})
}

fn parse_entry(v: &Value) -> Option<Entry> {
    Some(Entry {
        term: v.get("term")?.as_u64()?,
        key: v.get("key")?.as_str()?.to_string(),
        value: v.get("value")?.clone(),
    })
}

impl Node {
    fn others(&self) -> impl Iterator<Item = (usize, &String)> + '_ {
        self.config.peers.iter().filter(|(id, _)| *id != self.config.id).map(|(id, addr)| (*id, addr))
    }

    fn nodes(&self) -> usize {
        self.config.peers.len()
    }

    fn bump(&self) {
        self.progress.send_modify(|n| *n += 1);
    }

    fn wake_all(&self) {
        self.wake.values().for_each(tokio::sync::Notify::notify_one);
    }

    /// A fresh random election timeout. The preferred primary's is shorter only until it has heard of a
    /// primary: later, a head start would only make it depose primaries more often, say after a slow
    /// heartbeat on a loaded machine.
    fn election_timeout(&self, core: &Core) -> Duration {
        let head_start = self.config.id == self.config.primary && !core.raft.seen_primary;
        let base = if head_start { ELECTION / 2 } else { ELECTION };
        base + base.mul_f64(random_fraction())
    }

    /// Makes the term and vote durable. A node that cannot must not answer anyone again: it could vote
    /// twice in a term after a restart.
    fn persist(&self, hard: HardState) {
        if let Err(e) = tokio::task::block_in_place(|| hard.store(&self.config.data_dir)) {
            error!("cannot store the term and vote in {}: {e}; stopping", self.config.data_dir.display());
            std::process::exit(70);
        }
    }

    /// Moves to `term` if it is newer (no vote in it yet), and to follower.
    fn adopt_term(&self, core: &mut Core, term: u64) {
        if term > core.raft.hard.term {
            core.raft.hard = HardState { term, voted_for: None };
            self.persist(core.raft.hard);
            core.raft.leader = None;
        }
        if core.raft.role != Role::Follower {
            info!("{} steps down: term {term} is under way", core.raft.role.as_str());
            core.raft.role = Role::Follower;
            core.raft.heard = Instant::now();
        }
        self.bump();
    }

    /// The election timer, for the node's life: stands for election when no primary was heard from for
    /// the timeout; on the primary, steps down when no majority has answered lately.
    pub async fn run_elections(self: Arc<Self>) {
        {
            let mut core = self.core.lock().await;
            core.raft.timeout = self.election_timeout(&core);
        }
        loop {
            tokio::time::sleep(TICK).await;
            let mut core = self.core.lock().await;
            if core.raft.role == Role::Primary {
                if self.config.mode != Mode::StaleLeader {
                    self.check_quorum(&mut core);
                }
                continue;
            }
            if core.raft.heard.elapsed() >= core.raft.timeout {
                core.raft.timeout = self.election_timeout(&core);
                // The timer restarts now, not when the candidacy gets the lock: one candidacy per timeout.
                core.raft.heard = Instant::now();
                drop(core);
                tokio::spawn(self.clone().stand_for_election());
            }
        }
    }

    fn check_quorum(&self, core: &mut Core) {
        let heard = 1 + core.raft.answered.values().filter(|at| at.elapsed() < QUORUM_WINDOW).count();
        if !raft::is_majority(heard, self.nodes()) {
            warn!(
                "no majority: heard from {heard} of {} nodes in the last {} ms; stepping down (503/504 until a \
                 primary is elected)",
                self.nodes(),
                QUORUM_WINDOW.as_millis()
            );
            core.raft.role = Role::Follower;
            core.raft.leader = None;
            core.raft.heard = Instant::now();
            self.bump();
        }
    }

    async fn stand_for_election(self: Arc<Self>) {
        let (term, request) = {
            let mut core = self.core.lock().await;
            if core.raft.role == Role::Primary {
                return;
            }
            let term = core.raft.hard.term + 1;
            core.raft.hard = HardState { term, voted_for: Some(self.config.id) };
            self.persist(core.raft.hard);
            core.raft.role = Role::Candidate;
            core.raft.leader = None;
            core.raft.heard = Instant::now();
            self.bump();
            let log = core.log.entries();
            (term, VoteRequest { term, candidate: self.config.id, len: log.len(), last_term: raft::last_term(log) })
        };
        let body =
            json!({"term": term, "candidate": request.candidate, "len": request.len, "last_term": request.last_term})
                .to_string();
        let mut tasks = tokio::task::JoinSet::new();
        for (_, addr) in self.others() {
            let (http, url, body) = (self.peer_http.clone(), format!("http://{addr}/raft/vote"), body.clone());
            tasks.spawn(async move {
                let answer = http.post(url).header("content-type", "application/json").body(body).send().await.ok()?;
                let answer = answer.json::<Value>().await.ok()?;
                Some((answer.get("term")?.as_u64()?, answer.get("granted")?.as_bool()?))
            });
        }
        let mut votes = 1;
        while !raft::is_majority(votes, self.nodes()) {
            let Some(done) = tasks.join_next().await else { break };
            match done {
                Ok(Some((their_term, _))) if their_term > term => {
                    let mut core = self.core.lock().await;
                    self.adopt_term(&mut core, their_term);
                    return;
                }
                Ok(Some((_, true))) => votes += 1,
                _ => {}
            }
        }
        let mut core = self.core.lock().await;
        if core.raft.role != Role::Candidate || core.raft.hard.term != term {
            return;
        }
        if raft::is_majority(votes, self.nodes()) {
            core.raft.lost = 0;
            self.become_primary(&mut core, term, votes);
        } else {
            if core.raft.lost % 10 == 0 {
                warn!(
                    "election of term {term} lost: {votes} of {} votes (elections lost in a row: {})",
                    self.nodes(),
                    core.raft.lost + 1
                );
            }
            core.raft.lost += 1;
        }
    }

    fn become_primary(self: &Arc<Self>, core: &mut Core, term: u64, votes: usize) {
        core.raft.role = Role::Primary;
        core.raft.leader = Some(self.config.id);
        core.raft.seen_primary = true;
        let (len, now) = (core.log.len(), Instant::now());
        let others: Vec<usize> = self.others().map(|(id, _)| id).collect();
        for &id in &others {
            core.raft.next.insert(id, len);
            core.raft.matched.insert(id, 0);
            core.raft.acked_round.insert(id, 0);
            core.raft.answered.insert(id, now);
        }
        core.raft.round = 0;
        info!("elected primary for term {term} with {votes} of {} votes; the log has {len} entries", self.nodes());
        // The no-op entry of the new term: committing it commits everything before it.
        let noop = Entry { term, key: String::new(), value: Value::Null };
        if let Err(e) = tokio::task::block_in_place(|| core.log.append(std::slice::from_ref(&noop))) {
            error!("writing the log: {e}; stepping down");
            core.raft.role = Role::Follower;
            core.raft.leader = None;
            return;
        }
        for id in others {
            tokio::spawn(self.clone().replicate(id, term));
        }
        self.advance_commit(core);
        self.bump();
    }

    /// Commits what a majority holds, if it ends in an entry of the primary's term.
    fn advance_commit(&self, core: &mut Core) {
        let mut matched: Vec<usize> =
            self.others().map(|(id, _)| core.raft.matched.get(&id).copied().unwrap_or(0)).collect();
        matched.push(core.log.len());
        let upto = raft::commit_len(&matched, core.log.entries(), core.raft.hard.term, core.committed);
        if upto > core.committed {
            core.commit_to(upto);
            self.bump();
        }
    }

    /// The primary's replication to follower `id` for as long as it is the primary of `term`.
    async fn replicate(self: Arc<Self>, id: usize, term: u64) {
        let Some(addr) = self.others().find(|(other, _)| *other == id).map(|(_, addr)| addr.clone()) else { return };
        let url = format!("http://{addr}/raft/append");
        loop {
            let (body, prev_len, sent, round) = {
                let core = self.core.lock().await;
                if core.raft.role != Role::Primary || core.raft.hard.term != term {
                    return;
                }
                let shipped = if self.config.mode == Mode::Unsafe { core.log.written() } else { core.log.len() };
                let from = core.raft.next.get(&id).copied().unwrap_or(0).min(shipped);
                // A follower that did not answer last time gets an empty message until it does, not
                // a batch serialized again for every retry.
                let upto = if core.unreachable.contains(&id) { from } else { shipped.min(from + BATCH) };
                let entries = &core.log.entries()[from..upto];
                let prev_term = if from > 0 { core.log.entries()[from - 1].term } else { 0 };
                let body = json!({
                    "term": term,
                    "leader": self.config.id,
                    "prev_len": from,
                    "prev_term": prev_term,
                    "entries": entries.iter().map(entry_json).collect::<Vec<_>>(),
                    "commit": core.committed,
                });
                (body.to_string(), from, entries.len(), core.raft.round)
            };
            let answer = async {
                let sent = self.peer_http.post(&url).header("content-type", "application/json").body(body).send().await;
                let answer = sent.map_err(|e| root_cause(&e))?;
                let status = answer.status().as_u16();
                let body = answer.json::<Value>().await.map_err(|e| format!("answer {status}: {}", root_cause(&e)))?;
                let parsed = (|| {
                    Some((
                        body.get("term")?.as_u64()?,
                        body.get("success")?.as_bool()?,
                        body.get("len")?.as_u64()? as usize,
                    ))
                })();
                parsed.ok_or_else(|| format!("answer {status} without a term, success and length: {body}"))
            }
            .await;
            let more = {
                let mut core = self.core.lock().await;
                match answer {
                    Err(why) => {
                        if core.unreachable.insert(id) {
                            warn!("replication to {} failed: {why}", node_name(id));
                        }
                        drop(core);
                        // Retried after a heartbeat's wait, not at every new write.
                        tokio::time::sleep(HEARTBEAT).await;
                        continue;
                    }
                    Ok((their_term, _, _)) if their_term > term => {
                        self.adopt_term(&mut core, their_term);
                        return;
                    }
                    Ok(_) if core.raft.role != Role::Primary || core.raft.hard.term != term => return,
                    Ok((_, success, len)) => {
                        if core.unreachable.remove(&id) {
                            info!("{} answers replication again; its log has {len} entries", node_name(id));
                        }
                        core.raft.answered.insert(id, Instant::now());
                        let acked = core.raft.acked_round.entry(id).or_insert(0);
                        *acked = (*acked).max(round);
                        let next = if success {
                            let matched = core.raft.matched.entry(id).or_insert(0);
                            *matched = (*matched).max(prev_len + sent);
                            self.advance_commit(&mut core);
                            prev_len + sent
                        } else {
                            len.min(prev_len.saturating_sub(1))
                        };
                        core.raft.next.insert(id, next);
                        self.bump();
                        let shipped =
                            if self.config.mode == Mode::Unsafe { core.log.written() } else { core.log.len() };
                        !success || next < shipped || core.raft.round > round
                    }
                }
            };
            if !more {
                let wake = &self.wake[&id];
                tokio::select! {
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(HEARTBEAT) => {}
                }
            }
        }
    }

    /// `POST /raft/append`: a primary's entries (or heartbeat).
    pub(crate) async fn receive_entries(&self, body: &[u8]) -> Response {
        let parsed = serde_json::from_slice::<Value>(body).ok().and_then(|b| {
            let entries = b.get("entries")?.as_array()?.iter().map(parse_entry).collect::<Option<Vec<_>>>()?;
            Some((
                b.get("term")?.as_u64()?,
                b.get("leader")?.as_u64()? as usize,
                b.get("prev_len")?.as_u64()? as usize,
                b.get("prev_term")?.as_u64()?,
                entries,
                b.get("commit")?.as_u64()? as usize,
            ))
        });
        let Some((term, leader, prev_len, prev_term, entries, commit)) = parsed else {
            return Response::json(
                400,
                json!({"error": "expected {\"term\", \"leader\", \"prev_len\", \"prev_term\", \"entries\": [{\"term\", \"key\", \"value\"}], \"commit\"}"}),
            );
        };
        let mut core = self.core.lock().await;
        if term < core.raft.hard.term {
            return Response::json(200, json!({"term": core.raft.hard.term, "success": false, "len": core.log.len()}));
        }
        if term > core.raft.hard.term || core.raft.role != Role::Follower {
            self.adopt_term(&mut core, term);
        }
        if core.raft.leader != Some(leader) {
            info!("{} is the primary of term {term}", node_name(leader));
            core.raft.leader = Some(leader);
            core.raft.seen_primary = true;
            self.bump();
        }
        core.raft.heard = Instant::now();
        let (truncate_to, append_from) = match raft::match_entries(core.log.entries(), prev_len, prev_term, &entries) {
            Matched::Conflict { retry_from } => {
                return Response::json(200, json!({"term": term, "success": false, "len": retry_from}))
            }
            Matched::Accept { truncate_to, append_from } => (truncate_to, append_from),
        };
        let have = core.log.len();
        if truncate_to.is_some_and(|len| len < core.committed) {
            // Raft's guarantees say this cannot happen; if it does, say so rather than serve it quietly.
            error!(
                "the primary's log differs from committed entries here (cut to {truncate_to:?}, {} committed)",
                core.committed
            );
        }
        let new = &entries[append_from..];
        let result = tokio::task::block_in_place(|| {
            if let Some(len) = truncate_to {
                core.log.truncate(len)?;
            }
            // A heartbeat adds nothing, and costs no fsync.
            if new.is_empty() {
                return Ok(());
            }
            core.log.append(new)
        });
        if let Err(e) = result {
            error!("writing the log: {e}");
            return Response::json(503, json!({"error": format!("writing the log: {e}")}));
        }
        match truncate_to {
            Some(len) => {
                warn!(
                    "log tail replaced by the primary's: entries {} to {have} dropped, now {} entries",
                    len + 1,
                    core.log.len()
                );
                core.reapply();
            }
            None => apply(&mut core.state, new),
        }
        let committed = commit.min(prev_len + entries.len()).min(core.log.len());
        core.commit_to(committed);
        Response::json(200, json!({"term": term, "success": true, "len": core.log.len()}))
    }

    /// `POST /raft/vote`: a candidate asking for this node's vote.
    pub(crate) async fn receive_vote_request(&self, body: &[u8]) -> Response {
        let parsed = serde_json::from_slice::<Value>(body).ok().and_then(|b| {
            Some(VoteRequest {
                term: b.get("term")?.as_u64()?,
                candidate: b.get("candidate")?.as_u64()? as usize,
                len: b.get("len")?.as_u64()? as usize,
                last_term: b.get("last_term")?.as_u64()?,
            })
        });
        let Some(request) = parsed else {
            return Response::json(400, json!({"error": "expected {\"term\", \"candidate\", \"len\", \"last_term\"}"}));
        };
        let mut core = self.core.lock().await;
        let before = core.raft.hard;
        let mut hard = before;
        let granted = raft::decide_vote(&mut hard, core.log.entries(), &request);
        if hard.term > before.term {
            // A newer term: this node follows, whoever wins it.
            self.adopt_term(&mut core, hard.term);
        }
        if hard != core.raft.hard {
            core.raft.hard = hard;
            self.persist(hard);
        }
        if granted {
            core.raft.heard = Instant::now();
            if before.voted_for != Some(request.candidate) || before.term != request.term {
                info!("voted for {} in term {}", node_name(request.candidate), request.term);
            }
        }
        Response::json(200, json!({"term": core.raft.hard.term, "granted": granted}))
    }

    /// A client operation in an election mode: served here if this node is the primary, else forwarded
    /// to the primary it knows, else (no primary known) held until one is elected or time runs out.
    pub(crate) async fn perform_elected(&self, key: &str, op: Op, request: &Request, forwarded: bool) -> Response {
        let deadline = Instant::now() + self.config.request_timeout;
        loop {
            let mut changed = self.progress.subscribe();
            let (role, leader) = {
                let core = self.core.lock().await;
                (core.raft.role, core.raft.leader)
            };
            if role == Role::Primary {
                return self.serve(key, op, deadline).await;
            }
            if forwarded {
                return Response::json(503, json!({"error": "not the primary (any more)", "applied": false}));
            }
            if let Some(leader) = leader.filter(|l| *l != self.config.id) {
                return self.forward_to(leader, &format!("/internal{}", request.path), request).await;
            }
            if tokio::time::timeout_at(deadline.into(), changed.changed()).await.is_err() {
                return Response::json(
                    503,
                    json!({"error": "no primary known: an election is under way, or no majority is reachable", "applied": false}),
                );
            }
        }
    }

    /// The primary's handling of a client operation.
    async fn serve(&self, key: &str, op: Op, deadline: Instant) -> Response {
        let mut core = self.core.lock().await;
        if core.raft.role != Role::Primary {
            return Response::json(503, json!({"error": "no longer the primary", "applied": false}));
        }
        let term = core.raft.hard.term;
        let is_read = matches!(op, Op::Read);
        let value = match next_value(core.state.get(key), op) {
            None if self.config.mode == Mode::Unsafe => return read(&core, key),
            None if self.config.mode == Mode::StaleLeader => {
                // The bug: whatever this node committed, as long as it thinks it is the primary.
                drop(core);
                let since_elected =
                    |core: &Core| core.committed > 0 && core.log.entries()[core.committed - 1].term == term;
                return match self.await_primary(term, deadline, since_elected).await {
                    Ok(()) => read_value(self.core.lock().await.committed_state.get(key)),
                    Err(waited) => not_confirmed(waited),
                };
            }
            None => Err(core.state.get(key).cloned()),
            Some(Err(current)) if self.config.mode == Mode::Unsafe => {
                return Response::json(412, json!({"error": "mismatch", "value": current}))
            }
            Some(Err(current)) => Err(Some(current)),
            Some(Ok(value)) => Ok(value),
        };
        let seen = match value {
            Ok(value) => {
                let entry = Entry { term, key: key.to_string(), value };
                if let Err(e) = tokio::task::block_in_place(|| core.log.append(std::slice::from_ref(&entry))) {
                    error!("writing the log: {e}");
                    // The append may be partly on disk: the client cannot know.
                    return Response::json(504, json!({"error": format!("writing the log: {e}"), "applied": null}));
                }
                apply(&mut core.state, std::slice::from_ref(&entry));
                if self.config.mode == Mode::Unsafe {
                    return Response::json(200, json!({"ok": true}));
                }
                let len = core.log.len();
                self.advance_commit(&mut core);
                drop(core);
                self.wake_all();
                return match self.await_primary(term, deadline, |core| core.committed >= len).await {
                    Ok(()) => Response::json(200, json!({"ok": true})),
                    Err(Waited::Deposed) => Response::json(
                        504,
                        json!({"error": "no longer the primary before a majority had it; may take effect later", "applied": null}),
                    ),
                    Err(Waited::TimedOut) => Response::json(
                        504,
                        json!({"error": "no majority has it yet; logged, may take effect later", "applied": null}),
                    ),
                };
            }
            Err(seen) => seen,
        };
        // ReadIndex: what this node's log says now, once every entry of it is committed and a majority
        // has confirmed this node is still the primary, after this moment.
        let len = core.log.len();
        core.raft.round += 1;
        let round = core.raft.round;
        self.advance_commit(&mut core);
        drop(core);
        self.wake_all();
        let nodes = self.nodes();
        let confirmed = |core: &Core| {
            let acks = 1 + core.raft.acked_round.values().filter(|r| **r >= round).count();
            core.committed >= len && raft::is_majority(acks, nodes)
        };
        match self.await_primary(term, deadline, confirmed).await {
            Ok(()) if is_read => read_value(seen.as_ref()),
            Ok(()) => Response::json(412, json!({"error": "mismatch", "value": seen.unwrap_or(Value::Null)})),
            Err(waited) => not_confirmed(waited),
        }
    }

    /// Waits until `done` holds, as long as this node stays the primary of `term`.
    async fn await_primary(&self, term: u64, deadline: Instant, done: impl Fn(&Core) -> bool) -> Result<(), Waited> {
        loop {
            let mut changed = self.progress.subscribe();
            {
                let core = self.core.lock().await;
                if core.raft.role != Role::Primary || core.raft.hard.term != term {
                    return Err(Waited::Deposed);
                }
                if done(&core) {
                    return Ok(());
                }
            }
            if tokio::time::timeout_at(deadline.into(), changed.changed()).await.is_err() {
                return Err(Waited::TimedOut);
            }
        }
    }
}

/// A read (or a compare-and-set that found another value) that could not be confirmed: it changed
/// nothing, so it certainly did not happen.
fn not_confirmed(waited: Waited) -> Response {
    let why = match waited {
        Waited::Deposed => "no longer the primary",
        Waited::TimedOut => "no majority confirmed this primary in time",
    };
    Response::json(503, json!({"error": why, "applied": false}))
}
