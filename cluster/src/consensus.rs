//! The modes with elections (`linearizable`, `unsafe`, `stale-leader`, `nosync`): Raft, driven by the
//! rules in [`crate::raft`]. [`Consensus`] owns everything of it a node holds: the log and its states, the
//! term, vote and role, and the primary's view of each follower.
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
//!   the request timeout for an election, then answers 503. A write, or a transaction that writes (one
//!   entry for all its writes), is answered 200 once committed (504 if the node loses its primacy or
//!   time runs out first: it may still take effect). Reads, read-only transactions, and commands that
//!   turn out to change nothing (a compare-and-set that finds another value, a refused transaction) use
//!   ReadIndex: the state they saw is answered once every
//!   entry before it is committed and a majority has answered a heartbeat sent after the request
//!   arrived, which proves no other primary had been elected by then. No clock is trusted, so no lease:
//!   a paused primary or a skewed clock cannot make it answer stale.
//! - A primary that has heard from no majority for 800 ms steps down (it answers nothing meanwhile
//!   anyway), so that `GET /status` does not keep naming a primary that a partition deposed.
//!
//! `stale-leader` mode is the same except for reads and read-only transactions: the primary answers them
//! at once from its committed state, without the heartbeat round, and never steps down on its own. A
//! primary cut off from the others keeps answering reads while the majority elects another and takes
//! writes: the classic stale read. (A primary paused long enough to be replaced does the same with the
//! requests waiting for it when it resumes, until its first heartbeat answer tells it of the new term.)
//!
//! `unsafe` mode acknowledges a write as soon as the primary has it in memory, and reads from there. The
//! log is written out (never fsynced) every flush interval, and a primary ships only what it has written:
//! killing the primary loses the writes of its last flush interval, acknowledged as they were, and the
//! new primary's log replaces what the old one had when it comes back.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::{Mutex, Notify};
use tracing::{error, info, warn};

use crate::command::Command;
use crate::config::{node_name, Config, Mode};
use crate::http::{Request, Response};
use crate::log::Entry;
use crate::peers::{self, Peers};
use crate::raft::{self, Append, AppendReply, HardState, Matched, VoteReply, VoteRequest};
use crate::state::{apply, Core};

/// How often a primary sends followers it has nothing for an empty append.
pub const HEARTBEAT: Duration = Duration::from_millis(50);
/// The election timeout's lower bound for nodes other than the preferred primary (the upper is twice).
const ELECTION: Duration = Duration::from_millis(400);
/// A primary that has heard from no majority for this long steps down: the longest election timeout,
/// by which the others have elected a new primary if they can.
const QUORUM_WINDOW: Duration = Duration::from_millis(800);
/// The longest a Raft message waits for its answer.
const PEER_TIMEOUT: Duration = Duration::from_millis(500);
/// Entries per append message at most.
const BATCH: usize = 512;
/// How often the election timer looks at the clock.
const TICK: Duration = Duration::from_millis(10);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Follower,
    Candidate,
    Primary,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Follower => "follower",
            Role::Candidate => "candidate",
            Role::Primary => "primary",
        }
    }
}

/// One node of a Raft cluster.
pub struct Consensus {
    config: Config,
    peers: Peers,
    /// For Raft's own messages: a shorter timeout than clients', so that a cut-off peer holds up
    /// neither an election nor its own replication for long.
    raft_http: reqwest::Client,
    node: Mutex<Replica>,
    /// Bumped whenever a primary's commit, its confirmations, its term or its role change: what client
    /// operations waiting on those watch.
    progress: tokio::sync::watch::Sender<u64>,
    /// Per peer: wakes its replication task (new entries, a read to confirm, a flush).
    wake: HashMap<usize, Notify>,
}

