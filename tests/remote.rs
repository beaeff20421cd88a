//! Clusters on remote hosts over SSH, end to end. No real machines: a fixture makes N network namespaces
//! on a bridge of its own, each running its own `sshd` (as root, with a host key, a config and an
//! authorized_keys made for the test), and faultline in the root namespace reaches them as hosts. The
//! namespaces share this machine's filesystem and process table, so each host gets a working directory
//! root of its own (`DIR/work/HOST`): that is what keeps "hosts" apart here.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{assert_clients_cut_off, events, is_root, nemesis, run_folder};
use serde_json::Value;

const SSHD: &str = "/usr/sbin/sshd";

/// Whether this machine can run the fixture; without it a test says so and passes, except in CI (`CI`
/// set), where that fails: .ci/run installs openssh-server and runs as root.
fn fixture_possible() -> bool {
    let why = if !is_root() {
        Some("the SSH fixture needs root (network namespaces, sshd)")
    } else if !Path::new(SSHD).exists() {
        Some("sshd is not installed (Debian: openssh-server)")
    } else if Command::new("nft").arg("-V").output().is_err() {
        Some("nft is not installed (Debian: nftables)")
    } else {
        None
    };
    match why {
        None => true,
        Some(why) => {
            assert!(std::env::var_os("CI").is_none(), "{why}, and CI is set: .ci/run must provide it");
            eprintln!("skipping: {why}");
            false
        }
    }
}

fn run_ok(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).stdin(Stdio::null()).output().unwrap();
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// N hosts: network namespaces on a bridge, each with its own sshd. Removed (sshd, every process in the
/// namespaces, namespaces, bridge, files) on drop.
struct Hosts {
    dir: PathBuf,
    bridge: String,
    subnet: u8,
    count: usize,
    /// The client's key (authorized on every host) and a known_hosts file with every host's key.
    key: PathBuf,
    known_hosts: PathBuf,
}

