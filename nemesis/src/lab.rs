//! The lab: the nodes of a cluster faultline starts itself, their network, and every fault applied to
//! them. A lab owns its node processes (so it can kill, restart, pause and skew them) and the network
//! they talk over: network namespaces with nftables when root ([`crate::netns`]), or userspace proxies on
//! loopback otherwise ([`crate::proxy`]). Dropping the lab stops every node and removes every namespace,
//! link and proxy it made; [`clean`] removes what a killed run left behind.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::LocalBoxFuture;
use serde_json::{json, Value};

use crate::clean::LAB_ENV;
use crate::clock;
use crate::fault::{ClockSkew, Fault, FaultKind};
use crate::lazyfs::LazyMount;
use crate::net::{grudge_indexes, node_indexes, Network, NetworkFaults};
use crate::netns::NetnsNetwork;
use crate::node::{NodeAddress, NodeSpec, Readiness};
use crate::probe::{log_tail, process_state};
use crate::proxy::{Links, PathState, Proxies};
use crate::target::{FaultTarget, NodeLab};

// Where these lived before they had modules of their own.
pub use crate::clean::clean;
pub use crate::probe::{free_loopback_port, http_round_trip, http_status, process_alive};

const NO_NETEM: &str = "delay in a namespaced lab needs tc netem, and this kernel has no sch_netem (nor nft \
                        queue for a userspace delayer): use --lab proxy for delay";

/// Why a lab on `network` would refuse `kind` of fault for nodes running `program`, if it would: the
/// capability table of the README, known before any run folder, lab or node exists. [`Lab::refuses`] says
/// the same of a lab that exists; both read the one table, [`refusal`].
pub fn refuses(network: Network, kind: FaultKind, program: &Path) -> Option<String> {
    refusal(
        kind,
        network,
        crate::netns::netem_available,
        || clock::library().is_some(),
        || clock::unsupported(program),
        crate::lazyfs::unavailable,
    )
}

/// The local lab's table of the faults it can take, written once. What it asks of the machine, the
/// program and the lab comes as closures, asked only for the fault that needs the answer (some are
/// slow: whether libfaketime can reach a program reads the whole program).
fn refusal(
    kind: FaultKind,
    network: Network,
    netem: impl FnOnce() -> bool,
    faketime: impl FnOnce() -> bool,
    program_clock: impl FnOnce() -> Option<String>,
    crash: impl FnOnce() -> Option<String>,
) -> Option<String> {
    match (kind, network) {
        (FaultKind::Partition | FaultKind::Loss | FaultKind::Delay, Network::Loopback) => {
            Some(format!("the {kind} fault needs a lab network (--lab netns or --lab proxy)"))
        }
        (FaultKind::Delay, Network::Namespaces) if !netem() => Some(NO_NETEM.into()),
        // The hosts decide, once faultline has reached them: crate::remote::refuses.
        (_, Network::Remote) => None,
        (FaultKind::Clock, _) if !faketime() => Some("clock faults need libfaketime (Debian: faketime)".into()),
        (FaultKind::Clock, _) => program_clock(),
        (FaultKind::Crash, _) => crash(),
        _ => None,
    }
}

struct NodeProcess {
    spec: NodeSpec,
    child: Option<Child>,
    /// Why libfaketime cannot move this node's clock, if it cannot: decided once at start, because it
    /// reads the whole program (tens of MB), which must not delay a clock fault or a restart.
    clock_refusal: Option<String>,
}

pub struct Lab {
    pub network: Network,
    pub nodes: Vec<NodeAddress>,
    tag: String,
    netns: Option<Arc<NetnsNetwork>>,
    proxies: Option<Proxies>,
    processes: Vec<NodeProcess>,
    /// libfaketime and one control file per node, when the library is installed.
    clock: Option<(PathBuf, Vec<PathBuf>)>,
    strobes: BTreeMap<usize, tokio::task::JoinHandle<()>>,
    /// The network faults in force, combined into the proxies' state.
    net: NetworkFaults,
    /// The lazy filesystem over each node's data directory, by node, when the run may crash nodes. Fields
    /// drop after [`Lab::drop`] has killed the nodes, so nothing uses a mount when it is unmounted.
    lazy: BTreeMap<usize, LazyMount>,
}

impl Lab {
    /// Builds the network for `count` nodes named n1, n2, ...; with namespaces every node listens on
    /// `port` at its own address, on loopback every node gets a free port. Control files for clocks go
    /// under `dir/clock`.
    pub async fn create(network: Network, count: usize, port: u16, dir: &Path) -> Result<Lab, String> {
        Lab::create_with_peer_port(network, count, port, None, dir).await
    }

