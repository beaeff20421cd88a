//! Aimed faults end to end, through the real binary: `--nemesis-targets` against the reference cluster in a
//! proxy lab (any user), each assertion read from the recorded history: named nodes, minority and majority
//! sizes, the primary as the cluster's own probe names it, a skip when no node leads, and the refusals
//! that come before any run folder. The default run's opening kill of the primary is checked in the lab
//! the default picks (namespaces as root, so in CI).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

mod common;
use common::{events, nemesis};

fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline")).args(args).output().expect("faultline runs")
}

fn store(name: &str) -> PathBuf {
    common::fresh_store("targets", name)
}

/// Runs `faultline test` with `args`; returns the exit code, the output and the run folder.
fn run(store: &Path, args: &[&str]) -> (Option<i32>, String, PathBuf) {
    let out = faultline(&[&["test", "--store", store.to_str().unwrap()], args].concat());
    let text = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let dir = std::fs::canonicalize(store.join("latest")).unwrap_or_else(|_| panic!("no run folder: {text}"));
    (out.status.code(), text, dir)
}

fn nodes(event: &Value) -> Vec<String> {
    event["value"]["nodes"].as_array().unwrap().iter().map(|n| n.as_str().unwrap().to_string()).collect()
}

/// The nodes a partition aimed at them cut off: each drops the traffic of every node outside them, so
/// they are the nodes that drop the most.
fn isolated(event: &Value) -> Vec<String> {
    let grudge = event["value"]["grudge"].as_object().unwrap();
    let most = grudge.values().map(|s| s.as_array().unwrap().len()).max().unwrap();
    let mut cut: Vec<String> =
        grudge.iter().filter(|(_, s)| s.as_array().unwrap().len() == most).map(|(n, _)| n.clone()).collect();
    cut.sort();
    cut
}

#[test]
fn named_nodes_minorities_and_majorities_are_what_the_faults_hit() {
    let store = store("sizes");
    let (code, text, dir) = run(
        &store,
        &[
            "--nodes",
            "5",
            "--lab",
            "proxy",
            "--nemesis",
            "partition,kill,pause",
            "--nemesis-targets",
            "partition=minority,kill=n2,n4",
            "--nemesis-targets",
            "pause=majority",
            "--nemesis-fixed",
            "--nemesis-interval",
            "500ms",
            "--time-limit",
            "7s",
            "--seed",
            "3",
        ],
    );
    assert_eq!(code, Some(0), "{text}");
    let events = events(&dir);
    let (kills, pauses, partitions) =
        (nemesis(&events, "start-kill"), nemesis(&events, "start-pause"), nemesis(&events, "start-partition"));
    assert!(!kills.is_empty() && !pauses.is_empty() && !partitions.is_empty(), "each kind had its turn: {text}");
    for kill in &kills {
        assert_eq!(nodes(kill), ["n2", "n4"], "{kill}");
        assert_eq!(kill["value"]["targets"], "n2,n4");
        assert_eq!(kill["value"]["probe"]["n2"]["port_closed"], true, "{kill}");
    }
    for pause in &pauses {
        assert_eq!(nodes(pause).len(), 3, "a majority of 5: {pause}");
        assert_eq!(pause["value"]["targets"], "majority");
    }
    for partition in &partitions {
        assert_eq!(partition["value"]["shape"], "isolate-minority");
        assert_eq!(isolated(partition).len(), 2, "a minority of 5 cut from the other 3: {partition}");
        assert_eq!(partition["value"]["probe"]["pairs_cut"], 12, "2 x 3 pairs, both ways: {partition}");
    }
    // The run's config and the report say how faults were aimed.
    let config: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["nemesis_targets"]["kill"], "n2,n4");
    assert_eq!(config["nemesis_targets"]["pause"], "majority");
    let report = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(report.contains("kill (n2,n4)"), "the report's nemesis line names the targets");
    std::fs::remove_dir_all(&store).unwrap();
}

