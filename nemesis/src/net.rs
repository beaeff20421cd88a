//! How a lab's nodes are networked, and the network faults in force: the words the local and the remote
//! lab share for their networks, so that both take and heal a fault alike.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::fault::{Fault, Grudge};
use crate::node::NodeAddress;

/// How a lab's nodes are networked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Network {
    /// One network namespace per node, nftables for cuts and loss, netem for delay (root only).
    Namespaces,
    /// Loopback, with node-to-node traffic through faultline's proxies (any user).
    Proxies,
    /// Loopback, nothing in between: process and clock faults only.
    Loopback,
    /// One node per remote host, over SSH ([`crate::remote`]): nftables on the hosts, signals, clocks.
    Remote,
}

impl std::str::FromStr for Network {
    type Err = String;
    fn from_str(s: &str) -> Result<Network, String> {
        match s {
            "netns" => Ok(Network::Namespaces),
            "proxy" => Ok(Network::Proxies),
            "none" => Ok(Network::Loopback),
            _ => Err(format!("unknown lab network {s:?}; expected netns, proxy or none")),
        }
    }
}

impl Network {
    pub fn as_str(self) -> &'static str {
        match self {
            Network::Namespaces => "netns",
            Network::Proxies => "proxy",
            Network::Loopback => "none",
            Network::Remote => "remote",
        }
    }

    /// Namespaces where the machine allows them, proxies otherwise; with the reason, for the user.
    pub fn best_available() -> (Network, String) {
        match crate::netns::unavailable() {
            None => (Network::Namespaces, "root, with ip and nft".to_string()),
            Some(why) => (Network::Proxies, format!("{why}, so the proxy lab runs instead")),
        }
    }
}

/// The network faults in force, by node index, that a lab puts into its network (namespaces' nftables,
/// the proxies, or the remote hosts' tables): one state for the local and the remote lab, so that both
/// take and heal a fault alike.
#[derive(Default)]
pub(crate) struct NetworkFaults {
    /// Victim -> the nodes it no longer hears.
    pub(crate) grudge: BTreeMap<usize, BTreeSet<usize>>,
    pub(crate) clients_cut: BTreeSet<usize>,
    pub(crate) loss: (BTreeSet<usize>, u32),
    pub(crate) delay: (BTreeSet<usize>, Duration, Duration),
}

impl NetworkFaults {
    /// Forgets `fault` if it is a network fault (partition, clients cut off, loss, delay).
    pub(crate) fn heal(&mut self, fault: &Fault) {
        match fault {
            Fault::Partition { .. } => self.grudge.clear(),
            Fault::IsolateClients { .. } => self.clients_cut.clear(),
            Fault::Loss { .. } => self.loss = Default::default(),
            Fault::Delay { .. } => self.delay = Default::default(),
            _ => {}
        }
    }
}

/// The index of the node called `name` among `nodes`.
pub(crate) fn node_index(nodes: &[NodeAddress], name: &str) -> Result<usize, String> {
    nodes.iter().position(|n| n.name == name).ok_or_else(|| format!("no node {name:?} in this lab"))
}

/// The indexes of the nodes called `names` among `nodes`.
pub(crate) fn node_indexes(nodes: &[NodeAddress], names: &[String]) -> Result<BTreeSet<usize>, String> {
    names.iter().map(|n| node_index(nodes, n)).collect()
}

/// A grudge by node name as one by node index.
pub(crate) fn grudge_indexes(
    nodes: &[NodeAddress],
    grudge: &Grudge,
) -> Result<BTreeMap<usize, BTreeSet<usize>>, String> {
    grudge
        .iter()
        .map(|(victim, sources)| {
            Ok((node_index(nodes, victim)?, node_indexes(nodes, &sources.iter().cloned().collect::<Vec<_>>())?))
        })
        .collect()
}
