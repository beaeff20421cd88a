//! The remote lab: a cluster's nodes on remote hosts, one node per host, started, faulted and torn down
//! over SSH ([`crate::ssh`]). It does what the local lab does, so that the run and the schedule do not
//! care where nodes run (both are a [`crate::target::FaultTarget`]):
//!
//! - each run gets a working directory for each node on its host, `ROOT/RUN-NAME` (uploads in `bin/`, `data/NAME`, the
//!   node's output in `logs/NAME.log`, its pid in `NAME.pid`), marked with the run's owner so that
//!   [`clean`] can tell a killed run's leftovers from a live run's;
//! - a node is started with `setsid`, detached from the SSH channel, carrying `FAULTLINE_REMOTE=WORKDIR`
//!   in its environment: how teardown and [`clean`] find every process of a run (restarts included)
//!   without trusting a pid file;
//! - partitions and loss are nftables rules in a table of faultline's own (`inet faultline`) on the
//!   receiving host, which never drop the SSH port, so that faultline keeps its hold on every host;
//! - kill and pause are signals to the remote process; clock skew is libfaketime reading a control file
//!   in the working directory; delay is `tc netem` where the host has it.
//!
//! Dropping the lab fetches every node's log into `RUN/nodes/`, kills the run's processes, removes the
//! table and the working directory on every host.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::LocalBoxFuture;
use serde_json::{json, Value};

use crate::fault::{ClockSkew, Fault, FaultKind};
use crate::net::{grudge_indexes, node_indexes, NetworkFaults};
use crate::node::{taken, NodeAddress, NodeSpec};
use crate::probe::{log_tail, process_alive, tcp_ready};
use crate::ssh::{quote, Host};
use crate::target::{FaultTarget, NodeLab, APPLIED_MS, ROUND_TRIPS};

/// The environment variable that marks a remote node with its run's working directory.
pub const REMOTE_ENV: &str = "FAULTLINE_REMOTE";
/// The file in a run's working directory that names its owner: `CONTROL-HOSTNAME PID`.
pub const OWNER_FILE: &str = ".faultline-run";
const TABLE: &str = "faultline";

/// Where a node's files are on its host, for filling in a spec's placeholders.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemotePaths {
    /// The run's working directory on the host.
    pub work: String,
    /// Each uploaded local file and where its copy is on the host.
    pub uploads: Vec<(PathBuf, String)>,
}

impl RemotePaths {
    pub fn data_dir(&self, name: &str) -> String {
        format!("{}/data/{name}", self.work)
    }

    /// The host's copy of a local file, if it was uploaded.
    pub fn uploaded(&self, local: &Path) -> Option<&str> {
        self.uploads.iter().find(|(l, _)| l == local).map(|(_, r)| r.as_str())
    }

    /// Where an upload lands: `WORK/bin/FILE NAME`.
    pub fn new(work: String, uploads: &[PathBuf]) -> RemotePaths {
        let uploads = uploads
            .iter()
            .map(|local| {
                let name = local.file_name().map_or_else(|| "upload".into(), |n| n.to_string_lossy().to_string());
                (local.clone(), format!("{work}/bin/{name}"))
            })
            .collect();
        RemotePaths { work, uploads }
    }
}

/// Why hosts cannot take `kind` of fault for nodes running `program` (a local file: the uploaded
/// original), if they cannot; the reason names the host.
pub fn refuses<'a>(
    hosts: impl IntoIterator<Item = &'a Host>,
    kind: FaultKind,
    program: Option<&Path>,
) -> Option<String> {
    hosts.into_iter().find_map(|host| {
        let why = match kind {
            FaultKind::Partition | FaultKind::Loss => host.facts.nft.clone(),
            FaultKind::Crash => Some(CRASH_NOT_REMOTE.into()),
            FaultKind::Delay if !host.facts.netem => {
                Some("delay needs tc netem (the sch_netem kernel module), which this host does not have".into())
            }
            FaultKind::Clock if host.facts.faketime.is_none() => {
                Some("clock faults need libfaketime on the host (Debian: libfaketime)".into())
            }
            FaultKind::Clock => match program {
                Some(program) => crate::clock::unsupported(program),
                None => Some(
                    "clock faults need the program among the spec's uploads, so that faultline can tell whether \
                     libfaketime can reach it"
                        .into(),
                ),
            },
            _ => None,
        };
        why.map(|why| format!("host {}: {why}", host.name))
    })
}

/// The crash fault's lazy filesystem is a FUSE mount served by the faultline process, so it can only
/// cover data directories on the machine faultline runs on.
const CRASH_NOT_REMOTE: &str =
    "the crash fault drops unsynced writes through a FUSE filesystem faultline serves on its \
                                own machine; it cannot reach a data directory on a remote host (use kill)";

/// Why nodes cannot run on one of these hosts at all, if they cannot (no `setsid` to detach them).
pub fn unusable(hosts: &[Host]) -> Option<String> {
    hosts.iter().find_map(|h| h.facts.setsid.as_ref().map(|why| format!("host {}: {why}", h.name)))
}

struct RemoteProcess {
    spec: NodeSpec,
    pid: Option<u32>,
    /// The program can have its clock moved (libfaketime preloaded).
    clock: bool,
}

pub struct RemoteLab {
    pub nodes: Vec<NodeAddress>,
    /// `hosts[i]` runs node `i`.
    hosts: Vec<Arc<Host>>,
    paths: Vec<RemotePaths>,
    processes: Vec<RemoteProcess>,
    strobes: BTreeMap<usize, tokio::task::JoinHandle<()>>,
    /// The network faults in force.
    net: NetworkFaults,
    /// Hosts whose interface carries a netem qdisc of ours.
    delayed: BTreeSet<usize>,
    /// Runs a no-op on every host now and then, so that no master connection idles out mid-run.
    keepalive: tokio::task::JoinHandle<()>,
}