#[test]
fn faults_aimed_at_primaries_hit_the_node_the_cluster_names() {
    let store = store("primaries");
    // The reference cluster started by faultline (GET /status), and the same through its cluster spec.
    for cluster in [&[][..], &["--cluster", "reference"][..]] {
        let (code, text, dir) = run(
            &store,
            &[
                cluster,
                &[
                    "--lab",
                    "proxy",
                    "--nemesis",
                    "partition,kill,pause",
                    "--nemesis-targets",
                    "primaries",
                    "--nemesis-fixed",
                    "--nemesis-interval",
                    "500ms",
                    "--time-limit",
                    "6s",
                    "--seed",
                    "4",
                ],
            ]
            .concat(),
        );
        assert_eq!(code, Some(0), "{cluster:?}: {text}");
        let events = events(&dir);
        let aimed: Vec<&Value> =
            ["start-partition", "start-kill", "start-pause"].iter().flat_map(|f| nemesis(&events, f)).collect();
        assert!(aimed.len() >= 3, "{cluster:?}: {text}");
        // The report's fault table shows where each fault was aimed and whom the probe named.
        let report = std::fs::read_to_string(dir.join("report.html")).unwrap();
        let table = &report[report.find("<section id=\"faults\">").expect("a fault table")..];
        let kill = nemesis(&events, "start-kill")[0];
        let primary = kill["value"]["primary_probe"]["primaries"][0].as_str().unwrap();
        let row = format!("<td>kill</td><td>{primary}</td><td>primaries</td><td>{primary}</td>");
        assert!(table.contains(&row), "{cluster:?}: no {row} in the fault table");
        for fault in aimed {
            let probe = &fault["value"]["primary_probe"];
            let primaries: Vec<&str> =
                probe["primaries"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
            // The reference cluster's primary is the node with id 0, n1 (with failover, whichever node
            // answers as primary: the fault must hit exactly the node the probe named).
            assert_eq!(primaries.len(), 1, "{cluster:?}: one primary: {probe}");
            for (node, answer) in probe["answers"].as_object().unwrap() {
                let expected = if node == primaries[0] { "primary" } else { "not primary" };
                assert_eq!(answer, expected, "{cluster:?}: {probe}");
            }
            assert_eq!(fault["value"]["targets"], "primaries");
            if fault["f"] == "start-partition" {
                assert_eq!(fault["value"]["shape"], "isolate-primaries");
                assert_eq!(isolated(fault), [primaries[0]], "{fault}");
            } else {
                assert_eq!(nodes(fault), [primaries[0]], "{fault}");
            }
        }
    }
    std::fs::remove_dir_all(&store).unwrap();
}

#[test]
fn a_fault_aimed_at_primaries_is_skipped_when_no_node_leads() {
    // Eventual mode is leaderless: every node answers "role": "peer", so the probe finds no primary.
    let store = store("skipped");
    let (code, text, dir) = run(
        &store,
        &[
            "--store-mode",
            "eventual",
            "--require",
            "eventual",
            "--lab",
            "proxy",
            "--nemesis",
            "kill",
            "--nemesis-targets",
            "kill=primaries",
            "--nemesis-interval",
            "500ms",
            "--time-limit",
            "3s",
        ],
    );
    assert_eq!(code, Some(0), "{text}");
    let events = events(&dir);
    assert!(nemesis(&events, "start-kill").is_empty(), "no kill without a primary: {text}");
    let skips = nemesis(&events, "skip-kill");
    assert!(!skips.is_empty(), "{text}");
    for skip in skips {
        let why = skip["value"]["skipped"].as_str().unwrap();
        assert!(why.starts_with("no node answered as primary (n1: not primary; n2: not primary"), "{why}");
        assert!(skip["value"]["nodes"].as_array().unwrap().is_empty());
    }
    std::fs::remove_dir_all(&store).unwrap();
}

#[test]
fn targets_that_cannot_be_aimed_are_refused_before_the_run() {
    let store = store("refused");
    let refused = |args: &[&str], why: &str| {
        let out = faultline(&[&["test", "--store", store.to_str().unwrap()], args].concat());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {err}");
        assert!(err.contains(why), "{args:?}: {err}");
        assert!(!store.exists(), "{args:?} created {}", store.display());
    };
    refused(
        &["--nemesis-targets", "kill=n7"],
        "names the node \"n7\", which this cluster does not have; its nodes are n1, n2, n3",
    );
    refused(&["--nodes", "2", "--nemesis-targets", "n1,n3"], "\"n3\"");
    refused(&["--nemesis", "kill", "--nemesis-targets", "clock=one"], "does not inject them");
    refused(&["--nemesis-targets", "kill=primaries,one"], "stand alone");
    refused(
        &["--nemesis", "partition", "--partition", "halves", "--nemesis-targets", "partition=one"],
        "give one of them",
    );
    // A cluster faultline does not start cannot be asked who leads.
    let commands = std::env::temp_dir().join(format!("faultline-targets-commands-{}.toml", std::process::id()));
    std::fs::write(&commands, "[nodes]\nn1 = \"h1\"\n[kill]\nstart = \"true\"\nstop = \"true\"\n").unwrap();
    refused(
        &[
            "--target",
            "http://127.0.0.1:9",
            "--nemesis-commands",
            commands.to_str().unwrap(),
            "--nemesis",
            "kill",
            "--nemesis-targets",
            "kill=primaries",
        ],
        "cannot ask a cluster it does not start who leads",
    );
    // Nor a spec that does not say how.
    let spec = std::env::temp_dir().join(format!("faultline-targets-spec-{}.toml", std::process::id()));
    std::fs::write(&spec, "command = [\"/bin/sleep\", \"60\"]\nready = { tcp = \"{listen}\" }\n").unwrap();
    refused(
        &["--cluster", spec.to_str().unwrap(), "--nemesis", "pause", "--nemesis-targets", "primaries"],
        "has no [primary] probe",
    );
    let _ = std::fs::remove_file(&commands);
    let _ = std::fs::remove_file(&spec);
}

#[test]
fn the_default_run_kills_the_primary_so_unsafe_mode_is_invalid_for_every_seed() {
    let store = store("unsafe");
    for seed in ["1", "2", "3"] {
        let (code, text, dir) = run(&store, &["--store-mode", "unsafe", "--time-limit", "10s", "--seed", seed]);
        assert_eq!(code, Some(1), "seed {seed}: {text}");
        let events = events(&dir);
        let first = events
            .iter()
            .find(|e| e["process"] == "nemesis" && e["type"] == "info" && e["f"] != "heal")
            .unwrap_or_else(|| panic!("seed {seed}: no fault: {text}"));
        assert_eq!(first["f"], "start-kill", "seed {seed}: the run opens with a kill");
        assert_eq!(first["value"]["targets"], "primaries");
        assert_eq!(
            nodes(first),
            first["value"]["primary_probe"]["primaries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        );
        let config: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
        assert_eq!(config["nemesis_opening"], "kill=primaries");
    }
    std::fs::remove_dir_all(&store).unwrap();
}
