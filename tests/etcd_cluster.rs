//! Cluster specs end to end, through the real binary: a 3-node etcd (Debian's `etcd-server`) started by
//! `faultline test --cluster etcd` in a namespaced lab, under real faults; the reference cluster through
//! its spec against the built-in path; bad specs. The etcd tests need root and etcd: outside CI they say
//! so and skip; CI (root, etcd installed by `.ci/run`) must run them. The tests take turns: three etcd
//! nodes and ten clients keep two cores busy.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use serde_json::Value;

mod common;
use common::{events, is_root, nemesis, skip};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Whether the etcd tests can run here; in CI they must.
fn etcd_lab() -> bool {
    let etcd = Command::new("etcd").arg("--version").output().is_ok_and(|o| o.status.success());
    if etcd && is_root() {
        return true;
    }
    skip("the 3-node etcd tests need root (namespaced lab) and etcd (apt-get install etcd-server)");
    false
}

fn store(name: &str) -> PathBuf {
    common::fresh_store("etcd-cluster", name)
}

struct Run {
    code: Option<i32>,
    text: String,
    pid: u32,
}

fn faultline_test(store: &Path, args: &[&str]) -> Run {
    let child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["test", "--store", store.to_str().unwrap()])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("faultline runs");
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    let text = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    Run { code: out.status.code(), text, pid }
}

fn results(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap()
}

/// Namespaces of the faultline process `pid` that are still there.
fn namespaces_of(pid: u32) -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with(&format!("faultline-{pid}-")))
        .map(String::from)
        .collect()
}

#[test]
fn etcd_with_linearizable_reads_stays_valid_under_partitions_and_kills() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    if !etcd_lab() {
        return;
    }
    let store = store("linearizable");
    for (adapter, time) in [("etcd-v3", "16s"), ("etcd-v2", "10s")] {
        let run = faultline_test(
            &store,
            &[
                "--cluster",
                "etcd",
                "--adapter",
                adapter,
                "--nemesis",
                "partition,kill",
                "--nemesis-fixed",
                "--nemesis-interval",
                "2s",
                "--time-limit",
                time,
                "--seed",
                "7",
            ],
        );
        assert_eq!(run.code, Some(0), "{adapter}: {}", run.text);
        assert!(run.text.contains("VALID"), "{}", run.text);
        let dir = std::fs::canonicalize(store.join("latest")).unwrap();
        let events = events(&dir);
        let partitions = nemesis(&events, "start-partition");
        assert!(!partitions.is_empty(), "{adapter}: no partition");
        for p in partitions {
            let probe = &p["value"]["probe"];
            assert_eq!(probe["pairs_cut"], probe["pairs_checked"], "{adapter}: a cut pair still talks: {p}");
        }
        let kills = nemesis(&events, "start-kill");
        assert!(!kills.is_empty(), "{adapter}: no kill");
        for k in kills {
            for (_, probe) in k["value"]["probe"].as_object().unwrap() {
                assert_eq!(probe["port_closed"], true, "{k}");
            }
        }
        // A killed etcd comes back from its data directory, with the same command line.
        for r in nemesis(&events, "stop-kill") {
            for (_, probe) in r["value"]["probe"].as_object().unwrap() {
                assert_eq!(probe["restarted"], true, "{adapter}: {r}");
            }
        }
        // The faults hurt (writes to a cut-off node time out) and the cluster still served.
        let ok = events.iter().filter(|e| e["type"] == "ok").count();
        let info = events.iter().filter(|e| e["type"] == "info" && e["process"] != "nemesis").count();
        assert!(ok > 1000 && info > 0, "{adapter}: {ok} ok, {info} info");
        assert_eq!(namespaces_of(run.pid), Vec::<String>::new());
        let logs = std::fs::read_to_string(dir.join("nodes/n1.log")).unwrap();
        assert!(logs.contains("etcd"), "node output goes to nodes/n1.log");
    }
    std::fs::remove_dir_all(&store).unwrap();
}

