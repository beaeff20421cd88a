//! What a node is told when it starts: its mode, its place in the cluster and its timings, and the
//! names it gives nodes in its log.

use std::net::SocketAddr;
use std::path::PathBuf;
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

impl Config {
    /// Every node but this one: id and address.
    pub fn others(&self) -> impl Iterator<Item = (usize, &String)> + '_ {
        self.peers.iter().filter(|(id, _)| *id != self.id).map(|(id, addr)| (*id, addr))
    }

    /// Whether this node is the configured primary (`sequential` mode's fixed one).
    pub fn is_primary(&self) -> bool {
        self.id == self.primary
    }
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
