//! The node's command line, defined once: `faultline node` parses it (the binary flattens [`NodeArgs`]
//! into its subcommand), the launcher writes it ([`NodeArgs::to_args`]), and a test checks
//! `clusters/reference.toml`'s command against it. A flag renamed here is renamed everywhere.

use std::time::Duration;

use crate::config::{parse_peers, Config, Mode};

/// `faultline node`'s flags.
#[derive(clap::Args, Clone, Debug, PartialEq, Eq)]
pub struct NodeArgs {
    /// This node's id: its index in --peers.
    #[arg(long)]
    pub id: usize,
    /// Address to serve clients and peers on, e.g. 127.0.0.1:7000.
    #[arg(long)]
    pub listen: String,
    /// Every node, this one included: 0=127.0.0.1:7000,1=127.0.0.1:7001,...
    #[arg(long)]
    pub peers: String,
    /// Where the node keeps its log (restored after a restart).
    #[arg(long)]
    pub data_dir: std::path::PathBuf,
    /// linearizable, unsafe, stale-leader, nosync, sequential or eventual.
    #[arg(long, default_value = "linearizable")]
    pub mode: Mode,
    /// The primary's id in sequential mode; in the election modes, the preferred primary, which stands
    /// for election first (default: the lowest).
    #[arg(long)]
    pub primary: Option<usize>,
    /// How long the node waits for a peer's answer before giving up on it.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub request_timeout: Duration,
    /// How often unsafe mode writes its log out.
    #[arg(long, default_value = "200ms", value_parser = humantime::parse_duration)]
    pub flush_interval: Duration,
    /// How long sequential mode's primary waits before each shipment to its followers.
    #[arg(long, default_value = "0ms", value_parser = humantime::parse_duration)]
    pub replication_delay: Duration,
    /// A name for this node's cluster, sent with every request to a peer: a peer request naming another
    /// cluster (or none) is refused, so a node of another cluster that reaches this one's address (a port
    /// reused on a busy machine) cannot vote or replicate here.
    #[arg(long)]
    pub cluster_id: Option<String>,
}

/// `faultline node` as a command of its own, for [`NodeArgs::with_defaults`] and the tests.
#[derive(clap::Parser)]
struct NodeCommand {
    #[command(flatten)]
    args: NodeArgs,
}

impl NodeArgs {
    /// The flags a node takes given only the required ones: every other one its default, as written
    /// above and nowhere else.
    pub fn with_defaults(id: usize, listen: &str, peers: &str, data_dir: &std::path::Path) -> NodeArgs {
        use clap::Parser;
        // Only the defaults come from parsing: the required flags get stand-ins, replaced below, so
        // that no value given here can make parsing fail.
        let stand_ins = ["node", "--id", "0", "--listen", "x", "--peers", "x", "--data-dir", "x"];
        let defaults = NodeCommand::try_parse_from(stand_ins).expect("the defaults parse (tested below)").args;
        NodeArgs {
            id,
            listen: listen.to_string(),
            peers: peers.to_string(),
            data_dir: data_dir.to_path_buf(),
            ..defaults
        }
    }

    /// The flags as `faultline node` takes them (without the subcommand's name).
    pub fn to_args(&self) -> Vec<String> {
        let ms = |d: Duration| format!("{}ms", d.as_millis());
        let mut args = vec![
            "--id".to_string(),
            self.id.to_string(),
            "--listen".into(),
            self.listen.clone(),
            "--peers".into(),
            self.peers.clone(),
            "--data-dir".into(),
            self.data_dir.display().to_string(),
            "--mode".into(),
            self.mode.as_str().into(),
            "--request-timeout".into(),
            ms(self.request_timeout),
            "--flush-interval".into(),
            ms(self.flush_interval),
            "--replication-delay".into(),
            ms(self.replication_delay),
        ];
        if let Some(primary) = self.primary {
            args.extend(["--primary".to_string(), primary.to_string()]);
        }
        if let Some(cluster) = &self.cluster_id {
            args.extend(["--cluster-id".to_string(), cluster.clone()]);
        }
        args
    }

