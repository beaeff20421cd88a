//! The namespaced network of a lab: one Linux network namespace per node, each joined by a veth pair to a
//! bridge in the host's namespace, with addresses that exist only inside what this lab created. Faults
//! are nftables rules inside the receiving node's namespace (packets it should not hear are dropped on
//! input, as Jepsen does with iptables); delay uses `tc netem` where the kernel has it.
//!
//! Everything carries a recognisable name: namespaces `faultline-<owner pid>-<lab>-n<i>`, the bridge
//! `flbr<lab>`, host-side veths `flv<lab>n<i>`, so [`clean`] can remove what a killed run left behind, and
//! only that: a lab whose owner still runs is left alone.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::time::Duration;

pub const NAMESPACE_PREFIX: &str = "faultline-";
pub const LINK_PREFIXES: [&str; 2] = ["flbr", "flv"];
const TABLE: &str = "faultline";

/// Runs a command to completion; its stderr is the error.
pub fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!("`{program} {}` failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Why this machine cannot build a namespaced lab, if it cannot.
pub fn unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("network namespaces need root".into());
    }
    for tool in ["ip", "nft"] {
        if run(tool, &["-V"]).is_err() {
            return Some(format!("`{tool}` is not installed (Debian: iproute2, nftables)"));
        }
    }
    None
}

