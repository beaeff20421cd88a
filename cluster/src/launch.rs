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
    /// The node's own defaults ([`NodeArgs`]).
    fn default() -> NodeOptions {
        let args = NodeArgs::with_defaults(0, "", "", Path::new(""));
        NodeOptions { mode: args.mode, replication_delay: args.replication_delay, flush_interval: args.flush_interval }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_options_are_the_nodes_defaults() {
        let options = NodeOptions::default();
        assert_eq!(options.mode, Mode::Linearizable);
        assert_eq!((options.replication_delay, options.flush_interval), (Duration::ZERO, Duration::from_millis(200)));
        let args = node_args(1, "127.0.0.1:7001", "0=a:1,1=b:2", Path::new("/d/n2"), "run", &options);
        assert_eq!(args[..3], ["node", "--id", "1"]);
        assert!(args.windows(2).any(|w| w == ["--cluster-id", "run"]), "{args:?}");
    }
}
