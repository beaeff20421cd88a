//! How a reference node is started: the settings a test may change, and the `faultline node` arguments
//! for them. (The labs of `faultline-nemesis` start the nodes, pick their ports and stop them.)

use std::path::Path;
use std::time::Duration;

use crate::args::NodeArgs;
use crate::config::Mode;

/// The settings of a reference node that a test may change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeOptions {
    pub mode: Mode,
    /// How long sequential mode's primary waits before each shipment to its followers.
    pub replication_delay: Duration,
    /// How often unsafe mode writes its log out.
    pub flush_interval: Duration,
}

impl Default for NodeOptions {
    fn default() -> NodeOptions {
        NodeOptions {
            mode: Mode::Linearizable,
            replication_delay: Duration::ZERO,
            flush_interval: Duration::from_millis(200),
        }
    }
}

/// The arguments of `faultline node` for node `id`: `peers` is `0=ADDR,1=ADDR,...`, each address where
/// this node reaches that peer; `cluster` names the cluster (`--cluster-id`).
pub fn node_args(
    id: usize,
    listen: &str,
    peers: &str,
    data_dir: &Path,
    cluster: &str,
    options: &NodeOptions,
) -> Vec<String> {
    let args = NodeArgs {
        mode: options.mode,
        flush_interval: options.flush_interval,
        replication_delay: options.replication_delay,
        cluster_id: Some(cluster.to_string()),
        ..NodeArgs::with_defaults(id, listen, peers, data_dir)
    };
    std::iter::once("node".to_string()).chain(args.to_args()).collect()
}
