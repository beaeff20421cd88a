//! One node of the reference cluster: the client protocol, `GET /status`, and the modes' state. The
//! modes with elections (`linearizable`, `unsafe`, `stale-leader`) run Raft ([`crate::consensus`]);
//! `sequential` keeps a fixed primary that ships its log asynchronously; `eventual` is leaderless
//! ([`crate::eventual`]).
//!
//! Every node holds two states: `state`, every entry of its log applied (what a primary judges new
//! writes and compare-and-sets against, since its log order is the order they take effect in), and
//! `committed_state`, only the entries known to be on a majority (what an election-mode primary reads
//! from).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};
use tokio::sync::Mutex;
use tracing::{error, info, warn};

use crate::consensus::Raft;
use crate::eventual;
use crate::http::{decode_segment, Request, Response};
use crate::log::{Durability, Entry, Log};
use crate::raft::HardState;
use crate::{node_name, Config, Mode};

pub struct Node {
    pub(crate) config: Config,
    pub(crate) http: reqwest::Client,
    /// For Raft's own messages: a shorter timeout than clients', so that a cut-off peer holds up
    /// neither an election nor its own replication for long.
    pub(crate) peer_http: reqwest::Client,
    pub(crate) core: Mutex<Core>,
    /// Bumped whenever a primary's commit, its confirmations, its term or its role change: what client
    /// operations waiting on those watch.
    pub(crate) progress: tokio::sync::watch::Sender<u64>,
    /// Per peer: wakes its replication task (new entries, a read to confirm, a flush).
    pub(crate) wake: HashMap<usize, tokio::sync::Notify>,
    /// A follower's last forward to the primary got no answer (logged when it changes).
    primary_lost: AtomicBool,
    /// The other clusters whose peer requests reached this node (each logged once).
    foreign: Mutex<HashSet<String>>,
}

pub(crate) struct Core {
    pub(crate) log: Log,
    /// `eventual` mode's last-writer-wins state.
    lww: Option<eventual::Store>,
    /// Every log entry applied.
    pub(crate) state: HashMap<String, Value>,
    /// The first `committed` entries applied.
    pub(crate) committed_state: HashMap<String, Value>,
    /// Entries known to be on a majority.
    pub(crate) committed: usize,
    /// `sequential` mode's primary: what it knows of each follower's log length.
    follower_len: HashMap<usize, usize>,
    /// Followers whose last replication (peers whose last gossip, in `eventual` mode) got no answer
    /// (logged when it changes).
    pub(crate) unreachable: HashSet<usize>,
    /// The election modes' term, vote, role and replication progress.
    pub(crate) raft: Raft,
}

impl Core {
    /// Applies the log's entries from `committed` to `upto` to the committed state.
    pub(crate) fn commit_to(&mut self, upto: usize) {
        if upto <= self.committed {
            return;
        }
        apply(&mut self.committed_state, &self.log.entries()[self.committed..upto]);
        self.committed = upto;
    }

    /// Rebuilds `state` from the whole log (after its tail was cut).
    pub(crate) fn reapply(&mut self) {
        self.state.clear();
        apply(&mut self.state, self.log.entries());
    }
}

/// Applies entries in order; the no-op entry a new primary appends (empty key) changes nothing.
pub(crate) fn apply(state: &mut HashMap<String, Value>, entries: &[Entry]) {
    for e in entries.iter().filter(|e| !e.key.is_empty()) {
        state.insert(e.key.clone(), e.value.clone());
    }
}

pub(crate) enum Op {
    Read,
    Write(Value),
    Cas(Value, Value),
}