#[test]
fn etcd_with_serializable_reads_serves_stale_reads_under_a_partition() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    if !etcd_lab() {
        return;
    }
    let store = store("stale");
    let run = faultline_test(
        &store,
        &[
            "--cluster",
            "etcd",
            "--adapter",
            "etcd-v3-stale",
            "--nemesis",
            "partition",
            "--partition",
            "isolate-one",
            "--nemesis-interval",
            "3s",
            "--time-limit",
            "10s",
            "--check-time-limit",
            "10s",
            "--seed",
            "5",
        ],
    );
    assert_eq!(run.code, Some(1), "{}", run.text);
    let dir = std::fs::canonicalize(store.join("latest")).unwrap();
    let (stale, reads) = stale_reads_on_the_isolated_node(&events(&dir));
    assert!(stale > 0, "no stale read on the isolated node ({reads} reads there)");
    let anomaly = &results(&dir)["files"][0]["linearizability"]["problems"][0]["anomaly"];
    // The stale read is in the counterexample; the culprit is whichever completion first made the key's
    // history impossible (the read itself, or a later write or cas the read's value rules out).
    let ops = anomaly["counterexample"].as_array().unwrap();
    assert!(ops.iter().any(|o| o["f"] == "read" && o["outcome"] == "ok"), "a stale read: {anomaly}");
    assert_eq!(anomaly["culprit"]["outcome"], "ok", "{anomaly}");
    assert!(anomaly["explanation"].as_str().unwrap().contains("cannot be placed"), "{anomaly}");
    assert!(run.text.contains("minimal counterexample"), "{}", run.text);
    std::fs::remove_dir_all(&store).unwrap();
}

/// Reads served by the node the first partition isolated, while it was isolated: (how many returned a value
/// older than one whose write had completed before the read began, how many there were). Written values
/// increase per key, so "older" is "smaller".
fn stale_reads_on_the_isolated_node(events: &[Value]) -> (usize, usize) {
    let position = |f: &str, kind: &str| {
        events.iter().position(|e| e["process"] == "nemesis" && e["f"] == f && e["type"] == kind).unwrap()
    };
    let (start, stop) = (position("start-partition", "info"), position("stop-partition", "invoke"));
    let grudge = events[start]["value"]["grudge"].as_object().unwrap();
    let isolated = grudge.iter().find(|(_, s)| s.as_array().unwrap().len() == grudge.len() - 1).unwrap().0;
    let mut newest: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
    let mut newest_at_invoke: std::collections::HashMap<u64, Option<i64>> = std::collections::HashMap::new();
    let (mut stale, mut reads) = (0, 0);
    for (i, e) in events.iter().enumerate().filter(|(_, e)| e["process"] != "nemesis") {
        let (key, process) = (e["key"].to_string(), e["process"].as_u64().unwrap());
        match (e["type"].as_str().unwrap(), e["f"].as_str().unwrap()) {
            ("invoke", "read") => {
                newest_at_invoke.insert(process, newest.get(&key).copied());
            }
            ("ok", "write") | ("ok", "cas") => {
                let value = if e["f"] == "cas" { e["value"][1].as_i64() } else { e["value"].as_i64() };
                let slot = newest.entry(key).or_insert(i64::MIN);
                *slot = (*slot).max(value.unwrap());
            }
            ("ok", "read") if start < i && i < stop && e["node"] == isolated.as_str() => {
                reads += 1;
                if let Some(Some(newer)) = newest_at_invoke.get(&process) {
                    stale += usize::from(e["value"].as_i64().is_none_or(|v| v < *newer));
                }
            }
            _ => {}
        }
    }
    (stale, reads)
}

/// Invocations per operation, and the number of keys, of a run's history (the nemesis aside).
fn shape(dir: &Path) -> (std::collections::BTreeMap<String, usize>, usize) {
    let mut per_f = std::collections::BTreeMap::new();
    let mut keys = std::collections::BTreeSet::new();
    for e in events(dir).iter().filter(|e| e["process"] != "nemesis") {
        if e["type"] == "invoke" {
            *per_f.entry(e["f"].as_str().unwrap().to_string()).or_insert(0) += 1;
            keys.insert(e["key"].to_string());
        }
    }
    (per_f, keys.len())
}

#[test]
fn the_reference_spec_behaves_as_the_built_in_reference_cluster() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let store = store("reference");
    let labs: &[&str] = if is_root() { &["netns", "proxy"] } else { &["proxy"] };
    for lab in labs {
        let common = ["--lab", lab, "--nemesis", "none", "--ops", "600", "--clients", "5", "--seed", "11"];
        let built_in = faultline_test(&store, &common);
        assert_eq!(built_in.code, Some(0), "{}", built_in.text);
        let built_in_dir = std::fs::canonicalize(store.join("latest")).unwrap();
        let spec = faultline_test(&store, &[&common[..], &["--cluster", "reference", "--keep-data"]].concat());
        assert_eq!(spec.code, Some(0), "{}", spec.text);
        let spec_dir = std::fs::canonicalize(store.join("latest")).unwrap();
        assert_ne!(built_in_dir, spec_dir);
        // The same seed drew the same operations on as many keys, every one read back from every node.
        let (a, b) = (shape(&built_in_dir), shape(&spec_dir));
        assert_eq!(a, b, "{lab}: built-in {a:?}, spec {b:?}");
        assert_eq!(a.0.values().sum::<usize>(), 600 + 3 * a.1, "600 operations and the final reads");
        let config: Value =
            serde_json::from_str(&std::fs::read_to_string(spec_dir.join("config.json")).unwrap()).unwrap();
        assert_eq!(config["cluster"]["spec"], "reference");
        assert_eq!(config["adapter"], "native");
        assert!(spec_dir.join("nodes/n3.log").exists() && spec_dir.join("data/n3").is_dir());
    }
    std::fs::remove_dir_all(&store).unwrap();
}

