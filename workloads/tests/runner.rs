//! The runner end to end against a native-protocol KV server running in the test, judged by the checker.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use faultline_checker::format::jsonl;
use faultline_checker::linear::{self, Options};
use faultline_checker::model::{ModelKind, ModelOptions};
use faultline_checker::Verdict;
use faultline_checker::{EventKind, Outcome};
use faultline_workloads::adapter::Adapter;
use faultline_workloads::generator::{KeyDistribution, Mix, RegisterWorkload};
use faultline_workloads::recorder::Recorder;
use faultline_workloads::runner::{run, ClientBinding, Node, RunSpec};
use faultline_workloads::transport::ClientKind;
use faultline_workloads::workload::Workload;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// Every value each key has held, newest last.
type Store = Arc<Mutex<HashMap<String, Vec<serde_json::Value>>>>;

/// A single-node store speaking the native protocol. `stale_every`: every n-th read returns the value
/// before the current one (a stale read), or 0 for a correct store.
async fn kv_server(stale_every: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let store: Store = Arc::default();
    let reads = Arc::new(Mutex::new(0usize));
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let (store, reads) = (store.clone(), reads.clone());
            tokio::spawn(async move {
                let mut socket = BufReader::new(socket);
                loop {
                    let mut line = String::new();
                    if socket.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let mut length = 0;
                    loop {
                        let mut header = String::new();
                        socket.read_line(&mut header).await.unwrap();
                        if header.trim().is_empty() {
                            break;
                        }
                        if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; length];
                    socket.read_exact(&mut body).await.unwrap();
                    let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                    let mut parts = line.split_whitespace();
                    let (method, path) = (parts.next().unwrap().to_string(), parts.next().unwrap().to_string());
                    let key = path.trim_start_matches("/kv/").trim_end_matches("/cas").to_string();
                    let (status, answer) = {
                        let mut store = store.lock().unwrap();
                        let values = store.entry(key).or_default();
                        match (method.as_str(), path.ends_with("/cas")) {
                            ("GET", _) => {
                                let mut n = reads.lock().unwrap();
                                *n += 1;
                                let back = usize::from(stale_every > 0 && *n % stale_every == 0 && values.len() >= 2);
                                match values.len().checked_sub(1 + back).map(|i| &values[i]) {
                                    Some(v) => (200, serde_json::json!({ "value": v })),
                                    None => (404, serde_json::json!({"error": "not found"})),
                                }
                            }
                            ("PUT", _) => {
                                values.push(body["value"].clone());
                                (200, serde_json::json!({"ok": true}))
                            }
                            (_, true) => {
                                let current = values.last().cloned().unwrap_or_default();
                                if current == body["from"] {
                                    values.push(body["to"].clone());
                                    (200, serde_json::json!({"ok": true}))
                                } else {
                                    (412, serde_json::json!({"error": "mismatch", "value": current}))
                                }
                            }
                            _ => (400, serde_json::json!({"error": "unknown request"})),
                        }
                    };
                    let text = answer.to_string();
                    let response = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n\r\n{text}", text.len());
                    if socket.get_mut().write_all(response.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

fn spec(url: &str, ops: u64) -> RunSpec {
    RunSpec {
        nodes: vec![Node { name: "n1".into(), url: url.to_string() }, Node { name: "n2".into(), url: url.to_string() }],
        adapter: Adapter::by_name("native").unwrap(),
        workload: Workload::Register(RegisterWorkload {
            mix: Mix::parse("2:1:1").unwrap(),
            keys: 4,
            distribution: KeyDistribution::Uniform,
            ops_per_key: 100,
            seed: 3,
            key_prefix: String::new(),
        }),
        clients: 8,
        rate: None,
        time_limit: Duration::from_secs(20),
        op_limit: Some(ops),
        request_timeout: Duration::from_secs(2),
        binding: ClientBinding::Spread,
        final_reads: true,
        threads: None,
        http_client: ClientKind::Hyper,
        tls: None,
    }
}

async fn record(spec: &RunSpec, name: &str) -> (faultline_checker::History, Verdict) {
    let dir = std::env::temp_dir().join(format!("faultline-runner-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("history.jsonl");
    let recorder = Recorder::create(&path).unwrap();
    run(spec, &recorder, Arc::new(AtomicBool::new(false))).await;
    recorder.finish().unwrap();
    let history = jsonl::parse(&path.display().to_string(), &std::fs::read_to_string(&path).unwrap()).unwrap();
    let verdict = linear::check(&history, &Options::new(ModelOptions::new(ModelKind::CasRegister))).unwrap().verdict;
    (history, verdict)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correct_store_records_a_valid_history_with_final_reads() {
    let url = kv_server(0).await;
    let (history, verdict) = record(&spec(&url, 2000), "valid").await;
    assert_eq!(verdict, Verdict::Valid);
    let client_ops = history.operations.iter().filter(|o| o.process < 1_000_000_000).count();
    assert_eq!(client_ops, 2000);
    assert!(history.operations.iter().all(|o| o.outcome != Outcome::Info), "a local store never times out");
    let cas_mismatches = history.events.iter().filter(|e| e.kind == EventKind::Fail && &*e.f == "cas").count();
    assert!(cas_mismatches > 0, "some cas operations should fail their comparison");
    // Final reads: every used key read from both nodes. Keys rotate after 100 operations.
    let keys: std::collections::HashSet<_> = history
        .operations
        .iter()
        .filter(|o| o.process < 1_000_000_000)
        .map(|o| history.invocation(o).key.clone())
        .collect();
    assert!((20..=24).contains(&keys.len()), "{} keys for 2000 operations, 100 per key, 4 slots", keys.len());
    let finals = history.operations.iter().filter(|o| o.process >= 1_000_000_000).count();
    assert_eq!(finals, 2 * keys.len());
    assert!(history.events.windows(2).all(|w| w[0].time <= w[1].time && w[0].index + 1 == w[1].index));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_with_stale_reads_records_an_invalid_history() {
    let url = kv_server(7).await;
    let (_, verdict) = record(&spec(&url, 2000), "stale").await;
    assert_eq!(verdict, Verdict::Invalid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_is_down_gives_failures_not_a_panic() {
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut spec = spec(&url, 1_000_000);
    spec.time_limit = Duration::from_millis(1500);
    spec.final_reads = false;
    let (history, verdict) = record(&spec, "down").await;
    assert_eq!(verdict, Verdict::Valid);
    assert!(history.operations.iter().all(|o| o.outcome == Outcome::Fail));
    let error = history.completion(&history.operations[0]).unwrap().error.clone().unwrap();
    assert!(error.as_str().unwrap().starts_with("not-sent: connection refused"), "{error}");
    // Each client backs off after every refusal (10 ms doubling, jittered down to half): in 1.5 s at most
    // about a dozen operations each, where without it the clients sent tens of thousands.
    let ops = history.operations.len();
    assert!((8..=8 * 12).contains(&ops), "{ops} operations of 8 clients in 1.5 s against a dead target");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_holds() {
    let url = kv_server(0).await;
    let mut spec = spec(&url, 1_000_000);
    spec.rate = Some(200.0);
    spec.time_limit = Duration::from_millis(1000);
    spec.final_reads = false;
    let (history, _) = record(&spec, "rate").await;
    let ops = history.operations.len();
    // The limit is the point: never above it; below it only if the machine is very busy.
    assert!((100..=210).contains(&ops), "{ops} operations in 1 s at 200/s");
}

/// A node that takes connections and never answers, as a paused process does.
async fn silent_node() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_are_bound_to_one_node_by_default_and_a_silent_node_stalls_only_its_own() {
    let (answering, silent) = (kv_server(0).await, silent_node().await);
    let mut spec = spec(&answering, 1_000_000);
    spec.nodes[1].url = silent;
    spec.binding = ClientBinding::default();
    spec.time_limit = Duration::from_millis(1500);
    spec.request_timeout = Duration::from_millis(200);
    spec.final_reads = false;
    let (history, _) = record(&spec, "bound").await;
    let node = |o: &faultline_checker::Operation| history.invocation(o).node.as_deref().unwrap().to_string();
    // Client c runs as processes c, c + 8, c + 16, ... (a new one after each indeterminate result), and
    // every one of them on node c mod 2.
    for o in &history.operations {
        let client = o.process % spec.clients as u64;
        assert_eq!(node(o), format!("n{}", client % 2 + 1), "process {} went to {}", o.process, node(o));
    }
    let on = |name: &str, outcome: Outcome| {
        history.operations.iter().filter(|o| node(o) == name && o.outcome == outcome).count()
    };
    // The silent node's 4 clients time out every 200 ms: about 7 each, and each continues as a new process.
    let timed_out = on("n2", Outcome::Info);
    assert!((8..=40).contains(&timed_out), "{timed_out} operations timed out on the silent node");
    assert_eq!(on("n2", Outcome::Ok), 0);
    let n2_processes: std::collections::HashSet<u64> =
        history.operations.iter().filter(|o| node(o) == "n2").map(|o| o.process).collect();
    assert_eq!(n2_processes.len(), timed_out, "a client goes on as a new process after each info");
    // The other 4 clients never wait for the silent node: hundreds of answers where spreading gets a few.
    let answered = on("n1", Outcome::Ok);
    assert!(answered > 20 * timed_out, "{answered} operations answered beside {timed_out} timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spread_clients_meet_every_node_and_all_stall_on_a_silent_one() {
    let (answering, silent) = (kv_server(0).await, silent_node().await);
    let mut spec = spec(&answering, 1_000_000);
    spec.nodes[1].url = silent;
    spec.time_limit = Duration::from_millis(1500);
    spec.request_timeout = Duration::from_millis(200);
    spec.final_reads = false;
    let (history, _) = record(&spec, "spread").await;
    // Every other operation of every client waits 200 ms for the silent node.
    let answered = history.operations.iter().filter(|o| o.outcome == Outcome::Ok).count();
    let timed_out = history.operations.iter().filter(|o| o.outcome == Outcome::Info).count();
    assert!(answered <= timed_out + 8, "{answered} answered, {timed_out} timed out");
}
