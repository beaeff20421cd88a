//! The reference cluster as processes: `faultline node` × 3 on loopback, killed and restarted by the test.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Cluster {
    nodes: Vec<Option<Child>>,
    addrs: Vec<String>,
    dir: PathBuf,
    mode: &'static str,
    extra: Vec<&'static str>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in self.nodes.iter_mut().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Cluster {
    fn start(name: &str, mode: &'static str) -> Cluster {
        Cluster::start_with(name, mode, &[])
    }

    fn start_with(name: &str, mode: &'static str, extra: &[&'static str]) -> Cluster {
        let addrs: Vec<String> = (0..3)
            .map(|_| format!("127.0.0.1:{}", TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()))
            .collect();
        let dir = std::env::temp_dir().join(format!("faultline-cluster-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut cluster = Cluster { nodes: vec![None, None, None], addrs, dir, mode, extra: extra.to_vec() };
        for i in 0..3 {
            cluster.restart(i);
        }
        cluster
    }

    fn restart(&mut self, i: usize) {
        let peers: Vec<String> = self.addrs.iter().enumerate().map(|(j, a)| format!("{j}={a}")).collect();
        let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args(["node", "--id", &i.to_string(), "--listen", &self.addrs[i], "--peers", &peers.join(",")])
            .args(["--mode", self.mode, "--flush-interval", "5s", "--request-timeout", "300ms"])
            .args(&self.extra)
            .arg("--data-dir")
            .arg(self.dir.join(format!("n{i}")))
            .stdout(Stdio::piped())
            .stderr(self.log(i))
            .spawn()
            .unwrap();
        let mut ready = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut ready).unwrap();
        assert!(ready.starts_with("ready "), "node {i} said {ready:?}");
        self.nodes[i] = Some(child);
    }

    /// Node `i`'s log (its stderr), appended to across restarts.
    fn log(&self, i: usize) -> std::fs::File {
        std::fs::create_dir_all(&self.dir).unwrap();
        std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join(format!("n{i}.log"))).unwrap()
    }

    fn log_text(&self, i: usize) -> String {
        std::fs::read_to_string(self.dir.join(format!("n{i}.log"))).unwrap()
    }

    fn kill(&mut self, i: usize) {
        let mut child = self.nodes[i].take().unwrap();
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }

    fn urls(&self, nodes: &[usize]) -> Vec<String> {
        nodes.iter().map(|&i| format!("http://{}", self.addrs[i])).collect()
    }
}

/// One HTTP request; the status and body.
fn http(addr: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let status = answer[9..12].parse().unwrap();
    (status, answer.split_once("\r\n\r\n").unwrap().1.to_string())
}

fn faultline_test(cluster: &Cluster, nodes: &[usize], extra: &[&str]) -> (Option<i32>, String) {
    let urls = cluster.urls(nodes);
    let store = cluster.dir.with_extension("store");
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["test", "--target"])
        .args(&urls)
        .args(["--store", store.to_str().unwrap(), "--request-timeout", "1s"])
        .args(extra)
        .output()
        .unwrap();
    let history = std::fs::read_to_string(store.join("latest/history.jsonl")).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&store);
    (out.status.code(), history)
}

