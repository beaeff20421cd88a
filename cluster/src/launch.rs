//! Starting a reference cluster on this machine: one child process per node, on free loopback ports,
//! each with its data directory and its log file under one folder. The nodes are killed when the
//! [`LocalCluster`] is dropped, so every way out of a run (normal end, error, Ctrl-C) stops them.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Mode;

pub struct LocalCluster {
    children: Vec<Child>,
    /// Each node's client URL, e.g. `http://127.0.0.1:41234`.
    pub urls: Vec<String>,
}

impl LocalCluster {
    /// Starts `nodes` nodes of `binary` (the `faultline` executable) in `mode`; data under `dir/data/nI`,
    /// logs in `dir/nodes/nI.log`. Waits until every node serves.
    pub fn start(binary: &Path, nodes: usize, mode: Mode, dir: &Path) -> Result<LocalCluster, String> {
        let addrs: Vec<String> = (0..nodes)
            .map(|_| {
                let port =
                    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
                Ok(format!("127.0.0.1:{port}"))
            })
            .collect::<Result<_, String>>()?;
        let peers: Vec<String> = addrs.iter().enumerate().map(|(i, a)| format!("{i}={a}")).collect();
        std::fs::create_dir_all(dir.join("nodes")).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut cluster =
            LocalCluster { children: Vec::new(), urls: addrs.iter().map(|a| format!("http://{a}")).collect() };
        for (i, addr) in addrs.iter().enumerate() {
            let log_path: PathBuf = dir.join("nodes").join(format!("n{}.log", i + 1));
            let log = std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
            let options = NodeOptions { mode, ..NodeOptions::default() };
            let child = Command::new(binary)
                .args(node_args(i, addr, &peers.join(","), &dir.join("data").join(format!("n{}", i + 1)), &options))
                .stdout(Stdio::piped())
                .stderr(log)
                .spawn()
                .map_err(|e| format!("cannot start node n{} from {}: {e}", i + 1, binary.display()))?;
            cluster.children.push(child);
        }
        // Every node prints `ready ADDR` once it serves.
        let deadline = Instant::now() + Duration::from_secs(10);
        for (i, child) in cluster.children.iter_mut().enumerate() {
            let mut line = String::new();
            let stdout = child.stdout.take().ok_or("node without stdout")?;
            let read = BufReader::new(stdout).read_line(&mut line);
            if read.is_err() || !line.starts_with("ready ") || Instant::now() > deadline {
                let log = dir.join("nodes").join(format!("n{}.log", i + 1));
                return Err(format!("node n{} did not start; see {}", i + 1, log.display()));
            }
        }
        Ok(cluster)
    }
}

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
/// this node reaches that peer.
pub fn node_args(id: usize, listen: &str, peers: &str, data_dir: &Path, options: &NodeOptions) -> Vec<String> {
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
    ]
    .map(String::from)
    .to_vec()
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
        }
        for child in &mut self.children {
            let _ = child.wait();
        }
    }
}
