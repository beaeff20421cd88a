//! A small HTTP server over a store of runs (`store/<test>/<timestamp>/`), to browse reports from a
//! machine where the tests ran: an index of runs (newest first, with their verdicts), each run's files,
//! and the files themselves.
//!
//! hyper's HTTP/1.1 server on a small tokio runtime, GET and HEAD only, one request per connection: it
//! serves a directory to a person, not traffic. It binds 127.0.0.1 unless told otherwise, and never serves
//! anything outside the store: paths with `..` (or any segment that is not a plain name, however it is
//! percent-encoded) are refused, and so are paths that symlinks lead out.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use hyper::{Method, StatusCode};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use tokio::io::{AsyncRead, ReadBuf};

use crate::escape::html as esc;
use crate::run_dir::{RunDir, REPORT};

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

    /// Serves until the process ends.
    pub fn run(self) -> io::Result<()> {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        runtime.block_on(async move {
            self.listener.set_nonblocking(true)?;
            let listener = tokio::net::TcpListener::from_std(self.listener)?;
            let store = Arc::new(self.store);
            let mut http = hyper::server::conn::http1::Builder::new();
            // One request per connection, and a client that sends nothing for 10 s is dropped.
            http.keep_alive(false)
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10));
            loop {
                let Ok((socket, _)) = listener.accept().await else { continue };
                let store = store.clone();
                let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let store = store.clone();
                    async move { Ok::<_, Infallible>(answer(store, request).await) }
                });
                let connection = http.serve_connection(hyper_util::rt::TokioIo::new(socket), service);
                tokio::spawn(async move {
                    let _ = connection.await;
                });
            }
        })
    }
}

/// The answer to one request; the store is read on a blocking thread.
async fn answer(store: Arc<PathBuf>, request: hyper::Request<hyper::body::Incoming>) -> hyper::Response<Payload> {
    let head = request.method() == Method::HEAD;
    let response = if request.method() == Method::GET || head {
        let target = request.uri().path().to_string();
        tokio::task::spawn_blocking(move || respond(&store, &target))
            .await
            .unwrap_or_else(|_| Response::error(StatusCode::INTERNAL_SERVER_ERROR, "the request could not be served"))
    } else {
        Response::error(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD")
    };
    let length = match &response.body {
        Content::Text(t) => t.len() as u64,
        Content::File(_, len) => *len,
    };
    let payload = match response.body {
        _ if head => Payload::Empty,
        Content::Text(t) => Payload::Text(Some(Bytes::from(t))),
        Content::File(f, len) => {
            Payload::File { file: tokio::fs::File::from_std(f), left: len, buf: vec![0; 64 << 10] }
        }
    };
    let mut answer = hyper::Response::new(payload);
    *answer.status_mut() = response.status;
    let headers = answer.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(response.content_type));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if head {
        headers.insert(hyper::header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    answer
}

struct Response {
    status: StatusCode,
    content_type: &'static str,
    body: Content,
}

/// What a response holds, before it is sent.
enum Content {
    Text(String),
    File(fs::File, u64),
}

impl Response {
    fn text(status: StatusCode, content_type: &'static str, body: String) -> Response {
        Response { status, content_type, body: Content::Text(body) }
    }

    fn error(status: StatusCode, message: &str) -> Response {
        let line = format!("{} {}: {message}\n", status.as_str(), status.canonical_reason().unwrap_or(""));
        Response::text(status, "text/plain; charset=utf-8", line)
    }
}

/// A response body as hyper sends it: a page, a file read as it goes out, or nothing (HEAD).
enum Payload {
    Empty,
    Text(Option<Bytes>),
    File { file: tokio::fs::File, left: u64, buf: Vec<u8> },
}

impl Body for Payload {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match &mut *self {
            Payload::Empty => Poll::Ready(None),
            Payload::Text(text) => Poll::Ready(text.take().map(|t| Ok(Frame::data(t)))),
            Payload::File { left: 0, .. } => Poll::Ready(None),
            Payload::File { file, left, buf } => {
                let want = buf.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                let mut read = ReadBuf::new(&mut buf[..want]);
                match Pin::new(file).poll_read(cx, &mut read) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
                    // The file shrank since its length was announced: the answer cannot be completed.
                    Poll::Ready(Ok(())) if read.filled().is_empty() => {
                        Poll::Ready(Some(Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the file shrank"))))
                    }
                    Poll::Ready(Ok(())) => {
                        *left -= read.filled().len() as u64;
                        Poll::Ready(Some(Ok(Frame::data(Bytes::copy_from_slice(read.filled())))))
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Payload::Empty | Payload::Text(None) | Payload::File { left: 0, .. })
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Payload::Empty | Payload::Text(None) => SizeHint::with_exact(0),
            Payload::Text(Some(t)) => SizeHint::with_exact(t.len() as u64),
            Payload::File { left, .. } => SizeHint::with_exact(*left),
        }
    }
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

/// A percent-encoded path segment, decoded; `None` for a malformed escape (which percent-encoding would
/// pass through as it is: anything odd in a path is refused here) or bytes that are not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let malformed = s
        .match_indices('%')
        .any(|(i, _)| !s.get(i + 1..i + 3).is_some_and(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit())));
    if malformed {
        return None;
    }
    percent_decode_str(s).decode_utf8().ok().map(|s| s.into_owned())
}

/// What a file name may hold unescaped in a link: RFC 3986's unreserved characters.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

fn percent_encode(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

fn respond(store: &Path, target: &str) -> Response {
    let Some(segs) = segments(target) else {
        return Response::error(StatusCode::FORBIDDEN, "that path is outside the store");
    };
    if segs.is_empty() {
        return Response::text(StatusCode::OK, "text/html; charset=utf-8", index(store));
    }
    let path = segs.iter().fold(store.to_path_buf(), |p, s| p.join(s));
    // Symlinks inside the store must not lead out of it.
    let real = match path.canonicalize() {
        Ok(real) => real,
        Err(_) => return Response::error(StatusCode::NOT_FOUND, "no such run or file"),
    };
    if !real.starts_with(store) {
        return Response::error(StatusCode::FORBIDDEN, "that path is outside the store");
    }
    if real.is_dir() {
        if !target.split(['?', '#']).next().unwrap_or("").ends_with('/') {
            // Relative links in a listing need the trailing slash.
            return Response::text(
                StatusCode::OK,
                "text/html; charset=utf-8",
                format!("<!DOCTYPE html><meta http-equiv=\"refresh\" content=\"0; url={}/\">", esc(&href(&segs))),
            );
        }
        return Response::text(StatusCode::OK, "text/html; charset=utf-8", listing(&real, &segs));
    }
    match fs::File::open(&real).and_then(|f| Ok((f.metadata()?.len(), f))) {
        Ok((len, f)) => {
            Response { status: StatusCode::OK, content_type: content_type(&real), body: Content::File(f, len) }
        }
        Err(_) => Response::error(StatusCode::NOT_FOUND, "no such run or file"),
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
            let dir = RunDir::at(&store.join(&test).join(&stamp));
            let verdict = fs::read_to_string(dir.results())
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .and_then(|v| v.get("verdict").and_then(|v| v.as_str()).map(str::to_string));
            runs.push(Run { has_report: dir.report().is_file(), test: test.clone(), stamp, verdict });
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
        let link = if run.has_report { format!("{dir}/{REPORT}") } else { format!("{dir}/") };
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
