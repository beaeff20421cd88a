//! How a reference node is started: the settings a test may change, and the `faultline node` arguments
//! for them. (The labs of `faultline-nemesis` start the nodes, pick their ports and stop them.)

use std::path::Path;
use std::time::Duration;

use crate::Mode;

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
    let mode = options.mode.as_str();
    [
        "node",
        "--id",
        &id.to_string(),
        "--listen",
        listen,
        "--peers",
        peers,
        "--mode",
        mode,
        "--data-dir",
        &data_dir.display().to_string(),
        "--replication-delay",
        &format!("{}ms", options.replication_delay.as_millis()),
        "--flush-interval",
        &format!("{}ms", options.flush_interval.as_millis()),
        "--cluster-id",
        cluster,
    ]
    .map(String::from)
    .to_vec()
}
