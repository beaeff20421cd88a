//! `faultline` as a CI job runs it: exit codes, summaries, JSON and errors, through the real binary.

use std::path::PathBuf;
use std::process::{Command, Output};

fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline")).args(args).output().expect("faultline runs")
}

fn temp(name: &str, contents: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("faultline-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

fn synth(args: &[&str]) -> String {
    let out = faultline(&[&["synth"], args].concat());
    assert_eq!(out.status.code(), Some(0));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn valid_history_exits_0() {
    let path =
        temp("valid.jsonl", &synth(&["--ops", "2000", "--keys", "4", "--clients", "8", "--info-writes", "0.05"]));
    let out = faultline(&["check", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("VALID"));
}

#[test]
fn stale_read_exits_1_with_its_explanation_and_json() {
    let path = temp("stale.jsonl", &synth(&["--ops", "500", "--clients", "5", "--stale-read", "--seed", "7"]));
    let out = faultline(&["check", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("INVALID") && text.contains("minimal counterexample (3 operations)"), "{text}");
    assert!(text.contains("cannot be placed: it needs the register to hold"), "{text}");

    let out = faultline(&["check", "--json", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["verdict"], "invalid");
    let anomaly = &json["files"][0]["linearizability"]["problems"][0]["anomaly"];
    assert_eq!(anomaly["counterexample"].as_array().unwrap().len(), 3);
    assert_eq!(anomaly["culprit"]["f"], "read");
}

#[test]
fn a_limit_exits_2_with_its_cause() {
    let mut text = String::new();
    for p in 0..24 {
        text.push_str(&format!("{{\"type\":\"invoke\",\"process\":{p},\"f\":\"write\",\"value\":{}}}\n", p % 12));
    }
    text.push_str("{\"type\":\"invoke\",\"process\":99,\"f\":\"read\"}\n{\"type\":\"ok\",\"process\":99,\"f\":\"read\",\"value\":-1}\n");
    let path = temp("hard.jsonl", &text);
    let out = faultline(&["check", "--time-limit", "200ms", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("unknown: the time limit was reached"));
}

#[test]
fn bad_input_and_bad_flags_exit_3_naming_the_problem() {
    let path =
        temp("bad.jsonl", "{\"type\":\"invoke\",\"process\":0,\"f\":\"read\"}\n{\"type\":\"ok\",\"process\":0}\n");
    let out = faultline(&["check", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.jsonl:2:") && err.contains("missing field `f`"), "{err}");

    let path = temp("unknown_f.jsonl", "{\"type\":\"invoke\",\"process\":0,\"f\":\"frob\"}\n");
    let out = faultline(&["check", "--model", "register", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("operation f \"frob\" is not part of the register model"));

    let out = faultline(&["check", "/nonexistent/history.jsonl"]);
    assert_eq!(out.status.code(), Some(3));
    let out = faultline(&["check", "--model", "bogus", "x"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected one of register, cas-register, kv"));
    let out = faultline(&["check", "--time-limit", "soon", "x"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(faultline(&["--help"]).status.code(), Some(0));
}