#[test]
fn bad_specs_exit_3_naming_the_node_and_leave_no_lab() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let store = store("bad");
    std::fs::create_dir_all(&store).unwrap();
    let lab = if is_root() { "netns" } else { "proxy" };
    // A port another process holds: a node that cannot take it exits, and the holder answers the probe.
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let held = format!(
        "command = [\"sh\", \"-c\", \"sleep 0.02; echo cannot listen: address in use >&2; exit 7\"]\n\
         ready = {{ tcp = \"{}\" }}\n",
        holder.local_addr().unwrap()
    );
    let cases = [
        (
            "port-taken",
            held.as_str(),
            "exited (exit status: 7), though something answered in its place, before it was ready",
        ),
        ("placeholder", "command = \"sleep 60 {client_prot}\"\n", "unknown placeholder {client_prot}"),
        ("no-peer-port", "command = \"sleep 60 {peer_url}\"\n", "{peer_url} needs `peer_port` in the spec"),
        ("program", "command = \"no-such-server-faultline --id {id}\"\n", "\"no-such-server-faultline\" was not found"),
        (
            "never-ready",
            "command = \"sleep 60\"\nready = { http = \"{client_url}/health\", timeout = \"2s\" }\n",
            "was not ready within 2s: it did not answer GET http://",
        ),
        (
            "exits",
            "command = [\"sh\", \"-c\", \"echo unknown flag --{name} >&2; exit 7\"]\n",
            "exited (exit status: 7) before it was ready",
        ),
    ];
    for (name, text, expected) in cases {
        let file = store.join(format!("{name}.toml"));
        std::fs::write(&file, text).unwrap();
        let run = faultline_test(
            &store,
            &["--cluster", file.to_str().unwrap(), "--lab", lab, "--nemesis", "none", "--time-limit", "2s"],
        );
        assert_eq!(run.code, Some(3), "{name}: {}", run.text);
        assert!(run.text.contains("node n1"), "{name}: the node is named: {}", run.text);
        assert!(run.text.contains(expected), "{name}: expected {expected:?} in {}", run.text);
        if name == "exits" {
            assert!(run.text.contains("unknown flag --n1"), "the end of the node's log is shown: {}", run.text);
        }
        if is_root() {
            assert_eq!(namespaces_of(run.pid), Vec::<String>::new(), "{name}: the lab was removed");
        }
    }
    let run = faultline_test(&store, &["--cluster", "etcd", "--lab", "proxy", "--nemesis", "none"]);
    assert_eq!(run.code, Some(3), "{}", run.text);
    assert!(run.text.contains("cannot run in a proxy lab"), "{}", run.text);
    if is_root() && etcd_lab() {
        let run = faultline_test(&store, &["--cluster", "etcd", "--nemesis", "clock"]);
        assert_eq!(run.code, Some(3), "{}", run.text);
        assert!(run.text.contains("is a Go binary"), "{}", run.text);
    }
    let _ = std::fs::remove_dir_all(&store);
}

#[test]
fn etcd_names_its_leader_and_a_kill_aimed_at_the_primary_hits_it() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    if !etcd_lab() {
        return;
    }
    let store = store("primaries");
    let run = faultline_test(
        &store,
        &[
            "--cluster",
            "etcd",
            "--nemesis",
            "kill",
            "--nemesis-targets",
            "kill=primaries",
            "--nemesis-interval",
            "2s",
            "--nemesis-fixed",
            "--time-limit",
            "10s",
            "--seed",
            "3",
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.text);
    let dir = std::fs::canonicalize(store.join("latest")).unwrap();
    let events = events(&dir);
    let kills = nemesis(&events, "start-kill");
    assert!(!kills.is_empty(), "{}", run.text);
    for kill in kills {
        // The spec's probe: POST /v3/maintenance/status on every member, the leader where /leader equals
        // /header/member_id. Exactly one member leads, and the kill hits it.
        let probe = &kill["value"]["primary_probe"];
        let primaries = probe["primaries"].as_array().unwrap();
        assert_eq!(primaries.len(), 1, "{probe}");
        assert_eq!(kill["value"]["nodes"].as_array().unwrap(), primaries, "{kill}");
        let answers = probe["answers"].as_object().unwrap();
        assert_eq!(answers.values().filter(|a| *a == "not primary").count(), 2, "{probe}");
    }
    std::fs::remove_dir_all(&store).unwrap();
}
