//! The consistency ladder on the reference cluster's modes, through the real binary: each mode keeps the
//! guarantees it documents and breaks the ones it does not, as the recorded history shows.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

mod common;
use common::first_anomaly;

fn store(name: &str) -> PathBuf {
    common::fresh_store("consistency", name)
}

/// Runs `faultline test` and returns its exit code, output, and results.json.
fn run(store: &Path, args: &[&str]) -> (Option<i32>, String, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["test", "--store", store.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap();
    let text = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let results = std::fs::read_to_string(store.join("latest/results.json")).unwrap_or_else(|_| panic!("{text}"));
    (out.status.code(), text, serde_json::from_str(&results).unwrap())
}

/// Each model's status in the ladder, by its JSON name.
fn status(results: &Value, level: &str) -> String {
    let rungs = results["files"][0]["ladder"]["rungs"].as_array().unwrap();
    let rung = rungs.iter().find(|r| r["level"] == level).unwrap_or_else(|| panic!("no {level} in {rungs:?}"));
    rung["status"].as_str().unwrap().to_string()
}

#[test]
fn linearizable_mode_keeps_every_model_under_faults() {
    let store = store("linearizable");
    let (code, text, results) = run(&store, &["--lab", "proxy", "--time-limit", "6s", "--nemesis-interval", "1s"]);
    assert_eq!(code, Some(0), "{text}");
    for rung in results["files"][0]["ladder"]["rungs"].as_array().unwrap() {
        assert_eq!(rung["status"], "holds", "{rung}");
    }
    assert_eq!(results["files"][0]["ladder"]["strongest"], "linearizable");
    std::fs::remove_dir_all(&store).unwrap();
}

#[test]
fn sequential_mode_is_sequential_but_not_linearizable() {
    // Clients pinned to their node (a ZooKeeper session); followers lag 20 ms behind the primary.
    let store = store("sequential");
    let args = ["--store-mode", "sequential", "--pin-clients", "--replication-delay", "20ms", "--ops", "600"];
    let (code, text, results) = run(
        &store,
        &[&args[..], &["--nemesis", "none", "--lab", "none", "--require", "sequential", "--seed", "4"]].concat(),
    );
    assert_eq!(code, Some(0), "sequential consistency is required and holds: {text}");
    assert_eq!(status(&results, "linearizable"), "violated", "{text}");
    assert_eq!(status(&results, "sequential"), "holds", "{text}");
    assert_eq!(results["files"][0]["ladder"]["strongest"], "sequential");
    // The linearizability anomaly is a stale read.
    let anomaly = first_anomaly(&results);
    assert_eq!(anomaly["culprit"]["f"], "read", "{anomaly:?}");
    std::fs::remove_dir_all(&store).unwrap();
}

#[test]
fn eventual_mode_converges_but_is_not_sequential_and_loses_writes_under_clock_skew() {
    let store = store("eventual");
    let (code, text, results) = run(
        &store,
        &["--store-mode", "eventual", "--ops", "1500", "--nemesis", "none", "--lab", "none", "--seed", "2"],
    );
    assert_eq!(code, Some(1), "{text}");
    assert_eq!(status(&results, "eventual"), "holds", "the replicas converge: {text}");
    assert_eq!(status(&results, "sequential"), "violated", "{text}");

    let (_, text, results) = run(
        &store,
        &[
            "--store-mode",
            "eventual",
            "--nemesis",
            "clock",
            "--nemesis-interval",
            "700ms",
            "--time-limit",
            "8s",
            "--seed",
            "2",
        ],
    );
    assert_eq!(status(&results, "eventual"), "violated", "{text}");
    let eventual = &results["files"][0]["ladder"]["eventual"];
    assert!(eventual["lost_count"].as_u64().unwrap() > 0, "{eventual}");
    assert!(eventual["lost_writes"][0]["explanation"].as_str().unwrap().contains("The write was lost"));
    std::fs::remove_dir_all(&store).unwrap();
}