/// Whether this kernel takes `tc netem` (the sch_netem module), probed in a namespace of its own that is
/// removed at once (named like a lab's, lab number 999, so `lab clean` finds it if faultline dies here).
/// Known before any lab exists, so that a run asking for delay is refused before it creates anything.
pub fn netem_available() -> bool {
    if unavailable().is_some() {
        return false;
    }
    let ns = format!("{NAMESPACE_PREFIX}{}-999-probe", std::process::id());
    if run("ip", &["netns", "add", &ns]).is_err() {
        return false;
    }
    let works =
        run("ip", &["netns", "exec", &ns, "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "0ms"]).is_ok();
    let _ = run("ip", &["netns", "del", &ns]);
    works
}

/// One lab's namespaced network, removed on drop.
pub struct NetnsNetwork {
    pub lab: u32,
    pub nodes: usize,
    /// Whether `tc netem` works here (it needs the sch_netem kernel module).
    pub netem: bool,
}

impl NetnsNetwork {
    /// The subnet 10.213.<lab>.0/24: the host is .1, node i is .(i + 2).
    pub fn host_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 213, self.lab as u8, 1)
    }

    pub fn node_ip(&self, i: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 213, self.lab as u8, i as u8 + 2)
    }

    pub fn namespace(&self, i: usize) -> String {
        format!("{NAMESPACE_PREFIX}{}-{}-n{}", std::process::id(), self.lab, i + 1)
    }

    /// Builds the bridge, the namespaces and their links. The lab number is the first whose bridge name is
    /// free: creating the bridge is what claims it, so concurrent runs never share a lab.
    pub fn create(nodes: usize) -> Result<NetnsNetwork, String> {
        if let Some(why) = unavailable() {
            return Err(why);
        }
        if nodes == 0 || nodes > 250 {
            return Err(format!("a namespaced lab holds 1 to 250 nodes, not {nodes}"));
        }
        let mut claimed = None;
        for lab in 0..256u32 {
            if run("ip", &["link", "add", &format!("flbr{lab}"), "type", "bridge"]).is_ok() {
                claimed = Some(lab);
                break;
            }
        }
        let lab = claimed.ok_or("every lab number is taken: run `faultline lab clean`")?;
        let mut network = NetnsNetwork { lab, nodes: 0, netem: false };
        let bridge = format!("flbr{lab}");
        run("ip", &["addr", "add", &format!("{}/24", network.host_ip()), "dev", &bridge])?;
        run("ip", &["link", "set", &bridge, "up"])?;
        for i in 0..nodes {
            let ns = network.namespace(i);
            run("ip", &["netns", "add", &ns])?;
            network.nodes = i + 1;
            let host_side = format!("flv{lab}n{}", i + 1);
            run("ip", &["link", "add", &host_side, "type", "veth", "peer", "name", "eth0", "netns", &ns])?;
            run("ip", &["link", "set", &host_side, "master", &bridge])?;
            run("ip", &["link", "set", &host_side, "up"])?;
            run("ip", &["-n", &ns, "addr", "add", &format!("{}/24", network.node_ip(i)), "dev", "eth0"])?;
            run("ip", &["-n", &ns, "link", "set", "eth0", "up"])?;
            run("ip", &["-n", &ns, "link", "set", "lo", "up"])?;
            // Two chains on input, so that healing a partition leaves packet loss in place, and the reverse.
            let ruleset = format!(
                "table inet {TABLE} {{\n chain partition {{ type filter hook input priority 0; policy accept; }}\n \
                 chain loss {{ type filter hook input priority 1; policy accept; }}\n}}\n"
            );
            nft(&ns, &ruleset)?;
        }
        network.netem = network.tc(0, &["add", "dev", "eth0", "root", "netem", "delay", "0ms"]).is_ok()
            && network.tc(0, &["del", "dev", "eth0", "root"]).is_ok();
        Ok(network)
    }

    /// Drops, inside each victim's namespace, what it receives from the given sources (node indexes), and
    /// from the clients if `clients`.
    pub fn set_partition(&self, cut: &[(usize, BTreeSet<usize>, bool)]) -> Result<(), String> {
        for i in 0..self.nodes {
            nft(&self.namespace(i), &format!("flush chain inet {TABLE} partition\n"))?;
        }
        for (victim, sources, clients) in cut {
            let mut addrs: Vec<String> = sources.iter().map(|s| self.node_ip(*s).to_string()).collect();
            if *clients {
                addrs.push(self.host_ip().to_string());
            }
            if addrs.is_empty() {
                continue;
            }
            let rule = format!("add rule inet {TABLE} partition ip saddr {{ {} }} drop\n", addrs.join(", "));
            nft(&self.namespace(*victim), &rule)?;
        }
        Ok(())
    }

    /// Drops `percent` of what each of `nodes` receives from its peers (nft numgen), or nothing at 0.
    pub fn set_loss(&self, nodes: &[usize], percent: u32) -> Result<(), String> {
        for i in 0..self.nodes {
            nft(&self.namespace(i), &format!("flush chain inet {TABLE} loss\n"))?;
        }
        if percent == 0 {
            return Ok(());
        }
        for &i in nodes {
            let peers: Vec<String> = (0..self.nodes).filter(|j| *j != i).map(|j| self.node_ip(j).to_string()).collect();
            if peers.is_empty() {
                continue;
            }
            let rule = format!(
                "add rule inet {TABLE} loss ip saddr {{ {} }} numgen random mod 100 < {percent} drop\n",
                peers.join(", ")
            );
            nft(&self.namespace(i), &rule)?;
        }
        Ok(())
    }

    /// Delays what each of `nodes` sends (tc netem on its side of the link), or removes the delay.
    pub fn set_delay(&self, nodes: &[usize], delay: Duration, jitter: Duration) -> Result<(), String> {
        for i in 0..self.nodes {
            let _ = self.tc(i, &["del", "dev", "eth0", "root"]);
        }
        if delay.is_zero() {
            return Ok(());
        }
        for &i in nodes {
            let (d, j) = (format!("{}ms", delay.as_millis()), format!("{}ms", jitter.as_millis()));
            self.tc(i, &["add", "dev", "eth0", "root", "netem", "delay", &d, &j])?;
        }
        Ok(())
    }

    /// `tc qdisc ARGS` inside node `i`'s namespace.
    fn tc(&self, i: usize, args: &[&str]) -> Result<String, String> {
        let ns = self.namespace(i);
        run("ip", &[&["netns", "exec", &ns, "tc", "qdisc"], args].concat())
    }

    /// Whether node `from` can open a TCP connection to `to`'s `port` (within 500 ms), tried from inside
    /// `from`'s namespace: the probe that a cut really cuts.
    pub fn can_connect(&self, from: usize, to: usize, port: u16) -> bool {
        let script = format!("exec 3<>/dev/tcp/{}/{port}", self.node_ip(to));
        run("ip", &["netns", "exec", &self.namespace(from), "timeout", "0.5", "bash", "-c", &script]).is_ok()
    }

    /// Round-trip time of a TCP connect from node `from` to node `to`, measured inside `from`'s namespace.
    pub fn connect_time(&self, from: usize, to: usize, port: u16) -> Option<Duration> {
        let started = std::time::Instant::now();
        self.can_connect(from, to, port).then(|| started.elapsed())
    }
}

