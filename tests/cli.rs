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

    // The same check writes a report, JUnit and Markdown for CI, and can run the whole ladder.
    let dir = path.parent().unwrap();
    let (report, junit, markdown) = (dir.join("stale.html"), dir.join("stale.xml"), dir.join("stale.md"));
    let out = faultline(&[
        "check",
        "--consistency",
        "all",
        "--report",
        report.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
        "--markdown",
        markdown.to_str().unwrap(),
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("consistency ladder") && text.contains("sequential consistency"), "{text}");
    assert!(std::fs::read_to_string(&report).unwrap().contains("cannot be placed"));
    assert!(std::fs::read_to_string(&junit).unwrap().contains("<failure"));
    assert!(std::fs::read_to_string(&markdown).unwrap().contains("linearizability"));
    let out = faultline(&["check", "--require", "sequential", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "a stale read is sequentially consistent");
    let out = faultline(&["check", "--require", "strict", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown model \"strict\""));

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
    // 24 concurrent writes of repeated values that all complete, then a read of a value nobody wrote: the
    // search tries every subset of the writes with every last value before it can say no.
    let mut text = String::new();
    for kind in ["invoke", "ok"] {
        for p in 0..24 {
            text.push_str(&format!("{{\"type\":\"{kind}\",\"process\":{p},\"f\":\"write\",\"value\":{}}}\n", p % 12));
        }
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
    for (flag, value) in [("--nodes", "0"), ("--clients", "0"), ("--lab", "bogus"), ("--nemesis", "flood")] {
        let out = faultline(&["test", flag, value]);
        assert_eq!(out.status.code(), Some(3), "{flag} {value}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(flag), "{flag}: {out:?}");
    }
    // Nonsense numbers are refused before anything starts (no run folder, no cluster), saying what is
    // allowed: --rate 0 once ran a single operation for the whole time limit and passed.
    let store = std::env::temp_dir().join(format!("faultline-cli-nonsense-{}", std::process::id()));
    let nonsense = [
        ("--rate", "0", "above 0"),
        ("--rate", "-5", "above 0"),
        ("--rate", "inf", "above 0"),
        ("--ops", "0", "at least 1"),
        ("--keys", "0", "at least 1"),
        ("--ops-per-key", "0", "at least 1"),
        ("--time-limit", "0s", "above zero"),
        ("--nemesis-interval", "0ms", "above zero"),
        ("--request-timeout", "0s", "above zero"),
        ("--check-time-limit", "0s", "above zero"),
    ];
    for (flag, value, allowed) in nonsense {
        let out = faultline(&["test", flag, value, "--store", store.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(3), "{flag} {value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag) && err.contains(allowed), "{flag} {value}: {err}");
        assert!(!store.exists(), "{flag} {value} created {}", store.display());
    }
    // Options of the built-in reference cluster are refused, not ignored, where faultline does not start it.
    for (flag, value) in [("--store-mode", "sequential"), ("--replication-delay", "20ms"), ("--flush-interval", "1s")] {
        for target in [["--cluster", "reference"], ["--target", "http://127.0.0.1:9"]] {
            let out = faultline(&["test", target[0], target[1], flag, value]);
            assert_eq!(out.status.code(), Some(3), "{flag} with {}", target[0]);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains(flag) && err.contains("cannot be used with"), "{flag} with {}: {err}", target[0]);
        }
    }
    let out = faultline(&["serve", "--store", "/nonexistent-faultline-store"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no store at /nonexistent-faultline-store"));
    assert_eq!(faultline(&["--help"]).status.code(), Some(0));
}

/// A correct single-node store speaking the native protocol, on a thread per connection.
fn native_server() -> String {
    use std::collections::HashMap;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::{Arc, Mutex};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let store: Arc<Mutex<HashMap<String, serde_json::Value>>> = Arc::default();
    std::thread::spawn(move || {
        for socket in listener.incoming().flatten() {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(socket.try_clone().unwrap());
                let mut socket = socket;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut length = 0;
                    loop {
                        let mut header = String::new();
                        reader.read_line(&mut header).unwrap();
                        if header.trim().is_empty() {
                            break;
                        }
                        if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).unwrap();
                    let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                    let mut parts = line.split_whitespace();
                    let (method, path) = (parts.next().unwrap(), parts.next().unwrap());
                    let key = path.trim_start_matches("/kv/").trim_end_matches("/cas").to_string();
                    let (status, answer) = {
                        let mut store = store.lock().unwrap();
                        match (method, path.ends_with("/cas")) {
                            ("GET", _) => match store.get(&key) {
                                Some(v) => (200, serde_json::json!({ "value": v })),
                                None => (404, serde_json::json!({"error": "not found"})),
                            },
                            ("PUT", _) => {
                                store.insert(key, body["value"].clone());
                                (200, serde_json::json!({"ok": true}))
                            }
                            _ => {
                                let current = store.get(&key).cloned().unwrap_or_default();
                                if current == body["from"] {
                                    store.insert(key, body["to"].clone());
                                    (200, serde_json::json!({"ok": true}))
                                } else {
                                    (412, serde_json::json!({"error": "mismatch", "value": current}))
                                }
                            }
                        }
                    };
                    let text = answer.to_string();
                    let response = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n\r\n{text}", text.len());
                    if socket.write_all(response.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

#[test]
fn test_records_checks_and_stores_a_run() {
    let url = native_server();
    let store = std::env::temp_dir().join(format!("faultline-cli-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&store); // (left by a test process of the same pid)
    let store_arg = store.to_str().unwrap();
    let out = faultline(&[
        "test",
        "--target",
        &url,
        &url,
        "--ops",
        "400",
        "--clients",
        "4",
        "--store",
        store_arg,
        "--seed",
        "9",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("VALID") && stdout.contains("400 workload operations"), "{stdout}");
    let latest = store.join("latest");
    for file in ["history.jsonl", "results.json", "config.json", "report.html", "junit.xml", "summary.md"] {
        assert!(latest.join(file).exists(), "{file} missing");
    }
    let junit = std::fs::read_to_string(latest.join("junit.xml")).unwrap();
    assert!(junit.contains("<testsuites") && junit.contains("failures=\"0\""), "{junit}");
    let html = std::fs::read_to_string(latest.join("report.html")).unwrap();
    assert!(html.contains("linearizability") && !html.contains("src=\"http"), "self-contained report");
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(latest.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["seed"], 9);
    // The recorded history checks the same with `faultline check`.
    let out = faultline(&["check", latest.join("history.jsonl").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));

    // Every target is used, however many there are (not only as many as --nodes says).
    let out = faultline(&["test", "--target", &url, &url, &url, &url, "--ops", "200", "--store", store_arg]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let history = std::fs::read_to_string(latest.join("history.jsonl")).unwrap();
    assert!(history.contains(r#""node":"n4""#), "the fourth target was never used");

    let out = faultline(&["test", "--store", store_arg, "--store-mode", "strong"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("expected linearizable, unsafe, stale-leader, nosync, sequential or eventual"));
    let out = faultline(&["test", "--target", &url, "--adapter", "nope", "--store", store_arg]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected one of native"));
    let out = faultline(&["test", "--target", &url, "--mix", "1:2", "--store", store_arg]);
    assert_eq!(out.status.code(), Some(3));
    std::fs::remove_dir_all(&store).unwrap();
}

#[test]
fn ctrl_c_stops_the_run_and_keeps_a_checkable_history() {
    let url = native_server();
    let store = std::env::temp_dir().join(format!("faultline-cli-interrupt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&store); // (left by a test process of the same pid)
    let child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["test", "--target", &url, "--time-limit", "60s", "--rate", "500", "--store", store.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let started = std::time::Instant::now();
    let killed = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "did not stop promptly");
    // What was recorded checks valid, but a run cut short is unknown (exit 2), in every file it leaves.
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(stdout.contains("UNKNOWN — interrupted after ") && stdout.contains(" s of 60 s"), "{stdout}");
    assert!(!stdout.contains("the strongest model"), "an unknown run names no model as holding: {stdout}");
    // It is not the store's latest run: `latest` is for runs that ran to their end.
    assert!(!store.join("latest").exists(), "latest moved to an interrupted run");
    let runs: Vec<PathBuf> =
        std::fs::read_dir(store.join("register")).unwrap().map(|e| e.unwrap().path()).collect::<Vec<_>>();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let run = &runs[0];
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["verdict"], "unknown");
    assert!(results["files"][0]["interrupted"].as_str().unwrap().starts_with("interrupted after "), "{results}");
    let junit = std::fs::read_to_string(run.join("junit.xml")).unwrap();
    assert!(junit.contains("type=\"interrupted\"") && !junit.contains("failures=\"0\""), "{junit}");
    let summary = std::fs::read_to_string(run.join("summary.md")).unwrap();
    assert!(summary.starts_with("## ⚠️ faultline test register: UNKNOWN"), "{summary}");
    assert!(summary.contains("interrupted after "), "{summary}");
    let report = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(report.contains(">UNKNOWN</div>") && report.contains("id=\"interrupted\""), "report badge");
    let history = run.join("history.jsonl");
    let check = faultline(&["check", history.to_str().unwrap()]);
    assert_eq!(check.status.code(), Some(0), "{}", String::from_utf8_lossy(&check.stdout));
    let lines = std::fs::read_to_string(&history).unwrap().lines().count();
    assert!(lines > 500, "only {lines} events recorded in 1.5 s at 500/s");
    std::fs::remove_dir_all(&store).unwrap();
}

#[test]
fn dead_targets_are_found_before_the_run() {
    let store = std::env::temp_dir().join(format!("faultline-cli-dead-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&store); // (left by a test process of the same pid)
    let store_arg = store.to_str().unwrap();
    // No target answers: unknown at once (not after the 20 s time limit), naming each node's error, and
    // no run folder.
    let started = std::time::Instant::now();
    let out = faultline(&["test", "--target", "http://127.0.0.1:1", "http://127.0.0.1:1/", "--store", store_arg]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "took {:?}", started.elapsed());
    assert!(err.contains("no target answered"), "{err}");
    for node in ["n1", "n2"] {
        assert!(err.contains(&format!("{node} (http://127.0.0.1:1): ")), "{node} not named: {err}");
    }
    assert!(err.to_lowercase().contains("refused"), "{err}");
    assert!(!store.exists(), "a run folder was made for a run that could not run");

    // Some answer: the run goes on against them and says which did not, on the terminal and in the report.
    let url = native_server();
    let out = faultline(&[
        "test",
        "--target",
        &url,
        "http://127.0.0.1:1",
        "--ops",
        "200",
        "--store",
        store_arg,
        "--seed",
        "3",
    ]);
    let (stdout, err) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_ne!(out.status.code(), Some(3), "{stdout}\n{err}");
    assert!(err.contains("1 of 2 targets did not answer") && err.contains("n2 (http://127.0.0.1:1)"), "{err}");
    assert!(stdout.contains("did not answer before the run: n2 (http://127.0.0.1:1): "), "{stdout}");
    let report = std::fs::read_to_string(store.join("latest/report.html")).unwrap();
    assert!(report.contains("did not answer before the run"), "the report does not say which node was dead");
    std::fs::remove_dir_all(&store).unwrap();
}

#[test]
fn failed_faults_are_counted_as_failed_and_nemesis_events_are_not_operations() {
    let url = native_server();
    let dir = std::env::temp_dir().join(format!("faultline-cli-failed-faults-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir); // (left by a test process of the same pid)
    std::fs::create_dir_all(&dir).unwrap();
    // Every kill's command fails (exit 7); stopping it succeeds.
    let commands = dir.join("faults.toml");
    std::fs::write(&commands, "[nodes]\nn1 = \"a\"\n[kill]\nstart = \"exit 7\"\nstop = \"true\"\n").unwrap();
    let store = dir.join("store");
    // Over 5 s, so that a progress line (one every 5 s where stderr is not a terminal) is printed.
    let out = faultline(&[
        "test",
        "--target",
        &url,
        "--time-limit",
        "6s",
        "--rate",
        "100",
        "--nemesis",
        "kill",
        "--nemesis-interval",
        "300ms",
        "--nemesis-fixed",
        "--nemesis-commands",
        commands.to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
    ]);
    let (stdout, err) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{err}");
    // The store answers every operation, so no operation is info: the nemesis's own events are not counted.
    let progress = err.lines().find(|l| l.contains("ops/s")).unwrap_or_else(|| panic!("no progress line: {err}"));
    assert!(progress.contains(", info 0,"), "{progress}");
    let history = std::fs::read_to_string(store.join("latest/history.jsonl")).unwrap();
    let failed = history.lines().filter(|l| l.contains("\"f\":\"start-kill\"") && l.contains("\"error\"")).count();
    assert!(failed >= 2, "{failed} failed kills recorded");
    assert!(stdout.contains(&format!("{failed} faults ({failed} failed)")), "{stdout}");
    let summary = std::fs::read_to_string(store.join("latest/summary.md")).unwrap();
    assert!(summary.contains(&format!("{failed} started, {failed} failed")), "{summary}");
    assert!(summary.contains("| kill | n1 | ❌ failed |"), "{summary}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn test_without_targets_starts_and_stops_the_reference_cluster() {
    let store = std::env::temp_dir().join(format!("faultline-cli-embedded-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&store); // (left by a test process of the same pid)
    let out = faultline(&["test", "--time-limit", "2s", "--keep-data", "--store", store.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("VALID"), "{stdout}");
    let latest = store.join("latest");
    let report = std::fs::read_to_string(latest.join("report.html")).unwrap();
    for node in ["n1", "n2", "n3"] {
        // Each node's log says it started and what it recovered, and the report links it.
        let log = std::fs::read_to_string(latest.join("nodes").join(format!("{node}.log"))).unwrap();
        assert!(log.contains("starting: linearizable mode") && log.contains("log restored: "), "{node}: {log}");
        assert!(report.contains(&format!("<a href=\"nodes/{node}.log\">")), "{node}: no link in the report");
        assert!(latest.join("data").join(node).join("log.jsonl").exists());
    }
    // The nodes were stopped: no process of the run is left, and on loopback their ports no longer
    // answer. (A namespaced lab's addresses are gone with it: nothing is sent there.)
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(latest.join("config.json")).unwrap()).unwrap();
    for url in config["targets"].as_array().unwrap() {
        let addr = url.as_str().unwrap().trim_start_matches("http://");
        if addr.starts_with("127.") {
            assert!(std::net::TcpStream::connect(addr).is_err(), "{addr} still answers");
        }
    }
    let data_dir = latest.join("data").canonicalize().unwrap();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&cmdline).contains(data_dir.to_str().unwrap()),
            "a node of the run still runs: {}",
            String::from_utf8_lossy(&cmdline)
        );
    }
    // Without --keep-data a valid run's node data goes (it can be hundreds of MB); its logs stay.
    let out = faultline(&["test", "--time-limit", "1s", "--nemesis", "none", "--store", store.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("nodes' data removed"), "{stdout}");
    let latest = store.join("latest");
    assert!(!latest.join("data").exists(), "a valid run kept its nodes' data");
    assert!(latest.join("nodes/n1.log").exists() && latest.join("history.jsonl").exists());
    std::fs::remove_dir_all(&store).unwrap();
}

#[test]
fn faults_for_a_cluster_faultline_does_not_start_come_from_a_commands_file() {
    let url = native_server();
    let dir = std::env::temp_dir().join(format!("faultline-cli-commands-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("applied.log");
    let commands = dir.join("faults.toml");
    std::fs::write(
        &commands,
        format!(
            "[nodes]\nn1 = \"host-a\"\nn2 = \"host-b\"\n\
             [partition]\nstart = \"echo cut {{host}} from {{sources}} >> {log}\"\nstop = \"echo heal {{host}} >> {log}\"\n\
             [kill]\nstart = \"echo kill {{host}} >> {log}\"\nstop = \"echo start {{host}} >> {log}\"\n",
            log = log.display()
        ),
    )
    .unwrap();
    let store = dir.join("store");
    let out = faultline(&[
        "test",
        "--target",
        &url,
        &url,
        "--time-limit",
        "2500ms",
        "--rate",
        "200",
        "--nemesis",
        "partition,kill",
        "--nemesis-interval",
        "300ms",
        "--nemesis-fixed",
        "--nemesis-commands",
        commands.to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let applied = std::fs::read_to_string(&log).unwrap();
    assert!(applied.contains("cut host-") && applied.contains("kill host-"), "{applied}");
    assert!(applied.contains("heal host-") && applied.contains("start host-"), "{applied}");
    // Each step is in the history, with the command that ran.
    let history = std::fs::read_to_string(store.join("latest/history.jsonl")).unwrap();
    let steps: Vec<serde_json::Value> = history
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["process"] == "nemesis" && e["type"] == "info")
        .collect();
    let start_kill = steps.iter().find(|e| e["f"] == "start-kill").expect("a kill was recorded");
    assert!(start_kill["value"]["probe"]["commands"][0]["command"].as_str().unwrap().starts_with("echo kill host-"));
    assert!(steps.iter().any(|e| e["f"] == "stop-partition"));

    // A file naming fewer nodes than there are targets is an error before anything runs.
    let out = faultline(&[
        "test",
        "--target",
        &url,
        "--nemesis",
        "kill",
        "--nemesis-commands",
        commands.to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("names 2 nodes but 1 targets"), "{out:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---- History input: exact, strict, never a crash (issue 12, items 5 and 6) ----

fn check_exit(name: &str, contents: &str, flags: &[&str]) -> (Option<i32>, String, String) {
    let path = temp(name, contents);
    let out = faultline(&[&["check"], flags, &[path.to_str().unwrap()]].concat());
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn integers_beyond_64_bits_are_compared_exactly() {
    // A stale read between two writes of integers that differ only beyond 64 bits.
    let stale = r#"{"type":"invoke","process":0,"f":"write","value":100000000000000000001}
{"type":"ok","process":0,"f":"write","value":100000000000000000001}
{"type":"invoke","process":0,"f":"write","value":100000000000000000002}
{"type":"ok","process":0,"f":"write","value":100000000000000000002}
{"type":"invoke","process":1,"f":"read","value":null}
{"type":"ok","process":1,"f":"read","value":100000000000000000001}
"#;
    let (code, stdout, _) = check_exit("big.jsonl", stale, &[]);
    assert_eq!(code, Some(1), "{stdout}");
    let edn = "{:type :invoke, :f :write, :value 100000000000000000001N, :process 0}\n\
               {:type :ok, :f :write, :value 100000000000000000001N, :process 0}\n\
               {:type :invoke, :f :write, :value 100000000000000000002N, :process 0}\n\
               {:type :ok, :f :write, :value 100000000000000000002N, :process 0}\n\
               {:type :invoke, :f :read, :value nil, :process 1}\n\
               {:type :ok, :f :read, :value 100000000000000000001, :process 1}\n";
    let (code, stdout, _) = check_exit("big.edn", edn, &[]);
    assert_eq!(code, Some(1), "{stdout}");
}

#[test]
fn malformed_histories_exit_3_naming_the_line() {
    let deep = |open: &str, close: &str| format!("{}1{}", open.repeat(10_000), close.repeat(10_000));
    for (name, text, line, what) in [
        (
            "reuse.jsonl",
            "{\"type\":\"invoke\",\"process\":0,\"f\":\"write\",\"value\":1}\n\
             {\"type\":\"info\",\"process\":0,\"f\":\"write\",\"value\":1}\n\
             {\"type\":\"invoke\",\"process\":0,\"f\":\"read\"}\n"
                .to_string(),
            3,
            "after its operation ended with info at line 2",
        ),
        (
            "other-value.jsonl",
            "{\"type\":\"invoke\",\"process\":0,\"f\":\"write\",\"value\":1}\n\
             {\"type\":\"ok\",\"process\":0,\"f\":\"write\",\"value\":2}\n"
                .to_string(),
            2,
            "this ok write completes with value 2",
        ),
        (
            "deep.edn",
            format!("{{:type :invoke, :f :write, :process 0, :value {}}}\n", deep("[", "]")),
            1,
            "nested more than 128 deep",
        ),
        (
            "deep.log",
            format!("INFO  jepsen.util - 0 :invoke :write {}\n", deep("[", "]")),
            1,
            "nested more than 128 deep",
        ),
        (
            "deep.jsonl",
            format!("{{\"type\":\"invoke\",\"process\":0,\"f\":\"write\",\"value\":{}}}\n", deep("[", "]")),
            1,
            "recursion limit",
        ),
        (
            "torn-inside.jsonl",
            "{\"type\":\"invoke\",\"process\":0,\"f\":\"write\",\"value\":1}\n{\"type\":\"ok\",\"pro\n\
             {\"type\":\"ok\",\"process\":0,\"f\":\"write\",\"value\":1}\n"
                .to_string(),
            2,
            "expected one JSON event per line",
        ),
    ] {
        let (code, _, stderr) = check_exit(name, &text, &[]);
        assert_eq!(code, Some(3), "{name}: {stderr}");
        assert!(stderr.contains(&format!("{name}:{line}: ")) && stderr.contains(what), "{name}: {stderr}");
    }
}

#[test]
fn a_torn_final_line_is_skipped_with_a_warning_and_a_bom_is_accepted() {
    let text = "\u{feff}{\"type\":\"invoke\",\"process\":0,\"f\":\"write\",\"value\":1}\n\
                {\"type\":\"ok\",\"process\":0,\"f\":\"write\",\"value\":1}\n\
                {\"type\":\"invoke\",\"process\":1,\"f\":\"re";
    let (code, stdout, stderr) = check_exit("torn.jsonl", text, &[]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stderr.contains("warning: ") && stderr.contains("torn.jsonl:3: skipped the last line"), "{stderr}");
}

#[test]
fn a_dash_reads_the_history_from_standard_input() {
    use std::io::Write;
    use std::process::Stdio;
    let run = |text: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args(["check", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let out = run(&synth(&["--ops", "300", "--clients", "4", "--stale-read", "--seed", "3"]));
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    // The verdict names standard input as every message does (and the README), not as `-`.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("<stdin>: INVALID"), "{stdout}");
    let out = run("{\"type\":\"ok\",\"process\":0,\"f\":\"read\"}\n");
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("<stdin>:1: ok completion for process 0"));
}

#[test]
fn nil_read_any_reads_nil_as_knossos_does() {
    // A Jepsen history whose client read nil after the write was acknowledged.
    let edn = "{:type :invoke, :f :write, :value 3, :process 0}\n{:type :ok, :f :write, :value 3, :process 0}\n\
               {:type :invoke, :f :read, :value nil, :process 1}\n{:type :ok, :f :read, :value nil, :process 1}\n";
    let (code, stdout, _) = check_exit("nil.edn", edn, &[]);
    assert_eq!(code, Some(1), "absent by default: nil is the key's absence: {stdout}");
    assert!(!stdout.contains("nil reads"), "the default reading goes unsaid: {stdout}");
    let (code, stdout, _) = check_exit("nil.edn", edn, &["--nil-read", "any"]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("failed cas: observe, nil reads: any;"), "the header says how nil was read: {stdout}");
    let (code, _, _) = check_exit("nil.edn", edn, &["--nil-read", "any", "--require", "sequential"]);
    assert_eq!(code, Some(0));
    let (code, _, stderr) = check_exit("nil.edn", edn, &["--nil-read", "maybe"]);
    assert_eq!(code, Some(3));
    assert!(stderr.contains("expected absent or any"), "{stderr}");
}

#[test]
fn eventual_consistency_without_final_reads_is_unknown() {
    let path = temp("killed.jsonl", &synth(&["--ops", "200", "--keys", "2", "--clients", "4", "--seed", "5"]));
    let out = faultline(&["check", "--require", "eventual", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("no final reads"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn a_reader_that_goes_away_leaves_the_exit_code_alone() {
    // `faultline check FILE | head -1`: standard output closes before the verdict is written.
    let path = temp("pipe.jsonl", &synth(&["--ops", "500", "--clients", "5", "--stale-read", "--seed", "7"]));
    for json in [false, true] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_faultline"));
        command.args(["check", path.to_str().unwrap()]).args(if json { &["--json"][..] } else { &[] });
        let mut child = command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("faultline runs");
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "the verdict's exit code (json: {json}); stderr: {stderr}");
        assert!(!stderr.contains("panicked") && !stderr.contains("Broken pipe"), "{stderr}");
    }
    // `faultline synth | head`: a generator whose reader had enough did its job.
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["synth", "--ops", "200000"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("faultline runs");
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}