    /// The node's settings, once the listening address and the peers are understood; the error names the
    /// flag and what was expected.
    pub fn config(self) -> Result<Config, String> {
        let listen = self
            .listen
            .parse()
            .map_err(|_| format!("--listen {:?}: expected an address such as 127.0.0.1:7000", self.listen))?;
        let peers = parse_peers(&self.peers).map_err(|e| format!("--peers: {e}"))?;
        let primary = self.primary.unwrap_or_else(|| peers.iter().map(|(id, _)| *id).min().unwrap_or(0));
        Ok(Config {
            id: self.id,
            listen,
            peers,
            data_dir: self.data_dir,
            mode: self.mode,
            primary,
            request_timeout: self.request_timeout,
            flush_interval: self.flush_interval,
            replication_delay: self.replication_delay,
            cluster_id: self.cluster_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn parse(args: &[String]) -> Result<NodeArgs, clap::Error> {
        NodeCommand::try_parse_from(std::iter::once("node".to_string()).chain(args.iter().cloned())).map(|n| n.args)
    }

    #[test]
    fn the_launchers_arguments_parse_back_to_the_same_flags() {
        let mut args = NodeArgs {
            id: 2,
            listen: "127.0.0.1:7002".into(),
            peers: "0=127.0.0.1:7000,1=127.0.0.1:7001,2=127.0.0.1:7002".into(),
            data_dir: "/tmp/run/data/n3".into(),
            mode: Mode::Sequential,
            primary: None,
            request_timeout: Duration::from_millis(300),
            flush_interval: Duration::from_secs(5),
            replication_delay: Duration::from_millis(20),
            cluster_id: Some("run-1".into()),
        };
        assert_eq!(parse(&args.to_args()).unwrap(), args);
        (args.primary, args.cluster_id) = (Some(1), None);
        assert_eq!(parse(&args.to_args()).unwrap(), args);
        let config = args.config().unwrap();
        assert_eq!((config.primary, config.peers.len(), config.listen.port()), (1, 3, 7002));
    }

    #[test]
    fn bad_addresses_and_peers_are_refused_naming_the_flag() {
        let base = |listen: &str, peers: &str| {
            let args = ["--id", "0", "--listen", listen, "--peers", peers, "--data-dir", "/tmp/x"];
            parse(&args.map(String::from)).unwrap().config()
        };
        assert!(base("localhost", "0=a:1").unwrap_err().starts_with("--listen \"localhost\": expected an address"));
        assert!(base("127.0.0.1:1", "0:a:1").unwrap_err().starts_with("--peers: expected ID=HOST:PORT"));
        assert_eq!(base("127.0.0.1:1", "3=a:1,1=b:2").unwrap().primary, 1, "the lowest id by default");
        let bad = ["--id", "0", "--listen", "x", "--peers", "y", "--data-dir", "z", "--request-timeout", "soon"];
        assert!(parse(&bad.map(String::from)).unwrap_err().to_string().contains("--request-timeout"));
    }

    /// `clusters/reference.toml` starts the same nodes: its command, placeholders filled, is flags this
    /// struct takes.
    #[test]
    fn the_reference_specs_command_uses_these_flags() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../clusters/reference.toml");
        let spec: toml::Table = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let command: Vec<String> = spec["command"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .map(|a| match a {
                "{index}" => "1".to_string(),
                "{listen}" => "127.0.0.1:7001".into(),
                "{indexed_peers}" => "0=127.0.0.1:7000,1=127.0.0.1:7001".into(),
                other => other.replace(['{', '}'], ""),
            })
            .collect();
        assert_eq!(command[..2], ["faultline", "node"]);
        let args = parse(&command[2..]).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!((args.id, args.mode, args.cluster_id.as_deref()), (1, Mode::Linearizable, Some("cluster")));
        args.config().unwrap();
    }

    #[test]
    fn the_defaults_are_the_flags_defaults() {
        let args = NodeArgs::with_defaults(0, "127.0.0.1:1", "0=127.0.0.1:1", std::path::Path::new("/tmp/d"));
        assert_eq!((args.mode, args.primary, args.cluster_id), (Mode::Linearizable, None, None));
        let timings = (args.request_timeout, args.flush_interval, args.replication_delay);
        assert_eq!(timings, (Duration::from_secs(1), Duration::from_millis(200), Duration::ZERO));
    }
}