/// What a node holds under its lock. `core.state` is every entry of the log applied: what a primary
/// judges new commands against, since its log order is the order they take effect in.
/// `committed_state` is only the entries known to be on a majority: what a `stale-leader` primary reads
/// from.
struct Replica {
    core: Core,
    /// The first `committed` entries applied.
    committed_state: HashMap<String, Value>,
    /// Entries known to be on a majority.
    committed: usize,
    /// Followers whose last replication got no answer (logged when it changes).
    unreachable: HashSet<usize>,
    raft: Raft,
}

impl Replica {
    /// Applies the log's entries from `committed` to `upto` to the committed state.
    fn commit_to(&mut self, upto: usize) {
        if upto <= self.committed {
            return;
        }
        apply(&mut self.committed_state, &self.core.log.entries()[self.committed..upto]);
        self.committed = upto;
    }
}

/// A node's Raft state: the durable term and vote, and what lives only as long as the process.
struct Raft {
    hard: HardState,
    role: Role,
    /// The primary of the current term, once this node knows it.
    leader: Option<usize>,
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
    fn new(hard: HardState) -> Raft {
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

impl Consensus {
    pub fn open(config: Config) -> Result<Consensus, String> {
        let core = Core::open(&config)?;
        let hard = HardState::load(&config.data_dir)?;
        info!("term {}, voted for {}", hard.term, hard.voted_for.map_or("nobody".to_string(), node_name));
        let replica = Replica {
            core,
            committed_state: HashMap::new(),
            committed: 0,
            unreachable: HashSet::new(),
            raft: Raft::new(hard),
        };
        Ok(Consensus {
            peers: Peers::new(&config)?,
            raft_http: peers::client(&config, config.request_timeout.min(PEER_TIMEOUT))?,
            node: Mutex::new(replica),
            progress: tokio::sync::watch::Sender::new(0),
            wake: config.peers.iter().map(|(id, _)| (*id, Notify::new())).collect(),
            config,
        })
    }

    /// Starts the node's election timer, and in `unsafe` mode its periodic log writes.
    pub fn start(self: &Arc<Self>) {
        tokio::spawn(self.clone().run_elections());
        if self.config.mode == Mode::Unsafe {
            let this = self.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(this.config.flush_interval).await;
                    this.flush_lazy().await;
                }
            });
        }
    }

    /// Role, term and primary, for `GET /status`.
    pub async fn status(&self) -> (&'static str, u64, Option<usize>) {
        let node = self.node.lock().await;
        (node.raft.role.as_str(), node.raft.hard.term, node.raft.leader)
    }

    /// Writes lazily-durable entries out (`unsafe` mode, every flush interval); a primary then ships
    /// what it wrote.
    async fn flush_lazy(&self) {
        let mut node = self.node.lock().await;
        if let Err(e) = node.core.log.flush_lazy() {
            error!("writing the log: {e}");
        }
        drop(node);
        self.wake_all();
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
    fn election_timeout(&self, node: &Replica) -> Duration {
        let head_start = self.config.id == self.config.primary && !node.raft.seen_primary;
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
    fn adopt_term(&self, node: &mut Replica, term: u64) {
        if term > node.raft.hard.term {
            node.raft.hard = HardState { term, voted_for: None };
            self.persist(node.raft.hard);
            node.raft.leader = None;
        }
        if node.raft.role != Role::Follower {
            info!("{} steps down: term {term} is under way", node.raft.role.as_str());
            node.raft.role = Role::Follower;
            node.raft.heard = Instant::now();
        }
        self.bump();
    }

    /// The election timer, for the node's life: stands for election when no primary was heard from for
    /// the timeout; on the primary, steps down when no majority has answered lately.
    pub async fn run_elections(self: Arc<Self>) {
        {
            let mut node = self.node.lock().await;
            node.raft.timeout = self.election_timeout(&node);
        }
        loop {
            tokio::time::sleep(TICK).await;
            let mut node = self.node.lock().await;
            if node.raft.role == Role::Primary {
                if self.config.mode != Mode::StaleLeader {
                    self.check_quorum(&mut node);
                }
                continue;
            }
            if node.raft.heard.elapsed() >= node.raft.timeout {
                node.raft.timeout = self.election_timeout(&node);
                // The timer restarts now, not when the candidacy gets the lock: one candidacy per timeout.
                node.raft.heard = Instant::now();
                drop(node);
                tokio::spawn(self.clone().stand_for_election());
            }
        }
    }

    fn check_quorum(&self, node: &mut Replica) {
        let heard = 1 + node.raft.answered.values().filter(|at| at.elapsed() < QUORUM_WINDOW).count();
        if !raft::is_majority(heard, self.nodes()) {
            warn!(
                "no majority: heard from {heard} of {} nodes in the last {} ms; stepping down (503/504 until a \
                 primary is elected)",
                self.nodes(),
                QUORUM_WINDOW.as_millis()
            );
            node.raft.role = Role::Follower;
            node.raft.leader = None;
            node.raft.heard = Instant::now();
            self.bump();
        }
    }

    async fn stand_for_election(self: Arc<Self>) {
        let (term, request) = {
            let mut node = self.node.lock().await;
            if node.raft.role == Role::Primary {
                return;
            }
            let term = node.raft.hard.term + 1;
            node.raft.hard = HardState { term, voted_for: Some(self.config.id) };
            self.persist(node.raft.hard);
            node.raft.role = Role::Candidate;
            node.raft.leader = None;
            node.raft.heard = Instant::now();
            self.bump();
            let log = node.core.log.entries();
            (term, VoteRequest { term, candidate: self.config.id, len: log.len(), last_term: raft::last_term(log) })
        };
        let body = wire(&request);
        let mut tasks = tokio::task::JoinSet::new();
        for (_, addr) in self.config.others() {
            let (http, url, body) = (self.raft_http.clone(), format!("http://{addr}/raft/vote"), body.clone());
            tasks.spawn(async move { peers::post::<VoteReply>(&http, &url, body).await.ok().map(|(_, reply)| reply) });
        }
        let mut votes = 1;
        while !raft::is_majority(votes, self.nodes()) {
            let Some(done) = tasks.join_next().await else { break };
            match done {
                Ok(Some(reply)) if reply.term > term => {
                    let mut node = self.node.lock().await;
                    self.adopt_term(&mut node, reply.term);
                    return;
                }
                Ok(Some(VoteReply { granted: true, .. })) => votes += 1,
                _ => {}
            }
        }
        let mut node = self.node.lock().await;
        if node.raft.role != Role::Candidate || node.raft.hard.term != term {
            return;
        }
        if raft::is_majority(votes, self.nodes()) {
            node.raft.lost = 0;
            self.become_primary(&mut node, term, votes);
        } else {
            if node.raft.lost % 10 == 0 {
                warn!(
                    "election of term {term} lost: {votes} of {} votes (elections lost in a row: {})",
                    self.nodes(),
                    node.raft.lost + 1
                );
            }
            node.raft.lost += 1;
        }
    }

    fn become_primary(self: &Arc<Self>, node: &mut Replica, term: u64, votes: usize) {
        node.raft.role = Role::Primary;
        node.raft.leader = Some(self.config.id);
        node.raft.seen_primary = true;
        let (len, now) = (node.core.log.len(), Instant::now());
        let others: Vec<usize> = self.config.others().map(|(id, _)| id).collect();
        for &id in &others {
            node.raft.next.insert(id, len);
            node.raft.matched.insert(id, 0);
            node.raft.acked_round.insert(id, 0);
            node.raft.answered.insert(id, now);
        }
        node.raft.round = 0;
        info!("elected primary for term {term} with {votes} of {} votes; the log has {len} entries", self.nodes());
        // The no-op entry of the new term: committing it commits everything before it.
        let noop = Entry { term, writes: Vec::new() };
        if let Err(e) = tokio::task::block_in_place(|| node.core.log.append(std::slice::from_ref(&noop))) {
            error!("writing the log: {e}; stepping down");
            node.raft.role = Role::Follower;
            node.raft.leader = None;
            return;
        }
        for id in others {
            tokio::spawn(self.clone().replicate(id, term));
        }
        self.advance_commit(node);
        self.bump();
    }

    /// Commits what a majority holds, if it ends in an entry of the primary's term.
    fn advance_commit(&self, node: &mut Replica) {
        let mut matched: Vec<usize> =
            self.config.others().map(|(id, _)| node.raft.matched.get(&id).copied().unwrap_or(0)).collect();
        matched.push(node.core.log.len());
        let upto = raft::commit_len(&matched, node.core.log.entries(), node.raft.hard.term, node.committed);
        if upto > node.committed {
            node.commit_to(upto);
            self.bump();
        }
    }

    /// The primary's replication to follower `id` for as long as it is the primary of `term`.
    async fn replicate(self: Arc<Self>, id: usize, term: u64) {
        let Some(addr) = self.config.others().find(|(other, _)| *other == id).map(|(_, addr)| addr.clone()) else {
            return;
        };
        let url = format!("http://{addr}/raft/append");
        loop {
            let (body, prev_len, sent, round) = {
                let node = self.node.lock().await;
                if node.raft.role != Role::Primary || node.raft.hard.term != term {
                    return;
                }
                let shipped =
                    if self.config.mode == Mode::Unsafe { node.core.log.written() } else { node.core.log.len() };
                let from = node.raft.next.get(&id).copied().unwrap_or(0).min(shipped);
                // A follower that did not answer last time gets an empty message until it does, not
                // a batch serialized again for every retry.
                let upto = if node.unreachable.contains(&id) { from } else { shipped.min(from + BATCH) };
                let entries = &node.core.log.entries()[from..upto];
                let prev_term = if from > 0 { node.core.log.entries()[from - 1].term } else { 0 };
                let append = Append {
                    term,
                    leader: self.config.id,
                    prev_len: from,
                    prev_term,
                    entries: Cow::Borrowed(entries),
                    commit: node.committed,
                };
                (wire(&append), from, entries.len(), node.raft.round)
            };
            let answer = peers::post::<AppendReply>(&self.raft_http, &url, body).await.map(|(_, reply)| reply);
            let more = {
                let mut node = self.node.lock().await;
                match answer {
                    Err(why) => {
                        if node.unreachable.insert(id) {
                            warn!("replication to {} failed: {why}", node_name(id));
                        }
                        drop(node);
                        // Retried after a heartbeat's wait, not at every new write.
                        tokio::time::sleep(HEARTBEAT).await;
                        continue;
                    }
                    Ok(reply) if reply.term > term => {
                        self.adopt_term(&mut node, reply.term);
                        return;
                    }
                    Ok(_) if node.raft.role != Role::Primary || node.raft.hard.term != term => return,
                    Ok(AppendReply { success, len, .. }) => {
                        if node.unreachable.remove(&id) {
                            info!("{} answers replication again; its log has {len} entries", node_name(id));
                        }
                        node.raft.answered.insert(id, Instant::now());
                        let acked = node.raft.acked_round.entry(id).or_insert(0);
                        *acked = (*acked).max(round);
                        let next = if success {
                            let matched = node.raft.matched.entry(id).or_insert(0);
                            *matched = (*matched).max(prev_len + sent);
                            self.advance_commit(&mut node);
                            prev_len + sent
                        } else {
                            len.min(prev_len.saturating_sub(1))
                        };
                        node.raft.next.insert(id, next);
                        self.bump();
                        let shipped = if self.config.mode == Mode::Unsafe {
                            node.core.log.written()
                        } else {
                            node.core.log.len()
                        };
                        !success || next < shipped || node.raft.round > round
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
    pub async fn receive_entries(&self, body: &[u8]) -> Response {
        let Append { term, leader, prev_len, prev_term, entries, commit } = match serde_json::from_slice(body) {
            Ok(append) => append,
            Err(e) => {
                let expected = "expected {\"term\", \"leader\", \"prev_len\", \"prev_term\", \"entries\": [{\"term\", \"writes\"}], \"commit\"}";
                return Response::json(400, json!({ "error": format!("{expected}: {e}") }));
            }
        };
        let mut node = self.node.lock().await;
        if term < node.raft.hard.term {
            let reply = AppendReply { term: node.raft.hard.term, success: false, len: node.core.log.len() };
            return Response::json(200, json!(reply));
        }
        if term > node.raft.hard.term || node.raft.role != Role::Follower {
            self.adopt_term(&mut node, term);
        }
        if node.raft.leader != Some(leader) {
            info!("{} is the primary of term {term}", node_name(leader));
            node.raft.leader = Some(leader);
            node.raft.seen_primary = true;
            self.bump();
        }
        node.raft.heard = Instant::now();
        let (truncate_to, append_from) =
            match raft::match_entries(node.core.log.entries(), prev_len, prev_term, &entries) {
                Matched::Conflict { retry_from } => {
                    return Response::json(200, json!(AppendReply { term, success: false, len: retry_from }))
                }
                Matched::Accept { truncate_to, append_from } => (truncate_to, append_from),
            };
        let have = node.core.log.len();
        if truncate_to.is_some_and(|len| len < node.committed) {
            // Raft's guarantees say this cannot happen; if it does, say so rather than serve it quietly.
            error!(
                "the primary's log differs from committed entries here (cut to {truncate_to:?}, {} committed)",
                node.committed
            );
        }
        let new = &entries[append_from..];
        let result = tokio::task::block_in_place(|| {
            if let Some(len) = truncate_to {
                node.core.log.truncate(len)?;
            }
            // A heartbeat adds nothing, and costs no fsync.
            if new.is_empty() {
                return Ok(());
            }
            node.core.log.append(new)
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
                    node.core.log.len()
                );
                node.core.reapply();
            }
            None => apply(&mut node.core.state, new),
        }
        let committed = commit.min(prev_len + entries.len()).min(node.core.log.len());
        node.commit_to(committed);
        Response::json(200, json!(AppendReply { term, success: true, len: node.core.log.len() }))
    }

    /// `POST /raft/vote`: a candidate asking for this node's vote.
    pub async fn receive_vote_request(&self, body: &[u8]) -> Response {
        let request: VoteRequest = match serde_json::from_slice(body) {
            Ok(request) => request,
            Err(e) => {
                let expected = "expected {\"term\", \"candidate\", \"len\", \"last_term\"}";
                return Response::json(400, json!({ "error": format!("{expected}: {e}") }));
            }
        };
        let mut node = self.node.lock().await;
        let before = node.raft.hard;
        let mut hard = before;
        let granted = raft::decide_vote(&mut hard, node.core.log.entries(), &request);
        if hard.term > before.term {
            // A newer term: this node follows, whoever wins it.
            self.adopt_term(&mut node, hard.term);
        }
        if hard != node.raft.hard {
            node.raft.hard = hard;
            self.persist(hard);
        }
        if granted {
            node.raft.heard = Instant::now();
            if before.voted_for != Some(request.candidate) || before.term != request.term {
                info!("voted for {} in term {}", node_name(request.candidate), request.term);
            }
        }
        Response::json(200, json!(VoteReply { term: node.raft.hard.term, granted }))
    }

    /// A client's command: served here if this node is the primary, else forwarded to the primary it
    /// knows, else (no primary known) held until one is elected or time runs out. `forwarded`: a
    /// follower passed it on, so it is served here or refused, never passed on again (two nodes that
    /// each take the other for the primary would pass it back and forth).
    pub async fn perform(&self, command: &Command, request: &Request, forwarded: bool) -> Response {
        let deadline = Instant::now() + self.config.request_timeout;
        loop {
            let mut changed = self.progress.subscribe();
            let (role, leader) = {
                let node = self.node.lock().await;
                (node.raft.role, node.raft.leader)
            };
            if role == Role::Primary {
                return self.serve(command, deadline).await;
            }
            if forwarded {
                return Response::json(503, json!({"error": "not the primary (any more)", "applied": false}));
            }
            if let Some(leader) = leader.filter(|l| *l != self.config.id) {
                return self.peers.forward_to(leader, &format!("/internal{}", request.path), request).await;
            }
            if tokio::time::timeout_at(deadline.into(), changed.changed()).await.is_err() {
                return Response::json(
                    503,
                    json!({"error": "no primary known: an election is under way, or no majority is reachable", "applied": false}),
                );
            }
        }
    }

    /// The primary's handling of a client's command. One that writes is one log entry, answered once a
    /// majority holds it (a transaction's writes with it: all or none); one that writes nothing is
    /// answered by ReadIndex.
    async fn serve(&self, command: &Command, deadline: Instant) -> Response {
        let mut node = self.node.lock().await;
        if node.raft.role != Role::Primary {
            return Response::json(503, json!({"error": "no longer the primary", "applied": false}));
        }
        let term = node.raft.hard.term;
        if self.config.mode == Mode::StaleLeader && command.read_only() {
            // The bug: whatever this node committed, as long as it thinks it is the primary.
            drop(node);
            let since_elected =
                |node: &Replica| node.committed > 0 && node.core.log.entries()[node.committed - 1].term == term;
            return match self.await_primary(term, deadline, since_elected).await {
                Ok(()) => command.judge(&self.node.lock().await.committed_state).answer,
                Err(waited) => not_confirmed(waited),
            };
        }
        let judged = command.judge(&node.core.state);
        if !judged.writes.is_empty() {
            let entry = Entry { term, writes: judged.writes };
            if let Err(e) = tokio::task::block_in_place(|| node.core.log.append(std::slice::from_ref(&entry))) {
                error!("writing the log: {e}");
                // The append may be partly on disk: the client cannot know.
                return Response::json(504, json!({"error": format!("writing the log: {e}"), "applied": null}));
            }
            apply(&mut node.core.state, std::slice::from_ref(&entry));
            if self.config.mode == Mode::Unsafe {
                return judged.answer;
            }
            let len = node.core.log.len();
            self.advance_commit(&mut node);
            drop(node);
            self.wake_all();
            return match self.await_primary(term, deadline, |node| node.committed >= len).await {
                Ok(()) => judged.answer,
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
        if self.config.mode == Mode::Unsafe {
            return judged.answer;
        }
        // ReadIndex: what this node's log says now, once every entry of it is committed and a majority
        // has confirmed this node is still the primary, after this moment.
        let len = node.core.log.len();
        node.raft.round += 1;
        let round = node.raft.round;
        self.advance_commit(&mut node);
        drop(node);
        self.wake_all();
        let nodes = self.nodes();
        let confirmed = |node: &Replica| {
            let acks = 1 + node.raft.acked_round.values().filter(|r| **r >= round).count();
            node.committed >= len && raft::is_majority(acks, nodes)
        };
        match self.await_primary(term, deadline, confirmed).await {
            Ok(()) => judged.answer,
            Err(waited) => not_confirmed(waited),
        }
    }

    /// Waits until `done` holds, as long as this node stays the primary of `term`.
    async fn await_primary(&self, term: u64, deadline: Instant, done: impl Fn(&Replica) -> bool) -> Result<(), Waited> {
        loop {
            let mut changed = self.progress.subscribe();
            {
                let node = self.node.lock().await;
                if node.raft.role != Role::Primary || node.raft.hard.term != term {
                    return Err(Waited::Deposed);
                }
                if done(&node) {
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

/// A message as it goes over the wire.
fn wire(message: &impl serde::Serialize) -> String {
    serde_json::to_string(message).expect("a message of numbers and JSON values serializes")
}