    /// As [`Lab::create`], for nodes that serve their peers on a port of their own (`peer_port` with
    /// namespaces; another free port on loopback). Peer traffic is what the proxies carry.
    pub async fn create_with_peer_port(
        network: Network,
        count: usize,
        port: u16,
        peer_port: Option<u16>,
        dir: &Path,
    ) -> Result<Lab, String> {
        let names: Vec<String> = (1..=count).map(|i| format!("n{i}")).collect();
        let (netns, proxies, nodes) = match network {
            Network::Namespaces => {
                let net = tokio::task::spawn_blocking(move || NetnsNetwork::create(count))
                    .await
                    .map_err(|e| e.to_string())??;
                let at = |p: u16| (0..count).map(|i| SocketAddr::from((net.node_ip(i), p))).collect::<Vec<_>>();
                let (listen, peer_listen) = (at(port), peer_port.map(at));
                let peer_listen = peer_listen.unwrap_or_else(|| listen.clone());
                let nodes = addresses(&names, &listen, &peer_listen, |_, j| peer_listen[j]);
                (Some(Arc::new(net)), None, nodes)
            }
            Network::Remote => return Err("a remote lab is made from its hosts: RemoteLab::create".into()),
            Network::Proxies | Network::Loopback => {
                let free = || -> Result<Vec<SocketAddr>, String> {
                    (0..count)
                        .map(|_| free_loopback_port().map(|p| SocketAddr::from((Ipv4Addr::LOCALHOST, p))))
                        .collect()
                };
                let listen = free()?;
                let peer_listen = if peer_port.is_some() { free()? } else { listen.clone() };
                if network == Network::Proxies {
                    let proxies = Proxies::start(&peer_listen)
                        .await
                        .map_err(|e| format!("cannot start the link proxies: {e}"))?;
                    let nodes = addresses(&names, &listen, &peer_listen, |i, j| {
                        if i == j {
                            peer_listen[i]
                        } else {
                            proxies.addresses[&(i, j)]
                        }
                    });
                    (None, Some(proxies), nodes)
                } else {
                    (None, None, addresses(&names, &listen, &peer_listen, |_, j| peer_listen[j]))
                }
            }
        };
        let clock = match clock::library() {
            Some(library) => {
                let clock_dir = dir.join("clock");
                std::fs::create_dir_all(&clock_dir).map_err(|e| format!("{}: {e}", clock_dir.display()))?;
                let files: Vec<PathBuf> = names.iter().map(|n| clock_dir.join(n)).collect();
                for f in &files {
                    clock::set_offset(f, 0).map_err(|e| format!("{}: {e}", f.display()))?;
                }
                Some((library, files))
            }
            None => None,
        };
        let tag = format!("{}-{}", std::process::id(), netns.as_ref().map_or(0, |n| n.lab));
        Ok(Lab {
            network,
            nodes,
            tag,
            netns,
            proxies,
            processes: Vec::new(),
            clock,
            strobes: BTreeMap::new(),
            net: NetworkFaults::default(),
            lazy: BTreeMap::new(),
        })
    }

    /// Mounts the lazy filesystem over each node's data directory (one per node, in order, before
    /// [`Lab::start`]), so that `crash` can drop what a node had not synced. The mounts go when the lab does.
    pub fn mount_lazy(&mut self, data_dirs: &[PathBuf]) -> Result<(), String> {
        assert_eq!(data_dirs.len(), self.nodes.len(), "one data directory per node");
        for (i, dir) in data_dirs.iter().enumerate() {
            let mount = LazyMount::mount(dir).map_err(|e| format!("node {}: {e}", self.nodes[i].name))?;
            self.lazy.insert(i, mount);
        }
        Ok(())
    }

    /// Why this lab cannot apply `kind` of fault, if it cannot (the capability table of the README).
    pub fn refuses(&self, kind: FaultKind) -> Option<String> {
        refusal(
            kind,
            self.network,
            || self.netns.as_ref().is_some_and(|n| n.netem),
            || self.clock.is_some(),
            || self.processes.iter().find_map(|p| p.clock_refusal.clone()),
            || {
                (self.lazy.len() < self.nodes.len()).then(|| {
                    "crash faults need the lazy filesystem over every data directory (Lab::mount_lazy)".to_string()
                })
            },
        )
    }