impl Node {
    pub fn open(config: Config) -> Result<Node, String> {
        let durability = match config.mode {
            Mode::Linearizable | Mode::StaleLeader | Mode::Sequential | Mode::Eventual => Durability::Fsync,
            Mode::Unsafe => Durability::Lazy,
            Mode::NoSync => Durability::Unsynced,
        };
        let log = Log::open(&config.data_dir, durability)
            .map_err(|e| format!("cannot open the log in {}: {e}", config.data_dir.display()))?;
        let hard = HardState::load(&config.data_dir)?;
        let mut state = HashMap::new();
        apply(&mut state, log.entries());
        let torn = match log.torn() {
            0 => String::new(),
            bytes => format!("; a torn tail of {bytes} bytes dropped"),
        };
        let (entries, keys) = (count(log.len(), "entry", "entries"), count(state.len(), "key", "keys"));
        info!("log restored: {entries} ({keys}) from {}{torn}", config.data_dir.display());
        if config.mode.elects() {
            info!("term {}, voted for {}", hard.term, hard.voted_for.map_or("nobody".to_string(), node_name));
        }
        // Both clients talk only to peers: each request names this node's cluster.
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(id) = &config.cluster_id {
            let value = reqwest::header::HeaderValue::from_str(id)
                .map_err(|_| format!("the cluster id {id:?} cannot be sent in an HTTP header"))?;
            headers.insert(crate::CLUSTER_HEADER, value);
        }
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout)
            .default_headers(headers.clone())
            .build()
            .map_err(|e| e.to_string())?;
        let peer_timeout = config.request_timeout.min(crate::consensus::PEER_TIMEOUT);
        let peer_http = reqwest::Client::builder()
            .timeout(peer_timeout)
            .connect_timeout(peer_timeout)
            .default_headers(headers)
            .build()
            .map_err(|e| e.to_string())?;
        let lww = (config.mode == Mode::Eventual).then(|| eventual::Store::recover(&log));
        let core = Core {
            log,
            lww,
            state,
            committed_state: HashMap::new(),
            committed: 0,
            follower_len: HashMap::new(),
            unreachable: HashSet::new(),
            raft: Raft::new(hard),
        };
        let wake = config.peers.iter().map(|(id, _)| (*id, tokio::sync::Notify::new())).collect();
        Ok(Node {
            config,
            http,
            peer_http,
            core: Mutex::new(core),
            progress: tokio::sync::watch::Sender::new(0),
            wake,
            primary_lost: AtomicBool::new(false),
            foreign: Mutex::new(HashSet::new()),
        })
    }

    /// `sequential` mode: whether this node is the fixed primary.
    pub fn is_primary(&self) -> bool {
        self.config.id == self.config.primary
    }

    /// `GET /status`: who this node is, and whom it takes for the primary.
    async fn status(&self) -> Response {
        let (role, term, leader) = match self.config.mode {
            Mode::Eventual => ("peer", 0, None),
            Mode::Sequential => (if self.is_primary() { "primary" } else { "follower" }, 0, Some(self.config.primary)),
            _ => {
                let core = self.core.lock().await;
                (core.raft.role.as_str(), core.raft.hard.term, core.raft.leader)
            }
        };
        Response::json(
            200,
            json!({"node": self.config.id, "role": role, "term": term, "leader": leader, "mode": self.config.mode.as_str()}),
        )
    }

    /// Writes lazily-durable entries out; `unsafe` mode runs it every 200 ms, and a primary then ships
    /// what it wrote.
    pub async fn flush_lazy(&self) {
        let mut core = self.core.lock().await;
        if let Err(e) = core.log.flush_lazy() {
            error!("writing the log: {e}");
        }
        drop(core);
        self.wake.values().for_each(tokio::sync::Notify::notify_one);
    }

    pub async fn handle(self: Arc<Self>, request: Request) -> Response {
        let response = self.answer(&request).await;
        if response.status == 400 {
            let why = response.body.get("error").and_then(Value::as_str).unwrap_or("");
            warn!("refused {} {}: {why}", request.method, request.path);
        }
        response
    }

    async fn answer(&self, request: &Request) -> Response {
        let path = request.path.split('?').next().unwrap_or("").to_string();
        if path == "/health" {
            return Response::json(200, json!({"ok": true, "id": self.config.id}));
        }
        if path == "/status" && request.method == "GET" {
            return self.status().await;
        }
        // Peer requests from a node of another cluster: refused, and said once per cluster.
        let from_peer = path.starts_with("/internal/") || path.starts_with("/raft/");
        if let Some(ours) = self.config.cluster_id.as_deref().filter(|_| from_peer) {
            let theirs = request.cluster.as_deref();
            if theirs != Some(ours) {
                let theirs = theirs.map_or("none".to_string(), |t| format!("{t:?}"));
                if self.foreign.lock().await.insert(theirs.clone()) {
                    warn!(
                        "refused a peer request ({path}) from another cluster: it names {theirs}, this one is {ours:?}"
                    );
                }
                return Response::json(
                    409,
                    json!({"error": format!("this node belongs to cluster {ours:?}; the request names {theirs}")}),
                );
            }
        }
        if path == "/internal/append" && request.method == "POST" {
            return self.append(&request.body).await;
        }
        if path == "/internal/gossip" && request.method == "POST" {
            return self.receive_gossip(&request.body).await;
        }
        if path.starts_with("/raft/") && !self.config.mode.elects() {
            let mode = self.config.mode.as_str();
            return Response::json(409, json!({"error": format!("{mode} mode holds no elections")}));
        }
        if path == "/raft/vote" && request.method == "POST" {
            return self.receive_vote_request(&request.body).await;
        }
        if path == "/raft/append" && request.method == "POST" {
            return self.receive_entries(&request.body).await;
        }
        // A request a follower forwarded: served here only if this node is the primary, never passed on
        // again (two nodes that each take the other for the primary would pass it back and forth).
        let (rest, forwarded) = match (path.strip_prefix("/kv/"), path.strip_prefix("/internal/kv/")) {
            (Some(rest), _) => (rest, false),
            (None, Some(rest)) => (rest, true),
            (None, None) => {
                return Response::json(404, json!({"error": format!("no such endpoint {path}; expected /kv/{{key}}")}))
            }
        };
        let (segment, is_cas) = match rest.strip_suffix("/cas") {
            Some(k) => (k, true),
            None => (rest, false),
        };
        let Some(key) = decode_segment(segment).filter(|k| !k.is_empty()) else {
            return Response::json(400, json!({"error": "the key must be a non-empty percent-encoded path segment"}));
        };
        let body: Option<Value> = serde_json::from_slice(&request.body).ok();
        let op = match (request.method.as_str(), is_cas) {
            ("GET", false) => Op::Read,
            ("PUT", false) => match body.as_ref().and_then(|b| b.get("value")) {
                Some(v) => Op::Write(v.clone()),
                None => return Response::json(400, json!({"error": "expected a body {\"value\": V}"})),
            },
            ("POST", true) => match body.as_ref().and_then(|b| Some((b.get("from")?.clone(), b.get("to")?.clone()))) {
                Some((from, to)) => Op::Cas(from, to),
                None => return Response::json(400, json!({"error": "expected a body {\"from\": A, \"to\": B}"})),
            },
            _ => return Response::json(400, json!({"error": "expected GET or PUT /kv/{key}, or POST /kv/{key}/cas"})),
        };
        match (self.config.mode, self.is_primary(), &op) {
            (Mode::Eventual, _, _) => self.perform_eventual(&key, op).await,
            (Mode::Sequential, _, Op::Read) => {
                let core = self.core.lock().await;
                read(&core, &key)
            }
            (Mode::Sequential, true, _) => self.perform_sequential(&key, op).await,
            (Mode::Sequential, false, _) => self.forward_and_wait(request).await,
            _ => self.perform_elected(&key, op, request, forwarded).await,
        }
    }

    /// `eventual` mode: everything on this node's own state.
    async fn perform_eventual(&self, key: &str, op: Op) -> Response {
        let mut core = self.core.lock().await;
        let Core { log, lww: Some(store), .. } = &mut *core else {
            return Response::json(503, json!({"error": "not in eventual mode", "applied": false}));
        };
        let value = match next_value(store.get(key), op) {
            None => return read_value(store.get(key)),
            Some(Ok(value)) => value,
            Some(Err(current)) => return Response::json(412, json!({"error": "mismatch", "value": current})),
        };
        let write = eventual::Stamped { value, stamp: eventual::now_stamp(self.config.id) };
        if let Err(e) = tokio::task::block_in_place(|| log.append(&[eventual::entry(key, &write)])) {
            error!("writing the log: {e}");
            return Response::json(504, json!({"error": format!("writing the log: {e}"), "applied": null}));
        }
        // Acknowledged even if an existing write with a later stamp wins: that is the mode's bug.
        store.merge(key, write);
        Response::json(200, json!({"ok": true}))
    }

    /// `eventual` mode: send the whole state to every peer.
    pub async fn gossip(&self) {
        let body = {
            let core = self.core.lock().await;
            match &core.lww {
                Some(store) => store.gossip().to_string(),
                None => return,
            }
        };
        let mut tasks = tokio::task::JoinSet::new();
        for (id, addr) in self.config.peers.iter().filter(|(id, _)| *id != self.config.id) {
            let (id, http, url, body) =
                (*id, self.http.clone(), format!("http://{addr}/internal/gossip"), body.clone());
            tasks.spawn(async move {
                let sent = http.post(url).header("content-type", "application/json").body(body).send().await;
                (id, sent.map_err(|e| root_cause(&e)).map(|answer| answer.status().as_u16()))
            });
        }
        while let Some(done) = tasks.join_next().await {
            let Ok((id, sent)) = done else { continue };
            // Logged when a peer stops taking gossip or takes it again, not every 100 ms.
            let mut core = self.core.lock().await;
            match sent {
                Ok(200) if core.unreachable.remove(&id) => info!("{} takes gossip again", node_name(id)),
                Ok(200) => {}
                Ok(status) if core.unreachable.insert(id) => warn!("gossip to {} refused: {status}", node_name(id)),
                Err(why) if core.unreachable.insert(id) => warn!("gossip to {} failed: {why}", node_name(id)),
                _ => {}
            }
        }
    }

    async fn receive_gossip(&self, body: &[u8]) -> Response {
        let Some(writes) = eventual::parse_gossip(body) else {
            return Response::json(400, json!({"error": "expected {\"entries\": [{\"key\": K, \"write\": W}]}"}));
        };
        let mut core = self.core.lock().await;
        let Core { log, lww: Some(store), .. } = &mut *core else {
            return Response::json(409, json!({"error": "not in eventual mode"}));
        };
        let mut kept = Vec::new();
        for (key, write) in writes {
            if store.merge(&key, write.clone()) {
                kept.push(eventual::entry(&key, &write));
            }
        }
        if let Err(e) = tokio::task::block_in_place(|| log.append(&kept)) {
            error!("writing the log: {e}");
            return Response::json(503, json!({"error": format!("writing the log: {e}")}));
        }
        Response::json(200, json!({"ok": true}))
    }

    /// `sequential` mode's primary: order, log and apply at once; followers get it when it is shipped.
    /// Every answer says the log position it reflects, so that a follower relaying it first catches up to
    /// that position: a client's next read there must not see an older state than its last operation did.
    async fn perform_sequential(&self, key: &str, op: Op) -> Response {
        let mut core = self.core.lock().await;
        let value = match next_value(core.state.get(key), op) {
            None => return read(&core, key),
            Some(Ok(value)) => value,
            Some(Err(current)) => {
                return Response::json(412, json!({"error": "mismatch", "value": current, "index": core.log.len()}))
            }
        };
        let entry = Entry { term: 0, key: key.to_string(), value: value.clone() };
        if let Err(e) = tokio::task::block_in_place(|| core.log.append(std::slice::from_ref(&entry))) {
            error!("writing the log: {e}");
            return Response::json(504, json!({"error": format!("writing the log: {e}"), "applied": null}));
        }
        core.state.insert(entry.key, value);
        Response::json(200, json!({"ok": true, "index": core.log.len()}))
    }

    /// `sequential` mode's follower: the primary orders the write (or judges the cas); this node answers
    /// once its own state has caught up to the log position the answer reflects.
    async fn forward_and_wait(&self, request: &Request) -> Response {
        let answer = self.forward(request).await;
        let Some(index) = answer.body.get("index").and_then(Value::as_u64) else { return answer };
        let deadline = tokio::time::Instant::now() + 2 * self.config.request_timeout;
        while tokio::time::Instant::now() < deadline {
            if self.core.lock().await.log.len() as u64 >= index {
                return answer;
            }
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        Response::json(504, json!({"error": "answered by the primary but not yet caught up here", "applied": null}))
    }

    /// `sequential` mode's primary shipping new entries to every follower, without holding up clients.
    pub async fn ship(&self) {
        let mut tasks = tokio::task::JoinSet::new();
        {
            let core = self.core.lock().await;
            let upto = core.log.len();
            for (id, addr) in self.config.peers.iter().filter(|(id, _)| *id != self.config.id) {
                let from = core.follower_len.get(id).copied().unwrap_or(0).min(upto);
                if from == upto && core.follower_len.contains_key(id) {
                    continue;
                }
                let entries = core.log.entries()[from..upto].to_vec();
                let (id, url, http) = (*id, format!("http://{addr}/internal/append"), self.http.clone());
                tasks.spawn(async move { (id, send_entries(&http, &url, from, &entries).await) });
            }
        }
        while let Some(done) = tasks.join_next().await {
            if let Ok((id, sent)) = done {
                let mut core = self.core.lock().await;
                note_follower(&mut core, id, &sent);
                if let Sent::Has(len) | Sent::Behind(len) = sent {
                    core.follower_len.insert(id, len);
                }
            }
        }
    }

    /// `sequential` mode's follower appending what the primary sent.
    async fn append(&self, body: &[u8]) -> Response {
        let parsed: Option<(usize, Vec<Entry>)> = serde_json::from_slice::<Value>(body).ok().and_then(|b| {
            let from = b.get("from")?.as_u64()? as usize;
            let entries = b.get("entries")?.as_array()?.iter().map(|e| {
                Some(Entry { term: 0, key: e.get("key")?.as_str()?.to_string(), value: e.get("value")?.clone() })
            });
            Some((from, entries.collect::<Option<Vec<_>>>()?))
        });
        let Some((from, entries)) = parsed else {
            return Response::json(
                400,
                json!({"error": "expected {\"from\": N, \"entries\": [{\"key\": K, \"value\": V}]}"}),
            );
        };
        let mut core = self.core.lock().await;
        if from > core.log.len() {
            info!("the primary sent entries from {from}, but this log ends at {}: asked for the rest", core.log.len());
            return Response::json(409, json!({ "len": core.log.len() }));
        }
        // The primary's log is the truth. Entries this node already has are kept; from the first that
        // differs, this log is replaced by what it sent. A shipment that this log already holds all of
        // changes nothing, even when this log is longer: the primary's log only grows, so that is a
        // late one (sent before a partition, delivered after newer ones), and cutting the log back to
        // where it ended would take this node back in time, its readers with it.
        let have = core.log.len();
        let end = from + entries.len();
        let same = (from..have.min(end)).take_while(|&i| core.log.entries()[i] == entries[i - from]).count();
        if same == entries.len() && end <= have {
            return Response::json(200, json!({ "len": have }));
        }
        let result = tokio::task::block_in_place(|| {
            core.log.truncate(from + same)?;
            core.log.append(&entries[same..])
        });
        if let Err(e) = result {
            error!("writing the log: {e}");
            return Response::json(503, json!({"error": format!("writing the log: {e}")}));
        }
        // The state follows the log: new entries are applied; a replaced tail means starting over.
        if from + same < have {
            warn!(
                "log tail replaced by the primary's: entries {} to {have} dropped, now {} entries",
                from + same + 1,
                core.log.len()
            );
            core.state.clear();
        }
        let start = if from + same < have { 0 } else { from + same };
        let applied: Vec<(String, Value)> =
            core.log.entries()[start..].iter().map(|e| (e.key.clone(), e.value.clone())).collect();
        core.state.extend(applied);
        Response::json(200, json!({ "len": core.log.len() }))
    }

    /// `sequential` mode's follower passing a client's request to the primary, and its answer back.
    async fn forward(&self, request: &Request) -> Response {
        self.forward_to(self.config.primary, &request.path, request).await
    }

    /// Passes a client's request to the node `primary` at `path`, and its answer back.
    pub(crate) async fn forward_to(&self, primary: usize, path: &str, request: &Request) -> Response {
        let Some((_, address)) = self.config.peers.iter().find(|(id, _)| *id == primary) else {
            return Response::json(503, json!({"error": "no such primary", "applied": false}));
        };
        let url = format!("http://{address}{path}");
        let sent = self
            .http
            .request(request.method.clone(), url)
            .header("content-type", "application/json")
            .body(request.body.clone())
            .send()
            .await;
        let answer = match sent {
            Ok(response) => {
                let status = response.status().as_u16();
                response.json::<Value>().await.map(|body| Response::json(status, body))
            }
            Err(e) => Err(e),
        };
        let primary = node_name(primary);
        match &answer {
            Ok(_) if self.primary_lost.swap(false, Ordering::Relaxed) => {
                info!("primary {primary} answers forwarded requests")
            }
            Err(e) if !self.primary_lost.swap(true, Ordering::Relaxed) => {
                warn!("primary {primary} unreachable: {}; answering 503/504 until it is back", root_cause(e))
            }
            _ => {}
        }
        answer.unwrap_or_else(|e| {
            if e.is_connect() && !e.is_timeout() {
                Response::json(503, json!({"error": format!("primary unreachable: {e}"), "applied": false}))
            } else {
                Response::json(504, json!({"error": format!("no answer from the primary: {e}"), "applied": null}))
            }
        })
    }
}

