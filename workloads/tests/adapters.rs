//! Every adapter against a stub HTTP server on loopback, one answer at a time: what request it sends, and
//! how each answer (and each way of getting none) is classified, through both HTTP clients (which must
//! send the same requests and classify alike).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use faultline_checker::Value;
use faultline_workloads::adapter::{Adapter, Op, Outcome, CAS_MISMATCH};
use faultline_workloads::transport::{ClientKind, HttpClient};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Clone)]
enum Reply {
    Answer(u16, String),
    /// Read the request, then wait longer than the client will.
    Hang,
    /// Read the request, then close the connection without answering.
    Reset,
}

/// One request as the stub saw it: "METHOD path", and the body.
type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// Serves `reply` to every request; returns the base URL and what it saw.
async fn stub(reply: Reply) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen: Seen = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let reply = reply.clone();
            let log = log.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                // Headers, then as many body bytes as content-length says.
                loop {
                    let Ok(n) = socket.read(&mut buf).await else { return };
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&request).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text[..end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse().unwrap_or(0))
                            })
                            .unwrap_or(0usize);
                        if request.len() >= end + 4 + length {
                            let first = text
                                .lines()
                                .next()
                                .unwrap_or("")
                                .rsplit_once(' ')
                                .map_or("", |(request, _)| request)
                                .to_string();
                            log.lock().unwrap().push((first, text[end + 4..].to_string()));
                            break;
                        }
                    }
                }
                match reply {
                    Reply::Answer(status, body) => {
                        let response = format!(
                            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = socket.write_all(response.as_bytes()).await;
                    }
                    Reply::Hang => tokio::time::sleep(Duration::from_secs(5)).await,
                    Reply::Reset => drop(socket),
                }
            });
        }
    });
    (base, seen)
}

const CLIENTS: [ClientKind; 2] = [ClientKind::Hyper, ClientKind::Reqwest];

fn client(kind: ClientKind, timeout: Duration) -> HttpClient {
    HttpClient::new(kind, timeout, None, None)
}

/// The outcome and the requests the stub saw, through the hyper client; the reqwest client must have sent
/// the same requests and come to the same outcome (up to the wording of transport errors).
async fn run(adapter: &str, reply: Reply, key: &str, op: Op) -> (Outcome, Vec<(String, String)>) {
    let mut results = Vec::new();
    for kind in CLIENTS {
        let (base, seen) = stub(reply.clone()).await;
        let outcome = Adapter::by_name(adapter)
            .unwrap()
            .invoke(&mut client(kind, Duration::from_millis(500)), &base, key, &op)
            .await;
        results.push((outcome, seen.lock().unwrap().clone()));
    }
    let (reqwest, hyper) = (results.pop().unwrap(), results.pop().unwrap());
    assert_eq!(hyper.1, reqwest.1, "{adapter} {op:?}: the clients sent different requests");
    assert!(same_kind(&hyper.0, &reqwest.0), "{adapter} {op:?}: hyper {}, reqwest {}", hyper.0, reqwest.0);
    hyper
}

fn answer(status: u16, body: &str) -> Reply {
    Reply::Answer(status, body.to_string())
}

fn is_fail(o: &Outcome, text: &str) -> bool {
    matches!(o, Outcome::Fail { error } if error.contains(text))
}

fn is_info(o: &Outcome, text: &str) -> bool {
    matches!(o, Outcome::Info { error } if error.contains(text))
}