impl Drop for NetnsNetwork {
    fn drop(&mut self) {
        for i in 0..self.nodes {
            kill_namespace_processes(&self.namespace(i));
            // Deleting the host side removes the pair now; a namespace itself may linger (sockets closing)
            // and would keep its veth alive.
            let _ = run("ip", &["link", "del", &format!("flv{}n{}", self.lab, i + 1)]);
            let _ = run("ip", &["netns", "del", &self.namespace(i)]);
        }
        let _ = run("ip", &["link", "del", &format!("flbr{}", self.lab)]);
    }
}

fn nft(namespace: &str, script: &str) -> Result<(), String> {
    use std::io::Write;
    let mut child = Command::new("ip")
        .args(["netns", "exec", namespace, "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run nft: {e}"))?;
    child.stdin.take().map(|mut s| s.write_all(script.as_bytes()));
    let out = child.wait_with_output().map_err(|e| format!("nft: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("nft in {namespace} refused `{}`: {}", script.trim(), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

fn kill_namespace_processes(namespace: &str) {
    if let Ok(pids) = run("ip", &["netns", "pids", namespace]) {
        for pid in pids.split_whitespace().filter_map(|p| p.parse::<i32>().ok()) {
            // SAFETY: kill has no memory preconditions; a stale pid at worst gets ESRCH.
            unsafe {
                libc::kill(pid, libc::SIGCONT);
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}

/// Removes the namespaces and links of every lab whose faultline process is gone (a run that was killed):
/// what `faultline lab clean` does. Returns what it removed.
pub fn clean() -> Vec<String> {
    let mut removed = Vec::new();
    let mut dead_labs = BTreeSet::new();
    if let Ok(list) = run("ip", &["netns", "list"]) {
        for ns in list.lines().filter_map(|l| l.split_whitespace().next()) {
            let Some((owner, lab)) = parse_namespace(ns) else { continue };
            if crate::probe::process_alive(owner) {
                continue;
            }
            dead_labs.insert(lab);
            kill_namespace_processes(ns);
            if run("ip", &["netns", "del", ns]).is_ok() {
                removed.push(format!("namespace {ns}"));
            }
        }
    }
    if let Ok(list) = run("ip", &["-o", "link", "show"]) {
        for line in list.lines() {
            let Some(name) = line.split(':').nth(1).map(|n| n.trim().split('@').next().unwrap_or("").to_string())
            else {
                continue;
            };
            let lab = name
                .strip_prefix("flbr")
                .or_else(|| name.strip_prefix("flv").and_then(|rest| rest.split('n').next()))
                .and_then(|n| n.parse::<u32>().ok());
            // A bridge or veth without any namespace is an orphan too.
            let orphan = lab.is_some_and(|lab| dead_labs.contains(&lab) || !namespace_exists_for(lab));
            if orphan && run("ip", &["link", "del", &name]).is_ok() {
                removed.push(format!("link {name}"));
            }
        }
    }
    removed
}

/// `faultline-<owner>-<lab>-n<i>` -> (owner, lab).
fn parse_namespace(ns: &str) -> Option<(u32, u32)> {
    let mut parts = ns.strip_prefix(NAMESPACE_PREFIX)?.split('-');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

fn namespace_exists_for(lab: u32) -> bool {
    run("ip", &["netns", "list"]).is_ok_and(|list| {
        list.lines().filter_map(|l| l.split_whitespace().next()).filter_map(parse_namespace).any(|(_, l)| l == lab)
    })
}