impl Hosts {
    /// `no_sbin`: hosts whose sessions get a PATH without /usr/sbin (so `nft` is not found there).
    fn start(count: usize, no_sbin: &[usize]) -> Hosts {
        let dir = std::env::temp_dir().join(format!("faultline-ssh-{}-{}", std::process::id(), unique()));
        // (A folder an earlier test process of the same pid left would count as this fixture's leftovers.)
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all("/run/sshd").unwrap();
        // The subnet is claimed by creating its bridge, as the namespaced lab claims its lab number.
        let subnet = (0..=250u8)
            .find(|k| {
                Command::new("ip")
                    .args(["link", "add", &format!("flssh{k}"), "type", "bridge"])
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            })
            .expect("a free fixture bridge");
        let bridge = format!("flssh{subnet}");
        let key = dir.join("id_ed25519");
        let mut hosts = Hosts {
            dir: dir.clone(),
            bridge: bridge.clone(),
            subnet,
            count: 0,
            key: key.clone(),
            known_hosts: dir.join("known_hosts"),
        };
        run_ok("ip", &["addr", "add", &format!("10.214.{subnet}.1/24"), "dev", &bridge]);
        run_ok("ip", &["link", "set", &bridge, "up"]);
        run_ok("ssh-keygen", &["-q", "-t", "ed25519", "-N", "", "-C", "faultline-test", "-f", key.to_str().unwrap()]);
        let client_key = std::fs::read_to_string(dir.join("id_ed25519.pub")).unwrap();
        let mut known = String::new();
        for i in 0..count {
            let (ns, ip, h) = (hosts.namespace(i), hosts.ip(i), dir.join(format!("h{i}")));
            std::fs::create_dir_all(&h).unwrap();
            run_ok("ip", &["netns", "add", &ns]);
            hosts.count = i + 1;
            let veth = format!("flssh{subnet}v{i}");
            run_ok("ip", &["link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns]);
            run_ok("ip", &["link", "set", &veth, "master", &bridge]);
            run_ok("ip", &["link", "set", &veth, "up"]);
            run_ok("ip", &["-n", &ns, "addr", "add", &format!("{ip}/24"), "dev", "eth0"]);
            run_ok("ip", &["-n", &ns, "link", "set", "eth0", "up"]);
            run_ok("ip", &["-n", &ns, "link", "set", "lo", "up"]);
            let host_key = h.join("ssh_host_ed25519_key");
            run_ok("ssh-keygen", &["-q", "-t", "ed25519", "-N", "", "-f", host_key.to_str().unwrap()]);
            let public = std::fs::read_to_string(h.join("ssh_host_ed25519_key.pub")).unwrap();
            let mut words = public.split_whitespace();
            known.push_str(&format!("{ip} {} {}\n", words.next().unwrap(), words.next().unwrap()));
            // A home of its own per host: this machine's root may have a ~/.bashrc that bash sources for
            // every command sshd runs (Debian's bash does for ssh), which would cost each one its time.
            let home = h.join("home");
            std::fs::create_dir_all(&home).unwrap();
            let mut environment = format!("environment=\"HOME={}\"", home.display());
            if no_sbin.contains(&i) {
                environment.push_str(",environment=\"PATH=/usr/bin:/bin\"");
            }
            let authorized = format!("{environment} {client_key}");
            std::fs::write(h.join("authorized_keys"), authorized).unwrap();
            let config = format!(
                "ListenAddress {ip}\nPort 22\nHostKey {}\nPidFile {}\nAuthorizedKeysFile {}\nUsePAM no\n\
                 PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 StrictModes no\nPermitUserEnvironment yes\nMaxSessions 64\nMaxStartups 64\n",
                host_key.display(),
                h.join("sshd.pid").display(),
                h.join("authorized_keys").display()
            );
            std::fs::write(h.join("sshd_config"), config).unwrap();
            let log = h.join("sshd.log");
            run_ok(
                "ip",
                &[
                    "netns",
                    "exec",
                    &ns,
                    SSHD,
                    "-f",
                    h.join("sshd_config").to_str().unwrap(),
                    "-E",
                    log.to_str().unwrap(),
                ],
            );
        }
        std::fs::write(&hosts.known_hosts, known).unwrap();
        for i in 0..count {
            let addr = format!("{}:22", hosts.ip(i)).parse().unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
                assert!(Instant::now() < deadline, "sshd of host {i} does not listen");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        hosts
    }

    fn namespace(&self, i: usize) -> String {
        format!("flssh-{}-{}-h{i}", std::process::id(), self.subnet)
    }

    fn ip(&self, i: usize) -> String {
        format!("10.214.{}.{}", self.subnet, i + 2)
    }

    /// Each host's working directory root: `DIR/work/IP`.
    fn work_root(&self) -> PathBuf {
        self.dir.join("work")
    }

    /// A cluster spec running `command` on every host, with this fixture's key and known_hosts.
    fn spec(&self, name: &str, command: &str, remote_extra: &str) -> PathBuf {
        let hosts: Vec<String> = (0..self.count).map(|i| format!("{:?}", self.ip(i))).collect();
        let text = format!(
            "command = {command}\nadapter = \"native\"\nclient_port = 7000\nready = {{ tcp = \"{{listen}}\", timeout = \"15s\" }}\n\
             [remote]\nhosts = [{}]\nuser = \"root\"\nidentity = {:?}\nknown_hosts = {:?}\nworkdir = \"{}/{{host}}\"\n\
             upload = [\"{{faultline}}\"]\nconnect_timeout = \"3s\"\n{remote_extra}\n",
            hosts.join(", "),
            self.key.display().to_string(),
            self.known_hosts.display().to_string(),
            self.work_root().display(),
        );
        let path = self.dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// What a run left on the hosts: faultline tables, processes carrying a remote working directory,
    /// files under the working directory roots.
    fn leftovers(&self) -> Vec<String> {
        let mut left = Vec::new();
        for i in 0..self.count {
            let ns = self.namespace(i);
            let table = Command::new("ip")
                .args(["netns", "exec", &ns, "nft", "list", "table", "inet", "faultline"])
                .output()
                .unwrap();
            if table.status.success() {
                left.push(format!("table inet faultline on host {i}"));
            }
        }
        left.extend(remote_processes(&self.work_root()).into_iter().map(|p| format!("process {p}")));
        if let Ok(roots) = std::fs::read_dir(self.work_root()) {
            for root in roots.flatten() {
                for run in std::fs::read_dir(root.path()).into_iter().flatten().flatten() {
                    left.push(format!("directory {}", run.path().display()));
                }
            }
        }
        left
    }
}

impl Hosts {
    /// The pids of ssh master connections (`ssh ... -M ...`) to any of these hosts.
    fn masters(&self) -> Vec<u32> {
        let ips: Vec<String> = (0..self.count).map(|i| self.ip(i)).collect();
        let key = self.key.to_string_lossy().to_string();
        let mut pids = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|p| p.parse::<u32>().ok()) else { continue };
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
            let words: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            let master = words.first().is_some_and(|w| w.ends_with(b"ssh")) && words.contains(&&b"-M"[..]);
            // This fixture's key: another fixture's masters may outlive it, and its subnet be this one's.
            let ours = words.contains(&key.as_bytes());
            if master && ours && words.iter().any(|w| ips.iter().any(|ip| *w == ip.as_bytes())) {
                pids.push(pid);
            }
        }
        pids
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for i in 0..self.count {
            let ns = self.namespace(i);
            if let Ok(out) = Command::new("ip").args(["netns", "pids", &ns]).output() {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-9", pid]).status();
                }
            }
            let _ = Command::new("ip").args(["link", "del", &format!("{}v{i}", self.bridge)]).status();
            let _ = Command::new("ip").args(["netns", "del", &ns]).status();
        }
        let _ = Command::new("ip").args(["link", "del", &self.bridge]).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn unique() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The pids of processes whose environment names a remote working directory under `root`.
fn remote_processes(root: &Path) -> Vec<u32> {
    let marker = format!("FAULTLINE_REMOTE={}/", root.display());
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|p| p.parse::<u32>().ok()) else { continue };
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else { continue };
        if environ.split(|b| *b == 0).any(|v| v.starts_with(marker.as_bytes())) {
            pids.push(pid);
        }
    }
    pids
}

const REFERENCE: &str = r#"["{faultline}", "node", "--id", "{index}", "--listen", "{listen}", "--peers", "{indexed_peers}", "--data-dir", "{data_dir}"]"#;

fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline")).args(args).stdin(Stdio::null()).output().unwrap()
}