#[test]
fn linearizable_mode_is_valid_and_stays_right_when_followers_die() {
    let mut cluster = Cluster::start("lin", "linearizable");
    let (code, _) = faultline_test(&cluster, &[0, 1, 2], &["--time-limit", "3s", "--clients", "8"]);
    assert_eq!(code, Some(0));

    // One follower down: a majority remains, everything works through both live nodes.
    cluster.kill(2);
    let (code, history) = faultline_test(&cluster, &[0, 1], &["--time-limit", "2s", "--clients", "8"]);
    assert_eq!(code, Some(0));
    assert!(history.contains(r#""type":"ok","process":0,"f":"write""#) || history.contains(r#""f":"write","key""#));

    // Both followers down: nothing is acknowledged, nothing wrong is read. No write succeeded, so the run
    // cannot be judged valid: unknown (2), not invalid.
    cluster.kill(1);
    let (code, history) = faultline_test(&cluster, &[0], &["--time-limit", "2s", "--clients", "4"]);
    assert_eq!(code, Some(2), "no write succeeded: unknown, neither valid nor invalid");
    let completions: Vec<&str> = history.lines().filter(|l| !l.contains(r#""type":"invoke""#)).collect();
    assert!(!completions.is_empty());
    assert!(
        completions.iter().all(|l| !l.contains(r#""type":"ok""#) || l.contains(r#""f":"read""#)),
        "a write was acknowledged without a majority"
    );

    // Everything restarts from disk.
    let (status, _) = http(&cluster.addrs[0], "PUT", "/kv/x", r#"{"value": 1}"#);
    assert_eq!(status, 503);
    cluster.restart(1);
    assert_eq!(http(&cluster.addrs[0], "PUT", "/kv/x", r#"{"value": 7}"#).0, 200);
    for i in [0, 1] {
        cluster.kill(i);
    }
    for i in 0..3 {
        cluster.restart(i);
    }
    assert_eq!(http(&cluster.addrs[2], "GET", "/kv/x", "").1, r#"{"value":7}"#);
    assert_eq!(http(&cluster.addrs[1], "POST", "/kv/x/cas", r#"{"from": 7, "to": 8}"#).0, 200);
    let (status, body) = http(&cluster.addrs[2], "POST", "/kv/x/cas", r#"{"from": 7, "to": 9}"#);
    assert_eq!((status, body.as_str()), (412, r#"{"error":"mismatch","value":8}"#));
    assert_eq!(http(&cluster.addrs[0], "GET", "/kv/missing", "").0, 404);
    assert_eq!(http(&cluster.addrs[0], "PUT", "/kv/x", "not json").0, 400);
}

#[test]
fn unsafe_mode_loses_an_acknowledged_write_when_its_primary_is_killed() {
    let mut cluster = Cluster::start("unsafe", "unsafe");
    assert_eq!(http(&cluster.addrs[1], "PUT", "/kv/x", r#"{"value": 1}"#).0, 200);
    assert_eq!(http(&cluster.addrs[0], "GET", "/kv/x", "").1, r#"{"value":1}"#);
    cluster.kill(0);
    cluster.restart(0);
    // The acknowledged write is gone, from the primary and, once it replicates, from the followers.
    assert_eq!(http(&cluster.addrs[0], "GET", "/kv/x", "").0, 404);
    assert_eq!(http(&cluster.addrs[0], "PUT", "/kv/y", r#"{"value": 2}"#).0, 200);
    assert_eq!(http(&cluster.addrs[2], "GET", "/kv/x", "").0, 404);
    // The same loss, as a history the checker judges.
    let history = concat!(
        r#"{"type":"invoke","process":0,"f":"write","key":"x","value":1}"#,
        "\n",
        r#"{"type":"ok","process":0,"f":"write","key":"x","value":1}"#,
        "\n",
        r#"{"type":"invoke","process":1,"f":"read","key":"x","value":null}"#,
        "\n",
        r#"{"type":"ok","process":1,"f":"read","key":"x","value":null}"#,
        "\n",
    );
    let path = cluster.dir.join("lost.jsonl");
    std::fs::write(&path, history).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_faultline")).args(["check", path.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn sequential_mode_serves_stale_reads_but_stays_sequentially_consistent() {
    let cluster = Cluster::start_with("seq", "sequential", &["--replication-delay", "300ms"]);
    assert_eq!(http(&cluster.addrs[0], "PUT", "/kv/a", r#"{"value": 1}"#).0, 200);
    // The follower has not been shipped the write yet...
    assert_eq!(http(&cluster.addrs[1], "GET", "/kv/a", "").0, 404);
    std::thread::sleep(Duration::from_millis(700));
    // ...and has it once it is.
    assert_eq!(http(&cluster.addrs[1], "GET", "/kv/a", "").1, r#"{"value":1}"#);
    // A write through a follower is answered only once that follower has applied it.
    assert_eq!(http(&cluster.addrs[2], "PUT", "/kv/a", r#"{"value": 2}"#).0, 200);
    assert_eq!(http(&cluster.addrs[2], "GET", "/kv/a", "").1, r#"{"value":2}"#);
    drop(cluster);

    let cluster = Cluster::start_with("seq-run", "sequential", &["--replication-delay", "20ms"]);
    let (code, history) = faultline_test(
        &cluster,
        &[0, 1, 2],
        &["--pin-clients", "--time-limit", "10s", "--ops", "600", "--clients", "6", "--keys", "2"],
    );
    assert_eq!(code, Some(1), "stale reads at followers must make the history non-linearizable");
    let history = faultline_checker::format::jsonl::parse("history", &history).unwrap();
    let model = faultline_checker::model::ModelOptions::new(faultline_checker::model::ModelKind::CasRegister);
    let sequential =
        faultline_checker::sequential::check(&history, &faultline_checker::sequential::Options::new(model)).unwrap();
    assert_eq!(sequential.verdict, faultline_checker::linear::Verdict::Valid, "{:?}", sequential.explanation);
}

#[test]
fn eventual_mode_accepts_writes_everywhere_and_converges() {
    let mut cluster = Cluster::start("eventual", "eventual");
    assert_eq!(http(&cluster.addrs[0], "PUT", "/kv/a", r#"{"value": 1}"#).0, 200);
    assert_eq!(http(&cluster.addrs[1], "PUT", "/kv/b", r#"{"value": 2}"#).0, 200);
    assert_eq!(http(&cluster.addrs[2], "POST", "/kv/c/cas", r#"{"from": null, "to": 3}"#).0, 200);
    // The last write of a key wins everywhere.
    assert_eq!(http(&cluster.addrs[2], "PUT", "/kv/a", r#"{"value": 4}"#).0, 200);
    let converged = |cluster: &Cluster| {
        (0..3).all(|i| {
            http(&cluster.addrs[i], "GET", "/kv/a", "").1 == r#"{"value":4}"#
                && http(&cluster.addrs[i], "GET", "/kv/b", "").1 == r#"{"value":2}"#
                && http(&cluster.addrs[i], "GET", "/kv/c", "").1 == r#"{"value":3}"#
        })
    };
    let started = std::time::Instant::now();
    while !converged(&cluster) {
        assert!(started.elapsed() < Duration::from_secs(5), "no convergence in 5 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    // What a node learned by gossip survives its restart.
    cluster.kill(0);
    std::thread::sleep(Duration::from_millis(300));
    cluster.restart(0);
    assert_eq!(http(&cluster.addrs[0], "GET", "/kv/b", "").1, r#"{"value":2}"#);
    // Its peers logged it gone (once, not every 100 ms) and back.
    let started = std::time::Instant::now();
    while !cluster.log_text(1).contains("n1 (id 0) takes gossip again") {
        assert!(started.elapsed() < Duration::from_secs(5), "{}", cluster.log_text(1));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(cluster.log_text(1).matches("gossip to n1 (id 0) failed").count(), 1, "{}", cluster.log_text(1));
}

#[test]
fn bad_node_flags_are_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["node", "--id", "5", "--listen", "127.0.0.1:0", "--peers", "0=127.0.0.1:1", "--data-dir", "/tmp/x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("node 5 is not among the peers"));
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "node",
            "--id",
            "0",
            "--listen",
            "127.0.0.1:0",
            "--peers",
            "0=127.0.0.1:1",
            "--data-dir",
            "/tmp/x",
            "--mode",
            "strong",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown mode \"strong\""));
}

#[test]
fn node_logs_say_what_happened_with_timestamps() {
    let mut cluster = Cluster::start("logs", "linearizable");
    let (primary, follower) = (cluster.addrs[0].clone(), cluster.addrs[1].clone());
    assert_eq!(http(&primary, "PUT", "/kv/a", r#"{"value": 1}"#).0, 200);
    assert_eq!(http(&primary, "PUT", "/kv/a", "not json").0, 400);
    // Both followers gone: no majority; one back: a majority again.
    cluster.kill(1);
    cluster.kill(2);
    assert_eq!(http(&primary, "PUT", "/kv/a", r#"{"value": 2}"#).0, 504);
    cluster.restart(1);
    assert_eq!(http(&primary, "PUT", "/kv/a", r#"{"value": 3}"#).0, 200);
    // The primary gone: its follower says so once, then that it is back.
    cluster.kill(0);
    assert_eq!(http(&follower, "GET", "/kv/a", "").0, 503);
    assert_eq!(http(&follower, "GET", "/kv/a", "").0, 503);
    cluster.restart(0);
    assert_eq!(http(&follower, "GET", "/kv/a", ""), (200, r#"{"value":3}"#.to_string()));

    let primary_log = cluster.log_text(0);
    let follower_log = cluster.log_text(1);
    for line in primary_log.lines().chain(follower_log.lines()) {
        // 2026-11-30T01:44:37.030713Z  INFO ...
        let stamp = line.split_whitespace().next().unwrap_or("");
        assert!(stamp.len() > 20 && stamp.as_bytes()[10] == b'T' && stamp.ends_with('Z'), "no timestamp: {line}");
    }
    let expect = |log: &str, what: &[&str]| {
        let mut at = 0;
        for w in what {
            let found = log[at..].find(w).unwrap_or_else(|| panic!("{w:?} not after position {at} in:\n{log}"));
            at += found + w.len();
        }
    };
    expect(
        &primary_log,
        &[
            "n1 (id 0) starting: linearizable mode, primary n1 (id 0)",
            "log restored: 0 entries (0 keys)",
            "ready: serving clients and peers on",
            "refused PUT /kv/a: expected a body",
            "replication to n2 (id 1) failed",
            "no majority: 1 of 3 nodes",
            "n2 (id 1) answers replication again",
            "a majority has the log again (2 of 3 nodes",
            // The restart: three writes were logged (the second one without a majority).
            "log restored: 3 entries (1 key)",
        ],
    );
    expect(
        &follower_log,
        &["log restored: 0 entries", "log restored: 1 entry (1 key)", "primary n1 (id 0) unreachable"],
    );
    assert_eq!(
        follower_log.matches("primary n1 (id 0) unreachable").count(),
        1,
        "said once, not per request:\n{follower_log}"
    );
    expect(&follower_log, &["primary n1 (id 0) unreachable", "primary n1 (id 0) answers again"]);
}

#[test]
fn nodes_speak_http_1_1_as_clients_and_tools_do() {
    let cluster = Cluster::start("http", "linearizable");
    let primary = &cluster.addrs[0];
    // Pipelined requests on one connection, answered in order; a chunked body; a query string.
    let mut s = TcpStream::connect(primary).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let put = r#"{"value": 7}"#;
    write!(
        s,
        "GET /kv/p HTTP/1.1\r\nhost: x\r\n\r\n\
         PUT /kv/p HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n{put}\
         PUT /kv/q HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{put}\r\n0\r\n\r\n\
         GET /kv/p?quorum=true HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        put.len(),
        put.len()
    )
    .unwrap();
    let mut answers = String::new();
    s.read_to_string(&mut answers).unwrap();
    let statuses: Vec<&str> = answers.match_indices("HTTP/1.1 ").map(|(i, _)| &answers[i + 9..i + 12]).collect();
    assert_eq!(statuses, ["404", "200", "200", "200"], "{answers}");
    assert!(answers.ends_with(r#"{"value":7}"#), "{answers}");
    assert_eq!(http(primary, "GET", "/kv/q", ""), (200, r#"{"value":7}"#.to_string()));
    // Not HTTP: refused with 400 by the server itself.
    let mut s = TcpStream::connect(primary).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"HELLO\r\n\r\n").unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");
}
