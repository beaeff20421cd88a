//! Clients bound to nodes, through the real binary: by default client i talks only to node i mod n, so a
//! paused follower stalls only its own clients and the cluster's ok rate holds; `--spread-clients` sends
//! every client to every node in turn, and the same pause stalls them all.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

mod common;
use common::{events, nemesis, run_folder};

/// Runs the example (a fixed pause of follower n3, 1.5 s into a 4.5 s run) with `extra`; returns
/// the ok operations per second while n3 was paused, and outside the pause, with the run's history.
fn pause_n3(name: &str, extra: &[&str]) -> (f64, f64, Vec<Value>) {
    let store = common::fresh_store("clients", name);
    let lab = if common::is_root() { "netns" } else { "proxy" };
    let args = ["--nemesis", "pause", "--nemesis-targets", "n3", "--nemesis-fixed", "--nemesis-interval", "1500ms"];
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["test", "--store", store.to_str().unwrap(), "--lab", lab, "--time-limit", "4500ms", "--seed", "1"])
        .args(args)
        .args(extra)
        .output()
        .expect("faultline runs");
    let text = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{text}");
    let dir = run_folder(&store).unwrap_or_else(|| panic!("no run folder: {text}"));
    let history = events(&dir);
    let (during, outside) = ok_rates(&history);
    let _ = std::fs::remove_dir_all(Path::new(&store));
    (during, outside, history)
}

/// Ok client operations per second between the pause's start and stop, and over the rest of the workload.
fn ok_rates(history: &[Value]) -> (f64, f64) {
    let time = |e: &Value| e["time"].as_u64().unwrap() as f64 / 1e9;
    let (start, stop) = (time(nemesis(history, "start-pause")[0]), time(nemesis(history, "stop-pause")[0]));
    let oks: Vec<f64> = history
        .iter()
        .filter(|e| e["type"] == "ok" && e["process"].as_u64().is_some_and(|p| p < 1_000_000_000))
        .map(time)
        .collect();
    let end = oks.iter().cloned().fold(0.0, f64::max);
    let during = oks.iter().filter(|&&t| (start..=stop).contains(&t)).count() as f64;
    (during / (stop - start), (oks.len() as f64 - during) / (end - (stop - start)))
}

#[test]
fn a_paused_follower_costs_bound_clients_little_and_stalls_spread_ones() {
    let (mut during, mut outside, mut history) = pause_n3("bound", &[]);
    eprintln!("bound clients: {during:.0} ok/s while n3 was paused, {outside:.0} ok/s outside the pause");
    if during < 0.5 * outside {
        // n1 leads a fresh cluster, but on a loaded machine an election can hand n3 the lead before the
        // pause: pausing the primary stalls every client until the next election, bound or not. Once
        // more; spreading clients would fail both times.
        (during, outside, history) = pause_n3("bound-again", &[]);
        eprintln!("bound clients, again: {during:.0} ok/s while n3 was paused, {outside:.0} ok/s outside");
    }
    assert!(during >= 0.5 * outside, "bound clients: {during:.0} ok/s during the pause, {outside:.0} outside");
    // Every process of client c (c, c + 10, ... after indeterminate results) talked to node c mod 3.
    for e in
        history.iter().filter(|e| e["type"] == "invoke" && e["process"].as_u64().is_some_and(|p| p < 1_000_000_000))
    {
        let client = e["process"].as_u64().unwrap() % 10;
        assert_eq!(e["node"], format!("n{}", client % 3 + 1), "{e}");
    }
    let (during, outside, _) = pause_n3("spread", &["--spread-clients"]);
    eprintln!("spread clients: {during:.0} ok/s while n3 was paused, {outside:.0} ok/s outside the pause");
    assert!(during < 0.2 * outside, "spread clients: {during:.0} ok/s during the pause, {outside:.0} outside");
}
