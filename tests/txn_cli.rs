//! `faultline check` on transactional histories through the real binary: detection from `f` = `txn`,
//! `--model`, `--require`, `--json`, exit codes, and bad input naming its file and line with exit 3.

use std::path::PathBuf;
use std::process::{Command, Output};

fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline")).args(args).output().expect("faultline runs")
}

fn temp(name: &str, contents: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("faultline-txn-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

fn synth(args: &[&str]) -> String {
    let out = faultline(&[&["synth", "--workload", "list-append"], args].concat());
    assert_eq!(out.status.code(), Some(0));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_synthetic_history_is_strict_serializable_and_a_planted_stale_read_is_not() {
    let valid = temp("valid.jsonl", &synth(&["--ops", "3000", "--keys", "5", "--fail", "0.02", "--info", "0.02"]));
    let out = faultline(&["check", valid.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("VALID — strict-serializable, list-append model; 3,000 transactions"), "{text}");

    let stale = temp("stale.jsonl", &synth(&["--ops", "3000", "--keys", "5", "--stale-read"]));
    let out = faultline(&["check", stale.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("INVALID") && text.contains("ruled out:"), "{text}");
    assert!(text.contains("did not observe"), "{text}");
    // A weak enough requirement holds.
    let out = faultline(&["check", "--require", "read-committed", stale.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));

    let out = faultline(&["check", "--json", stale.to_str().unwrap()]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["verdict"], "invalid");
    assert_eq!(json["require"], "strict-serializable");
    assert_eq!(json["levels"]["read-committed"], "holds");
    assert!(json["cycles"][0]["txns"][0]["value"].is_array(), "each transaction shows its micro-ops");
    let steps = json["cycles"][0]["steps"].as_array().unwrap();
    assert!(steps.len() >= 2 && steps.iter().all(|s| s["explanation"].is_string() && s["kind"].is_string()));
}

#[test]
fn bad_input_names_file_and_line_and_exits_3() {
    let cases = [
        (
            "non-list.jsonl",
            "{\"type\":\"invoke\",\"process\":0,\"f\":\"txn\",\"value\":[[\"append\",\"x\",1],[\"r\",\"x\",null]]}\n\
             {\"type\":\"ok\",\"process\":0,\"f\":\"txn\",\"value\":[[\"append\",\"x\",1],[\"r\",\"x\",5]]}\n",
            ":2: micro-op 2 of this txn: a read of key \"x\" in list-append returns a list, not 5",
        ),
        (
            "short.jsonl",
            "{\"type\":\"invoke\",\"process\":0,\"f\":\"txn\",\"value\":[[\"append\",\"x\"]]}\n",
            ":1: micro-op 1 of this txn: expected [\"append\", key, value]",
        ),
        (
            "unknown.jsonl",
            "{\"type\":\"invoke\",\"process\":0,\"f\":\"txn\",\"value\":[[\"incr\",\"x\",1]]}\n",
            ":1: micro-op 1 of this txn: unknown micro-op \"incr\"",
        ),
        (
            "twice.jsonl",
            "{\"type\":\"invoke\",\"process\":0,\"f\":\"txn\",\"value\":[[\"append\",\"x\",1],[\"append\",\"x\",1]]}\n",
            ":1: value 1 is written to key \"x\" here and at line 1",
        ),
        (
            "not-a-txn.jsonl",
            "{\"type\":\"invoke\",\"process\":0,\"f\":\"txn\",\"value\":[[\"append\",\"x\",1]]}\n\
             {\"type\":\"invoke\",\"process\":1,\"f\":\"read\",\"value\":null}\n",
            ":2: operation \"read\" in a transactional history",
        ),
        (
            "edn.edn",
            "{:type :invoke, :f :txn, :value [[:append :x 1] [:r :y nil]], :process 0}\n\
             {:type :ok, :f :txn, :value [[:append :x 1] [:r :y 3]], :process 0}\n",
            ":2: micro-op 2 of this txn: a read of key \"y\" in list-append returns a list, not 3",
        ),
    ];
    for (name, text, expected) in cases {
        let path = temp(name, text);
        let out = faultline(&["check", path.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{name}: {stderr}");
        assert!(stderr.contains(&format!("{name}{expected}")), "{name}: {stderr}");
    }
    // A register level for a transactional history, and an isolation level for a register one.
    let path = temp("ok.jsonl", &synth(&["--ops", "10"]));
    let out = faultline(&["check", "--require", "sequential", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("takes an isolation level"));
    let register = temp(
        "register.jsonl",
        "{\"type\":\"invoke\",\"process\":0,\"f\":\"write\",\"value\":1}\n{\"type\":\"ok\",\"process\":0,\"f\":\"write\",\"value\":1}\n",
    );
    let out = faultline(&["check", "--require", "serializable", register.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is an isolation level"));
}

#[test]
fn the_model_can_be_named_and_standard_input_read() {
    let text = synth(&["--ops", "200", "--keys", "3"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["check", "--model", "list-append", "--require", "serializable", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), text.as_bytes()).unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("<stdin>: VALID — serializable, list-append model"));
}

#[test]
fn a_history_in_which_no_transaction_succeeded_is_unknown_not_valid() {
    // Nothing took effect, so every level "holds" vacuously: as for registers, that is not a pass (exit 2).
    let empty = temp("empty.jsonl", "");
    let failed = temp(
        "all-failed.jsonl",
        "{\"type\":\"invoke\",\"process\":0,\"f\":\"txn\",\"value\":[[\"append\",\"x\",1]]}\n\
         {\"type\":\"fail\",\"process\":0,\"f\":\"txn\",\"value\":[[\"append\",\"x\",1]]}\n",
    );
    for (file, args) in [(&empty, vec!["--model", "list-append"]), (&failed, vec![])] {
        let mut all = vec!["check"];
        all.extend(args);
        all.push(file.to_str().unwrap());
        let out = faultline(&all);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(2), "{text}{}", String::from_utf8_lossy(&out.stderr));
        assert!(text.contains("UNKNOWN") && text.contains("no transaction completed ok"), "{text}");
        all.insert(1, "--json");
        let json: serde_json::Value = serde_json::from_slice(&faultline(&all).stdout).unwrap();
        assert_eq!(json["verdict"], "unknown", "{json}");
    }
}
