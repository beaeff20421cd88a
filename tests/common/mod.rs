//! What the end-to-end tests share: reading a run's history and its nemesis events, and knowing whether
//! this machine can build a namespaced lab.
#![allow(dead_code)] // each test file uses its own share of these

use std::path::Path;
use std::process::Command;

use serde_json::Value;

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
