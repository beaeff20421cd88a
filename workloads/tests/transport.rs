//! The direct HTTP/1.1 client against a keep-alive stub on loopback: it reuses its connection, survives a
//! node closing an idle one, never takes a late answer for the next request's, and calls garbage garbage.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use faultline_checker::Value;
use faultline_workloads::adapter::{Adapter, Op, Outcome};
use faultline_workloads::transport::{ClientKind, HttpClient};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the stub does with the `n`th request it reads (counting from 0, over all connections).
#[derive(Clone, Copy)]
enum Act {
    /// Answer `{"value": n}` after `delay`, keeping the connection open.
    Answer { delay: Duration },
    /// Answer `{"value": n}`, then close the connection without saying so (no `connection: close`).
    AnswerThenClose,
    /// Answer with bytes that are not HTTP.
    Garbage,
}

struct Stub {
    base: String,
    connections: Arc<AtomicUsize>,
}

async fn stub(script: fn(usize) -> Act) -> Stub {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(AtomicUsize::new(0));
    let accepted = connections.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            accepted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(serve(socket, requests.clone(), script));
        }
    });
    Stub { base, connections }
}

async fn serve(mut socket: TcpStream, requests: Arc<AtomicUsize>, script: fn(usize) -> Act) {
    let mut buffer = Vec::new();
    loop {
        // One request: headers up to the blank line (these requests carry no body).
        let end = loop {
            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            let mut chunk = [0u8; 4096];
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        buffer.drain(..end);
        let n = requests.fetch_add(1, Ordering::SeqCst);
        let answer = |n: usize| {
            let body = format!(r#"{{"value": {n}}}"#);
            format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}", body.len())
        };
        match script(n) {
            Act::Answer { delay } => {
                tokio::time::sleep(delay).await;
                if socket.write_all(answer(n).as_bytes()).await.is_err() {
                    return;
                }
            }
            Act::AnswerThenClose => {
                let _ = socket.write_all(answer(n).as_bytes()).await;
                return;
            }
            Act::Garbage => {
                let _ = socket.write_all(b"SSH-2.0-OpenSSH_9.2\r\n\r\n").await;
                return;
            }
        }
    }
}

async fn read(http: &mut HttpClient, base: &str) -> Outcome {
    Adapter::by_name("native").unwrap().invoke(http, base, "k", &Op::Read).await
}

fn hyper(timeout: Duration) -> HttpClient {
    HttpClient::new(ClientKind::Hyper, timeout, None, None)
}

#[tokio::test]
async fn one_connection_serves_every_request() {
    let stub = stub(|_| Act::Answer { delay: Duration::ZERO }).await;
    let mut http = hyper(Duration::from_secs(2));
    for n in 0..20 {
        assert_eq!(read(&mut http, &stub.base).await, Outcome::Ok(Value::Int(n)));
    }
    assert_eq!(stub.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_connection_the_node_closed_is_replaced_not_reported() {
    // Every answer closes its connection behind it: the next request finds it closed and must go on a
    // fresh one, as an ok, not as an indeterminate operation.
    let stub = stub(|_| Act::AnswerThenClose).await;
    let mut http = hyper(Duration::from_secs(2));
    for n in 0..5 {
        // Let the client see the close before the next request (otherwise the race is real and an `info`
        // would be the honest outcome).
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(read(&mut http, &stub.base).await, Outcome::Ok(Value::Int(n)));
    }
    assert_eq!(stub.connections.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn a_late_answer_is_never_taken_for_the_next_request() {
    // The first answer comes after the client gave up; the connection it was due on must not be used
    // again, or the next read would return it (value 0) instead of its own (value 1).
    let stub = stub(|n| Act::Answer { delay: Duration::from_millis(if n == 0 { 600 } else { 0 }) }).await;
    let mut http = hyper(Duration::from_millis(200));
    let first = read(&mut http, &stub.base).await;
    assert!(matches!(&first, Outcome::Info { error } if error.contains("timeout")), "{first}");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(read(&mut http, &stub.base).await, Outcome::Ok(Value::Int(1)));
    assert_eq!(stub.connections.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_answer_that_is_not_http_is_indeterminate_and_named() {
    let stub = stub(|_| Act::Garbage).await;
    for kind in [ClientKind::Hyper, ClientKind::Reqwest] {
        let mut http = HttpClient::new(kind, Duration::from_secs(2), None, None);
        let o = read(&mut http, &stub.base).await;
        assert!(matches!(&o, Outcome::Info { error } if error.starts_with("no answer: ")), "{kind:?}: {o}");
    }
}

#[tokio::test]
async fn urls_the_direct_client_cannot_send_are_refused_unsent() {
    let mut http = hyper(Duration::from_secs(1));
    let o = read(&mut http, "ftp://127.0.0.1:9").await;
    assert!(
        matches!(&o, Outcome::Fail { error } if error.contains("not-sent") && error.contains("http:// or https://")),
        "{o}"
    );
    // https:// needs the run's TLS settings (tests/tls.rs speaks TLS to etcd).
    let o = read(&mut http, "https://127.0.0.1:9").await;
    assert!(
        matches!(&o, Outcome::Fail { error } if error.contains("not-sent") && error.contains("no TLS settings")),
        "{o}"
    );
}

#[tokio::test]
async fn a_host_header_from_an_adapter_file_replaces_the_default() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let head = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let mut chunk = [0u8; 1024];
            let n = socket.read(&mut chunk).await.unwrap();
            assert!(n > 0, "the request ended early");
            request.extend_from_slice(&chunk[..n]);
        }
        let body = r#"{"value": 1}"#;
        let answer = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}", body.len());
        socket.write_all(answer.as_bytes()).await.unwrap();
        String::from_utf8(request).unwrap().to_ascii_lowercase()
    });
    let file = "[read]\nmethod = \"GET\"\nurl = \"{base}/kv/{key}\"\nvalue = \"/value\"\nok = [200]\n\
                headers = { Host = \"store.example\" }\n\
                [write]\nmethod = \"PUT\"\nurl = \"{base}/kv/{key}\"\nok = [200]\n";
    let adapter = Adapter::Http(Box::new(faultline_workloads::adapter::HttpAdapter::parse(file).unwrap()));
    let o = adapter.invoke(&mut hyper(Duration::from_secs(2)), &base, "k", &Op::Read).await;
    assert_eq!(o, Outcome::Ok(Value::Int(1)));
    let head = head.await.unwrap();
    assert_eq!(head.matches("host:").count(), 1, "{head}");
    assert!(head.contains("host: store.example"), "{head}");
}

#[tokio::test]
async fn a_connection_given_up_on_is_closed_at_once() {
    // The node reads the request and never answers; once the client has given up, the node must see the
    // connection close, rather than have it held open until it speaks.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let closed = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut chunk = [0u8; 4096];
        assert!(socket.read(&mut chunk).await.unwrap() > 0, "no request arrived");
        let gave_up = std::time::Instant::now();
        // EOF (or a reset) ends the wait; anything else is the connection kept open.
        let end = tokio::time::timeout(Duration::from_secs(3), socket.read(&mut chunk)).await;
        (matches!(end, Ok(Ok(0)) | Ok(Err(_))), gave_up.elapsed())
    });
    let mut http = hyper(Duration::from_millis(200));
    let o = read(&mut http, &base).await;
    assert!(matches!(&o, Outcome::Info { error } if error.contains("timeout")), "{o}");
    let (was_closed, after) = closed.await.unwrap();
    assert!(was_closed, "the connection stayed open {after:?} after the request was given up on");
}
