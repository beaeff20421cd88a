//! The nemesis end to end, through the real binary: the reference cluster under real faults, each
//! assertion read from the recorded history. Namespaced labs need root: outside CI a run without root says
//! so and skips those; in CI (root) they must run. Proxy labs run for anyone.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
use common::{assert_clients_cut_off, events, first_anomaly, is_root, nemesis, run_folder, skip};

fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline")).args(args).output().expect("faultline runs")
}

fn store(name: &str) -> PathBuf {
    common::fresh_store("nemesis", name)
}

/// The labs this machine can run: proxy always, netns when root (and always in CI, which is root).
fn labs() -> Vec<&'static str> {
    if is_root() {
        vec!["netns", "proxy"]
    } else {
        skip("the namespaced lab (netns) needs root; only the proxy lab runs");
        vec!["proxy"]
    }
}

/// Runs `faultline test` with `args`; returns the exit code, the output and the run folder.
fn run(store: &Path, args: &[&str]) -> (Option<i32>, String, PathBuf) {
    let out = faultline(&[&["test", "--store", store.to_str().unwrap()], args].concat());
    let text = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let dir = std::fs::canonicalize(store.join("latest")).unwrap_or_else(|_| panic!("no run folder: {text}"));
    (out.status.code(), text, dir)
}

#[test]
fn linearizable_mode_stays_valid_under_partitions_kills_and_pauses() {
    for lab in labs() {
        let store = store(&format!("valid-{lab}"));
        let mut faults = "partition,kill,pause".to_string();
        if lab == "proxy" {
            faults.push_str(",delay,loss");
        }
        let (code, text, dir) = run(
            &store,
            &[
                "--lab",
                lab,
                "--nemesis",
                &faults,
                "--nemesis-interval",
                "700ms",
                "--nemesis-fixed",
                "--time-limit",
                "12s",
                "--seed",
                "3",
            ],
        );
        assert_eq!(code, Some(0), "{lab}: {text}");
        let events = events(&dir);
        for p in nemesis(&events, "start-partition") {
            let probe = &p["value"]["probe"];
            assert!(probe["pairs_checked"].as_u64().unwrap() > 0, "{p}");
            assert_eq!(probe["pairs_cut"], probe["pairs_checked"], "{lab}: a cut pair still talks: {p}");
        }
        let kills = nemesis(&events, "start-kill");
        assert!(!kills.is_empty(), "{lab}: no kill in {text}");
        for k in &kills {
            for (_, probe) in k["value"]["probe"].as_object().unwrap() {
                assert_eq!(probe["port_closed"], true, "{k}");
                assert!(probe["exited"].as_str().unwrap().contains("SIGKILL"), "{k}");
            }
        }
        for r in nemesis(&events, "stop-kill") {
            for (_, probe) in r["value"]["probe"].as_object().unwrap() {
                assert_eq!(probe["restarted"], true, "{r}");
            }
        }
        let pauses = nemesis(&events, "start-pause");
        assert!(!pauses.is_empty(), "{lab}: no pause");
        for p in pauses {
            for (_, probe) in p["value"]["probe"].as_object().unwrap() {
                assert_eq!(probe["state"], "T", "a paused node is stopped: {p}");
            }
        }
        if lab == "proxy" {
            for d in nemesis(&events, "start-delay") {
                let rtt = d["value"]["probe"]["round_trip_ms"].as_f64().unwrap();
                // 50 ms +- 10 each way: the round trip crosses the delayed node's links twice.
                assert!((95.0..200.0).contains(&rtt), "asked 2 x 50..60 ms, measured {rtt} ms: {d}");
            }
            assert!(!nemesis(&events, "start-delay").is_empty(), "no delay fault ran");
        }
        // Every fault says how long applying it took, and none starts too late to act: the last start
        // comes at least a moment (half the 700 ms interval) before the workload's end.
        let started: Vec<&Value> = events
            .iter()
            .filter(|e| e["process"] == "nemesis" && e["f"].as_str().is_some_and(|f| f.starts_with("start-")))
            .collect();
        for e in started.iter().filter(|e| e["type"] == "info") {
            assert!(e["value"]["applied_ms"].as_u64().is_some(), "{lab}: no applied_ms: {e}");
        }
        let time = |e: &Value| e["time"].as_u64().unwrap();
        let workload_end =
            events.iter().filter(|e| e["process"].as_u64().is_some_and(|p| p < 1_000_000_000)).map(time).max().unwrap();
        // A fault starts when it is invoked; applying and probing it (up to a few hundred ms for a
        // partition's probes on a loaded machine) follows, and a cluster that stays available ends its
        // workload right at the deadline, with no slow operation stretching it.
        let last_start = started.iter().filter(|e| e["type"] == "invoke").map(|e| time(e)).max().unwrap();
        let before_end = workload_end.saturating_sub(last_start) / 1_000_000;
        assert!(before_end > 300, "{lab}: a fault started {before_end} ms before the workload's end");
        // Every fault was healed before the final reads, and the faults really hurt: some operations
        // failed or timed out.
        assert_eq!(nemesis(&events, "heal").len(), 1);
        let heal_done = events.iter().filter(|e| e["f"] == "heal" && e["type"] == "info").map(time).max().unwrap();
        let first_final = events
            .iter()
            .filter(|e| e["process"].as_u64().is_some_and(|p| p >= 1_000_000_000))
            .map(time)
            .min()
            .unwrap();
        assert!(heal_done < first_final, "{lab}: the heal completes before the final reads");
        assert!(events.iter().any(|e| e["type"] == "fail" || e["type"] == "info" && e["process"] != "nemesis"));
        std::fs::remove_dir_all(&store).unwrap();
    }
}

