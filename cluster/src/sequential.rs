//! `sequential` mode (ZooKeeper-style): a fixed primary (`--primary`, no elections) orders every command
//! that writes in its fsynced log, one entry each (a transaction's writes together), and ships its log
//! to the followers asynchronously, in order, every `--replication-delay`. Every node serves reads and
//! read-only transactions from its own state (a follower's is a prefix of the primary's log: serializable,
//! not strict); a follower passes the rest on to the primary, and answers a client only once it has
//! applied the primary's answer itself, so that the client's next read there does not go back in time.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::Mutex;
use tracing::{error, info, warn};

use crate::command::Command;
use crate::config::{node_name, Config};
use crate::http::{Request, Response};
use crate::log::Entry;
use crate::peers::{self, Peers};
use crate::state::{apply, Core};

pub struct Shipper {
    config: Config,
    peers: Peers,
    node: Mutex<Replica>,
}

struct Replica {
    core: Core,
    /// The primary's knowledge of each follower's log length.
    follower_len: HashMap<usize, usize>,
    /// Followers whose last shipment got no answer (logged when it changes).
    unreachable: HashSet<usize>,
}

/// The primary's entries for a follower (`POST /internal/append`): its log from `from` on.
#[derive(Serialize, Deserialize)]
struct Shipment {
    from: usize,
    entries: Vec<Entry>,
}

/// A follower's answer to a [`Shipment`]: its log's length after it (200), or where it ends, before
/// `from` (409).
#[derive(Serialize, Deserialize)]
struct Shipped {
    len: usize,
}

impl Shipper {
    pub fn open(config: Config) -> Result<Shipper, String> {
        let core = Core::open(&config)?;
        let node = Replica { core, follower_len: HashMap::new(), unreachable: HashSet::new() };
        Ok(Shipper { peers: Peers::new(&config)?, node: Mutex::new(node), config })
    }

