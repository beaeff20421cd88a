//! A small HTTP server over a store of runs (`store/<test>/<timestamp>/`), to browse reports from a
//! machine where the tests ran: an index of runs (newest first, with their verdicts), each run's files,
//! and the files themselves.
//!
//! Blocking std::net, one thread per connection, GET and HEAD only: it serves a directory to a person, not
//! traffic. It binds 127.0.0.1 unless told otherwise, and never serves anything outside the store: paths
//! with `..` (or any segment that is not a plain name) are refused, and so are paths that symlinks lead out.

use std::fmt::Write as _;
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::escape::html as esc;

/// The default port; the default address is loopback only.
pub const DEFAULT_PORT: u16 = 8080;

pub fn default_addr() -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, DEFAULT_PORT))
}

/// Serves `store` on `addr` until the process ends.
pub fn serve(store: &Path, addr: SocketAddr) -> io::Result<()> {
    Server::bind(store, addr)?.run()
}

/// A bound server: [`Server::local_addr`] tells the port when `addr` asked for port 0.
pub struct Server {
    listener: TcpListener,
    store: PathBuf,
}

impl Server {
    pub fn bind(store: &Path, addr: SocketAddr) -> io::Result<Server> {
        let store = store.canonicalize().map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", store.display())))?;
        Ok(Server { listener: TcpListener::bind(addr)?, store })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn run(self) -> io::Result<()> {
        for stream in self.listener.incoming() {
            let Ok(stream) = stream else { continue };
            let store = self.store.clone();
            std::thread::spawn(move || {
                let _ = handle(&store, stream);
            });
        }
        Ok(())
    }
}

struct Response {
    status: &'static str,
    content_type: &'static str,
    body: Body,
}

enum Body {
    Text(String),
    File(fs::File, u64),
}

impl Response {
    fn text(status: &'static str, content_type: &'static str, body: String) -> Response {
        Response { status, content_type, body: Body::Text(body) }
    }

    fn error(status: &'static str, message: &str) -> Response {
        Response::text(status, "text/plain; charset=utf-8", format!("{status}: {message}\n"))
    }
}

fn handle(store: &Path, stream: TcpStream) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.by_ref().take(8192).read_line(&mut request_line)?;
    // Headers are read and ignored, up to a limit.
    let mut header = String::new();
    let mut budget = 64 * 1024usize;
    loop {
        header.clear();
        let n = reader.by_ref().take(8192).read_line(&mut header)?;
        budget = budget.saturating_sub(n);
        if n == 0 || header == "\r\n" || header == "\n" || budget == 0 {
            break;
        }
    }
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let response = match method {
        "GET" | "HEAD" => respond(store, target),
        _ => Response::error("405 Method Not Allowed", "only GET and HEAD"),
    };
    write_response(stream, response, method == "HEAD")
}

fn write_response(mut stream: TcpStream, response: Response, head: bool) -> io::Result<()> {
    let length = match &response.body {
        Body::Text(t) => t.len() as u64,
        Body::File(_, len) => *len,
    };
    let header = format!(
        "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {length}\r\nConnection: close\r\n\
         X-Content-Type-Options: nosniff\r\nCache-Control: no-cache\r\n\r\n",
        response.status, response.content_type
    );
    stream.write_all(header.as_bytes())?;
    if !head {
        match response.body {
            Body::Text(t) => stream.write_all(t.as_bytes())?,
            Body::File(mut f, _) => {
                io::copy(&mut f, &mut stream)?;
            }
        }
    }
    stream.flush()
}

