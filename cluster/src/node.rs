//! One node of the reference cluster as clients and peers see it: the HTTP front. It answers
//! `GET /health` and `GET /status`, refuses peer requests from another cluster, turns client requests
//! into [`Command`]s, and hands them and the peer messages to the one component its mode runs:
//! [`Consensus`] (the election modes), [`Shipper`] (`sequential`) or [`Gossip`] (`eventual`), each of which
//! owns its state.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{json, Value};
use tokio::sync::Mutex;
use tracing::warn;

use crate::command::{parse_txn, Command};
use crate::config::{Config, Mode};
use crate::consensus::Consensus;
use crate::eventual::Gossip;
use crate::http::{decode_segment, Request, Response};
use crate::sequential::Shipper;

pub struct Node {
    config: Config,
    replication: Replication,
    /// The other clusters whose peer requests reached this node (each logged once).
    foreign: Mutex<HashSet<String>>,
}

/// How the node's mode keeps the nodes' states together.
pub enum Replication {
    /// `linearizable`, `unsafe`, `stale-leader`, `nosync`: Raft.
    Raft(Arc<Consensus>),
    /// `sequential`: a fixed primary ships its log.
    Sequential(Arc<Shipper>),
    /// `eventual`: leaderless gossip, last writer wins.
    Eventual(Arc<Gossip>),
}

impl Node {
    /// Restores the node's state from its data directory.
    pub fn open(config: Config) -> Result<Node, String> {
        let replication = match config.mode {
            Mode::Sequential => Replication::Sequential(Arc::new(Shipper::open(config.clone())?)),
            Mode::Eventual => Replication::Eventual(Arc::new(Gossip::open(config.clone())?)),
            _ => Replication::Raft(Arc::new(Consensus::open(config.clone())?)),
        };
        Ok(Node { config, replication, foreign: Mutex::new(HashSet::new()) })
    }

    /// Starts the mode's own tasks (elections, shipments, gossip), for the life of the process.
    pub fn start(&self) {
        match &self.replication {
            Replication::Raft(raft) => raft.start(),
            Replication::Sequential(shipper) => shipper.start(),
            Replication::Eventual(gossip) => gossip.start(),
        }
    }

    /// `GET /status`: who this node is, and whom it takes for the primary.
    async fn status(&self) -> Response {
        let (role, term, leader) = match &self.replication {
            Replication::Eventual(_) => ("peer", 0, None),
            Replication::Sequential(_) => {
                (if self.config.is_primary() { "primary" } else { "follower" }, 0, Some(self.config.primary))
            }
            Replication::Raft(raft) => raft.status().await,
        };
        Response::json(
            200,
            json!({"node": self.config.id, "role": role, "term": term, "leader": leader, "mode": self.config.mode.as_str()}),
        )
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
        let path = request.path.split('?').next().unwrap_or("");
        if path == "/health" {
            return Response::json(200, json!({"ok": true, "id": self.config.id}));
        }
        if path == "/status" && request.method == "GET" {
            return self.status().await;
        }
        if path.starts_with("/internal/") || path.starts_with("/raft/") {
            if let Some(refused) = self.refuse_foreign(path, request).await {
                return refused;
            }
        }
        let mode = self.config.mode.as_str();
        match (path, &self.replication) {
            ("/internal/append", Replication::Sequential(shipper)) if request.method == "POST" => {
                return shipper.receive(&request.body).await
            }
            ("/internal/gossip", Replication::Eventual(gossip)) if request.method == "POST" => {
                return gossip.receive(&request.body).await
            }
            ("/internal/append" | "/internal/gossip", _) => {
                return Response::json(409, json!({"error": format!("not for {mode} mode")}))
            }
            ("/raft/vote", Replication::Raft(raft)) if request.method == "POST" => {
                return raft.receive_vote_request(&request.body).await
            }
            ("/raft/append", Replication::Raft(raft)) if request.method == "POST" => {
                return raft.receive_entries(&request.body).await
            }
            (_, Replication::Sequential(_) | Replication::Eventual(_)) if path.starts_with("/raft/") => {
                return Response::json(409, json!({"error": format!("{mode} mode holds no elections")}))
            }
            _ => {}
        }
        // A request a follower forwarded: served here only if this node is the primary, never passed on
        // again (two nodes that each take the other for the primary would pass it back and forth).
        let (rest, forwarded) = match path.strip_prefix("/internal") {
            Some(rest) => (rest, true),
            None => (path, false),
        };
        let command = match parse_command(rest, request) {
            Ok(command) => command,
            Err(refused) => return refused,
        };
        match &self.replication {
            Replication::Raft(raft) => raft.perform(&command, request, forwarded).await,
            Replication::Sequential(shipper) => shipper.perform(&command, request).await,
            Replication::Eventual(gossip) => gossip.perform(&command).await,
        }
    }

    /// A peer request from a node of another cluster: refused, and said once per cluster.
    async fn refuse_foreign(&self, path: &str, request: &Request) -> Option<Response> {
        let ours = self.config.cluster_id.as_deref()?;
        let theirs = request.cluster.as_deref();
        if theirs == Some(ours) {
            return None;
        }
        let theirs = theirs.map_or("none".to_string(), |t| format!("{t:?}"));
        if self.foreign.lock().await.insert(theirs.clone()) {
            warn!("refused a peer request ({path}) from another cluster: it names {theirs}, this one is {ours:?}");
        }
        let error = format!("this node belongs to cluster {ours:?}; the request names {theirs}");
        Some(Response::json(409, json!({ "error": error })))
    }
}

/// The command a client request asks for (`path` without `/internal`), or the answer refusing it.
fn parse_command(path: &str, request: &Request) -> Result<Command, Response> {
    if path == "/txn" {
        if request.method != "POST" {
            return Err(Response::json(400, json!({"error": "expected POST /txn"})));
        }
        return parse_txn(&request.body).map(Command::Txn).map_err(|e| Response::json(400, json!({ "error": e })));
    }
    let Some(rest) = path.strip_prefix("/kv/") else {
        let error = format!("no such endpoint {path}; expected /kv/{{key}} or /txn");
        return Err(Response::json(404, json!({ "error": error })));
    };
    let (segment, is_cas) = match rest.strip_suffix("/cas") {
        Some(k) => (k, true),
        None => (rest, false),
    };
    let Some(key) = decode_segment(segment).filter(|k| !k.is_empty()) else {
        return Err(Response::json(400, json!({"error": "the key must be a non-empty percent-encoded path segment"})));
    };
    let body: Option<Value> = serde_json::from_slice(&request.body).ok();
    match (request.method.as_str(), is_cas) {
        ("GET", false) => Ok(Command::Read(key)),
        ("PUT", false) => match body.as_ref().and_then(|b| b.get("value")) {
            Some(v) => Ok(Command::Write(key, v.clone())),
            None => Err(Response::json(400, json!({"error": "expected a body {\"value\": V}"}))),
        },
        ("POST", true) => match body.as_ref().and_then(|b| Some((b.get("from")?.clone(), b.get("to")?.clone()))) {
            Some((from, to)) => Ok(Command::Cas { key, from, to }),
            None => Err(Response::json(400, json!({"error": "expected a body {\"from\": A, \"to\": B}"}))),
        },
        _ => Err(Response::json(400, json!({"error": "expected GET or PUT /kv/{key}, or POST /kv/{key}/cas"}))),
    }
}
