//! A green exit means what it says: a history in which too little succeeded is never valid, and every file
//! a CI job reads (the terminal, results.json, summary.md, junit.xml, the report's badge) says what the exit
//! code says. Through the real binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn faultline(args: &[&str]) -> Output {
    faultline_in(&std::env::temp_dir(), args)
}

fn faultline_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline")).current_dir(dir).args(args).output().expect("faultline runs")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("faultline-verdicts-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// One operation per line pair: (process, f, completion type, value, error).
fn history(ops: &[(u64, &str, &str, serde_json::Value, Option<&str>)]) -> String {
    let mut text = String::new();
    for (p, f, kind, value, error) in ops {
        let invoke_value = if *f == "read" { serde_json::Value::Null } else { value.clone() };
        text.push_str(&format!(
            "{}\n",
            serde_json::json!({"type": "invoke", "process": p, "f": f, "value": invoke_value})
        ));
        let mut done = serde_json::json!({"type": kind, "process": p, "f": f, "value": value});
        if let Some(e) = error {
            done["error"] = serde_json::json!(e);
        }
        text.push_str(&format!("{done}\n"));
    }
    text
}

#[test]
fn an_empty_history_or_one_where_nothing_succeeded_is_unknown() {
    let dir = temp_dir("empty");
    let empty = dir.join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let out = faultline(&["check", empty.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(stdout(&out).contains("UNKNOWN — too little succeeded") && stdout(&out).contains("no operation"));

    let refused = Some("not-sent: connection refused");
    let nothing = dir.join("nothing.jsonl");
    std::fs::write(
        &nothing,
        history(&[
            (0, "write", "fail", 1.into(), refused),
            (1, "read", "fail", serde_json::Value::Null, refused),
            (2, "cas", "info", serde_json::json!([1, 2]), Some("timeout")),
        ]),
    )
    .unwrap();
    let junit = dir.join("junit.xml");
    let out = faultline(&["check", "--junit", junit.to_str().unwrap(), "--json", nothing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["verdict"], "unknown");
    let file = &json["files"][0];
    assert_eq!(file["verdict"], "unknown");
    assert_eq!(file["required_verdict"], "valid", "linearizability itself holds trivially");
    assert_eq!(file["availability"]["verdict"], "unknown");
    assert_eq!(file["availability"]["kinds"][0]["name"], "write");
    assert_eq!(file["availability"]["kinds"][0]["fail"], 1);
    let junit = std::fs::read_to_string(&junit).unwrap();
    assert!(junit.contains("<failure type=\"unavailable\""), "{junit}");
}

#[test]
fn a_kind_that_never_succeeded_in_an_imported_history_is_a_warning() {
    let dir = temp_dir("warning");
    let path = dir.join("no-cas.jsonl");
    std::fs::write(
        &path,
        history(&[
            (0, "write", "ok", 1.into(), None),
            (1, "cas", "fail", serde_json::json!([5, 6]), Some("cas-mismatch")),
            (0, "read", "ok", 1.into(), None),
        ]),
    )
    .unwrap();
    let md = dir.join("summary.md");
    let out = faultline(&["check", "--markdown", md.to_str().unwrap(), path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("warning: no cas succeeded (1 attempts; fail \"cas-mismatch\" x 1)"),
        "{}",
        stdout(&out)
    );
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(md.starts_with("## ✅ faultline check: VALID") && md.contains("no cas succeeded"), "{md}");
    let out = faultline(&["check", "--json", path.to_str().unwrap()]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json["files"][0]["availability"]["warnings"][0],
        "no cas succeeded (1 attempts; fail \"cas-mismatch\" x 1)"
    );
}

#[test]
fn every_ci_file_states_the_required_models_verdict() {
    let dir = temp_dir("required");
    let synth = faultline(&["synth", "--ops", "400", "--keys", "3", "--clients", "5", "--stale-read", "--seed", "7"]);
    let path = dir.join("stale.jsonl");
    std::fs::write(&path, &synth.stdout).unwrap();
    let (report, junit, md) = (dir.join("report.html"), dir.join("junit.xml"), dir.join("summary.md"));
    let out = faultline(&[
        "check",
        "--require",
        "sequential",
        "--report",
        report.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
        "--markdown",
        md.to_str().unwrap(),
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "a stale read is sequentially consistent: {}", stdout(&out));
    let text = stdout(&out);
    let first = text.lines().next().unwrap();
    assert!(first.ends_with("VALID — sequential consistency (required)"), "{text}");
    assert!(text.contains("linearizability: invalid (stronger than the required model: information"), "{text}");
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(md.starts_with("## ✅ faultline check: VALID"), "{md}");
    assert!(md.contains("sequential consistency (required) | ✅ valid"), "{md}");
    assert!(md.contains("| linearizability (stronger than the required model"), "{md}");
    let junit = std::fs::read_to_string(&junit).unwrap();
    assert!(junit.contains("failures=\"0\" errors=\"0\""), "{junit}");
    assert!(!junit.contains("<failure") && junit.contains("<system-out>stronger than the required model"), "{junit}");
    let report = std::fs::read_to_string(&report).unwrap();
    assert!(report.contains("class=\"verdict\" style=\"background:#1a7f37\">VALID</div>"), "badge");

    // The same history required to be linearizable fails everywhere alike.
    let again = dir.join("again.xml");
    let out = faultline(&["check", "--junit", again.to_str().unwrap(), "--json", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (&json["files"][0]["verdict"], &json["files"][0]["required_model"]),
        (&"invalid".into(), &"linearizable".into())
    );
    let junit = std::fs::read_to_string(&again).unwrap();
    assert!(junit.contains("failures=\"1\" errors=\"0\""), "{junit}");
}

#[test]
fn a_run_against_a_dead_target_is_unknown_and_says_why() {
    // Port 1 on loopback: nothing listens, every connection is refused at once. Found before the run: unknown
    // at once, naming the node and its error, and no run folder.
    let dir = temp_dir("dead");
    let started = std::time::Instant::now();
    let out = faultline_in(&dir, &["test", "--target", "http://127.0.0.1:1", "--time-limit", "6s", "--settle", "0s"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{}\n{err}", stdout(&out));
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "it waited: {:?}", started.elapsed());
    assert!(err.contains("no target answered") && err.contains("n1 (http://127.0.0.1:1): Connection refused"), "{err}");
    assert!(!dir.join("store").exists(), "a run folder for a run that could not run");
    // --require cannot make it green.
    let out = faultline_in(
        &dir,
        &["test", "--target", "http://127.0.0.1:1", "--time-limit", "1s", "--settle", "0s", "--require", "eventual"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
}

#[test]
fn a_run_in_which_nothing_succeeds_is_unknown_and_says_why() {
    // A target that takes connections and closes each at once: it answers the probe, and no operation.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || listener.incoming().for_each(drop));
    let dir = temp_dir("mute");
    // 6 s: long enough for one progress line, which a log that is not a terminal gets every 5 s.
    let out = faultline_in(&dir, &["test", "--target", &url, "--time-limit", "6s", "--settle", "0s"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{}\n{err}", stdout(&out));
    let progress: Vec<&str> = err.lines().filter(|l| l.contains(" ops/s, ok ")).collect();
    assert!(!progress.is_empty(), "no progress line: {err}");
    assert!(progress[0].starts_with("faultline test: 5.") && progress[0].ends_with("fault in force: none"), "{err}");
    assert!(progress[0].contains(", ok 0, "), "{err}");
    let text = stdout(&out);
    assert!(text.contains("UNKNOWN — too little succeeded to judge it"), "{text}");
    assert!(text.contains("no operation succeeded"), "{text}");
    assert!(text.contains("Check that the cluster is up"), "{text}");
    assert!(!text.contains("the strongest model"), "an unknown run names no model as holding: {text}");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("store/latest/results.json")).unwrap()).unwrap();
    assert_eq!(results["verdict"], "unknown");
    assert_eq!(results["files"][0]["availability"]["rule"], "every-kind");
    assert!(std::fs::read_to_string(dir.join("store/latest/summary.md")).unwrap().contains("UNKNOWN"));
    // The final reads were tried and none succeeded: said so, not "no final reads".
    assert!(text.contains("the final reads were tried"), "{text}");
}