/// The request target as path segments, each percent-decoded and a plain name; `None` for anything that
/// could leave the directory it names (`..`, `.`, separators, NUL) or is not UTF-8.
fn segments(target: &str) -> Option<Vec<String>> {
    let path = target.split(['?', '#']).next().unwrap_or("");
    let path = path.strip_prefix('/')?;
    let mut out = Vec::new();
    for raw in path.split('/') {
        if raw.is_empty() {
            continue;
        }
        let seg = percent_decode(raw)?;
        if seg == "." || seg == ".." || seg.contains(['/', '\\', '\0']) {
            return None;
        }
        out.push(seg);
    }
    Some(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn respond(store: &Path, target: &str) -> Response {
    let Some(segs) = segments(target) else {
        return Response::error("403 Forbidden", "that path is outside the store");
    };
    if segs.is_empty() {
        return Response::text("200 OK", "text/html; charset=utf-8", index(store));
    }
    let path = segs.iter().fold(store.to_path_buf(), |p, s| p.join(s));
    // Symlinks inside the store must not lead out of it.
    let real = match path.canonicalize() {
        Ok(real) => real,
        Err(_) => return Response::error("404 Not Found", "no such run or file"),
    };
    if !real.starts_with(store) {
        return Response::error("403 Forbidden", "that path is outside the store");
    }
    if real.is_dir() {
        if !target.split(['?', '#']).next().unwrap_or("").ends_with('/') {
            // Relative links in a listing need the trailing slash.
            return Response::text(
                "200 OK",
                "text/html; charset=utf-8",
                format!("<!DOCTYPE html><meta http-equiv=\"refresh\" content=\"0; url={}/\">", esc(&href(&segs))),
            );
        }
        return Response::text("200 OK", "text/html; charset=utf-8", listing(&real, &segs));
    }
    match fs::File::open(&real).and_then(|f| Ok((f.metadata()?.len(), f))) {
        Ok((len, f)) => Response { status: "200 OK", content_type: content_type(&real), body: Body::File(f, len) },
        Err(_) => Response::error("404 Not Found", "no such run or file"),
    }
}

fn href(segs: &[String]) -> String {
    segs.iter().map(|s| format!("/{}", percent_encode(s))).collect()
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" | "htm" => "text/html; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "xml" => "application/xml",
        "jsonl" | "log" | "txt" | "md" | "edn" | "tsv" | "csv" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// One run folder as the index shows it.
struct Run {
    test: String,
    stamp: String,
    verdict: Option<String>,
    has_report: bool,
}

fn runs(store: &Path) -> Vec<Run> {
    let mut runs = Vec::new();
    let dirs = |p: &Path| -> Vec<String> {
        let Ok(entries) = fs::read_dir(p) else { return Vec::new() };
        entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.'))
            .collect()
    };
    for test in dirs(store) {
        for stamp in dirs(&store.join(&test)) {
            let dir = store.join(&test).join(&stamp);
            let verdict = fs::read_to_string(dir.join("results.json"))
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .and_then(|v| v.get("verdict").and_then(|v| v.as_str()).map(str::to_string));
            runs.push(Run { has_report: dir.join("report.html").is_file(), test: test.clone(), stamp, verdict });
        }
    }
    runs.sort_by(|a, b| b.stamp.cmp(&a.stamp).then_with(|| a.test.cmp(&b.test)));
    runs
}

/// "20261122T164501-2" → "2026-11-22 16:45:01 UTC (2)"; anything else as it is.
fn readable_stamp(stamp: &str) -> String {
    let (time, n) = stamp.split_once('-').map_or((stamp, None), |(t, n)| (t, Some(n)));
    let b = time.as_bytes();
    if b.len() != 15 || b[8] != b'T' || !time.chars().enumerate().all(|(i, c)| i == 8 || c.is_ascii_digit()) {
        return stamp.to_string();
    }
    let mut s = format!(
        "{}-{}-{} {}:{}:{} UTC",
        &time[0..4],
        &time[4..6],
        &time[6..8],
        &time[9..11],
        &time[11..13],
        &time[13..15]
    );
    if let Some(n) = n {
        let _ = write!(s, " ({n})");
    }
    s
}

fn verdict_colour(v: Option<&str>) -> &'static str {
    match v {
        Some("valid") => "#1a7f37",
        Some("invalid") => "#cf222e",
        Some("unknown") => "#9a6700",
        _ => "#8c959f",
    }
}

const PAGE_CSS: &str =
    "body{font:14px/1.5 system-ui,sans-serif;max-width:1100px;margin:0 auto;padding:16px 24px;color:#1f2328}\
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #eaeef2;padding:6px 8px;text-align:left}\
.badge{color:#fff;font-weight:600;padding:1px 10px;border-radius:10px}a{color:#0969da}";

fn index(store: &Path) -> String {
    let runs = runs(store);
    let mut out = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>faultline runs</title>\
         <style>{PAGE_CSS}</style></head><body><h1>faultline runs</h1><p>{} runs in {}</p>\
         <table><tr><th>test</th><th>started</th><th>verdict</th><th></th></tr>\n",
        runs.len(),
        esc(&store.display().to_string())
    );
    for run in &runs {
        let dir = href(&[run.test.clone(), run.stamp.clone()]);
        let link = if run.has_report { format!("{dir}/report.html") } else { format!("{dir}/") };
        let verdict = run.verdict.as_deref();
        let _ = writeln!(
            out,
            "<tr><td><a href=\"{}\">{}</a></td><td>{}</td><td><span class=\"badge\" style=\"background:{}\">{}</span></td>\
             <td><a href=\"{}/\">files</a></td></tr>",
            esc(&link),
            esc(&run.test),
            esc(&readable_stamp(&run.stamp)),
            verdict_colour(verdict),
            esc(verdict.unwrap_or("no results")),
            esc(&dir)
        );
    }
    out.push_str("</table></body></html>\n");
    out
}

fn listing(dir: &Path, segs: &[String]) -> String {
    let mut names: Vec<(String, bool)> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| Some((e.file_name().into_string().ok()?, e.file_type().is_ok_and(|t| t.is_dir()))))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let title = segs.join("/");
    let mut out = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{PAGE_CSS}</style>\
         </head><body><p><a href=\"/\">all runs</a></p><h1>{}</h1><ul>\n",
        esc(&title),
        esc(&title)
    );
    for (name, is_dir) in names {
        let slash = if is_dir { "/" } else { "" };
        let _ = writeln!(out, "<li><a href=\"{}{slash}\">{}{slash}</a></li>", esc(&percent_encode(&name)), esc(&name));
    }
    out.push_str("</ul></body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_leave_a_folder_are_refused() {
        assert_eq!(segments("/a/b.html"), Some(vec!["a".to_string(), "b.html".to_string()]));
        assert_eq!(segments("/a%20b/"), Some(vec!["a b".to_string()]));
        for bad in ["/../etc/passwd", "/a/%2e%2e/%2e%2e/x", "/a/..", "/a%2fb", "/a%5c..", "/%00", "x", "/%zz", "/."] {
            assert_eq!(segments(bad), None, "{bad}");
        }
    }

    #[test]
    fn stamps_read_as_times() {
        assert_eq!(readable_stamp("20261122T164501"), "2026-11-22 16:45:01 UTC");
        assert_eq!(readable_stamp("20261122T164501-2"), "2026-11-22 16:45:01 UTC (2)");
        assert_eq!(readable_stamp("latest"), "latest");
    }
}