    /// Starts every node (one spec per node, in order), then waits until each is ready. Async, so that the
    /// proxies (tasks of the same runtime) carry peer traffic while the nodes find each other.
    pub async fn start(&mut self, specs: Vec<NodeSpec>) -> Result<(), String> {
        assert_eq!(specs.len(), self.nodes.len(), "one spec per node");
        let mut refusals: BTreeMap<PathBuf, Option<String>> = BTreeMap::new();
        for spec in specs {
            let clock_refusal =
                refusals.entry(spec.program.clone()).or_insert_with(|| clock::unsupported(&spec.program)).clone();
            self.processes.push(NodeProcess { spec, child: None, clock_refusal });
        }
        for i in 0..self.nodes.len() {
            self.spawn(i)?;
        }
        for i in 0..self.nodes.len() {
            self.wait_ready(i, "").await?;
        }
        Ok(())
    }

    fn spawn(&mut self, i: usize) -> Result<(), String> {
        let name = self.nodes[i].name.clone();
        let spec = &self.processes[i].spec;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&spec.log)
            .map_err(|e| format!("node {name}: cannot open its log {}: {e}", spec.log.display()))?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        let mut command = match &self.netns {
            Some(net) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", &net.namespace(i)]).arg(&spec.program);
                c
            }
            None => Command::new(&spec.program),
        };
        command.args(&spec.args).envs(spec.env.iter().map(|(k, v)| (k, v))).env(LAB_ENV, &self.tag);
        if let Some((library, files)) = &self.clock {
            if self.processes[i].clock_refusal.is_none() {
                command.envs(clock::environment(library, &files[i]));
            }
        }
        command.stdin(Stdio::null()).stdout(log).stderr(log2);
        // SAFETY: prctl is async-signal-safe; it only asks the kernel to kill the node if faultline dies,
        // so that not even a SIGKILLed faultline leaves nodes running.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child =
            command.spawn().map_err(|e| format!("node {name}: cannot start {}: {e}", spec.program.display()))?;
        self.processes[i].child = Some(child);
        Ok(())
    }

    fn indexes(&self, names: &[String]) -> Result<BTreeSet<usize>, String> {
        node_indexes(&self.nodes, names)
    }

    fn pid(&self, i: usize) -> Option<i32> {
        self.processes.get(i)?.child.as_ref().map(|c| c.id() as i32)
    }

    /// Applies `fault`; returns the probe's finding (what was checked after applying it).
    pub async fn start_fault(&mut self, fault: &Fault) -> Result<Value, String> {
        if let Some(why) = self.refuses(fault.kind()) {
            return Err(why);
        }
        match fault {
            Fault::Partition { grudge, .. } => {
                self.net.grudge = grudge_indexes(&self.nodes, grudge)?;
                self.apply_network().await?;
                Ok(self.probe_partition().await)
            }
            Fault::IsolateClients { nodes } => {
                if self.network != Network::Namespaces {
                    return Err("cutting clients off needs a namespaced lab (--lab netns)".into());
                }
                self.net.clients_cut = self.indexes(nodes)?;
                self.apply_network().await?;
                Ok(json!({"cut": "clients"}))
            }
            Fault::Loss { nodes, percent } => {
                self.net.loss = (self.indexes(nodes)?, *percent);
                self.apply_network().await?;
                Ok(json!({"rule": format!("{percent}% of packets from peers dropped")}))
            }
            Fault::Delay { nodes, delay, jitter } => {
                self.net.delay = (self.indexes(nodes)?, *delay, *jitter);
                self.apply_network().await?;
                Ok(self.probe_delay().await)
            }
            Fault::Kill { nodes } => self.kill(nodes, false),
            Fault::Crash { nodes } => self.kill(nodes, true),
            Fault::Pause { nodes } => self.signal(nodes, libc::SIGSTOP).await,
            Fault::Clock { nodes, skew } => {
                let (library, files) = self.clock.clone().ok_or("no libfaketime")?;
                let mut probes = serde_json::Map::new();
                for i in self.indexes(nodes)? {
                    let control = files[i].clone();
                    match skew {
                        ClockSkew::Bump { offset_ms } => {
                            clock::set_offset(&control, *offset_ms).map_err(|e| e.to_string())?;
                        }
                        ClockSkew::Strobe { offset_ms, period } => {
                            let (offset_ms, period, control) = (*offset_ms, *period, control.clone());
                            let task = tokio::spawn(async move {
                                for on in [true, false].into_iter().cycle() {
                                    let _ = clock::set_offset(&control, if on { offset_ms } else { 0 });
                                    tokio::time::sleep(period).await;
                                }
                            });
                            if let Some(old) = self.strobes.insert(i, task) {
                                old.abort();
                            }
                            tokio::task::yield_now().await;
                        }
                    }
                    let seen = clock::observed_offset_ms(&library, &control);
                    probes.insert(self.nodes[i].name.clone(), json!({"observed_offset_ms": seen}));
                }
                Ok(Value::Object(probes))
            }
        }
    }

    /// Undoes `fault` (restarts killed nodes, resumes paused ones, resets clocks, heals links).
    pub async fn stop_fault(&mut self, fault: &Fault) -> Result<Value, String> {
        match fault {
            Fault::Partition { .. } | Fault::IsolateClients { .. } | Fault::Loss { .. } | Fault::Delay { .. } => {
                self.net.heal(fault);
                self.apply_network().await?;
                Ok(json!({"healed": true}))
            }
            Fault::Kill { nodes } | Fault::Crash { nodes } => self.restart(nodes).await,
            Fault::Pause { nodes } => self.signal(nodes, libc::SIGCONT).await,
            Fault::Clock { nodes, .. } => {
                let (library, files) = self.clock.clone().ok_or("no libfaketime")?;
                let mut probes = serde_json::Map::new();
                for i in self.indexes(nodes)? {
                    if let Some(task) = self.strobes.remove(&i) {
                        task.abort();
                    }
                    clock::set_offset(&files[i], 0).map_err(|e| e.to_string())?;
                    probes.insert(
                        self.nodes[i].name.clone(),
                        json!({"observed_offset_ms": clock::observed_offset_ms(&library, &files[i])}),
                    );
                }
                Ok(Value::Object(probes))
            }
        }
    }

    /// Heals everything: network, clocks, paused and dead nodes. Used before the final reads and on exit.
    pub async fn heal_all(&mut self) -> Result<Value, String> {
        let all: Vec<String> = self.nodes.iter().map(|n| n.name.clone()).collect();
        let mut healed = serde_json::Map::new();
        let network = self.network != Network::Loopback;
        if network {
            self.net = NetworkFaults::default();
            self.apply_network().await?;
            healed.insert("network".into(), json!(true));
        }
        if self.clock.is_some() {
            healed.insert(
                "clock".into(),
                self.stop_fault(&Fault::Clock { nodes: all.clone(), skew: ClockSkew::Bump { offset_ms: 0 } }).await?,
            );
        }
        healed.insert("pause".into(), self.stop_fault(&Fault::Pause { nodes: all.clone() }).await?);
        healed.insert("kill".into(), self.stop_fault(&Fault::Kill { nodes: all }).await?);
        Ok(Value::Object(healed))
    }

    /// SIGKILLs these nodes; with `crash`, then drops every write to their data directories that they had
    /// not synced. The probe: how each exited, whether its port now refuses, and what the crash dropped.
    fn kill(&mut self, nodes: &[String], crash: bool) -> Result<Value, String> {
        let mut probes = serde_json::Map::new();
        for i in self.indexes(nodes)? {
            if let Some(proxies) = self.proxies.as_mut() {
                proxies.target_down(i);
            }
            let mut probe = serde_json::Map::new();
            if let Some(child) = self.processes[i].child.as_mut() {
                let _ = child.kill();
                let status = child.wait().map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                let refused =
                    std::net::TcpStream::connect_timeout(&self.nodes[i].listen, Duration::from_millis(300)).is_err();
                probe.insert("exited".into(), json!(status));
                probe.insert("port_closed".into(), json!(refused));
            }
            self.processes[i].child = None;
            if crash {
                let mount = self.lazy.get(&i).ok_or("no lazy filesystem under this node's data directory")?;
                // Only once the node is dead: nothing it wrote can land after the drop.
                let dropped = mount.crash();
                probe.insert("unsynced_files_dropped".into(), json!(dropped.files));
                probe.insert("unsynced_pages_dropped".into(), json!(dropped.pages));
            }
            if !probe.is_empty() {
                probes.insert(self.nodes[i].name.clone(), Value::Object(probe));
            }
        }
        Ok(Value::Object(probes))
    }

    /// Restarts these nodes if they are down (killed or crashed), with the same data directory.
    async fn restart(&mut self, nodes: &[String]) -> Result<Value, String> {
        let mut probes = serde_json::Map::new();
        // All restart before any is awaited: a node may be ready only once a quorum is back.
        let dead: Vec<usize> =
            self.indexes(nodes)?.into_iter().filter(|i| self.processes[*i].child.is_none()).collect();
        for &i in &dead {
            self.spawn(i)?;
            if let Some(proxies) = self.proxies.as_mut() {
                proxies.target_up(i).await.map_err(|e| format!("the proxies to {}: {e}", self.nodes[i].name))?;
            }
        }
        for i in dead {
            let ready = self.wait_ready(i, " after restart").await;
            probes.insert(self.nodes[i].name.clone(), json!({"restarted": ready.is_ok(), "error": ready.err()}));
        }
        Ok(Value::Object(probes))
    }

    /// Waits until node `i` is ready as its spec says; the error names the node, what was awaited and the
    /// end of its log. `when` qualifies the error ("after restart").
    /// Stops (SIGSTOP) or resumes (SIGCONT) these nodes; the probe is each one's process state afterwards.
    async fn signal(&mut self, nodes: &[String], signal: i32) -> Result<Value, String> {
        let mut probes = serde_json::Map::new();
        for i in self.indexes(nodes)? {
            if let Some(pid) = self.pid(i) {
                // SAFETY: signalling our own child.
                unsafe { libc::kill(pid, signal) };
                let stopping = signal == libc::SIGSTOP;
                let state = process_state(pid, |state| (state == "T") == stopping).await;
                probes.insert(self.nodes[i].name.clone(), json!({ "state": state }));
            }
        }
        Ok(Value::Object(probes))
    }

    async fn wait_ready(&mut self, i: usize, when: &str) -> Result<(), String> {
        let name = self.nodes[i].name.clone();
        let (ready, timeout, log) = {
            let spec = &self.processes[i].spec;
            (spec.ready.clone(), spec.ready_timeout, spec.log.clone())
        };
        let what = match &ready {
            Readiness::Listen => format!("accept connections on {}", self.nodes[i].listen),
            Readiness::Tcp(addr) => format!("accept connections on {addr}"),
            Readiness::Http(url) => format!("answer GET {url} with 2xx"),
        };
        let deadline = Instant::now() + timeout;
        let mut last = String::new();
        loop {
            let answered = ready.probe(self.nodes[i].listen, Duration::from_millis(500), &mut last).await;
            if answered {
                // Something answers; it is this node only if the node still runs a moment later. One that
                // could not take its port (another process holds it) fails at once, and that process is
                // what answered: a run against it would test someone else's server.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            match self.processes[i].child.as_mut().map(Child::try_wait) {
                Some(Ok(Some(status))) if !answered || !status.success() => {
                    self.processes[i].child = None;
                    let why = if answered { ", though something answered in its place," } else { "" };
                    return Err(format!(
                        "node {name} exited ({status}){when}{why} before it was ready; {}",
                        log_tail(&log)
                    ));
                }
                _ if answered => return Ok(()),
                _ => {}
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "node {name} was not ready{when} within {timeout:?}: it did not {what}{last}; {}",
                    log_tail(&log)
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Puts the network faults in force into the kernel (namespaces) or the proxies.
    async fn apply_network(&mut self) -> Result<(), String> {
        if let Some(net) = self.netns.clone() {
            let cut: Vec<(usize, BTreeSet<usize>, bool)> = (0..self.nodes.len())
                .map(|i| (i, self.net.grudge.get(&i).cloned().unwrap_or_default(), self.net.clients_cut.contains(&i)))
                .collect();
            let loss = self.net.loss.clone();
            let delay = self.net.delay.clone();
            let delay_in_force = !delay.1.is_zero() || net.netem;
            return tokio::task::spawn_blocking(move || {
                net.set_partition(&cut)?;
                net.set_loss(&loss.0.into_iter().collect::<Vec<_>>(), loss.1)?;
                if delay_in_force {
                    net.set_delay(&delay.0.into_iter().collect::<Vec<_>>(), delay.1, delay.2)?;
                }
                Ok(())
            })
            .await
            .map_err(|e| e.to_string())?;
        }
        if let Some(proxies) = &self.proxies {
            let n = self.nodes.len();
            let mut links = Links::default();
            for sender in 0..n {
                for receiver in (0..n).filter(|r| *r != sender) {
                    let touches = |set: &BTreeSet<usize>| set.contains(&sender) || set.contains(&receiver);
                    let state = PathState {
                        cut: self.net.grudge.get(&receiver).is_some_and(|s| s.contains(&sender)),
                        loss_percent: if touches(&self.net.loss.0) { self.net.loss.1 } else { 0 },
                        delay: if touches(&self.net.delay.0) { self.net.delay.1 } else { Duration::ZERO },
                        jitter: if touches(&self.net.delay.0) { self.net.delay.2 } else { Duration::ZERO },
                    };
                    if state != PathState::default() {
                        links.paths.insert((sender, receiver), state);
                    }
                }
            }
            proxies.set(links);
        }
        Ok(())
    }

    /// Checks every cut pair really is cut: the victim cannot reach the source (the answer is dropped).
    async fn probe_partition(&self) -> Value {
        let pairs: Vec<(usize, usize)> =
            self.net.grudge.iter().flat_map(|(v, s)| s.iter().map(move |s| (*v, *s))).collect();
        let probes = pairs.iter().map(|&(victim, source)| async move {
            match (&self.netns, &self.proxies) {
                (Some(net), _) => {
                    let (net, port) = (net.clone(), self.nodes[source].listen.port());
                    tokio::task::spawn_blocking(move || net.can_connect(victim, source, port)).await.unwrap_or(true)
                }
                (None, Some(proxies)) => {
                    http_round_trip(proxies.addresses[&(victim, source)], Duration::from_millis(300)).await.is_some()
                }
                _ => true,
            }
        });
        // All pairs at once: a cut pair costs the probe's whole timeout.
        let reachable = futures_util::future::join_all(probes).await;
        let open: Vec<String> = pairs
            .iter()
            .zip(&reachable)
            .filter(|(_, r)| **r)
            .map(|((v, s), _)| format!("{}<-{}", self.nodes[*v].name, self.nodes[*s].name))
            .collect();
        let cut = pairs.len() - open.len();
        json!({"pairs_checked": pairs.len(), "pairs_cut": cut, "still_open": open})
    }

    /// Measures the round trip between a delayed node and a peer: what the delay really is.
    async fn probe_delay(&self) -> Value {
        let Some(&i) = self.net.delay.0.iter().next() else { return Value::Null };
        let j = (i + 1) % self.nodes.len();
        if i == j {
            return Value::Null;
        }
        let measured = match (&self.netns, &self.proxies) {
            (Some(net), _) => {
                let (net, port) = (net.clone(), self.nodes[j].listen.port());
                tokio::task::spawn_blocking(move || net.connect_time(i, j, port)).await.ok().flatten()
            }
            (None, Some(proxies)) => http_round_trip(proxies.addresses[&(i, j)], Duration::from_secs(5)).await,
            _ => None,
        };
        json!({"from": self.nodes[i].name, "to": self.nodes[j].name, "round_trip_ms": measured.map(|d| d.as_secs_f64() * 1e3)})
    }
}

impl FaultTarget for Lab {
    fn node_names(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }

    fn refuses(&self, kind: FaultKind) -> Option<String> {
        Lab::refuses(self, kind)
    }

    fn start_fault<'a>(&'a mut self, fault: &'a Fault) -> LocalBoxFuture<'a, Result<Value, String>> {
        Box::pin(Lab::start_fault(self, fault))
    }

    fn stop_fault<'a>(&'a mut self, fault: &'a Fault) -> LocalBoxFuture<'a, Result<Value, String>> {
        Box::pin(Lab::stop_fault(self, fault))
    }

    fn heal_all(&mut self) -> Option<LocalBoxFuture<'_, Result<Value, String>>> {
        Some(Box::pin(Lab::heal_all(self)))
    }
}

impl NodeLab for Lab {
    fn nodes(&self) -> &[NodeAddress] {
        &self.nodes
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for task in self.strobes.values() {
            task.abort();
        }
        for process in &mut self.processes {
            if let Some(child) = process.child.as_mut() {
                // SAFETY: signalling our own child; a stopped process must run again to die cleanly.
                unsafe { libc::kill(child.id() as i32, libc::SIGCONT) };
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        // The network (namespaces, bridge) and the proxies are removed by their own drops.
    }
}

fn addresses(
    names: &[String],
    listen: &[SocketAddr],
    peer_listen: &[SocketAddr],
    peer: impl Fn(usize, usize) -> SocketAddr,
) -> Vec<NodeAddress> {
    (0..names.len())
        .map(|i| NodeAddress {
            name: names[i].clone(),
            listen: listen[i],
            client_url: format!("http://{}", listen[i]),
            peer_listen: peer_listen[i],
            peers: (0..names.len()).map(|j| peer(i, j)).collect(),
        })
        .collect()
}