enum Sent {
    /// The follower's log now has this many entries.
    Has(usize),
    /// The follower's log ends before `from`, at this length.
    Behind(usize),
    /// No usable answer, and why.
    NoAnswer(String),
}

/// Logs a follower becoming unreachable to the primary, or reachable again.
fn note_follower(core: &mut Core, id: usize, sent: &Sent) {
    match sent {
        Sent::NoAnswer(why) if core.unreachable.insert(id) => warn!("replication to {} failed: {why}", node_name(id)),
        Sent::Has(len) | Sent::Behind(len) if core.unreachable.remove(&id) => {
            info!("{} answers replication again; its log has {len} entries", node_name(id))
        }
        _ => {}
    }
}

pub(crate) fn read(core: &Core, key: &str) -> Response {
    read_value(core.state.get(key))
}

pub(crate) fn read_value(value: Option<&Value>) -> Response {
    match value {
        Some(v) => Response::json(200, json!({ "value": v })),
        None => Response::json(404, json!({"error": "not found"})),
    }
}

/// What a write or compare-and-set leaves in a key holding `current` (absent: null); for a cas whose
/// comparison fails, `Err` with what it found. `None` for a read.
pub(crate) fn next_value(current: Option<&Value>, op: Op) -> Option<Result<Value, Value>> {
    match op {
        Op::Read => None,
        Op::Write(v) => Some(Ok(v)),
        Op::Cas(from, to) => {
            let current = current.cloned().unwrap_or(Value::Null);
            Some(if current == from { Ok(to) } else { Err(current) })
        }
    }
}

/// Sends a follower the entries from `from` on.
async fn send_entries(http: &reqwest::Client, url: &str, from: usize, entries: &[Entry]) -> Sent {
    let body = json!({
        "from": from,
        "entries": entries.iter().map(|e| json!({"key": e.key, "value": e.value})).collect::<Vec<_>>(),
    });
    let response = match http.post(url).header("content-type", "application/json").body(body.to_string()).send().await {
        Ok(response) => response,
        Err(e) => return Sent::NoAnswer(root_cause(&e)),
    };
    let status = response.status().as_u16();
    let len = response.json::<Value>().await.ok().and_then(|b| b.get("len")?.as_u64()).map(|l| l as usize);
    match (status, len) {
        (200, Some(len)) => Sent::Has(len),
        (409, Some(len)) if len < from => Sent::Behind(len),
        _ => Sent::NoAnswer(format!("answer {status} without a usable log length")),
    }
}

/// "1 entry", "2 entries".
pub(crate) fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The innermost cause: reqwest's own message ("error sending request") says nothing a reader can act on.
pub(crate) fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