#[test]
fn unsafe_mode_loses_acknowledged_writes_when_killed() {
    // One node, so that every kill hits the primary; it acknowledges writes it flushes only every second.
    let store = store("unsafe");
    let common = [
        "--nodes",
        "1",
        "--nemesis",
        "kill",
        "--nemesis-interval",
        "800ms",
        "--nemesis-fixed",
        "--time-limit",
        "8s",
        "--mix",
        "1:1:0",
        "--flush-interval",
        "1s",
        "--lab",
        "proxy",
    ];
    let (code, text, dir) = run(&store, &[&common[..], &["--store-mode", "unsafe"]].concat());
    assert_eq!(code, Some(1), "{text}");
    let results: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    let anomaly = first_anomaly(&results);
    assert_eq!(anomaly["culprit"]["f"], "read", "a read misses an acknowledged write: {anomaly:?}");
    assert!(!nemesis(&events(&dir), "start-kill").is_empty());
    // The eventual-consistency rung names the lost writes themselves.
    let rungs = results["files"][0]["ladder"]["rungs"].as_array().unwrap();
    assert!(rungs.iter().any(|r| r["level"] == "eventual" && r["status"] == "violated"), "{rungs:?}");
    assert!(results["files"][0]["ladder"]["eventual"]["lost_count"].as_u64().unwrap() > 0);
    // The same run against the fsyncing mode loses nothing.
    let (code, text, _) = run(&store, &[&common[..], &["--store-mode", "linearizable"]].concat());
    assert_eq!(code, Some(0), "{text}");
    std::fs::remove_dir_all(&store).unwrap();
}

#[test]
fn sequential_mode_serves_stale_reads_under_a_partition() {
    let store = store("sequential");
    let (code, text, dir) = run(
        &store,
        &[
            "--store-mode",
            "sequential",
            "--nemesis",
            "partition",
            "--partition",
            "isolate-one",
            "--nemesis-interval",
            "2s",
            "--time-limit",
            "8s",
            "--lab",
            "proxy",
            "--seed",
            "5",
        ],
    );
    assert_eq!(code, Some(1), "{text}");
    assert!(!nemesis(&events(&dir), "start-partition").is_empty());
    let results: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    let anomaly = first_anomaly(&results);
    assert_eq!(anomaly["culprit"]["f"], "read", "{anomaly:?}");
    std::fs::remove_dir_all(&store).unwrap();
}

