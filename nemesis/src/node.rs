//! A node as every lab sees it: where it listens and reaches its peers ([`NodeAddress`]), how to run it
//! ([`NodeSpec`]), and how to tell that it serves ([`Readiness`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::probe::{http_status, tcp_ready};

/// Where a node listens, where its clients reach it, and where it must send to reach each peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeAddress {
    pub name: String,
    /// Where the node serves clients.
    pub listen: SocketAddr,
    pub client_url: String,
    /// Where the node serves its peers: `listen` itself, unless the lab was made with a separate peer
    /// port ([`crate::lab::Lab::create_with_peer_port`]).
    pub peer_listen: SocketAddr,
    /// `peers[j]`: the address this node uses for node `j`'s `peer_listen` (its own for itself); in a
    /// proxy lab, the proxy of the link.
    pub peers: Vec<SocketAddr>,
}

/// How to run one node: the program, its arguments and environment (already filled in for this node).
#[derive(Clone, Debug)]
pub struct NodeSpec {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// The node's output goes here (appended across restarts).
    pub log: PathBuf,
    /// How long the node may take to become ready.
    pub ready_timeout: Duration,
    /// What "ready" means, at start and after a restart.
    pub ready: Readiness,
}

/// How the lab tells that a node it started serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// It accepts TCP connections on its listen address.
    Listen,
    /// It accepts TCP connections on this address.
    Tcp(SocketAddr),
    /// A GET of this URL (`http://HOST:PORT/PATH`) answers with a 2xx status.
    Http(String),
}

impl Readiness {
    /// One attempt (at most `attempt` long) for a node listening on `listen`; what an HTTP probe last got
    /// goes into `last`, for the error if the node never becomes ready.
    pub(crate) async fn probe(&self, listen: SocketAddr, attempt: Duration, last: &mut String) -> bool {
        match self {
            Readiness::Listen => tcp_ready(listen, attempt).await,
            Readiness::Tcp(addr) => tcp_ready(*addr, attempt).await,
            Readiness::Http(url) => match http_status(url, attempt).await {
                Ok(status) => {
                    *last = format!("; last answer: status {status}");
                    (200..300).contains(&status)
                }
                Err(e) => {
                    *last = format!("; last attempt: {e}");
                    false
                }
            },
        }
    }
}

/// An error when something already listens where `node` is to listen (`host` qualifies its name): the
/// node could not listen there, and a readiness probe would take that server for it. A remote host is
/// a long-lived machine where a server of its own, or of a run that was never cleaned up, may hold the
/// port; a local lab's ports are fresh (its own namespaces, or picked free), so it relies on
/// `Lab::wait_ready` alone.
pub(crate) async fn taken(node: &NodeAddress, host: &str) -> Result<(), String> {
    let mut addresses = vec![node.listen];
    if node.peer_listen != node.listen {
        addresses.push(node.peer_listen);
    }
    for addr in addresses {
        if tcp_ready(addr, Duration::from_millis(300)).await {
            return Err(format!(
                "node {}{host}: something already listens on {addr}, where the node is to listen, before it \
                 started: another server holds that port (stop it, or give the cluster spec other ports)",
                node.name
            ));
        }
    }
    Ok(())
}
