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
//!
//! 503 `{"applied": false}`: certainly not applied. 504 `{"applied": null}`: may or may not have been.
//! 400: a malformed request, refused. `GET /health` answers 200 when the node serves. `GET /status`
//! answers who the node is and whom it takes for the primary:
//! `{"node": ID, "role": "primary" | "follower" | "candidate" | "peer", "term": N, "leader": ID | null, "mode": MODE}`
//! (`eventual` mode: `"role": "peer", "leader": null`; `sequential`: term 0 and its fixed primary).
//!
//! # Modes
//!
//! - `linearizable`: Raft ([`consensus`]): elected primary, terms and votes fsynced, a log fsynced on
//!   every node, an entry acknowledged once a majority holds it, reads confirmed by a majority
//!   (ReadIndex). Linearizable under every fault; available wherever a majority can talk, failing over
//!   within about a second when the primary dies or is cut off.
//! - `unsafe`: the same elections, but the primary acknowledges writes as soon as it has them in memory;
//!   logs are written out (never fsynced) and shipped every flush interval: a kill of the primary loses
//!   acknowledged writes. Not linearizable across crashes: a case checkers must catch.
//! - `stale-leader`: `linearizable` with the classic bug: the primary answers reads from its own state
//!   without confirming it is still the primary, so a primary cut off from the majority serves stale
//!   reads while the others elect a new one (and so does a primary paused long enough to be replaced,
//!   as it resumes). Linearizable without partitions and pauses (kills included); not under them.
//! - `nosync`: the `linearizable` protocol with its log written at once but never fsynced. A kill loses
//!   nothing (the kernel's page cache keeps what was written); a power loss (the `crash` fault) loses
//!   acknowledged writes: a case only a fault that drops unsynced data can find.
//! - `sequential` (ZooKeeper-style): a fixed primary (`--primary`, no elections) orders writes in its
//!   fsynced log and ships them to the followers asynchronously, in log order; every node serves reads
//!   from its own state, and answers a client's write only once it has applied it itself. Sequentially
//!   consistent for clients that stay on one node; not linearizable (a follower serves stale reads).
//! - `eventual`: leaderless, last writer wins by wall clock; every node serves everything from its own
//!   state and gossips it every 100 ms. Converges once the network heals; loses acknowledged writes
//!   when clocks disagree. Not sequentially consistent.

pub mod consensus;
mod eventual;
mod http;
pub mod launch;
mod log;
pub mod node;
pub mod raft;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Linearizable,
    Unsafe,
    StaleLeader,
    NoSync,
    Sequential,
    Eventual,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Linearizable => "linearizable",
            Mode::Unsafe => "unsafe",
            Mode::StaleLeader => "stale-leader",
            Mode::NoSync => "nosync",
            Mode::Sequential => "sequential",
            Mode::Eventual => "eventual",
        }
    }

    /// Whether the mode elects its primary (Raft), rather than having a fixed one or none.
    pub fn elects(self) -> bool {
        matches!(self, Mode::Linearizable | Mode::Unsafe | Mode::StaleLeader | Mode::NoSync)
    }
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Mode, String> {
        match s {
            "linearizable" => Ok(Mode::Linearizable),
            "unsafe" => Ok(Mode::Unsafe),
            "stale-leader" => Ok(Mode::StaleLeader),
            "nosync" => Ok(Mode::NoSync),
            "sequential" => Ok(Mode::Sequential),
            "eventual" => Ok(Mode::Eventual),
            _ => Err(format!(
                "unknown mode {s:?}; expected linearizable, unsafe, stale-leader, nosync, sequential or eventual"
            )),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub id: usize,
    pub listen: SocketAddr,
    /// Every node of the cluster, this one included: id and `host:port`.
    pub peers: Vec<(usize, String)>,
    pub data_dir: PathBuf,
    pub mode: Mode,
    /// `sequential` mode's primary; in the election modes, the preferred primary: it stands for
    /// election sooner than the others, so it is usually the first one elected.
    pub primary: usize,
    pub request_timeout: Duration,
    /// How often `unsafe` mode writes its log out.
    pub flush_interval: Duration,
    /// How long `sequential` mode's primary waits before each shipment to its followers.
    pub replication_delay: Duration,
    /// The cluster's name: sent with every peer request (header [`CLUSTER_HEADER`]), and a peer request
    /// that names another (or none) is refused. `None`: no check.
    pub cluster_id: Option<String>,
}

/// The header a node names its cluster in, on every request to a peer.
pub const CLUSTER_HEADER: &str = "x-faultline-cluster";

/// A node as its log names it: the name faultline's runs give it (`n1` for id 0, as in the history and
/// the run folder) and its id.
pub(crate) fn node_name(id: usize) -> String {
    format!("n{} (id {id})", id + 1)
}

/// Parses `0=127.0.0.1:7000,1=127.0.0.1:7001`.
pub fn parse_peers(s: &str) -> Result<Vec<(usize, String)>, String> {
    s.split(',')
        .map(|p| {
            let (id, addr) = p.split_once('=').ok_or_else(|| format!("expected ID=HOST:PORT, not {p:?}"))?;
            let id = id.trim().parse().map_err(|_| format!("the node id in {p:?} is not a number"))?;
            Ok((id, addr.trim().to_string()))
        })
        .collect()
}

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
        let (mode, flush_interval, replication_delay) = (config.mode, config.flush_interval, config.replication_delay);
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
        if mode == Mode::Sequential && node.is_primary() {
            let node = node.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(replication_delay.max(Duration::from_millis(2))).await;
                    node.ship().await;
                }
            });
        }
        if mode.elects() {
            tokio::spawn(node.clone().run_elections());
        }
        if mode == Mode::Eventual {
            let node = node.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    node.gossip().await;
                }
            });
        }
        if mode == Mode::Unsafe {
            let node = node.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(flush_interval).await;
                    node.flush_lazy().await;
                }
            });
        }
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
