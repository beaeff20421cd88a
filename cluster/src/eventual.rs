//! `eventual` mode: leaderless, last writer wins. Every node accepts reads, writes, compare-and-sets and
//! transactions on its own state, each write on its own: a transaction's writes are not one unit, so
//! another node may see some of them before the rest, or keep a later write over one of them. A write
//! is stamped with the node's wall clock (nanoseconds since the epoch) and its id; a node keeps, per key,
//! the write with the greatest stamp, persists every write it keeps (fsynced), and sends its whole
//! state to every peer every 100 ms. Nodes converge once they can talk; a node whose clock runs behind
//! loses its writes to older ones, acknowledged or not.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::Mutex;
use tracing::{error, info, warn};

use crate::command::{Command, Lookup};
use crate::config::{node_name, Config};
use crate::http::Response;
use crate::log::{Entry, Log};
use crate::peers::{root_cause, Peers};
use crate::state::Core;

/// How often a node sends its state to every peer.
const GOSSIP: Duration = Duration::from_millis(100);

pub struct Gossip {
    config: Config,
    peers: Peers,
    node: Mutex<Replica>,
}

struct Replica {
    /// Every write kept, in the order kept.
    log: Log,
    store: Store,
    /// Peers whose last gossip got no answer (logged when it changes).
    unreachable: HashSet<usize>,
}

/// A write as kept: the value and its stamp (wall-clock nanoseconds, node id). A log entry's value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stamped {
    pub value: Value,
    pub ns: u64,
    pub node: usize,
}

impl Stamped {
    fn stamp(&self) -> (u64, usize) {
        (self.ns, self.node)
    }
}

/// The keys' last writes.
#[derive(Default)]
pub struct Store {
    keys: HashMap<String, Stamped>,
}

impl Store {
    /// Rebuilds the state from a log of stamped writes.
    fn recover(log: &Log) -> Store {
        let mut store = Store::default();
        for (key, value) in log.entries().iter().flat_map(|e| &e.writes) {
            if let Ok(write) = Stamped::deserialize(value) {
                store.merge(key, write);
            }
        }
        store
    }

    /// Keeps `write` if it is newer than what the key holds; true if it was kept.
    fn merge(&mut self, key: &str, write: Stamped) -> bool {
        match self.keys.get(key) {
            Some(current) if current.stamp() >= write.stamp() => false,
            _ => {
                self.keys.insert(key.to_string(), write);
                true
            }
        }
    }
}

impl Lookup for Store {
    fn get(&self, key: &str) -> Option<&Value> {
        self.keys.get(key).map(|s| &s.value)
    }
}

/// Everything a node holds, as gossip (`POST /internal/gossip`).
#[derive(Serialize, Deserialize)]
struct Message {
    entries: Vec<GossipEntry>,
}

#[derive(Serialize, Deserialize)]
struct GossipEntry {
    key: String,
    write: Stamped,
}

fn entry(key: &str, write: &Stamped) -> Entry {
    Entry::write(0, key, json!(write))
}

fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

impl Gossip {
    pub fn open(config: Config) -> Result<Gossip, String> {
        let Core { log, .. } = Core::open(&config)?;
        let node = Replica { store: Store::recover(&log), log, unreachable: HashSet::new() };
        Ok(Gossip { peers: Peers::new(&config)?, node: Mutex::new(node), config })
    }

    /// Starts the gossip.
    pub fn start(self: &Arc<Self>) {
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(GOSSIP).await;
                this.gossip().await;
            }
        });
    }

    /// A client's command, on this node's own state.
    pub async fn perform(&self, command: &Command) -> Response {
        let mut node = self.node.lock().await;
        let Replica { log, store, .. } = &mut *node;
        let judged = command.judge(store);
        let ns = now_ns();
        // Each write stamped on its own, a nanosecond apart in the order written.
        let writes: Vec<(String, Stamped)> = judged
            .writes
            .into_iter()
            .enumerate()
            .map(|(i, (key, value))| (key, Stamped { value, ns: ns + i as u64, node: self.config.id }))
            .collect();
        if writes.is_empty() {
            return judged.answer;
        }
        let entries: Vec<Entry> = writes.iter().map(|(key, write)| entry(key, write)).collect();
        if let Err(e) = tokio::task::block_in_place(|| log.append(&entries)) {
            error!("writing the log: {e}");
            return Response::json(504, json!({"error": format!("writing the log: {e}"), "applied": null}));
        }
        // Acknowledged even if an existing write with a later stamp wins: that is the mode's bug.
        for (key, write) in writes {
            store.merge(&key, write);
        }
        judged.answer
    }

    /// Sends the whole state to every peer.
    async fn gossip(&self) {
        let body = {
            let node = self.node.lock().await;
            let entries =
                node.store.keys.iter().map(|(k, s)| GossipEntry { key: k.clone(), write: s.clone() }).collect();
            serde_json::to_string(&Message { entries }).expect("JSON values serialize")
        };
        let mut tasks = tokio::task::JoinSet::new();
        for (id, addr) in self.config.others() {
            let (http, url, body) = (self.peers.http.clone(), format!("http://{addr}/internal/gossip"), body.clone());
            tasks.spawn(async move {
                let sent = http.post(url).header("content-type", "application/json").body(body).send().await;
                (id, sent.map_err(|e| root_cause(&e)).map(|answer| answer.status().as_u16()))
            });
        }
        while let Some(done) = tasks.join_next().await {
            let Ok((id, sent)) = done else { continue };
            // Logged when a peer stops taking gossip or takes it again, not every 100 ms.
            let mut node = self.node.lock().await;
            match sent {
                Ok(200) if node.unreachable.remove(&id) => info!("{} takes gossip again", node_name(id)),
                Ok(200) => {}
                Ok(status) if node.unreachable.insert(id) => warn!("gossip to {} refused: {status}", node_name(id)),
                Err(why) if node.unreachable.insert(id) => warn!("gossip to {} failed: {why}", node_name(id)),
                _ => {}
            }
        }
    }

    /// `POST /internal/gossip`: a peer's state, merged into this one's.
    pub async fn receive(&self, body: &[u8]) -> Response {
        let Ok(Message { entries }) = serde_json::from_slice(body) else {
            return Response::json(400, json!({"error": "expected {\"entries\": [{\"key\": K, \"write\": W}]}"}));
        };
        let mut node = self.node.lock().await;
        let Replica { log, store, .. } = &mut *node;
        let mut kept = Vec::new();
        for GossipEntry { key, write } in entries {
            if store.merge(&key, write.clone()) {
                kept.push(entry(&key, &write));
            }
        }
        if let Err(e) = tokio::task::block_in_place(|| log.append(&kept)) {
            error!("writing the log: {e}");
            return Response::json(503, json!({"error": format!("writing the log: {e}")}));
        }
        Response::json(200, json!({"ok": true}))
    }
}