impl RemoteLab {
    /// Prepares one node per host: the run's working directory (`roots[i]/run`), the uploads, the
    /// nftables table. Nothing runs yet. On an error, what was made is removed (the lab is dropped).
    pub async fn create(
        hosts: Vec<Host>,
        roots: &[String],
        run: &str,
        port: u16,
        peer_port: Option<u16>,
        uploads: &[PathBuf],
    ) -> Result<RemoteLab, String> {
        assert_eq!(hosts.len(), roots.len(), "one working directory root per host");
        if let Some(why) = unusable(&hosts) {
            return Err(why);
        }
        let hosts: Vec<Arc<Host>> = hosts.into_iter().map(Arc::new).collect();
        let names: Vec<String> = (1..=hosts.len()).map(|i| format!("n{i}")).collect();
        let listen: Vec<SocketAddr> = hosts.iter().map(|h| SocketAddr::new(h.ip, port)).collect();
        let peer_listen: Vec<SocketAddr> =
            hosts.iter().map(|h| SocketAddr::new(h.ip, peer_port.unwrap_or(port))).collect();
        let nodes = (0..hosts.len())
            .map(|i| NodeAddress {
                name: names[i].clone(),
                listen: listen[i],
                client_url: format!("http://{}", listen[i]),
                peer_listen: peer_listen[i],
                peers: peer_listen.clone(),
            })
            .collect();
        // One working directory per run and node: hosts that share a filesystem (an NFS home, or the
        // test's namespaces) must not share one, or one node's teardown removes another's files.
        let paths = roots
            .iter()
            .zip(&names)
            .map(|(root, name)| RemotePaths::new(format!("{root}/{run}-{name}"), uploads))
            .collect();
        let keepalive = {
            let hosts = hosts.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(crate::ssh::KEEPALIVE).await;
                    for host in &hosts {
                        let _ = host.run("true").await;
                    }
                }
            })
        };
        let lab = RemoteLab {
            keepalive,
            nodes,
            hosts,
            paths,
            processes: Vec::new(),
            strobes: BTreeMap::new(),
            net: NetworkFaults::default(),
            delayed: BTreeSet::new(),
        };
        let owner = format!("{} {}", local_hostname(), std::process::id());
        let prepared = futures_util::future::join_all((0..lab.hosts.len()).map(|i| lab.prepare(i, &owner))).await;
        prepared.into_iter().collect::<Result<Vec<()>, String>>()?;
        Ok(lab)
    }

    /// Makes node `i`'s working directory, uploads the files and (where `nft` works) a fresh table.
    async fn prepare(&self, i: usize, owner: &str) -> Result<(), String> {
        let (host, paths, name) = (&self.hosts[i], &self.paths[i], &self.nodes[i].name);
        let work = quote(&paths.work);
        let mut script = format!(
            "set -e\nmkdir -p {work}/bin {work}/logs {work}/clock {data}\nprintf '%s\\n' {owner} > {work}/{OWNER_FILE}\n\
             printf '+0.000\\n' > {work}/clock/{name}\n",
            data = quote(&paths.data_dir(name)),
            owner = quote(owner),
        );
        if host.facts.nft.is_none() {
            script.push_str(&format!(
                "{} -f - <<'EOF'\ntable inet {TABLE}\ndelete table inet {TABLE}\ntable inet {TABLE} {{\n \
                 chain partition {{ type filter hook input priority 0; policy accept; }}\n \
                 chain loss {{ type filter hook input priority 1; policy accept; }}\n}}\nEOF\n",
                host.privileged("nft")
            ));
        }
        host.run(&script).await?;
        for (local, remote) in &paths.uploads {
            let script = format!("cat > {0} && chmod +x {0}", quote(remote));
            host.run_with_input(&script, local).await?;
        }
        Ok(())
    }

    /// Where node `i`'s files are on its host.
    pub fn paths(&self, i: usize) -> &RemotePaths {
        &self.paths[i]
    }

    /// Why this lab cannot apply `kind` of fault, if it cannot.
    pub fn refuses(&self, kind: FaultKind) -> Option<String> {
        let program = self.processes.first().and_then(|p| self.local_original(0, &p.spec.program));
        refuses(self.hosts.iter().map(|h| &**h), kind, program.as_deref())
    }

    /// The local file a node's program was uploaded from, if it was.
    fn local_original(&self, i: usize, program: &Path) -> Option<PathBuf> {
        let program = program.to_string_lossy();
        self.paths[i].uploads.iter().find(|(_, r)| *r == program).map(|(l, _)| l.clone())
    }

    /// Starts every node (one spec per node, in order: the program and paths as the host sees them), then
    /// waits until each is ready.
    pub async fn start(&mut self, specs: Vec<NodeSpec>) -> Result<(), String> {
        assert_eq!(specs.len(), self.nodes.len(), "one spec per node");
        for (i, spec) in specs.into_iter().enumerate() {
            let clock = self.hosts[i].facts.faketime.is_some()
                && self.local_original(i, &spec.program).is_some_and(|p| crate::clock::unsupported(&p).is_none());
            self.processes.push(RemoteProcess { spec, pid: None, clock });
        }
        for (node, host) in self.nodes.iter().zip(&self.hosts) {
            taken(node, &format!(" (host {})", host.name)).await?;
        }
        self.spawn_all(&(0..self.nodes.len()).collect::<Vec<_>>()).await?;
        for i in 0..self.nodes.len() {
            self.wait_ready(i, "").await?;
        }
        Ok(())
    }

    /// Starts nodes `indexes`, every host at once, each in one round trip (which first checks that the
    /// program is there); the first failure, in node order, is the error.
    async fn spawn_all(&mut self, indexes: &[usize]) -> Result<(), String> {
        let started = futures_util::future::join_all(indexes.iter().map(|&i| self.spawn(i))).await;
        let mut first_error = None;
        for (&i, started) in indexes.iter().zip(started) {
            match started {
                Ok(pid) => self.processes[i].pid = Some(pid),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Starts node `i`, detached; its pid.
    async fn spawn(&self, i: usize) -> Result<u32, String> {
        let (host, paths, name) = (&self.hosts[i], &self.paths[i], &self.nodes[i].name);
        let process = &self.processes[i];
        let spec = &process.spec;
        let program = quote(&spec.program.to_string_lossy());
        let mut env: Vec<String> = spec.env.iter().map(|(k, v)| quote(&format!("{k}={v}"))).collect();
        env.push(quote(&format!("{REMOTE_ENV}={}", paths.work)));
        if process.clock {
            let library = host.facts.faketime.clone().unwrap_or_default();
            let control = PathBuf::from(format!("{}/clock/{name}", paths.work));
            env.extend(
                crate::clock::environment(Path::new(&library), &control)
                    .iter()
                    .map(|(k, v)| quote(&format!("{k}={v}"))),
            );
        }
        let args: Vec<String> = spec.args.iter().map(|a| quote(a)).collect();
        let work = quote(&paths.work);
        let script = format!(
            "if ! {{ [ -x {program} ] || command -v {program} >/dev/null 2>&1; }}; then echo missing; exit 0; fi\n\
             cd {work}\nsetsid env {env} {program} {args} >>{work}/logs/{name}.log 2>&1 </dev/null &\n\
             echo $! > {work}/{name}.pid\necho $!\n",
            env = env.join(" "),
            args = args.join(" "),
        );
        let out = host.run(&script).await.map_err(|e| format!("node {name}: {e}"))?;
        if out.trim() == "missing" {
            return Err(format!(
                "node {name} (host {}): the program {} is not on this host (add it to upload in [remote])",
                host.name,
                spec.program.display()
            ));
        }
        out.trim()
            .parse::<u32>()
            .map_err(|_| format!("node {name} (host {}): no pid from its start: {out:?}", host.name))
    }

    /// Copies node `i`'s log from its host into the run folder (`RUN/nodes/NAME.log`).
    async fn fetch_log(&self, i: usize) {
        let Some(process) = self.processes.get(i) else { return };
        if let Ok(text) = self.hosts[i].run(&format!("cat {} 2>/dev/null || true", quote(&self.log_file(i)))).await {
            let _ = std::fs::write(&process.spec.log, text);
        }
    }

    /// Whether node `i`'s process still runs (a zombie does not: it is dead, not yet reaped).
    async fn alive(&self, i: usize) -> bool {
        match self.processes[i].pid {
            Some(pid) => self.hosts[i].run(&format!("{}\n[ \"$s\" != gone ]", state_script(pid))).await.is_ok(),
            None => false,
        }
    }

    async fn wait_ready(&mut self, i: usize, when: &str) -> Result<(), String> {
        let name = self.nodes[i].name.clone();
        let host = self.hosts[i].name.clone();
        let (ready, timeout, log) = {
            let spec = &self.processes[i].spec;
            (spec.ready.clone(), spec.ready_timeout, spec.log.clone())
        };
        let deadline = Instant::now() + timeout;
        let mut last = String::new();
        loop {
            if ready.probe(self.nodes[i].listen, Duration::from_millis(500), &mut last).await {
                return Ok(());
            }
            if !self.alive(i).await {
                self.fetch_log(i).await;
                self.processes[i].pid = None;
                return Err(format!("node {name} (host {host}) exited{when} before it was ready; {}", log_tail(&log)));
            }
            if Instant::now() > deadline {
                self.fetch_log(i).await;
                return Err(format!(
                    "node {name} (host {host}) was not ready{when} within {timeout:?}{last}; {}",
                    log_tail(&log)
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn indexes(&self, names: &[String]) -> Result<BTreeSet<usize>, String> {
        node_indexes(&self.nodes, names)
    }

    /// Round trips run on each host so far.
    fn round_trips(&self) -> Vec<usize> {
        self.hosts.iter().map(|h| h.round_trips()).collect()
    }

    /// Applies `fault`: its rules, signals or clock offsets in one round trip per host it touches, all
    /// hosts at once; then the probe, as the local lab does. The probe's finding carries what applying
    /// cost ([`with_cost`]): how long it took, the probe excluded, and the round trips on each host.
    pub async fn start_fault(&mut self, fault: &Fault) -> Result<Value, String> {
        if let Some(why) = self.refuses(fault.kind()) {
            return Err(why);
        }
        let (before, started) = (self.round_trips(), Instant::now());
        let applied = self.apply(fault).await?;
        let cost = (started.elapsed(), self.round_trips_since(&before));
        let probe = match fault {
            Fault::Partition { .. } => self.probe_partition().await,
            Fault::Delay { .. } => self.probe_delay().await,
            _ => applied,
        };
        Ok(with_cost(probe, cost))
    }

    /// Round trips each touched host has run since `before`, by host name.
    fn round_trips_since(&self, before: &[usize]) -> BTreeMap<String, usize> {
        let now = self.round_trips();
        (0..self.hosts.len())
            .filter(|&i| now[i] > before[i])
            .map(|i| (self.hosts[i].name.clone(), now[i] - before[i]))
            .collect()
    }

    /// Puts `fault` in force; returns what applying it found (the probe, for faults whose probe is
    /// applying's own answer: a process's state, an observed clock).
    async fn apply(&mut self, fault: &Fault) -> Result<Value, String> {
        match fault {
            Fault::Crash { .. } => Err(CRASH_NOT_REMOTE.into()),
            Fault::Partition { grudge, .. } => {
                self.net.grudge = grudge_indexes(&self.nodes, grudge)?;
                self.apply_network().await?;
                Ok(Value::Null)
            }
            Fault::IsolateClients { nodes } => {
                if let Some(host) = self.hosts.iter().find(|h| h.facts.control_ip.is_none()) {
                    return Err(format!("host {}: it did not say where faultline connects from", host.name));
                }
                self.net.clients_cut = self.indexes(nodes)?;
                self.apply_network().await?;
                Ok(json!({"healed": false}))
            }
            Fault::Loss { nodes, percent } => {
                self.net.loss = (self.indexes(nodes)?, *percent);
                self.apply_network().await?;
                Ok(json!({"percent": percent}))
            }
            Fault::Delay { nodes, delay, jitter } => {
                self.net.delay = (self.indexes(nodes)?, *delay, *jitter);
                self.apply_delay().await?;
                Ok(Value::Null)
            }
            Fault::Kill { nodes } => self.kill(nodes).await,
            Fault::Pause { nodes } => self.signal(nodes, "STOP").await,
            Fault::Clock { nodes, skew } => {
                let (offset_ms, strobe) = match skew {
                    ClockSkew::Bump { offset_ms } => (*offset_ms, None),
                    ClockSkew::Strobe { offset_ms, period } => (*offset_ms, Some(*period)),
                };
                let indexes: Vec<usize> = self.indexes(nodes)?.into_iter().collect();
                for i in &indexes {
                    if let Some(old) = self.strobes.remove(i) {
                        old.abort();
                    }
                }
                // A strobe's first "on" is set and probed here, so the probe sees the offset; then a task
                // switches it off and on every period.
                let probes = self.set_clocks(&indexes, offset_ms).await?;
                if let Some(period) = strobe {
                    for &i in &indexes {
                        let (host, control) = (self.hosts[i].clone(), self.clock_file(i));
                        let task = tokio::spawn(async move {
                            for on in [false, true].into_iter().cycle() {
                                tokio::time::sleep(period).await;
                                let _ = host.run(&set_offset_script(&control, if on { offset_ms } else { 0 })).await;
                            }
                        });
                        self.strobes.insert(i, task);
                    }
                }
                Ok(probes)
            }
        }
    }

    /// Kills the nodes' processes, each host in one round trip that also waits (2 s at most) until the
    /// process is gone and brings its log back; then waits for each port to close.
    async fn kill(&mut self, nodes: &[String]) -> Result<Value, String> {
        let targets: Vec<(usize, u32)> =
            self.indexes(nodes)?.into_iter().filter_map(|i| self.processes[i].pid.map(|pid| (i, pid))).collect();
        let this = &*self;
        let killed = futures_util::future::join_all(targets.iter().map(|&(i, pid)| async move {
            // SIGCONT first: a paused node must run again to die.
            let script = format!(
                "kill -s CONT {pid} 2>/dev/null; kill -s KILL {pid} 2>/dev/null\nn=0\n\
                 while [ $n -lt 100 ]; do {}; [ \"$s\" = gone ] && break; sleep 0.02; n=$((n + 1)); done\n\
                 echo \"$s\"\ncat {} 2>/dev/null\ntrue",
                state_script(pid),
                quote(&this.log_file(i))
            );
            let out = this.hosts[i].run(&script).await.ok();
            let (state, log) = out.as_deref().map_or(("", None), |o| {
                let (state, log) = o.split_once('\n').unwrap_or((o, ""));
                (state.trim(), Some(log.to_string()))
            });
            let gone = state == "gone";
            // A zombie thread-group leader can show `Z` while its other threads still hold the process's
            // sockets: the port closes a moment later, so wait for it (1 s at most).
            let mut closed = false;
            for _ in 0..20 {
                closed = !tcp_ready(this.nodes[i].listen, Duration::from_millis(300)).await;
                if closed || !gone {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            (gone, closed, log)
        }))
        .await;
        let mut probes = serde_json::Map::new();
        for (&(i, _), (gone, closed, log)) in targets.iter().zip(killed) {
            if let Some(log) = log {
                let _ = std::fs::write(&self.processes[i].spec.log, log);
            }
            self.processes[i].pid = None;
            probes.insert(self.nodes[i].name.clone(), json!({"exited": gone, "port_closed": closed}));
        }
        Ok(Value::Object(probes))
    }

    /// Undoes `fault`, as the local lab does, in one round trip per host it touches; a restart's wait
    /// for its nodes to be ready is its probe. The finding carries the cost, as [`RemoteLab::start_fault`]'s.
    pub async fn stop_fault(&mut self, fault: &Fault) -> Result<Value, String> {
        let (before, started) = (self.round_trips(), Instant::now());
        let Fault::Kill { nodes } = fault else {
            let undone = self.undo(fault).await?;
            return Ok(with_cost(undone, (started.elapsed(), self.round_trips_since(&before))));
        };
        let dead = self.respawn(nodes).await?;
        let cost = (started.elapsed(), self.round_trips_since(&before));
        Ok(with_cost(self.await_restarted(dead).await, cost))
    }

    async fn undo(&mut self, fault: &Fault) -> Result<Value, String> {
        match fault {
            Fault::Crash { .. } => Err(CRASH_NOT_REMOTE.into()),
            Fault::Partition { .. } | Fault::IsolateClients { .. } | Fault::Loss { .. } | Fault::Delay { .. } => {
                self.net.heal(fault);
                // Delay is netem on the hosts' interfaces; the rest, rules in the hosts' nftables tables.
                if matches!(fault, Fault::Delay { .. }) {
                    self.apply_delay().await?;
                } else {
                    self.apply_network().await?;
                }
                Ok(json!({"healed": true}))
            }
            Fault::Kill { nodes } => {
                let dead = self.respawn(nodes).await?;
                Ok(self.await_restarted(dead).await)
            }
            Fault::Pause { nodes } => self.signal(nodes, "CONT").await,
            Fault::Clock { nodes, .. } => {
                let indexes: Vec<usize> = self.indexes(nodes)?.into_iter().collect();
                for i in &indexes {
                    if let Some(task) = self.strobes.remove(i) {
                        task.abort();
                    }
                }
                self.set_clocks(&indexes, 0).await
            }
        }
    }

    /// Starts again those of `nodes` that are dead, all at once; returns their indexes.
    async fn respawn(&mut self, nodes: &[String]) -> Result<Vec<usize>, String> {
        let dead: Vec<usize> = self.indexes(nodes)?.into_iter().filter(|i| self.processes[*i].pid.is_none()).collect();
        self.spawn_all(&dead).await?;
        Ok(dead)
    }

    /// Waits until each restarted node is ready (all were started before any is awaited: a node may be
    /// ready only once a quorum is back); the probe of a restart.
    async fn await_restarted(&mut self, dead: Vec<usize>) -> Value {
        let mut probes = serde_json::Map::new();
        for i in dead {
            let ready = self.wait_ready(i, " after restart").await;
            probes.insert(self.nodes[i].name.clone(), json!({"restarted": ready.is_ok(), "error": ready.err()}));
        }
        Value::Object(probes)
    }

    /// Heals everything: network, delay, clocks, paused and dead nodes.
    pub async fn heal_all(&mut self) -> Result<Value, String> {
        let all: Vec<String> = self.nodes.iter().map(|n| n.name.clone()).collect();
        let mut healed = serde_json::Map::new();
        self.net.grudge.clear();
        self.net.clients_cut.clear();
        self.net.loss = (BTreeSet::new(), 0);
        if self.hosts.iter().all(|h| h.facts.nft.is_none()) {
            self.apply_network().await?;
            healed.insert("network".into(), json!(true));
        }
        if !self.delayed.is_empty() {
            self.net.delay = (BTreeSet::new(), Duration::ZERO, Duration::ZERO);
            self.apply_delay().await?;
            healed.insert("delay".into(), json!(true));
        }
        if self.processes.iter().any(|p| p.clock) {
            let clock = Fault::Clock { nodes: all.clone(), skew: ClockSkew::Bump { offset_ms: 0 } };
            healed.insert("clock".into(), self.undo(&clock).await?);
        }
        healed.insert("pause".into(), self.undo(&Fault::Pause { nodes: all.clone() }).await?);
        healed.insert("kill".into(), self.undo(&Fault::Kill { nodes: all }).await?);
        Ok(Value::Object(healed))
    }

    /// Sends SIGSTOP or SIGCONT, every host at once; the probe is each process's state afterwards.
    async fn signal(&mut self, nodes: &[String], signal: &str) -> Result<Value, String> {
        let targets: Vec<(usize, u32)> =
            self.indexes(nodes)?.into_iter().filter_map(|i| self.processes[i].pid.map(|pid| (i, pid))).collect();
        let hosts = &self.hosts;
        let states = futures_util::future::join_all(targets.iter().map(|&(i, pid)| async move {
            let script = format!("kill -s {signal} {pid} 2>/dev/null; sleep 0.02; {}; echo \"$s\"", state_script(pid));
            hosts[i].run(&script).await.map(|s| s.trim().to_string()).unwrap_or_default()
        }))
        .await;
        let probes =
            targets.iter().zip(states).map(|(&(i, _), state)| (self.nodes[i].name.clone(), json!({"state": state})));
        Ok(Value::Object(probes.collect()))
    }

    /// Sets the clock offset of each of `indexes`, every host at once; the probe is each observed offset.
    async fn set_clocks(&self, indexes: &[usize], offset_ms: i64) -> Result<Value, String> {
        let seen = futures_util::future::join_all(indexes.iter().map(|&i| self.set_clock(i, offset_ms))).await;
        let mut probes = serde_json::Map::new();
        for (&i, seen) in indexes.iter().zip(seen) {
            probes.insert(self.nodes[i].name.clone(), json!({"observed_offset_ms": seen?}));
        }
        Ok(Value::Object(probes))
    }

    fn log_file(&self, i: usize) -> String {
        format!("{}/logs/{}.log", self.paths[i].work, self.nodes[i].name)
    }

    fn clock_file(&self, i: usize) -> String {
        format!("{}/clock/{}", self.paths[i].work, self.nodes[i].name)
    }

    /// Sets node `i`'s clock offset; returns the probe: the wall clock `date` sees under the node's
    /// control file minus the host's own, in ms. One round trip.
    async fn set_clock(&self, i: usize, offset_ms: i64) -> Result<Option<i64>, String> {
        let script = format!("{}\n{}", set_offset_script(&self.clock_file(i), offset_ms), self.observe_script(i));
        Ok(self.hosts[i].run(&script).await?.trim().parse().ok())
    }

    fn observe_script(&self, i: usize) -> String {
        let library = self.hosts[i].facts.faketime.clone().unwrap_or_default();
        let env: Vec<String> = crate::clock::environment(Path::new(&library), Path::new(&self.clock_file(i)))
            .iter()
            .map(|(k, v)| quote(&format!("{k}={v}")))
            .collect();
        format!("a=$(date +%s%3N); b=$(env {} date +%s%3N); echo $((b - a))", env.join(" "))
    }

    /// Puts the cuts and the loss in force on every host: one nft transaction per host, all hosts at
    /// once. The SSH port is never dropped.
    async fn apply_network(&self) -> Result<(), String> {
        let n = self.nodes.len();
        let scripts: Vec<Option<String>> = (0..n)
            .map(|i| {
                let host = &self.hosts[i];
                host.facts.nft.is_none().then(|| {
                    let mut rules = format!("flush chain inet {TABLE} partition\nflush chain inet {TABLE} loss\n");
                    let mut cut: Vec<IpAddr> =
                        self.net.grudge.get(&i).into_iter().flatten().map(|s| self.hosts[*s].ip).collect();
                    if self.net.clients_cut.contains(&i) {
                        cut.extend(host.facts.control_ip);
                    }
                    if !cut.is_empty() {
                        rules
                            .push_str(&format!("add rule inet {TABLE} partition tcp dport {} accept\n", host.ssh_port));
                        for rule in saddr_rules(&cut, "drop") {
                            rules.push_str(&format!("add rule inet {TABLE} partition {rule}\n"));
                        }
                    }
                    if self.net.loss.1 > 0 && self.net.loss.0.contains(&i) {
                        let peers: Vec<IpAddr> = (0..n).filter(|j| *j != i).map(|j| self.hosts[j].ip).collect();
                        rules.push_str(&format!("add rule inet {TABLE} loss tcp dport {} accept\n", host.ssh_port));
                        let drop = format!("numgen random mod 100 < {} drop", self.net.loss.1);
                        for rule in saddr_rules(&peers, &drop) {
                            rules.push_str(&format!("add rule inet {TABLE} loss {rule}\n"));
                        }
                    }
                    format!("{} -f - <<'EOF'\n{rules}EOF\n", host.privileged("nft"))
                })
            })
            .collect();
        let applied = futures_util::future::join_all(scripts.iter().enumerate().map(|(i, script)| async move {
            match script {
                Some(script) => self.hosts[i].run(script).await.map(|_| ()),
                None => Ok(()),
            }
        }))
        .await;
        applied.into_iter().collect()
    }

    /// Puts a netem qdisc on each delayed host's interface towards its peers, and removes the others: one
    /// round trip per host that changes, all at once.
    async fn apply_delay(&mut self) -> Result<(), String> {
        let (nodes, delay, jitter) = self.net.delay.clone();
        let n = self.nodes.len();
        let changes: Vec<(usize, bool)> = (0..n)
            .map(|i| (i, nodes.contains(&i) && !delay.is_zero()))
            .filter(|(i, want)| *want || self.delayed.contains(i))
            .collect();
        let hosts = &self.hosts;
        let done = futures_util::future::join_all(changes.iter().map(|&(i, want)| {
            let peer = hosts[(i + 1) % n].ip;
            let tc = hosts[i].privileged("tc");
            let action = if want {
                format!("replace dev \"$dev\" root netem delay {}ms {}ms", delay.as_millis(), jitter.as_millis())
            } else {
                "del dev \"$dev\" root".to_string()
            };
            let script = format!(
                "dev=$(ip route get {peer} | sed -n 's/.* dev \\([^ ]*\\).*/\\1/p' | head -n 1)\n{tc} qdisc {action}\n"
            );
            async move { hosts[i].run(&script).await }
        }))
        .await;
        let mut first_error = None;
        for (&(i, want), done) in changes.iter().zip(done) {
            if !want {
                self.delayed.remove(&i);
            } else if let Err(e) = done {
                first_error.get_or_insert(e);
            } else {
                self.delayed.insert(i);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Measures, from a delayed node's host, the time a TCP connection to the next node's peer port takes
    /// to open: what the delay really is.
    async fn probe_delay(&self) -> Value {
        let Some(&i) = self.net.delay.0.iter().next() else { return Value::Null };
        let j = (i + 1) % self.nodes.len();
        if i == j {
            return Value::Null;
        }
        let to = self.nodes[j].peer_listen;
        let script = format!(
            "s=$(date +%s%N); timeout 5 bash -c 'exec 3<>/dev/tcp/{}/{}' 2>/dev/null && e=$(date +%s%N) && \
             echo $(( (e - s) / 1000 ))",
            to.ip(),
            to.port()
        );
        let micros: Option<f64> = self.hosts[i].run(&script).await.ok().and_then(|out| out.trim().parse().ok());
        json!({"from": self.nodes[i].name, "to": self.nodes[j].name, "round_trip_ms": micros.map(|us| us / 1e3)})
    }

    /// Checks every cut pair really is cut: from the victim's host, a TCP connection to the source's peer
    /// port neither completes nor is refused within 500 ms (`timeout` ends it: exit 124). Anything else,
    /// a probe that could not run included, counts as still open: a cut is never confirmed by default.
    async fn probe_partition(&self) -> Value {
        let pairs: Vec<(usize, usize)> =
            self.net.grudge.iter().flat_map(|(v, s)| s.iter().map(move |s| (*v, *s))).collect();
        let reachable = futures_util::future::join_all(pairs.iter().map(|&(victim, source)| async move {
            let to = self.nodes[source].peer_listen;
            let script =
                format!("timeout 0.5 bash -c 'exec 3<>/dev/tcp/{}/{}' 2>/dev/null; echo $?", to.ip(), to.port());
            self.hosts[victim].run(&script).await.map_or(true, |code| code.trim() != "124")
        }))
        .await;
        let open: Vec<String> = pairs
            .iter()
            .zip(&reachable)
            .filter(|(_, r)| **r)
            .map(|((v, s), _)| format!("{}<-{}", self.nodes[*v].name, self.nodes[*s].name))
            .collect();
        json!({"pairs_checked": pairs.len(), "pairs_cut": pairs.len() - open.len(), "still_open": open})
    }
}

impl FaultTarget for RemoteLab {
    fn node_names(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }

    fn refuses(&self, kind: FaultKind) -> Option<String> {
        RemoteLab::refuses(self, kind)
    }

    fn start_fault<'a>(&'a mut self, fault: &'a Fault) -> LocalBoxFuture<'a, Result<Value, String>> {
        Box::pin(RemoteLab::start_fault(self, fault))
    }

    fn stop_fault<'a>(&'a mut self, fault: &'a Fault) -> LocalBoxFuture<'a, Result<Value, String>> {
        Box::pin(RemoteLab::stop_fault(self, fault))
    }

    fn heal_all(&mut self) -> Option<LocalBoxFuture<'_, Result<Value, String>>> {
        Some(Box::pin(RemoteLab::heal_all(self)))
    }
}

impl NodeLab for RemoteLab {
    fn nodes(&self) -> &[NodeAddress] {
        &self.nodes
    }
}

impl Drop for RemoteLab {
    /// Fetches every node's log, then on every host kills the run's processes, removes the nftables
    /// table and any netem qdisc of ours, and the working directory. Blocking: a drop cannot await.
    fn drop(&mut self) {
        self.keepalive.abort();
        for task in self.strobes.values() {
            task.abort();
        }
        for (i, host) in self.hosts.iter().enumerate() {
            let work = &self.paths[i].work;
            if let Some(process) = self.processes.get(i) {
                let log = format!("{work}/logs/{}.log", self.nodes[i].name);
                if let Ok(text) = host.run_blocking(&format!("cat {} 2>/dev/null || true", quote(&log))) {
                    let _ = std::fs::write(&process.spec.log, text);
                }
            }
            let mut script = kill_script(&format!("{REMOTE_ENV}={work}"), false, &[]);
            if host.facts.nft.is_none() {
                script.push_str(&format!("{} delete table inet {TABLE} 2>/dev/null\n", host.privileged("nft")));
            }
            if self.delayed.contains(&i) {
                let peer = self.hosts[(i + 1) % self.hosts.len()].ip;
                script.push_str(&format!(
                    "dev=$(ip route get {peer} | sed -n 's/.* dev \\([^ ]*\\).*/\\1/p' | head -n 1)\n{} qdisc del dev \"$dev\" root\n",
                    host.privileged("tc")
                ));
            }
            script.push_str(&format!("rm -rf {}\ntrue\n", quote(work)));
            if let Err(e) = host.run_blocking(&script) {
                eprintln!("faultline: teardown on {e}; `faultline lab clean --cluster SPEC` removes what is left");
            }
        }
    }
}

/// A fault step's finding with what applying it cost: `applied_ms`, the time until it was in force (its
/// probe excluded), and `round_trips`, the commands each touched host ran for it (one, by design). The
/// schedule lifts both into the step's event ([`crate::target::APPLIED_MS`]).
fn with_cost(probe: Value, (took, round_trips): (Duration, BTreeMap<String, usize>)) -> Value {
    let mut map = match probe {
        Value::Object(map) => map,
        Value::Null => serde_json::Map::new(),
        other => [("found".to_string(), other)].into_iter().collect(),
    };
    map.insert(APPLIED_MS.into(), json!(took.as_millis() as u64));
    map.insert(ROUND_TRIPS.into(), json!(round_trips));
    Value::Object(map)
}

/// `ip saddr { ... } ACTION` and `ip6 saddr { ... } ACTION`, as the addresses need.
fn saddr_rules(addrs: &[IpAddr], action: &str) -> Vec<String> {
    let set = |v4: bool| -> Vec<String> {
        let mut a: Vec<String> = addrs.iter().filter(|a| a.is_ipv4() == v4).map(|a| a.to_string()).collect();
        a.sort();
        a.dedup();
        a
    };
    let mut rules = Vec::new();
    for (family, v4) in [("ip", true), ("ip6", false)] {
        let set = set(v4);
        if !set.is_empty() {
            rules.push(format!("{family} saddr {{ {} }} {action}", set.join(", ")));
        }
    }
    rules
}

/// Sets `s` to a process's state letter (R, S, T for stopped, ...), or `gone` if it has exited (a zombie
/// has exited).
fn state_script(pid: u32) -> String {
    format!(
        "s=$(sed 's/.*) //' /proc/{pid}/stat 2>/dev/null | cut -d' ' -f1); \
         if [ -z \"$s\" ] || [ \"$s\" = Z ]; then s=gone; fi"
    )
}

fn set_offset_script(control: &str, offset_ms: i64) -> String {
    let sign = if offset_ms < 0 { '-' } else { '+' };
    let ms = offset_ms.unsigned_abs();
    format!("printf '%s\\n' '{sign}{}.{:03}' > {}", ms / 1000, ms % 1000, quote(control))
}

/// A shell script that kills (SIGCONT, then SIGKILL) every process whose environment holds the variable
/// `marker` (as `NAME=VALUE`; with `prefix`, any that starts with it), except those of the run
/// directories in `spare`, and prints `process PID` for each.
fn kill_script(marker: &str, prefix: bool, spare: &[String]) -> String {
    let spare: Vec<String> = spare.iter().map(|d| quote(&format!("{REMOTE_ENV}={d}"))).collect();
    let marker_pattern = format!("{}{}", quote(marker), if prefix { "*" } else { "" });
    format!(
        "for e in /proc/[0-9]*/environ; do\n\
           v=$(tr '\\0' '\\n' < \"$e\" 2>/dev/null | grep -m 1 '^{REMOTE_ENV}=')\n\
           case \"$v\" in {marker_pattern}) ;; *) continue ;; esac\n\
           for s in {spare} ''; do [ -n \"$s\" ] && [ \"$v\" = \"$s\" ] && continue 2; done\n\
           p=${{e#/proc/}}; p=${{p%/environ}}\n\
           kill -s CONT \"$p\" 2>/dev/null; kill -s KILL \"$p\" 2>/dev/null && echo \"process $p\"\n\
         done\n",
        spare = spare.join(" "),
    )
}

/// This machine's host name: with faultline's pid, who owns a run's working directories.
fn local_hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that much.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    if ok {
        String::from_utf8_lossy(&buf[..end]).into_owned()
    } else {
        "unknown".into()
    }
}

/// Removes, from each host, what killed runs left under its working directory root (`roots[i]` on
/// `hosts[i]`): their processes, their working directories, and the `inet faultline` table once no live
/// run remains there. A run whose owner (this machine, a faultline process still running) is alive is
/// left alone, and so is everything that is not faultline's. Returns what was removed.
pub async fn clean(hosts: &[Host], roots: &[String]) -> Result<Vec<String>, String> {
    let me = local_hostname();
    let mut removed = Vec::new();
    for (host, root) in hosts.iter().zip(roots) {
        let listing = host
            .run(&format!(
                "for d in {}/*/; do [ -f \"$d{OWNER_FILE}\" ] && printf '%s %s\\n' \"${{d%/}}\" \"$(cat \"$d{OWNER_FILE}\")\"; done; true",
                quote(root)
            ))
            .await?;
        let (mut live, mut dead) = (Vec::new(), Vec::new());
        for line in listing.lines() {
            let mut words = line.rsplitn(3, ' ');
            let (pid, owner, dir) = (words.next(), words.next(), words.next());
            let (Some(pid), Some(owner), Some(dir)) = (pid, owner, dir) else { continue };
            let alive = owner == me && pid.parse::<u32>().is_ok_and(|p| p != std::process::id() && process_alive(p));
            if alive {
                live.push(dir.to_string())
            } else {
                dead.push(dir.to_string())
            }
        }
        let mut script = kill_script(&format!("{REMOTE_ENV}={root}/"), true, &live);
        for dir in &dead {
            script.push_str(&format!("rm -rf {0} && echo \"directory \"{0}\n", quote(dir)));
        }
        if live.is_empty() && host.facts.nft.is_none() {
            let nft = host.privileged("nft");
            script.push_str(&format!(
                "if {nft} list table inet {TABLE} >/dev/null 2>&1; then {nft} delete table inet {TABLE} && echo 'table inet {TABLE}'; fi\n"
            ));
        }
        script.push_str("true\n");
        let out = host.run(&script).await?;
        removed.extend(out.lines().filter(|l| !l.trim().is_empty()).map(|l| format!("host {}: {l}", host.name)));
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_name_each_address_family_once() {
        let addrs: Vec<IpAddr> =
            ["10.0.0.2", "fd00::2", "10.0.0.1", "10.0.0.2"].iter().map(|a| a.parse().unwrap()).collect();
        assert_eq!(saddr_rules(&addrs, "drop"), ["ip saddr { 10.0.0.1, 10.0.0.2 } drop", "ip6 saddr { fd00::2 } drop"]);
        assert!(saddr_rules(&[], "drop").is_empty());
    }

    #[test]
    fn uploads_land_in_the_run_bin_folder() {
        let paths = RemotePaths::new("/w/run 1".into(), &[PathBuf::from("/usr/bin/faultline")]);
        assert_eq!(paths.uploaded(Path::new("/usr/bin/faultline")), Some("/w/run 1/bin/faultline"));
        assert_eq!(paths.uploaded(Path::new("/usr/bin/other")), None);
        assert_eq!(paths.data_dir("n2"), "/w/run 1/data/n2");
    }

    #[test]
    fn offsets_are_written_as_libfaketime_reads_them() {
        assert_eq!(set_offset_script("/w/clock/n1", -1500), "printf '%s\\n' '-1.500' > /w/clock/n1");
        assert_eq!(set_offset_script("/w/c", 90_000), "printf '%s\\n' '+90.000' > /w/c");
    }

    /// The process sweep spares the run directories it is told to, and only kills what carries the
    /// marker: run as a real shell script against this machine's /proc.
    #[test]
    fn the_sweep_kills_marked_processes_only() {
        let root = std::env::temp_dir().join(format!("faultline-sweep-{}", std::process::id()));
        let (dead, live) = (root.join("dead"), root.join("live"));
        let spawn = |dir: &Path| {
            std::process::Command::new("sleep")
                .arg("30")
                .env(REMOTE_ENV, dir)
                .stdin(std::process::Stdio::null())
                .spawn()
                .unwrap()
        };
        let (mut a, mut b) = (spawn(&dead), spawn(&live));
        let mut unmarked = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let script = kill_script(&format!("{REMOTE_ENV}={}/", root.display()), true, &[live.display().to_string()]);
        let out = std::process::Command::new("sh").arg("-c").arg(&script).output().unwrap();
        let said = String::from_utf8_lossy(&out.stdout);
        assert_eq!(said.trim(), format!("process {}", a.id()), "{script}");
        assert!(a.wait().unwrap().code().is_none(), "killed by a signal");
        assert!(b.try_wait().unwrap().is_none() && unmarked.try_wait().unwrap().is_none());
        let _ = (b.kill(), unmarked.kill(), b.wait(), unmarked.wait());
    }
}