    /// On the primary, starts the shipments.
    pub fn start(self: &Arc<Self>) {
        if !self.config.is_primary() {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(this.config.replication_delay.max(Duration::from_millis(2))).await;
                this.ship().await;
            }
        });
    }

    /// A client's command: read-only ones from this node's own state; the others ordered by the
    /// primary, to which a follower passes them on (at their own path: the primary is fixed, so a
    /// request is never passed on twice).
    pub async fn perform(&self, command: &Command, request: &Request) -> Response {
        if command.read_only() {
            return command.judge(&self.node.lock().await.core.state).answer;
        }
        if self.config.is_primary() {
            self.order(command).await
        } else {
            self.forward_and_wait(request).await
        }
    }

    /// The primary: order, log and apply at once; followers get it when it is shipped. Every answer says
    /// the log position it reflects, so that a follower relaying it first catches up to that position: a
    /// client's next read there must not see an older state than its last command did.
    async fn order(&self, command: &Command) -> Response {
        let mut node = self.node.lock().await;
        let mut judged = command.judge(&node.core.state);
        if !judged.writes.is_empty() {
            let entry = Entry { term: 0, writes: judged.writes };
            if let Err(e) = tokio::task::block_in_place(|| node.core.log.append(std::slice::from_ref(&entry))) {
                error!("writing the log: {e}");
                return Response::json(504, json!({"error": format!("writing the log: {e}"), "applied": null}));
            }
            apply(&mut node.core.state, std::slice::from_ref(&entry));
        }
        judged.answer.body["index"] = json!(node.core.log.len());
        judged.answer
    }

    /// A follower: the primary orders the command (or judges it); this node answers once its own state
    /// has caught up to the log position the answer reflects.
    async fn forward_and_wait(&self, request: &Request) -> Response {
        let answer = self.peers.forward_to(self.config.primary, &request.path, request).await;
        let Some(index) = answer.body.get("index").and_then(serde_json::Value::as_u64) else { return answer };
        let deadline = tokio::time::Instant::now() + 2 * self.config.request_timeout;
        while tokio::time::Instant::now() < deadline {
            if self.node.lock().await.core.log.len() as u64 >= index {
                return answer;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Response::json(504, json!({"error": "answered by the primary but not yet caught up here", "applied": null}))
    }

    /// The primary shipping new entries to every follower, without holding up clients.
    async fn ship(&self) {
        let mut tasks = tokio::task::JoinSet::new();
        {
            let node = self.node.lock().await;
            let upto = node.core.log.len();
            for (id, addr) in self.config.others() {
                let from = node.follower_len.get(&id).copied().unwrap_or(0).min(upto);
                if from == upto && node.follower_len.contains_key(&id) {
                    continue;
                }
                let shipment = Shipment { from, entries: node.core.log.entries()[from..upto].to_vec() };
                let (url, http) = (format!("http://{addr}/internal/append"), self.peers.http.clone());
                tasks.spawn(async move { (id, send(&http, &url, &shipment).await) });
            }
        }
        while let Some(done) = tasks.join_next().await {
            if let Ok((id, sent)) = done {
                let mut node = self.node.lock().await;
                note_follower(&mut node, id, &sent);
                if let Sent::Has(len) | Sent::Behind(len) = sent {
                    node.follower_len.insert(id, len);
                }
            }
        }
    }

    /// `POST /internal/append`: a follower appending what the primary shipped.
    pub async fn receive(&self, body: &[u8]) -> Response {
        let Shipment { from, entries } = match serde_json::from_slice(body) {
            Ok(shipment) => shipment,
            Err(e) => {
                let expected = "expected {\"from\": N, \"entries\": [{\"term\": 0, \"writes\": [[K, V], ...]}]}";
                return Response::json(400, json!({ "error": format!("{expected}: {e}") }));
            }
        };
        let mut node = self.node.lock().await;
        if from > node.core.log.len() {
            let len = node.core.log.len();
            info!("the primary sent entries from {from}, but this log ends at {len}: asked for the rest");
            return Response::json(409, json!(Shipped { len }));
        }
        // The primary's log is the truth. Entries this node already has are kept; from the first that
        // differs, this log is replaced by what it sent. A shipment that this log already holds all of
        // changes nothing, even when this log is longer: the primary's log only grows, so that is a
        // late one (sent before a partition, delivered after newer ones), and cutting the log back to
        // where it ended would take this node back in time, its readers with it.
        let have = node.core.log.len();
        let end = from + entries.len();
        let same = (from..have.min(end)).take_while(|&i| node.core.log.entries()[i] == entries[i - from]).count();
        if same == entries.len() && end <= have {
            return Response::json(200, json!(Shipped { len: have }));
        }
        let result = tokio::task::block_in_place(|| {
            node.core.log.truncate(from + same)?;
            node.core.log.append(&entries[same..])
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
                node.core.log.len()
            );
            node.core.reapply();
        } else {
            let Core { log, state } = &mut node.core;
            apply(state, &log.entries()[from + same..]);
        }
        Response::json(200, json!(Shipped { len: node.core.log.len() }))
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
fn note_follower(node: &mut Replica, id: usize, sent: &Sent) {
    match sent {
        Sent::NoAnswer(why) if node.unreachable.insert(id) => warn!("replication to {} failed: {why}", node_name(id)),
        Sent::Has(len) | Sent::Behind(len) if node.unreachable.remove(&id) => {
            info!("{} answers replication again; its log has {len} entries", node_name(id))
        }
        _ => {}
    }
}

/// Sends a follower a shipment.
async fn send(http: &reqwest::Client, url: &str, shipment: &Shipment) -> Sent {
    let body = serde_json::to_string(shipment).expect("entries of JSON values serialize");
    match peers::post::<Shipped>(http, url, body).await {
        Ok((200, Shipped { len })) => Sent::Has(len),
        Ok((409, Shipped { len })) if len < shipment.from => Sent::Behind(len),
        Ok((status, _)) => Sent::NoAnswer(format!("answer {status} without a usable log length")),
        Err(why) => Sent::NoAnswer(why),
    }
}