#[tokio::test]
async fn native_requests_and_every_answer() {
    let write = Op::Write(Value::Int(3));
    let cas = Op::Cas(Value::Int(1), Value::str("x"));

    let (o, seen) = run("native", answer(200, r#"{"value": 3}"#), "a/b c", Op::Read).await;
    assert_eq!(o, Outcome::Ok(Value::Int(3)));
    assert_eq!(seen[0].0, "GET /kv/a%2Fb%20c");
    assert_eq!(run("native", answer(404, r#"{"error":"not found"}"#), "k", Op::Read).await.0, Outcome::Ok(Value::Null));
    assert!(is_info(&run("native", answer(200, "<html>"), "k", Op::Read).await.0, "expected {\"value\""));

    let (o, seen) = run("native", answer(200, r#"{"ok": true}"#), "k", write.clone()).await;
    assert_eq!(o, Outcome::Ok(Value::Null));
    assert_eq!(seen[0], ("PUT /kv/k".to_string(), r#"{"value":3}"#.to_string()));
    let (o, seen) = run("native", answer(200, r#"{"ok": true}"#), "k", cas.clone()).await;
    assert_eq!(o, Outcome::Ok(Value::Null));
    assert_eq!(seen[0], ("POST /kv/k/cas".to_string(), r#"{"from":1,"to":"x"}"#.to_string()));

    assert!(is_fail(
        &run("native", answer(412, r#"{"error":"mismatch","value":2}"#), "k", cas.clone()).await.0,
        CAS_MISMATCH
    ));
    assert!(is_fail(
        &run("native", answer(503, r#"{"error":"no primary","applied":false}"#), "k", write.clone()).await.0,
        "not-applied: unavailable"
    ));
    assert!(is_info(
        &run("native", answer(504, r#"{"error":"no quorum","applied":null}"#), "k", write.clone()).await.0,
        "no quorum"
    ));
    assert!(is_fail(
        &run("native", answer(400, r#"{"error":"bad body"}"#), "k", write.clone()).await.0,
        "not-applied: refused as malformed"
    ));
    assert!(is_info(&run("native", answer(500, "oops"), "k", write.clone()).await.0, "unexpected answer 500"));
    // A 412 to anything but a cas has no definite meaning.
    assert!(is_info(&run("native", answer(412, "{}"), "k", write).await.0, "unexpected answer 412"));
}

#[tokio::test]
async fn etcd_v2_requests_and_every_answer() {
    let cas = Op::Cas(Value::Int(1), Value::Int(2));
    let (o, seen) =
        run("etcd-v2", answer(200, r#"{"action":"get","node":{"key":"/k","value":"3"}}"#), "k", Op::Read).await;
    assert_eq!(o, Outcome::Ok(Value::Int(3)));
    assert_eq!(seen[0].0, "GET /v2/keys/k?quorum=true");
    let (_, seen) = run("etcd-v2-stale", answer(200, r#"{"node":{"value":"3"}}"#), "k", Op::Read).await;
    assert_eq!(seen[0].0, "GET /v2/keys/k");
    let (o, _) = run("etcd-v2", answer(200, r#"{"node":{"value":"not json"}}"#), "k", Op::Read).await;
    assert_eq!(o, Outcome::Ok(Value::str("not json")));
    let not_found = r#"{"errorCode":100,"message":"Key not found"}"#;
    assert_eq!(run("etcd-v2", answer(404, not_found), "k", Op::Read).await.0, Outcome::Ok(Value::Null));

    let (o, seen) =
        run("etcd-v2", answer(201, r#"{"action":"set","node":{"value":"3"}}"#), "k", Op::Write(Value::Int(3))).await;
    assert_eq!(o, Outcome::Ok(Value::Null));
    assert_eq!(seen[0], ("PUT /v2/keys/k".to_string(), "value=3".to_string()));
    let (o, seen) =
        run("etcd-v2", answer(200, r#"{"action":"compareAndSwap","node":{"value":"2"}}"#), "k", cas.clone()).await;
    assert_eq!(o, Outcome::Ok(Value::Null));
    assert_eq!(seen[0], ("PUT /v2/keys/k?prevValue=1".to_string(), "value=2".to_string()));
    let compare_failed = r#"{"errorCode":101,"message":"Compare failed","cause":"[1 != 2]"}"#;
    assert!(is_fail(&run("etcd-v2", answer(412, compare_failed), "k", cas.clone()).await.0, CAS_MISMATCH));
    assert!(is_fail(&run("etcd-v2", answer(404, not_found), "k", cas.clone()).await.0, CAS_MISMATCH));
    let timed_out = r#"{"errorCode":300,"message":"Raft Internal Error","cause":"etcdserver: request timed out"}"#;
    assert!(is_info(&run("etcd-v2", answer(500, timed_out), "k", cas).await.0, "Raft Internal Error"));
    assert!(is_fail(
        &run("etcd-v2", answer(400, r#"{"errorCode":209,"message":"Invalid field"}"#), "k", Op::Read).await.0,
        "not-applied: refused: errorCode 209"
    ));
}

#[tokio::test]
async fn etcd_v3_requests_and_every_answer() {
    let header = r#""header":{"cluster_id":"1","member_id":"2","revision":"5","raft_term":"2"}"#;
    let found = format!(r#"{{{header},"kvs":[{{"key":"aw==","value":"Mw=="}}],"count":"1"}}"#);
    let (o, seen) = run("etcd-v3", answer(200, &found), "k", Op::Read).await;
    assert_eq!(o, Outcome::Ok(Value::Int(3)));
    assert_eq!(seen[0], ("POST /v3/kv/range".to_string(), r#"{"key":"aw=="}"#.to_string()));
    let (_, seen) = run("etcd-v3-stale", answer(200, &found), "k", Op::Read).await;
    assert!(seen[0].1.contains(r#""serializable":true"#));
    assert_eq!(run("etcd-v3", answer(200, &format!("{{{header}}}")), "k", Op::Read).await.0, Outcome::Ok(Value::Null));

    let (o, seen) = run("etcd-v3", answer(200, &format!("{{{header}}}")), "k", Op::Write(Value::Int(3))).await;
    assert_eq!(o, Outcome::Ok(Value::Null));
    assert_eq!(seen[0], ("POST /v3/kv/put".to_string(), r#"{"key":"aw==","value":"Mw=="}"#.to_string()));

    let cas = Op::Cas(Value::Int(2), Value::Int(3));
    let (o, seen) = run("etcd-v3", answer(200, &format!(r#"{{{header},"succeeded":true}}"#)), "k", cas.clone()).await;
    assert_eq!(o, Outcome::Ok(Value::Null));
    assert_eq!(seen[0].0, "POST /v3/kv/txn");
    assert!(seen[0].1.contains(r#""compare":[{"key":"aw==","result":"EQUAL","target":"VALUE","value":"Mg=="}]"#));
    let mismatch = format!(r#"{{{header},"responses":[{{"response_range":{{"kvs":[{{"value":"MQ=="}}]}}}}]}}"#);
    assert!(is_fail(&run("etcd-v3", answer(200, &mismatch), "k", cas.clone()).await.0, CAS_MISMATCH));
    let unavailable = r#"{"error":"etcdserver: request timed out","code":14}"#;
    assert!(is_info(&run("etcd-v3", answer(503, unavailable), "k", Op::Read).await.0, "server error 503"));
    assert!(is_info(
        &run("etcd-v3", answer(500, r#"{"error":"context deadline exceeded","code":2}"#), "k", cas).await.0,
        "500"
    ));
    assert!(is_info(&run("etcd-v3", answer(200, "[]"), "k", Op::Write(Value::Int(1))).await.0, "unexpected answer"));
}

#[tokio::test]
async fn no_answer_is_fail_only_when_nothing_was_sent() {
    // Refused: bind a port, then close it, so nothing listens there.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    for kind in CLIENTS {
        let mut c = client(kind, Duration::from_millis(500));
        for adapter in ["native", "etcd-v2", "etcd-v3"] {
            let o = Adapter::by_name(adapter).unwrap().invoke(&mut c, &base, "k", &Op::Write(Value::Int(1))).await;
            assert!(is_fail(&o, "not-sent: connection refused"), "{kind:?} {adapter}: {o}");
        }
        let write = Op::Write(Value::Int(1));
        let (hang, _) = stub(Reply::Hang).await;
        let started = std::time::Instant::now();
        let o = Adapter::by_name("native").unwrap().invoke(&mut c, &hang, "k", &write).await;
        assert!(is_info(&o, "timeout"), "{kind:?}: {o}");
        assert!(started.elapsed() < Duration::from_secs(3), "{kind:?}: the timeout was not applied");
        let (reset, _) = stub(Reply::Reset).await;
        let o = Adapter::by_name("native").unwrap().invoke(&mut c, &reset, "k", &write).await;
        assert!(is_info(&o, "no answer"), "{kind:?}: {o}");
    }
    assert!(Adapter::by_name("etcd-v4").unwrap_err().contains("expected one of native"));
}

/// The same outcome, ignoring the wording of errors: what a history records as type and value.
fn same_kind(a: &Outcome, b: &Outcome) -> bool {
    match (a, b) {
        (Outcome::Ok(x), Outcome::Ok(y)) => x == y,
        (Outcome::Fail { error: x }, Outcome::Fail { error: y }) => (x == CAS_MISMATCH) == (y == CAS_MISMATCH),
        (Outcome::Info { .. }, Outcome::Info { .. }) => true,
        _ => false,
    }
}

/// The shipped adapter files give the same outcomes, from the same requests, as the built-in adapters.
#[tokio::test]
async fn adapter_files_match_the_built_in_adapters() {
    let files = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../adapters");
    let write = Op::Write(Value::str("a b/c"));
    let cas = Op::Cas(Value::Int(1), Value::Int(2));
    let cases: Vec<(&str, Reply, Op)> = vec![
        ("native", answer(200, r#"{"value": [1, "x"]}"#), Op::Read),
        ("native", answer(404, r#"{"error":"not found"}"#), Op::Read),
        ("native", answer(200, r#"{"ok": true}"#), write.clone()),
        ("native", answer(200, r#"{"ok": true}"#), cas.clone()),
        ("native", answer(412, r#"{"error":"mismatch","value":3}"#), cas.clone()),
        ("native", answer(503, r#"{"error":"down","applied":false}"#), write.clone()),
        ("native", answer(504, r#"{"error":"no quorum","applied":null}"#), cas.clone()),
        ("native", answer(400, r#"{"error":"bad"}"#), write.clone()),
        ("native", answer(500, "oops"), write.clone()),
        ("native", Reply::Reset, Op::Read),
        ("etcd-v2", answer(200, r#"{"action":"get","node":{"key":"/k","value":"\"a b/c\""}}"#), Op::Read),
        ("etcd-v2", answer(404, r#"{"errorCode":100,"message":"Key not found"}"#), Op::Read),
        ("etcd-v2", answer(201, r#"{"action":"set","node":{"value":"1"}}"#), write.clone()),
        ("etcd-v2", answer(200, r#"{"action":"compareAndSwap","node":{"value":"2"}}"#), cas.clone()),
        ("etcd-v2", answer(412, r#"{"errorCode":101,"message":"Compare failed"}"#), cas.clone()),
        ("etcd-v2", answer(404, r#"{"errorCode":100,"message":"Key not found"}"#), cas.clone()),
        ("etcd-v2", answer(500, r#"{"errorCode":300,"message":"Raft Internal Error"}"#), write.clone()),
        ("etcd-v2", answer(400, r#"{"errorCode":209,"message":"Invalid field"}"#), cas),
        ("etcd-v2", Reply::Hang, write),
        ("etcd-v2", answer(201, r#"{"action":"create","node":{"value":"2"}}"#), Op::Cas(Value::Null, Value::Int(2))),
        (
            "etcd-v2",
            answer(412, r#"{"errorCode":105,"message":"Key already exists"}"#),
            Op::Cas(Value::Null, Value::Int(2)),
        ),
        ("native", answer(200, r#"{"ok": true}"#), Op::Cas(Value::Null, Value::Int(2))),
        ("native", answer(412, r#"{"error":"mismatch","value":1}"#), Op::Cas(Value::Null, Value::Int(2))),
    ];
    let mut c = client(ClientKind::Hyper, Duration::from_millis(300));
    for (name, reply, op) in cases {
        let built_in = Adapter::by_name(name).unwrap();
        let file = Adapter::by_name_or_file(files.join(format!("{name}.toml")).to_str().unwrap()).unwrap();
        let (base, seen) = stub(reply.clone()).await;
        let a = built_in.invoke(&mut c, &base, "k 1", &op).await;
        let b = file.invoke(&mut c, &base, "k 1", &op).await;
        let seen = seen.lock().unwrap().clone();
        assert!(same_kind(&a, &b), "{name} {op:?}: built-in {a}, file {b}");
        assert_eq!(seen.len(), 2, "{name} {op:?}");
        assert_eq!(seen[0], seen[1], "{name} {op:?}: the requests differ");
    }
    let e = Adapter::by_name_or_file("no-such-adapter").unwrap_err();
    assert!(e.contains("or the path of an adapter file"), "{e}");
    let e = Adapter::by_name_or_file("/nonexistent/x.toml").unwrap_err();
    assert!(e.contains("/nonexistent/x.toml"), "{e}");
}

/// A cas from null means "if the key does not exist", which etcd cannot say with a value comparison.
#[tokio::test]
async fn cas_from_null_asks_whether_the_key_exists() {
    let from_null = Op::Cas(Value::Null, Value::Int(2));
    let (o, seen) =
        run("etcd-v2", answer(201, r#"{"action":"create","node":{"value":"2"}}"#), "k", from_null.clone()).await;
    assert_eq!(o, Outcome::Ok(Value::Null));
    assert_eq!(seen[0], ("PUT /v2/keys/k?prevExist=false".to_string(), "value=2".to_string()));
    let exists = r#"{"errorCode":105,"message":"Key already exists"}"#;
    assert!(is_fail(&run("etcd-v2", answer(412, exists), "k", from_null.clone()).await.0, CAS_MISMATCH));
    let header = r#""header":{"revision":"5"}"#;
    let (o, seen) =
        run("etcd-v3", answer(200, &format!(r#"{{{header},"succeeded":true}}"#)), "k", from_null.clone()).await;
    assert_eq!(o, Outcome::Ok(Value::Null));
    assert!(
        seen[0].1.contains(r#""target":"CREATE""#) && seen[0].1.contains(r#""create_revision":"0""#),
        "{}",
        seen[0].1
    );
    // An adapter file without [cas_absent] does not send such a cas: it observed nothing.
    let file = "[read]\nmethod = \"GET\"\nurl = \"{base}\"\nvalue = \"/v\"\nok = [200]\n\
                [write]\nmethod = \"PUT\"\nurl = \"{base}\"\nok = [200]\n\
                [cas]\nmethod = \"POST\"\nurl = \"{base}\"\nok = [200]\n";
    let path = std::env::temp_dir().join(format!("faultline-no-absent-{}.toml", std::process::id()));
    std::fs::write(&path, file).unwrap();
    let adapter = Adapter::by_name_or_file(path.to_str().unwrap()).unwrap();
    let o = adapter
        .invoke(&mut client(ClientKind::Hyper, Duration::from_millis(300)), "http://127.0.0.1:9", "k", &from_null)
        .await;
    assert!(is_fail(&o, "not-sent: this adapter has no [cas_absent]"), "{o}");
    std::fs::remove_file(&path).unwrap();
}