/// `faultline test --store STORE ARGS`: exit code, stdout + stderr.
fn test(store: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = faultline(&[&["test", "--store", store.to_str().unwrap()], args].concat());
    (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn refusals_name_the_host_and_the_cause_before_anything_starts() {
    if !fixture_possible() {
        return;
    }
    let hosts = Hosts::start(2, &[1]);
    let store = hosts.dir.join("store");
    let args = |spec: &Path| -> Vec<String> {
        ["--cluster", spec.to_str().unwrap(), "--nemesis", "partition", "--time-limit", "2s"].map(String::from).to_vec()
    };
    let refused = |spec: &Path, expected: &[&str]| {
        let args = args(spec);
        let (code, text) = test(&store, &args.iter().map(String::as_str).collect::<Vec<_>>());
        eprintln!("{text}");
        assert_eq!(code, Some(3), "{text}");
        for e in expected {
            assert!(text.contains(e), "expected {e:?} in: {text}");
        }
        assert!(run_folder(&store).is_none(), "a refused run makes no run folder: {text}");
        assert!(hosts.leftovers().is_empty(), "a refused run leaves nothing on the hosts: {:?}", hosts.leftovers());
    };
    let host0 = hosts.ip(0);
    let host1 = hosts.ip(1);

    // Host 1's sessions have no /usr/sbin in their PATH: no nft there, which partitions need.
    let spec = hosts.spec("no-nft.toml", REFERENCE, "");
    refused(&spec, &[&format!("host {host1}: `nft` is not installed")]);

    // Nothing listens on this port.
    let spec = hosts.spec("refused.toml", REFERENCE, "port = 2222");
    refused(&spec, &[&format!("host {host0}: unreachable"), "Connection refused"]);

    // A kernel without sch_netem (this project's CI) cannot delay: refused on the first host.
    let netem = Path::new("/sys/module/sch_netem").exists()
        || Command::new("modprobe").args(["-n", "-q", "sch_netem"]).status().is_ok_and(|s| s.success());
    if netem {
        eprintln!("sch_netem is here: the refusal of delay is not exercised");
    } else {
        let spec = hosts.spec("delay.toml", REFERENCE, "");
        let args = ["--cluster", spec.to_str().unwrap(), "--nemesis", "delay", "--time-limit", "2s"];
        let (code, text) = test(&store, &args);
        assert_eq!(code, Some(3), "{text}");
        assert!(text.contains(&format!("cannot inject delay faults: host {host0}: delay needs tc netem")), "{text}");
        assert!(run_folder(&store).is_none() && hosts.leftovers().is_empty());
    }

    // The crash fault's filesystem is served on this machine: it cannot cover a host's data directory.
    let spec = hosts.spec("crash.toml", REFERENCE, "");
    let args = ["--cluster", spec.to_str().unwrap(), "--nemesis", "crash", "--time-limit", "2s"];
    let (code, text) = test(&store, &args);
    assert_eq!(code, Some(3), "{text}");
    assert!(text.contains(&format!("cannot inject crash faults: host {host0}: the crash fault drops")), "{text}");
    assert!(run_folder(&store).is_none() && hosts.leftovers().is_empty());

    // A key the hosts do not know.
    let stranger = hosts.dir.join("stranger");
    run_ok("ssh-keygen", &["-q", "-t", "ed25519", "-N", "", "-f", stranger.to_str().unwrap()]);
    let text = std::fs::read_to_string(hosts.spec("x.toml", REFERENCE, "")).unwrap();
    let text = text.replace(
        &format!("identity = {:?}", hosts.key.display().to_string()),
        &format!("identity = {:?}", stranger.display().to_string()),
    );
    let spec = hosts.dir.join("stranger.toml");
    std::fs::write(&spec, text).unwrap();
    refused(&spec, &[&format!("host {host0}: authentication failed"), "Permission denied"]);

    // Host keys are checked as ssh checks them: an empty known_hosts knows no host ...
    let empty = hosts.dir.join("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    let text = std::fs::read_to_string(hosts.spec("y.toml", REFERENCE, "")).unwrap();
    let text = text.replace(
        &format!("known_hosts = {:?}", hosts.known_hosts.display().to_string()),
        &format!("known_hosts = {:?}", empty.display().to_string()),
    );
    let spec = hosts.dir.join("unknown.toml");
    std::fs::write(&spec, &text).unwrap();
    refused(&spec, &[&format!("host {host0}: its host key is not known"), "accept_new_host_keys"]);
    // ... and accept_new_host_keys accepts and remembers them (the run is then refused for nft on host 1).
    let spec = hosts.dir.join("accept-new.toml");
    std::fs::write(&spec, format!("{text}accept_new_host_keys = true\n")).unwrap();
    refused(&spec, &[&format!("host {host1}: `nft` is not installed")]);
    // (Debian's ssh_config hashes what it learns: ssh-keygen -F finds a host in it.)
    for host in [&host0, &host1] {
        run_ok("ssh-keygen", &["-F", host, "-f", empty.to_str().unwrap()]);
    }
}

#[test]
fn the_reference_cluster_on_three_hosts_stays_valid_under_partitions_kills_pauses_and_clocks() {
    if !fixture_possible() {
        return;
    }
    let hosts = Hosts::start(3, &[]);
    let store = hosts.dir.join("store");
    let spec = hosts.spec("reference.toml", REFERENCE, "");
    // Fixed turns, so that every kind acts: partition, kill, pause, clock, partition, ...
    let args = ["--cluster", spec.to_str().unwrap(), "--nemesis", "partition,kill,pause,clock", "--nemesis-fixed"];
    let (code, text) =
        test(&store, &[&args[..], &["--nemesis-interval", "1s", "--time-limit", "10s", "--seed", "7"]].concat());
    assert_eq!(code, Some(0), "{text}");
    let dir = run_folder(&store).unwrap();
    let events = events(&dir);
    let partitions = nemesis(&events, "start-partition");
    assert!(!partitions.is_empty(), "{text}");
    for p in &partitions {
        let probe = &p["value"]["probe"];
        assert!(probe["pairs_checked"].as_u64().unwrap() > 0, "{p}");
        assert_eq!(probe["pairs_cut"], probe["pairs_checked"], "every cut pair is cut on the hosts: {p}");
    }
    let kills = nemesis(&events, "start-kill");
    assert!(!kills.is_empty(), "{text}");
    for k in &kills {
        let probe = k["value"]["probe"].as_object().unwrap().values().next().unwrap().clone();
        assert_eq!(probe, serde_json::json!({"exited": true, "port_closed": true}), "{k}");
    }
    for s in nemesis(&events, "stop-kill") {
        assert!(s["value"]["probe"].as_object().unwrap().values().all(|v| v["restarted"] == true), "{s}");
    }
    let pauses = nemesis(&events, "start-pause");
    assert!(!pauses.is_empty(), "{text}");
    for p in pauses {
        assert!(p["value"]["probe"].as_object().unwrap().values().all(|v| v["state"] == "T"), "stopped: {p}");
    }
    for p in nemesis(&events, "stop-pause") {
        assert!(p["value"]["probe"].as_object().unwrap().values().all(|v| v["state"] != "T"), "running: {p}");
    }
    // A clock fault moves the node's clock on its host (libfaketime there), as the probe sees it.
    if Path::new("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1").exists() {
        let clocks = nemesis(&events, "start-clock");
        assert!(!clocks.is_empty(), "{text}");
        for c in clocks {
            let wanted = c["value"]["bump_ms"].as_i64().or(c["value"]["strobe_ms"].as_i64()).unwrap();
            let seen = c["value"]["probe"].as_object().unwrap().values().next().unwrap()["observed_offset_ms"].as_i64();
            assert!(seen.is_some_and(|seen| (seen - wanted).abs() < 1_000), "asked {wanted} ms: {c}");
        }
    }
    // Each step of a fault ran one command on each host it touched, all hosts at once, and the event
    // says how long putting it in force took (a partition's probe, which waits out 500 ms, apart).
    let steps: Vec<&Value> = events
        .iter()
        .filter(|e| e["process"] == "nemesis" && e["type"] == "info" && e["f"] != "heal")
        .filter(|e| e["value"].get("error").is_none())
        .collect();
    assert!(!steps.is_empty(), "{text}");
    for step in steps {
        let trips = step["value"]["round_trips"].as_object().unwrap_or_else(|| panic!("no round_trips: {step}"));
        assert!(!trips.is_empty() && trips.values().all(|n| n == 1), "one round trip per host: {step}");
        let applied = step["value"]["applied_ms"].as_u64().unwrap();
        assert!(applied < 500, "applied in {applied} ms: {step}");
        eprintln!("{}: applied in {applied} ms, {} host(s)", step["f"], trips.len());
    }
    // The nodes' logs came back from the hosts; the run says where it ran.
    for n in ["n1", "n2", "n3"] {
        let log = std::fs::read_to_string(dir.join("nodes").join(format!("{n}.log"))).unwrap();
        assert!(!log.trim().is_empty(), "{n}'s log is empty");
    }
    let config: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["cluster"]["lab"], "remote");
    assert_eq!(config["cluster"]["hosts"], serde_json::json!([hosts.ip(0), hosts.ip(1), hosts.ip(2)]));
    assert_eq!(hosts.leftovers(), Vec::<String>::new(), "the run leaves nothing on the hosts");
    assert_eq!(hosts.masters(), Vec::<u32>::new(), "the run closed its SSH connections");
}

#[test]
fn unsafe_mode_on_three_hosts_loses_acknowledged_writes_when_its_primary_is_killed() {
    if !fixture_possible() {
        return;
    }
    let hosts = Hosts::start(3, &[]);
    let store = hosts.dir.join("store");
    // The primary acknowledges writes it flushes every second; each kill aims at the node that answers
    // GET /status as primary right before it (asked from here, over the hosts' addresses).
    let command = r#"["{faultline}", "node", "--id", "{index}", "--listen", "{listen}", "--peers", "{indexed_peers}", "--data-dir", "{data_dir}", "--mode", "unsafe", "--flush-interval", "1s"]"#;
    let probe = "[primary]\nrequest = \"{client_url}/status\"\npointer = \"/role\"\nequals = \"primary\"";
    let spec = hosts.spec("unsafe.toml", command, probe);
    let args = ["--cluster", spec.to_str().unwrap(), "--nemesis", "kill", "--nemesis-targets", "kill=primaries"];
    let args = [&args[..], &["--nemesis-interval", "800ms", "--nemesis-fixed"]].concat();
    let (code, text) = test(&store, &[&args[..], &["--time-limit", "8s", "--mix", "1:1:0", "--seed", "1"]].concat());
    let dir = run_folder(&store).unwrap();
    let events = events(&dir);
    // Every kill hit the node the probe named (the test would prove nothing otherwise).
    let kills = nemesis(&events, "start-kill");
    let steps: Vec<&Value> = events.iter().filter(|e| e["process"] == "nemesis").collect();
    assert!(!kills.is_empty(), "no kill: {steps:?}; {text}");
    for kill in &kills {
        let (nodes, named) = (&kill["value"]["nodes"], &kill["value"]["primary_probe"]["primaries"]);
        assert!(nodes.as_array().is_some_and(|n| n.len() == 1) && nodes == named, "{kill}");
    }
    assert_eq!(code, Some(1), "{text}");
    let results: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    assert!(results["files"][0]["ladder"]["eventual"]["lost_count"].as_u64().unwrap() > 0, "{results}");
    assert_eq!(hosts.leftovers(), Vec::<String>::new(), "the run leaves nothing on the hosts");
}

/// Starts a 60 s run against `spec` in the background and returns once its nemesis has cut something
/// (a table with rules exists on the hosts): the run folder and the child, which the caller ends and
/// waits for (that is what these tests are about).
#[allow(clippy::zombie_processes)]
fn start_long_run(store: &Path, spec: &Path) -> (std::process::Child, PathBuf) {
    let log = std::fs::File::create(store.with_extension("log")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["test", "--store", store.to_str().unwrap(), "--cluster", spec.to_str().unwrap()])
        .args(["--nemesis", "partition", "--nemesis-interval", "500ms", "--nemesis-fixed", "--time-limit", "60s"])
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let started = run_folder(store).filter(|d| {
            std::fs::read_to_string(d.join("history.jsonl")).is_ok_and(|h| h.contains("\"start-partition\""))
        });
        if let Some(dir) = started {
            return (child, dir);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(store.with_extension("log")).unwrap_or_default();
            panic!("the run did not start a partition within 30 s: {log}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn sigterm_heals_and_removes_everything_from_the_hosts() {
    if !fixture_possible() {
        return;
    }
    let hosts = Hosts::start(3, &[]);
    let store = hosts.dir.join("store");
    let (mut child, dir) = start_long_run(&store, &hosts.spec("reference.toml", REFERENCE, ""));
    assert!(!hosts.leftovers().is_empty(), "the run has nodes, tables and directories on the hosts");
    assert_eq!(hosts.masters().len(), 3, "one SSH connection per host");
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "faultline did not end within 30 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(hosts.leftovers(), Vec::<String>::new(), "SIGTERM leaves nothing on the hosts");
    assert_eq!(hosts.masters(), Vec::<u32>::new(), "and closes its SSH connections");
    let control = std::env::temp_dir().join(format!("faultline-control-{}", child.id()));
    assert!(!control.exists(), "and removes its SSH control folder");
    assert!(!std::fs::read_to_string(dir.join("nodes/n1.log")).unwrap().trim().is_empty(), "n1's log came back");
}

#[test]
fn lab_clean_removes_what_a_killed_run_left_on_the_hosts_and_nothing_else() {
    if !fixture_possible() {
        return;
    }
    let hosts = Hosts::start(3, &[]);
    let store = hosts.dir.join("store");
    let spec = hosts.spec("reference.toml", REFERENCE, "");
    let (mut child, _) = start_long_run(&store, &spec);
    child.kill().unwrap();
    child.wait().unwrap();
    // Its SSH control folder stays here, and its master connections run on, until lab clean.
    let control = std::env::temp_dir().join(format!("faultline-control-{}", child.id()));
    assert!(control.exists());
    assert_eq!(hosts.masters().len(), 3, "one master connection per host outlives the run");
    let left = hosts.leftovers();
    assert!(left.iter().filter(|l| l.starts_with("table")).count() == 3, "{left:?}");
    assert!(left.iter().filter(|l| l.starts_with("process")).count() >= 3, "{left:?}");
    // What is not a killed run's stays: a live run (its owner, this test, runs), a directory without an
    // owner file, another nftables table.
    let me = String::from_utf8(Command::new("hostname").output().unwrap().stdout).unwrap();
    let root0 = hosts.work_root().join(hosts.ip(0));
    let live = root0.join("live-run");
    std::fs::create_dir_all(&live).unwrap();
    std::fs::write(live.join(".faultline-run"), format!("{} {}\n", me.trim(), std::process::id())).unwrap();
    let foreign = root0.join("not-a-run");
    std::fs::create_dir_all(&foreign).unwrap();
    run_ok("ip", &["netns", "exec", &hosts.namespace(1), "nft", "add", "table", "inet", "someone-else"]);

    let out = faultline(&["lab", "clean", "--cluster", spec.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains(&format!("removed host {}: process", hosts.ip(0))), "{text}");
    assert!(text.contains(&format!("removed host {}: table inet faultline", hosts.ip(1))), "{text}");
    assert!(
        text.contains(&format!("removed SSH control folder {} (closed 3 master connections)", control.display())),
        "{text}"
    );
    assert!(!control.exists());
    assert_eq!(hosts.masters(), Vec::<u32>::new(), "lab clean closes the killed run's connections");
    assert!(live.exists() && foreign.exists(), "a live run and a foreign directory stay");
    // Host 0 still has a live run: its table stays until that run is gone.
    let expected = vec![
        "table inet faultline on host 0".to_string(),
        format!("directory {}", live.display()),
        format!("directory {}", foreign.display()),
    ];
    assert_eq!(hosts.leftovers(), expected);
    run_ok("ip", &["netns", "exec", &hosts.namespace(1), "nft", "list", "table", "inet", "someone-else"]);

    std::fs::write(live.join(".faultline-run"), format!("{} 999999999\n", me.trim())).unwrap();
    let out = faultline(&["lab", "clean", "--cluster", spec.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("removed host {}: table inet faultline", hosts.ip(0))), "{text}");
    assert_eq!(hosts.leftovers(), vec![format!("directory {}", foreign.display())]);
    let out = faultline(&["lab", "clean", "--cluster", spec.to_str().unwrap()]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "nothing to clean");
}

#[test]
fn a_node_that_cannot_start_names_its_host_and_leaves_nothing() {
    if !fixture_possible() {
        return;
    }
    let hosts = Hosts::start(2, &[]);
    let store = hosts.dir.join("store");
    // A program that is not on the hosts (and not uploaded).
    let spec = hosts.spec("missing.toml", r#"["/no/such/server", "--listen", "{listen}"]"#, "");
    let (code, text) = test(&store, &["--cluster", spec.to_str().unwrap(), "--time-limit", "2s"]);
    assert_eq!(code, Some(3), "{text}");
    assert!(
        text.contains(&format!("node n1 (host {}): the program /no/such/server is not on this host", hosts.ip(0))),
        "{text}"
    );
    assert_eq!(hosts.leftovers(), Vec::<String>::new());
    // A program that exits at once: the error names node and host and ends with its log.
    let spec = hosts.spec("exits.toml", r#"["/bin/sh", "-c", "echo no config for {name} >&2; exit 3"]"#, "");
    let (code, text) = test(&store, &["--cluster", spec.to_str().unwrap(), "--time-limit", "2s"]);
    assert_eq!(code, Some(3), "{text}");
    assert!(text.contains(&format!("node n1 (host {}) exited before it was ready", hosts.ip(0))), "{text}");
    assert!(text.contains("no config for n1"), "the error ends with the node's log: {text}");
    assert_eq!(hosts.leftovers(), Vec::<String>::new());
    // A server of its own already listens on the second host's client port: the node could not listen
    // there, and the readiness probe would take that server for it. Refused before anything starts.
    let data = hosts.dir.join("stranger");
    let listen = format!("{}:7000", hosts.ip(1));
    let mut stranger = Command::new("ip")
        .args(["netns", "exec", &hosts.namespace(1), env!("CARGO_BIN_EXE_faultline"), "node", "--id", "0"])
        .args(["--listen", &listen, "--peers", &format!("0={listen}"), "--data-dir", data.to_str().unwrap()])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr = listen.parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(Instant::now() < deadline, "the stranger does not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    let spec = hosts.spec("taken.toml", r#"["/bin/sleep", "60"]"#, "");
    let (code, text) = test(&store, &["--cluster", spec.to_str().unwrap(), "--time-limit", "2s"]);
    let _ = stranger.kill();
    let _ = stranger.wait();
    assert_eq!(code, Some(3), "{text}");
    assert!(text.contains(&format!("node n2 (host {}): something already listens on {listen}", hosts.ip(1))), "{text}");
    assert_eq!(hosts.leftovers(), Vec::<String>::new());
}

#[test]
fn clients_can_be_cut_off_a_host_while_its_node_still_hears_its_peers_and_loss_applies() {
    if !fixture_possible() {
        return;
    }
    let hosts = Hosts::start(3, &[]);
    let store = hosts.dir.join("store");
    let spec = hosts.spec("reference.toml", REFERENCE, "");
    let args = ["--cluster", spec.to_str().unwrap(), "--nemesis", "partition,loss", "--partition", "clients"];
    let timing =
        ["--nemesis-interval", "1500ms", "--nemesis-fixed", "--time-limit", "7s", "--request-timeout", "300ms"];
    let (code, text) = test(&store, &[&args[..], &timing[..]].concat());
    assert_eq!(code, Some(0), "{text}");
    let events = events(&run_folder(&store).unwrap());
    let start = events
        .iter()
        .position(|e| e["process"] == "nemesis" && e["type"] == "info" && e["f"] == "start-partition-clients")
        .unwrap_or_else(|| panic!("no clients partition in {text}"));
    assert!(events[start]["value"].get("error").is_none(), "{}", events[start]);
    let node = events[start]["value"]["nodes"][0].as_str().unwrap().to_string();
    let stop = events.iter().position(|e| e["process"] == "nemesis" && e["f"] == "stop-partition-clients").unwrap();
    assert_clients_cut_off(&events, start, stop, &node);
    let loss = nemesis(&events, "start-loss");
    assert!(!loss.is_empty() && loss.iter().all(|l| l["value"].get("error").is_none()), "{loss:?}");
    assert_eq!(hosts.leftovers(), Vec::<String>::new());
}

#[test]
fn nodes_that_disagree_with_the_remote_hosts_are_refused_before_anything_starts() {
    // Addresses of TEST-NET-1 (RFC 5737): nothing answers there, and nothing needs to, since the refusal
    // comes before any host is reached.
    let dir = std::env::temp_dir().join(format!("faultline-remote-nodes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let spec = dir.join("three.toml");
    std::fs::write(
        &spec,
        "command = [\"/bin/true\"]\nclient_port = 7000\n[remote]\nhosts = [\"192.0.2.1\", \"192.0.2.2\", \"192.0.2.3\"]\n",
    )
    .unwrap();
    let store = dir.join("store");
    let started = Instant::now();
    let (code, text) = test(&store, &["--cluster", spec.to_str().unwrap(), "--nodes", "5", "--time-limit", "2s"]);
    assert_eq!(code, Some(3), "{text}");
    assert!(text.contains("--nodes 5") && text.contains("3 hosts"), "{text}");
    assert!(run_folder(&store).is_none(), "a refused run makes no run folder: {text}");
    assert!(started.elapsed() < Duration::from_secs(2), "refused only after {:?}: {text}", started.elapsed());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn hosts_that_share_a_filesystem_and_one_workdir_keep_every_node_apart() {
    if !fixture_possible() {
        return;
    }
    let hosts = Hosts::start(3, &[]);
    let store = hosts.dir.join("store");
    // One working directory root for every host (no {host}), as hosts sharing an NFS home would have.
    let spec = hosts.spec("shared.toml", REFERENCE, "");
    let text = std::fs::read_to_string(&spec).unwrap().replace("/{host}\"", "\"");
    std::fs::write(&spec, text).unwrap();
    let args =
        ["--cluster", spec.to_str().unwrap(), "--nemesis", "kill", "--nemesis-fixed", "--nemesis-interval", "1s"];
    let (code, text) = test(&store, &[&args[..], &["--time-limit", "4s", "--seed", "3"]].concat());
    assert_eq!(code, Some(0), "{text}");
    let dir = run_folder(&store).unwrap();
    for n in ["n1", "n2", "n3"] {
        let log = std::fs::read_to_string(dir.join("nodes").join(format!("{n}.log"))).unwrap();
        assert!(!log.trim().is_empty(), "{n}'s log is empty: {text}");
    }
    assert_eq!(hosts.leftovers(), Vec::<String>::new(), "the run leaves nothing on the hosts");
}
