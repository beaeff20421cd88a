//! Power loss end to end: the `crash` fault through the real binary, real node processes and a real FUSE
//! mount over each data directory. `nosync` mode (log written, never fsynced) survives kills, because the
//! page cache keeps what was written, and loses acknowledged writes to a crash; `linearizable` mode
//! (fsynced log) survives crashes. Mounting FUSE needs root and /dev/fuse: outside CI a machine without
//! them says so and skips; in CI they must run.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

mod common;
use common::{events, is_root, nemesis, skip};

fn store(name: &str) -> PathBuf {
    common::fresh_store("crash", name)
}

fn fuse_available() -> bool {
    let available = is_root() && Path::new("/dev/fuse").exists();
    if !available {
        skip("the crash fault needs root and /dev/fuse");
    }
    available
}

/// Runs `faultline test` and returns its exit code, output, results.json and the run folder.
fn run(store: &Path, args: &[&str]) -> (Option<i32>, String, Value, PathBuf) {
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["test", "--store", store.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap();
    let text = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let results = std::fs::read_to_string(store.join("latest/results.json")).unwrap_or_else(|_| panic!("{text}"));
    let run_dir = std::fs::canonicalize(store.join("latest")).unwrap();
    (out.status.code(), text, serde_json::from_str(&results).unwrap(), run_dir)
}

/// What every crash run must show: the faults happened and were recorded, and no mount outlived the run.
fn assert_crashed_and_unmounted(run_dir: &Path, fault: &str, text: &str) -> Vec<Value> {
    let events = events(run_dir);
    let started = nemesis(&events, &format!("start-{fault}"));
    assert!(!started.is_empty(), "no {fault} happened: {text}");
    for e in &started {
        assert!(e["value"].get("error").is_none(), "{e}");
    }
    assert!(!nemesis(&events, &format!("stop-{fault}")).is_empty(), "{text}");
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let data = run_dir.join("data");
    assert!(!mountinfo.contains(data.to_str().unwrap()), "a lazy mount outlived the run:\n{mountinfo}");
    started.into_iter().cloned().collect()
}

/// The unsynced pages each crash dropped, added up over its nodes.
fn pages_dropped(crash: &Value) -> u64 {
    let probe = crash["value"]["probe"].as_object().unwrap_or_else(|| panic!("no probe: {crash}"));
    probe.values().map(|node| node["unsynced_pages_dropped"].as_u64().unwrap_or_else(|| panic!("{crash}"))).sum()
}

// One node: every crash hits the node that acknowledged the writes, whatever its protocol elects.
const ONE_NODE: [&str; 12] = [
    "--nodes",
    "1",
    "--lab",
    "none",
    "--time-limit",
    "5s",
    "--nemesis-interval",
    "1s",
    "--nemesis-fixed",
    "--seed",
    "1",
    "--clients",
];

#[test]
fn nosync_mode_loses_acknowledged_writes_to_a_crash() {
    if !fuse_available() {
        return;
    }
    let store = store("nosync");
    let (code, text, results, run_dir) =
        run(&store, &[&ONE_NODE[..], &["4", "--store-mode", "nosync", "--nemesis", "crash"]].concat());
    assert_eq!(code, Some(1), "{text}");
    let crashes = assert_crashed_and_unmounted(&run_dir, "crash", &text);
    assert!(crashes.iter().any(|c| pages_dropped(c) > 0), "no crash dropped anything: {crashes:?}");
    // Not a stale read or a reordering: writes the node acknowledged are gone after the crash.
    let eventual = &results["files"][0]["ladder"]["eventual"];
    assert!(eventual["lost_count"].as_u64().unwrap() > 0, "{eventual}");
    assert!(eventual["lost_writes"][0]["explanation"].as_str().unwrap().contains("The write was lost"));
    // Underneath, the data directory holds what a power loss at the end would leave: the synced part of
    // the log, which in nosync mode is nothing.
    assert_eq!(std::fs::read_to_string(run_dir.join("data/n1/log.jsonl")).unwrap(), "");
    std::fs::remove_dir_all(&store).unwrap();
}

#[test]
fn nosync_mode_survives_kills() {
    if !fuse_available() {
        return;
    }
    let store = store("nosync-kill");
    let (code, text, _, run_dir) =
        run(&store, &[&ONE_NODE[..], &["4", "--store-mode", "nosync", "--nemesis", "kill"]].concat());
    assert_eq!(code, Some(0), "a kill leaves the page cache, and so every write: {text}");
    assert_crashed_and_unmounted(&run_dir, "kill", &text);
    std::fs::remove_dir_all(&store).unwrap();
}

#[test]
fn linearizable_mode_survives_crashes() {
    if !fuse_available() {
        return;
    }
    let store = store("linearizable");
    let (code, text, _, run_dir) =
        run(&store, &[&ONE_NODE[..], &["4", "--store-mode", "linearizable", "--nemesis", "crash"]].concat());
    assert_eq!(code, Some(0), "every acknowledged write was fsynced: {text}");
    assert_crashed_and_unmounted(&run_dir, "crash", &text);
    std::fs::remove_dir_all(&store).unwrap();
}

#[test]
fn a_cluster_spec_crashes_under_its_data_dir() {
    if !fuse_available() {
        return;
    }
    // The shipped reference spec, three nodes: crash works for any server whose data is under {data_dir}.
    let store = store("spec");
    let args = ["--cluster", "reference", "--nemesis", "crash,partition", "--lab", "netns", "--time-limit", "5s"];
    let (code, text, _, run_dir) =
        run(&store, &[&args[..], &["--nemesis-interval", "1s", "--nemesis-fixed", "--seed", "3"]].concat());
    assert_eq!(code, Some(0), "{text}");
    assert_crashed_and_unmounted(&run_dir, "crash", &text);
    std::fs::remove_dir_all(&store).unwrap();
}

#[test]
fn crash_is_refused_before_the_run_without_faultlines_own_lab() {
    let dir = store("refused");
    std::fs::create_dir_all(&dir).unwrap();
    let commands = dir.join("faults.toml");
    std::fs::write(&commands, "[nodes]\nn1 = \"10.0.0.1\"\n[kill]\nstart = \"true\"\nstop = \"true\"\n").unwrap();
    let store = dir.join("store");
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["test", "--store", store.to_str().unwrap(), "--target", "http://127.0.0.1:9", "--nemesis", "crash"])
        .args(["--nemesis-commands", commands.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("cannot inject crash faults") && text.contains("only clusters faultline starts"), "{text}");
    assert!(!store.exists(), "a refused run leaves no run folder");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Starts a long crash run and waits until its lazy mount is up (see [`mounted_under`]). The caller waits
/// for the child (clippy cannot see a child returned early through a loop).
#[allow(clippy::zombie_processes)]
fn start_long_crash_run(store: &Path) -> std::process::Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["test", "--store", store.to_str().unwrap(), "--nodes", "1", "--lab", "none"])
        .args(["--store-mode", "nosync", "--nemesis", "crash", "--nemesis-interval", "1s", "--time-limit", "60s"])
        .args(["--rate", "200"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if mounted_under(store).is_some() {
            return child;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no lazy mount under {}", store.display());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// The lazy mount under `store`, if there is one.
fn mounted_under(store: &Path) -> Option<String> {
    let store = std::fs::canonicalize(store).ok()?;
    lazy_mounts().into_iter().find(|m| Path::new(m).starts_with(&store))
}

/// The mount points of every lazy filesystem on the machine.
fn lazy_mounts() -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(" faultline-lazyfs-"))
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .collect()
}

#[test]
fn ctrl_c_unmounts_and_lab_clean_unmounts_what_a_killed_run_left() {
    if !fuse_available() {
        return;
    }
    let interrupted = store("interrupted");
    let store = interrupted.clone();
    std::fs::create_dir_all(&store).unwrap();
    let mut child = start_long_crash_run(&store);
    let mount = mounted_under(&store).unwrap();
    // The mount exists before the node starts; let the node write.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let interrupt = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(interrupt.success());
    child.wait().unwrap();
    assert!(!lazy_mounts().contains(&mount), "Ctrl-C left {mount} mounted");

    let store = self::store("sigkilled");
    std::fs::create_dir_all(&store).unwrap();
    let mut child = start_long_crash_run(&store);
    let mount = mounted_under(&store).unwrap();
    // The mount exists before the node starts; let the node write.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(lazy_mounts().contains(&mount), "nothing could unmount after a SIGKILL");
    let out = Command::new(env!("CARGO_BIN_EXE_faultline")).args(["lab", "clean"]).output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains(&format!("lazy filesystem over {mount}")), "{said}");
    assert!(!lazy_mounts().contains(&mount), "{said}");
    // The directory underneath is back, with what the node had synced (nosync: an empty log).
    assert_eq!(std::fs::read_to_string(Path::new(&mount).join("log.jsonl")).unwrap(), "");
    for store in [interrupted, store] {
        std::fs::remove_dir_all(&store).unwrap();
    }
}
