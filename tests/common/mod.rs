//! What the end-to-end tests share: reading a run's history and its nemesis events, and knowing whether
//! this machine can build a namespaced lab.
#![allow(dead_code)] // each test file uses its own share of these

use std::path::Path;
use std::process::Command;

use serde_json::Value;

mod skip;
pub use skip::skip;

pub fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A run's history, one JSON value per event.
pub fn events(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("history.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The nemesis completions (`info`) named `f`.
pub fn nemesis<'a>(events: &'a [Value], f: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["process"] == "nemesis" && e["type"] == "info" && e["f"] == f).collect()
}

/// Asserts what clients saw while `node` was cut off from them, between the events at `start` and `stop`:
/// what they sent to that node got no answer (a request in flight timed out; a new connection was never
/// made, so nothing was sent), and the other nodes answered. Only operations invoked once the cut was in
/// place count: a request the node had already received may still be answered (the cut drops what the
/// node receives, not what it sends).
pub fn assert_clients_cut_off(events: &[Value], start: usize, stop: usize, node: &str) {
    let mut invoked_during = std::collections::HashSet::new();
    let mut completions: Vec<&Value> = Vec::new();
    for e in events[start..stop].iter().filter(|e| e["process"] != "nemesis") {
        if e["type"] == "invoke" {
            invoked_during.insert(e["process"].as_u64());
        } else if invoked_during.contains(&e["process"].as_u64()) {
            completions.push(e);
        }
    }
    let (cut, others): (Vec<&Value>, Vec<&Value>) = completions.iter().partition(|e| e["node"] == node);
    let unanswered = |e: &Value| {
        e["type"] == "info"
            || (e["type"] == "fail"
                && e["error"].as_str().is_some_and(|error| error.starts_with("not-sent: no connection")))
    };
    assert!(!cut.is_empty() && cut.iter().all(|e| unanswered(e)), "the cut node answered a client: {cut:?}");
    assert!(others.iter().any(|e| e["type"] == "ok"), "the other nodes stopped answering too");
}

/// The first linearizability anomaly with an explanation in a run's results.json.
pub fn first_anomaly(results: &Value) -> &serde_json::Map<String, Value> {
    let problems = results["files"][0]["linearizability"]["problems"].as_array().expect("a problems list");
    problems.iter().find_map(|p| p["anomaly"].as_object()).expect("an explained key")
}

/// The folder of the one run in `store` (`store/<test>/<timestamp>/`), found without `store/latest`,
/// which moves only once a run has finished: for a run still going, or one that was killed.
pub fn run_folder(store: &Path) -> Option<std::path::PathBuf> {
    let tests = std::fs::read_dir(store).ok()?.flatten().filter(|e| e.path().is_dir() && e.file_name() != "latest");
    tests.flat_map(|t| std::fs::read_dir(t.path()).into_iter().flatten().flatten()).map(|r| r.path()).max()
}

/// Whether `etcd` (Debian's `etcd-server`) is here; without it a test says so and passes, except in CI
/// (`CI` set), where that fails.
pub fn etcd_installed() -> bool {
    if Command::new("etcd").arg("--version").output().is_ok() {
        return true;
    }
    skip("etcd is not installed (apt-get install etcd-server)");
    false
}

/// A run store for test `name` of `suite`, named by this test process's pid, and empty: a store a run of
/// long ago left there (its test failed and kept it) would otherwise be taken for this run's doing, once
/// the pid comes round again. It empties the folder: ask once per store, and keep the path.
pub fn fresh_store(suite: &str, name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("faultline-{suite}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A port for a server a test starts, picked as the labs pick theirs (outside the ports the kernel hands
/// out to connections, which a busy test run would soon take).
pub fn free_port() -> u16 {
    faultline_nemesis::lab::free_loopback_port().unwrap()
}

/// A single etcd node serving clients on loopback, killed and its data removed when dropped.
pub struct Etcd {
    child: std::process::Child,
    data: std::path::PathBuf,
    pub url: String,
    pub client_port: u16,
}

impl Etcd {
    /// Starts etcd with its data in `data`, serving clients at `scheme://127.0.0.1:PORT` (peers over plain
    /// http on another free port), with `extra` flags and its output to `log`. Returns once it accepts
    /// connections (20 s at most); whether it has elected itself is for the caller to wait for.
    pub fn start(data: std::path::PathBuf, scheme: &str, extra: &[&str], log: std::process::Stdio) -> Etcd {
        let (client_port, peer) = (free_port(), free_port());
        let url = format!("{scheme}://127.0.0.1:{client_port}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let child = Command::new("etcd")
            .args(["--name", "n1", "--data-dir", data.to_str().unwrap()])
            .args(["--listen-client-urls", &url, "--advertise-client-urls", &url])
            .args(["--listen-peer-urls", &peer_url, "--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("n1={peer_url}")])
            .args(extra)
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .expect("etcd starts");
        let etcd = Etcd { child, data, url, client_port };
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", client_port)).is_err() {
            assert!(started.elapsed() < std::time::Duration::from_secs(20), "etcd did not listen within 20 s");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        etcd
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}