#[test]
fn faults_a_lab_cannot_apply_are_refused_before_the_run() {
    let store = store("refused");
    let out = faultline(&["test", "--store", store.to_str().unwrap(), "--lab", "none", "--nemesis", "partition"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot inject partition faults"), "{out:?}");
    let out = faultline(&["test", "--store", store.to_str().unwrap(), "--nemesis", "flood"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown fault \"flood\""));
    let out =
        faultline(&["test", "--store", store.to_str().unwrap(), "--target", "http://127.0.0.1:9", "--nemesis", "kill"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--nemesis-commands"));
    assert!(!store.exists(), "a refused run created {}", store.display());

    // Refusals that depend on the machine or the program come before any run folder, lab or node too.
    let refused = |args: &[&str], why: &str| {
        let out = faultline(&[&["test", "--store", store.to_str().unwrap()], args].concat());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {err}");
        assert!(err.contains(why), "{args:?}: {err}");
        assert!(!store.exists(), "{args:?} created {}", store.display());
        err.to_string()
    };
    if is_root() {
        // This kernel has no sch_netem (checked: if it had, delay would be taken and this would not apply).
        if !netem_here() && which_opt("nft").is_some() {
            let err = refused(&["--nemesis", "delay"], "cannot inject delay faults: delay in a namespaced lab");
            assert!(err.contains("faultline test: lab netns (root, with ip and nft"), "the lab and why: {err}");
        }
        // Root without nft: --lab netns names the missing tool; the default says it falls back to proxies.
        let bin = std::env::temp_dir().join(format!("faultline-no-nft-{}", std::process::id()));
        std::fs::create_dir_all(&bin).unwrap();
        let ip = which("ip");
        let _ = std::os::unix::fs::symlink(&ip, bin.join("ip"));
        let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args(["test", "--store", store.to_str().unwrap(), "--lab", "netns", "--nemesis", "none"])
            .env("PATH", &bin)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{err}");
        assert!(err.contains("--lab netns: `nft` is not installed"), "{err}");
        assert!(!store.exists());
        let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args(["test", "--store", store.to_str().unwrap(), "--nemesis", "clock", "--cluster", "/nonexistent.toml"])
            .env("PATH", &bin)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3));
        let _ = std::fs::remove_dir_all(&bin);
    } else {
        refused(&["--lab", "netns"], "--lab netns: network namespaces need root");
    }
    // etcd is a Go program: libfaketime cannot move its clock (without etcd installed, its absence is refused).
    let why = if which_opt("etcd").is_some() { "Go binary" } else { "etcd" };
    refused(&["--cluster", "etcd", "--nemesis", "clock"], why);
    let _ = std::fs::remove_dir_all(&store);
}

/// Whether this kernel takes `tc netem`, probed as faultline does (in a namespace of its own).
fn netem_here() -> bool {
    let ns = format!("faultline-test-netem-{}", std::process::id());
    if !Command::new("ip").args(["netns", "add", &ns]).status().is_ok_and(|s| s.success()) {
        return false;
    }
    let ok = Command::new("ip")
        .args(["netns", "exec", &ns, "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "0ms"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let _ = Command::new("ip").args(["netns", "del", &ns]).status();
    ok
}

fn which_opt(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| std::env::split_paths(&paths).map(|p| p.join(tool)).find(|p| p.is_file()))
}

fn which(tool: &str) -> PathBuf {
    which_opt(tool).unwrap_or_else(|| panic!("{tool} is not on PATH"))
}

#[test]
fn a_run_that_breaks_on_the_way_does_not_become_latest() {
    // A cluster whose program exits at once: the run folder keeps the node logs, but store/latest stays
    // on the last run that ran (here: none).
    let store = store("broken");
    std::fs::create_dir_all(&store).unwrap();
    let spec = store.join("false.toml");
    std::fs::write(
        &spec,
        "command = [\"false\"]\nadapter = \"native\"\nready = { tcp = \"{listen}\", timeout = \"2s\" }\n",
    )
    .unwrap();
    let out = faultline(&[
        "test",
        "--store",
        store.to_str().unwrap(),
        "--cluster",
        spec.to_str().unwrap(),
        "--lab",
        "none",
        "--nemesis",
        "none",
        "--time-limit",
        "1s",
    ]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(store.join("register").is_dir(), "the broken run keeps its folder (node logs)");
    assert!(std::fs::symlink_metadata(store.join("latest")).is_err(), "latest points at a run that did not run");
    let _ = std::fs::remove_dir_all(&store);
}

fn leftovers(pid: u32) -> Vec<String> {
    let mut found = Vec::new();
    let netns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    for line in String::from_utf8_lossy(&netns.stdout).lines() {
        if line.starts_with(&format!("faultline-{pid}-")) {
            found.push(line.to_string());
        }
    }
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(environ) = std::fs::read(entry.path().join("environ")) {
            let tag = format!("FAULTLINE_LAB={pid}-");
            if environ.split(|b| *b == 0).any(|v| v.starts_with(tag.as_bytes())) {
                found.push(format!("process {:?}", entry.file_name()));
            }
        }
    }
    found
}

/// The bridge and veths of lab number `lab`.
fn lab_links(lab: &str) -> Vec<String> {
    let out = Command::new("ip").args(["-o", "link", "show"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split(':').nth(1).map(|n| n.trim().split('@').next().unwrap_or("").to_string()))
        .filter(|n| *n == format!("flbr{lab}") || n.starts_with(&format!("flv{lab}n")))
        .collect()
}

/// Starts a long run in a namespaced lab and waits until its first fault is in the history. The caller
/// ends and waits for the child (that is what these tests are about).
#[allow(clippy::zombie_processes)]
fn start_long_run(store: &Path) -> std::process::Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "test",
            "--lab",
            "netns",
            "--time-limit",
            "120s",
            "--nemesis",
            "partition",
            "--nemesis-interval",
            "500ms",
        ])
        .args(["--store", store.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let history = run_folder(store)
            .and_then(|run| std::fs::read_to_string(run.join("history.jsonl")).ok())
            .unwrap_or_default();
        // A fault in force and something acknowledged: the history up to the kill has something to
        // judge (an elected cluster answers only once it has chosen its primary).
        if history.contains("start-partition") && history.contains("\"type\":\"ok\"") {
            return child;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no fault and no ok operation within 20 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn sigterm_heals_and_removes_the_lab() {
    if !labs().contains(&"netns") {
        return;
    }
    let store = store("sigterm");
    let child = start_long_run(&store);
    let pid = child.id();
    assert!(!leftovers(pid).is_empty(), "the lab was not where the test looks");
    assert!(Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    // Cut short, the run is unknown (no violation was found in what it recorded), and not the latest.
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(leftovers(pid), Vec::<String>::new());
    assert!(!store.join("latest").exists(), "latest moved to an interrupted run");
    let run = run_folder(&store).expect("the interrupted run's folder");
    let events = events(&run);
    assert_eq!(nemesis(&events, "heal").len(), 1, "the nemesis healed before exit");
    let check = faultline(&["check", run.join("history.jsonl").to_str().unwrap()]);
    assert_eq!(check.status.code(), Some(0), "{}", String::from_utf8_lossy(&check.stdout));
    std::fs::remove_dir_all(&store).unwrap();
}

#[test]
fn lab_clean_removes_what_a_killed_run_left() {
    if !labs().contains(&"netns") {
        return;
    }
    let store = store("sigkill");
    let mut child = start_long_run(&store);
    let pid = child.id();
    let namespace = leftovers(pid).into_iter().find(|l| l.starts_with("faultline-")).unwrap();
    let lab = namespace.split('-').nth(2).unwrap().to_string();
    assert_eq!(lab_links(&lab).len(), 4, "a bridge and three veths");
    child.kill().unwrap();
    child.wait().unwrap();
    // Nothing could clean up: the namespaces are still there (their nodes died with faultline).
    assert!(leftovers(pid).iter().any(|l| l.starts_with("faultline-")), "{:?}", leftovers(pid));
    let out = faultline(&["lab", "clean"]);
    assert_eq!(out.status.code(), Some(0));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains(&format!("namespace faultline-{pid}-")), "{said}");
    assert_eq!(leftovers(pid), Vec::<String>::new());
    assert_eq!(lab_links(&lab), Vec::<String>::new());
    let nft = Command::new("nft").args(["list", "tables"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&nft.stdout).contains("faultline"), "faultline never writes host rules");
    // The history up to the kill is checkable; the killed run never became the store's latest.
    assert!(std::fs::symlink_metadata(store.join("latest")).is_err(), "a killed run became latest");
    let history = run_folder(&store).unwrap().join("history.jsonl");
    let check = faultline(&["check", history.to_str().unwrap()]);
    assert!(check.status.code() == Some(0), "{}", String::from_utf8_lossy(&check.stdout));
    std::fs::remove_dir_all(&store).unwrap();
}

#[test]
fn clients_can_be_cut_off_while_the_nodes_still_talk() {
    if !labs().contains(&"netns") {
        return;
    }
    let store = store("clients");
    let (code, text, dir) = run(
        &store,
        &[
            "--lab",
            "netns",
            "--nemesis",
            "partition",
            "--partition",
            "clients",
            "--nemesis-interval",
            "1500ms",
            "--nemesis-fixed",
            "--time-limit",
            "5s",
            "--request-timeout",
            "300ms",
        ],
    );
    assert_eq!(code, Some(0), "{text}");
    let events = events(&dir);
    let start = events
        .iter()
        .position(|e| e["process"] == "nemesis" && e["type"] == "info" && e["f"] == "start-partition-clients")
        .unwrap_or_else(|| panic!("no clients partition in {text}"));
    let node = events[start]["value"]["nodes"][0].as_str().unwrap().to_string();
    let stop = events.iter().position(|e| e["process"] == "nemesis" && e["f"] == "stop-partition-clients").unwrap();
    assert_clients_cut_off(&events, start, stop, &node);
    std::fs::remove_dir_all(&store).unwrap();
}

#[test]
fn a_clock_fault_takes_effect_within_500_ms_of_being_drawn() {
    if faultline_nemesis_clock_missing() {
        return;
    }
    let store = store("clock");
    let (code, text, dir) = run(
        &store,
        &[
            "--nemesis",
            "clock",
            "--nemesis-targets",
            "all",
            "--nemesis-fixed",
            "--nemesis-interval",
            "500ms",
            "--time-limit",
            "4s",
            "--lab",
            "none",
            "--seed",
            "2",
        ],
    );
    assert_eq!(code, Some(0), "{text}");
    let events = events(&dir);
    let mut starts = 0;
    for (i, e) in events.iter().enumerate() {
        if !(e["process"] == "nemesis" && e["type"] == "invoke" && e["f"] == "start-clock") {
            continue;
        }
        let done = events[i..].iter().find(|d| d["type"] == "info" && d["f"] == "start-clock").unwrap();
        // Drawn (invoke) to in force (info, after the probe saw the offset): under half a second.
        let took_ms = (done["time"].as_u64().unwrap() - e["time"].as_u64().unwrap()) / 1_000_000;
        assert!(took_ms < 500, "a clock fault took {took_ms} ms to take effect: {done}");
        assert!(done["value"]["applied_ms"].as_u64().unwrap() < 500, "{done}");
        let asked = done["value"]["bump_ms"].as_i64().or(done["value"]["strobe_ms"].as_i64()).unwrap();
        for node in ["n1", "n2", "n3"] {
            let seen = done["value"]["probe"][node]["observed_offset_ms"].as_i64().unwrap();
            assert!((seen - asked).abs() < 1_000, "{node}: asked {asked} ms, saw {seen} ms: {done}");
        }
        starts += 1;
    }
    assert!(starts >= 2, "{text}");
    std::fs::remove_dir_all(&store).unwrap();
}

/// Whether libfaketime is missing here (CI installs it: there it must not be).
fn faultline_nemesis_clock_missing() -> bool {
    let missing =
        ["/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1", "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1"]
            .iter()
            .all(|p| !Path::new(p).exists());
    if missing {
        skip("libfaketime is not installed (Debian: faketime)");
    }
    missing
}
