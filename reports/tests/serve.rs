//! The store server, over a real TCP connection: the index lists runs with their verdicts, a run's report
//! is served, and nothing outside the store is, however the path is spelled.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;

use faultline_reports::serve::Server;

fn get(addr: SocketAddr, request: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (head.lines().next().unwrap_or("").to_string(), body.to_string())
}

fn request(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: test\r\n\r\n")
}

#[test]
fn serves_runs_and_nothing_outside_the_store() {
    let root: PathBuf = std::env::temp_dir().join(format!("faultline-serve-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let store = root.join("store");
    let run = store.join("register<x>").join("20261122T164501");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(run.join("results.json"), r#"{"verdict":"invalid","files":[]}"#).unwrap();
    std::fs::write(run.join("report.html"), "<!DOCTYPE html><p>the report</p>").unwrap();
    std::fs::write(run.join("history.jsonl"), "{}\n").unwrap();
    let older = store.join("register<x>").join("20251122T164501-1");
    std::fs::create_dir_all(&older).unwrap();
    std::fs::write(root.join("secret.txt"), "do not serve").unwrap();
    std::os::unix::fs::symlink(root.join("secret.txt"), run.join("link.txt")).unwrap();

    let server = Server::bind(&store, "127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = server.local_addr().unwrap();
    assert!(addr.ip().is_loopback());
    std::thread::spawn(move || server.run());

    let (status, body) = get(addr, &request("/"));
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.contains("register&lt;x&gt;"), "{body}");
    assert!(body.contains("2026-11-22 16:45:01 UTC"));
    assert!(body.contains(">invalid</span>") && body.contains("#cf222e"));
    assert!(body.contains(">no results</span>"), "a run without results.json is listed too");
    assert!(body.contains("href=\"/register%3Cx%3E/20261122T164501/report.html\""), "{body}");
    assert!(body.find("20261122T164501").unwrap() < body.find("20251122T164501").unwrap(), "newest first");

    let (status, body) = get(addr, &request("/register%3Cx%3E/20261122T164501/report.html"));
    assert_eq!((status.as_str(), body.as_str()), ("HTTP/1.1 200 OK", "<!DOCTYPE html><p>the report</p>"));
    let (status, body) = get(addr, &request("/register%3Cx%3E/20261122T164501/"));
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.contains("history.jsonl") && body.contains("results.json"));
    let (status, body) = get(addr, "HEAD /register%3Cx%3E/20261122T164501/report.html HTTP/1.1\r\n\r\n");
    assert_eq!((status.as_str(), body.as_str()), ("HTTP/1.1 200 OK", ""));

    for path in ["/../secret.txt", "/register%3Cx%3E/../../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt"] {
        let (status, body) = get(addr, &request(path));
        assert_eq!(status, "HTTP/1.1 403 Forbidden", "{path}");
        assert!(!body.contains("do not serve"));
    }
    let (status, body) = get(addr, &request("/register%3Cx%3E/20261122T164501/link.txt"));
    assert_eq!(status, "HTTP/1.1 403 Forbidden", "a symlink out of the store");
    assert!(!body.contains("do not serve"));
    assert_eq!(get(addr, &request("/nothing/here")).0, "HTTP/1.1 404 Not Found");
    assert_eq!(get(addr, "POST / HTTP/1.1\r\n\r\n").0, "HTTP/1.1 405 Method Not Allowed");
    let _ = std::fs::remove_dir_all(&root);
}
