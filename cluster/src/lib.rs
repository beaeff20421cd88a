//! faultline's reference key-value cluster: the embedded default target, and the test bed for every
//! checker. Each node is a process (`faultline node ...`), persists to its own data directory, and can be
//! killed and restarted; peers are addressed one by one, so faults can be put between any two nodes.
//!
//! # The native protocol
//!
//! | operation | request | answers |
//! |---|---|---|
//! | read | `GET /kv/{key}` | 200 `{"value": V}`; 404 `{"error": "not found"}` |
//! | write | `PUT /kv/{key}` `{"value": V}` | 200 `{"ok": true}` |
//! | compare-and-set | `POST /kv/{key}/cas` `{"from": A, "to": B}` (a missing key compares as null) | 200 `{"ok": true}`; 412 `{"error": "mismatch", "value": CURRENT}` |
//! | transaction | `POST /txn` `{"txn": [["append", K, V], ["r", K, null], ["w", K, V]]}` | 200 `{"txn": [...]}`, the same micro-ops with each read filled in; 409 `{"error": ..., "applied": false}` for an append to a key that holds no list |
//!
//! A transaction's micro-ops take effect together, in order, each read seeing the writes before it
//! ([`command`] says how a command is judged). 503 `{"applied": false}`: certainly not applied. 504
//! `{"applied": null}`: may or may not have been. 400: a malformed request, refused. `GET /health` answers 200 when the node serves. `GET /status`
//! answers who the node is and whom it takes for the primary:
//! `{"node": ID, "role": "primary" | "follower" | "candidate" | "peer", "term": N, "leader": ID | null, "mode": MODE}`
//! (`eventual` mode: `"role": "peer", "leader": null`; `sequential`: term 0 and its fixed primary).
//!
//! # Modes
//!
//! A node is a thin HTTP front ([`node`]) holding one component for its mode, which owns that mode's
//! state: [`consensus`] (Raft: the four election modes), [`sequential`], [`eventual`]. Each mode's
//! guarantee for transactions follows.
//!
//! - `linearizable`: Raft ([`consensus`]): elected primary, terms and votes fsynced, a log fsynced on
//!   every node, an entry (a whole transaction) acknowledged once a majority holds it, reads and
//!   read-only transactions confirmed by a majority (ReadIndex). Linearizable, its transactions strict
//!   serializable, under every fault; available wherever a majority can talk, failing over within about
//!   a second when the primary dies or is cut off.
//! - `unsafe`: the same elections, but the primary acknowledges writes as soon as it has them in memory;
//!   logs are written out (never fsynced) and shipped every flush interval: a kill of the primary loses
//!   acknowledged writes and transactions. Not linearizable across crashes: a case checkers must catch.
//! - `stale-leader`: `linearizable` with the classic bug: the primary answers reads and read-only
//!   transactions from its own state without confirming it is still the primary, so a primary cut off from the majority serves stale
//!   reads while the others elect a new one (and so does a primary paused long enough to be replaced,
//!   as it resumes). Linearizable without partitions and pauses (kills included); not under them.
//! - `nosync`: the `linearizable` protocol with its log written at once but never fsynced. A kill loses
//!   nothing (the kernel's page cache keeps what was written); a power loss (the `crash` fault) loses
//!   acknowledged writes: a case only a fault that drops unsynced data can find.
//! - `sequential` (ZooKeeper-style): a fixed primary (`--primary`, no elections) orders writes and
//!   transactions in its fsynced log and ships them to the followers asynchronously, in log order; every
//!   node serves reads and read-only transactions from its own state (a prefix of the primary's log), and
//!   answers a client's write only once it has applied it itself. Sequentially consistent for clients
//!   that stay on one node, its transactions serializable but not strict; not linearizable (a follower
//!   serves stale reads).
//! - `eventual`: leaderless, last writer wins by wall clock, each write of a transaction on its own;
//!   every node serves everything from its own state and gossips it every 100 ms. Converges once the
//!   network heals; loses acknowledged writes when clocks disagree or two nodes write a key at once (a
//!   lost update). Not sequentially consistent.

mod args;
mod command;
mod config;
mod consensus;
mod eventual;
mod http;
pub mod launch;
mod log;
mod node;
mod peers;
mod raft;
mod sequential;
mod state;

use std::sync::Arc;

pub use args::NodeArgs;
use config::node_name;
pub use config::{parse_peers, Config, Mode, CLUSTER_HEADER};

/// Runs a node until the process is killed. Prints `ready ADDR` on stdout once it serves; logs what
/// happens to it (start, the log it recovered, lost and regained peers, refusals) on stderr, one
/// timestamped line each.
pub fn run(config: Config) -> Result<(), String> {
    // UTC timestamps to the microsecond, no colours: the launcher sends stderr to a file.
    let _ = tracing_subscriber::fmt().with_writer(std::io::stderr).with_target(false).try_init();
    if !config.peers.iter().any(|(id, _)| *id == config.id) {
        return Err(format!("node {} is not among the peers", config.id));
    }
    if !config.peers.iter().any(|(id, _)| *id == config.primary) {
        return Err(format!("the primary {} is not among the peers", config.primary));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
        let mode = config.mode;
        tracing::info!(
            "{} starting: {} mode, {}primary {}, peers {}, data in {}",
            node_name(config.id),
            mode.as_str(),
            if mode.elects() { "preferred " } else { "" },
            node_name(config.primary),
            config.peers.iter().map(|(id, addr)| format!("{id}={addr}")).collect::<Vec<_>>().join(","),
            config.data_dir.display()
        );
        let node = Arc::new(node::Node::open(config)?);
        node.start();
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        tracing::info!("ready: serving clients and peers on {addr}");
        println!("ready {addr}");
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let handler = move |request| node.clone().handle(request);
        http::serve(listener, Arc::new(handler)).await;
        Ok(())
    })
}
