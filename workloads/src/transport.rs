//! How an adapter's request reaches a node, and what became of it.
//!
//! Two HTTP clients, chosen per run:
//! - [`HttpClient::Hyper`] (the default): each workload client holds its own keep-alive HTTP/1.1
//!   connection to each node, driven by hyper's connection API (the engine reqwest is built on), with no
//!   pool, no URL parser and no request builder between the client and the socket. Against one reference
//!   node on a 2-core machine the runner records about 1.4x the operations per second it does with
//!   reqwest (`scripts/bench-runner.sh` measures both beside wrk), and on a machine the cluster shares,
//!   a tester's load is only as strong as its client is cheap.
//! - [`HttpClient::Reqwest`]: reqwest's pooled client, for a store behind something the direct path does
//!   not speak to (it follows no redirects either, but it is the well-trodden general client).
//!
//! Both speak `http://` and `https://` (rustls, with the run's [`Tls`]: its CA certificates and, for
//! mutual TLS, its client certificate).
//!
//! Both classify the same way, because a wrong `fail` makes the checker unsound: a request is `fail` only
//! when it provably never left faultline (the connection was refused or never opened, its TLS handshake
//! failed, or hyper gave the request back unsent); once it may have been sent, a lost answer is `info`.
//! A run whose every request fails its handshake would record nothing but `fail`s, which a checker
//! happily calls valid: [`probe`] finds a certificate problem before the run starts.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use reqwest::header::HeaderName;
use reqwest::Method;
use tokio::time::Instant;

use crate::outcome::{Outcome, NOT_SENT};
use crate::tls::{is_tls_error, Tls};

/// An answer larger than this is not a register's value: refuse to hold it in memory.
const MAX_ANSWER: usize = 16 << 20;

/// A request an adapter wants sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// `http://host:port/path?query`, or `https://...`.
    pub url: String,
    pub headers: Vec<(HeaderName, String)>,
    pub body: String,
}

impl Request {
    pub fn new(method: Method, url: String) -> Request {
        Request { method, url, headers: Vec::new(), body: String::new() }
    }

    pub fn header(mut self, name: HeaderName, value: impl Into<String>) -> Request {
        self.headers.push((name, value.into()));
        self
    }

    pub fn body(mut self, body: String) -> Request {
        self.body = body;
        self
    }
}

/// Which HTTP client a run uses (`--http-client`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClientKind {
    #[default]
    Hyper,
    Reqwest,
}

impl ClientKind {
    pub const NAMES: &'static [&'static str] = &["hyper", "reqwest"];

    pub fn as_str(self) -> &'static str {
        match self {
            ClientKind::Hyper => "hyper",
            ClientKind::Reqwest => "reqwest",
        }
    }

    pub fn by_name(name: &str) -> Result<ClientKind, String> {
        match name {
            "hyper" => Ok(ClientKind::Hyper),
            "reqwest" => Ok(ClientKind::Reqwest),
            _ => Err(format!("unknown HTTP client {name:?}; expected one of {}", ClientKind::NAMES.join(", "))),
        }
    }
}

/// One workload client's way to the nodes. Not shared between clients: each holds its own connections.
#[derive(Debug)]
pub enum HttpClient {
    Hyper(Connections),
    Reqwest(reqwest::Client),
}

impl HttpClient {
    /// A client whose every request (connecting included) is bounded by `timeout`, speaking TLS to
    /// `https://` URLs with `tls`. Reqwest clients made from one `pool` share its connections (and its TLS).
    pub fn new(kind: ClientKind, timeout: Duration, tls: Option<&Tls>, pool: Option<&reqwest::Client>) -> HttpClient {
        match kind {
            ClientKind::Hyper => HttpClient::Hyper(Connections::new(timeout, tls.cloned())),
            ClientKind::Reqwest => HttpClient::Reqwest(pool.cloned().unwrap_or_else(|| reqwest_pool(timeout, tls))),
        }
    }

    /// The answer's status and body, or the outcome of a request that got none.
    pub async fn send(&mut self, request: Request) -> Result<(u16, Bytes), Outcome> {
        match self {
            HttpClient::Hyper(connections) => connections.send(request).await,
            HttpClient::Reqwest(client) => send_reqwest(client, request).await,
        }
    }
}

/// A reqwest connection pool, every request bounded by `timeout`; `https://` with `tls`.
pub fn reqwest_pool(timeout: Duration, tls: Option<&Tls>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder();
    if let Some(tls) = tls {
        builder = builder.use_preconfigured_tls(rustls::ClientConfig::clone(tls.config()));
    }
    builder
        .timeout(timeout)
        .connect_timeout(timeout)
        .pool_max_idle_per_host(64)
        // A tester talks to the cluster directly: a proxy from the environment would put a third party
        // (and its own timeouts and retries) between the clients and the store.
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .http1_only()
        .tcp_nodelay(true)
        .build()
        .expect("a client of settings faultline chose (and a TLS configuration it loaded) builds")
}

async fn send_reqwest(client: &reqwest::Client, request: Request) -> Result<(u16, Bytes), Outcome> {
    let mut builder = client.request(request.method, &request.url).body(request.body);
    for (name, value) in request.headers {
        builder = builder.header(name, value);
    }
    let response = builder.send().await.map_err(reqwest_error)?;
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(reqwest_error)?;
    Ok((status, body))
}

/// A request reqwest got no answer to. Only a connection never made (refused, or its TLS handshake
/// failed) proves the request was never sent.
fn reqwest_error(e: reqwest::Error) -> Outcome {
    if e.is_builder() {
        return Outcome::fail(format!("{NOT_SENT}: not a request faultline can send: {}", root_cause(&e)));
    }
    if e.is_connect() && !e.is_timeout() {
        let what = if is_tls_error(&e) { "TLS handshake failed" } else { "connection refused" };
        return Outcome::fail(format!("{NOT_SENT}: {what}: {}", root_cause(&e)));
    }
    if e.is_timeout() {
        return Outcome::info(format!("timeout: {}", root_cause(&e)));
    }
    Outcome::info(format!("no answer: {}", root_cause(&e)))
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// One keep-alive HTTP/1.1 connection per node (by scheme and `host:port`), opened when first needed and
/// again after it closes. A connection whose request timed out is dropped: its answer may still come, and
/// must not be taken for the next request's.
#[derive(Debug)]
pub struct Connections {
    timeout: Duration,
    tls: Option<Tls>,
    /// By `scheme://host:port`: a run has few nodes, so a search beats hashing.
    open: Vec<(String, SendRequest<Full<Bytes>>)>,
}

impl Connections {
    pub fn new(timeout: Duration, tls: Option<Tls>) -> Connections {
        Connections { timeout, tls, open: Vec::new() }
    }

    async fn send(&mut self, request: Request) -> Result<(u16, Bytes), Outcome> {
        let deadline = Instant::now() + self.timeout;
        let url = Url::split(&request.url)
            .map_err(|e| Outcome::fail(format!("{NOT_SENT}: cannot send to {:?}: {e}", request.url)))?;
        let (origin, authority, target) = (url.origin, url.authority, url.target);
        let mut message = hyper::Request::builder().method(request.method).uri(target);
        // HTTP/1.1 requires a Host header; an adapter file may set its own.
        if !request.headers.iter().any(|(name, _)| name == hyper::header::HOST) {
            message = message.header(hyper::header::HOST, authority);
        }
        for (name, value) in request.headers {
            message = message.header(name, value);
        }
        let mut message = message
            .body(Full::new(Bytes::from(request.body)))
            .map_err(|e| Outcome::fail(format!("{NOT_SENT}: not a request faultline can send: {e}")))?;
        // A kept-alive connection may have been closed by the node since its last answer; hyper then gives
        // the request back unsent, and it goes once more on a fresh connection. A second time is the
        // node's doing.
        let mut retried = false;
        loop {
            let open = self.open.iter().position(|(o, _)| o == origin).map(|i| self.open.swap_remove(i).1);
            let mut sender = match open {
                Some(sender) if !sender.is_closed() => sender,
                _ => connect(&url, self.tls.as_ref(), deadline, self.timeout).await?,
            };
            let sent = tokio::time::timeout_at(deadline, async {
                if sender.ready().await.is_err() {
                    return Sent::Unsent(message);
                }
                match sender.try_send_request(message).await {
                    Ok(response) => Sent::Answered(response),
                    Err(mut e) => match e.take_message() {
                        Some(unsent) => Sent::Unsent(unsent),
                        None => Sent::Lost(e.into_error()),
                    },
                }
            });
            let response = match sent.await {
                Ok(Sent::Answered(response)) => response,
                Ok(Sent::Unsent(unsent)) if !retried => {
                    (message, retried) = (unsent, true);
                    continue;
                }
                Ok(Sent::Unsent(_)) => {
                    return Err(Outcome::fail(format!(
                        "{NOT_SENT}: {authority} closed the connection before the request was sent"
                    )))
                }
                Ok(Sent::Lost(e)) => return Err(Outcome::info(format!("no answer: {}", root_cause(&e)))),
                Err(_) => return Err(Outcome::info(format!("timeout: no answer within {:?}", self.timeout))),
            };
            let status = response.status().as_u16();
            let body = tokio::time::timeout_at(deadline, Limited::new(response.into_body(), MAX_ANSWER).collect());
            let body = match body.await {
                Ok(Ok(body)) => body.to_bytes(),
                Ok(Err(e)) => return Err(Outcome::info(format!("answer {status} cut short: {}", root_cause(&*e)))),
                Err(_) => {
                    return Err(Outcome::info(format!("timeout: answer {status} unfinished after {:?}", self.timeout)))
                }
            };
            self.open.push((origin.to_string(), sender));
            return Ok((status, body));
        }
    }
}

/// What became of a request handed to a connection.
enum Sent {
    Answered(hyper::Response<hyper::body::Incoming>),
    /// hyper gave it back: it was never written.
    Unsent(hyper::Request<Full<Bytes>>),
    /// It may have been written; no answer came.
    Lost(hyper::Error),
}

/// A fresh connection; every way of not getting one (its TLS handshake included) means the request was
/// never sent.
async fn connect(
    url: &Url<'_>,
    tls: Option<&Tls>,
    deadline: Instant,
    timeout: Duration,
) -> Result<SendRequest<Full<Bytes>>, Outcome> {
    let not_sent = |why: String| Outcome::fail(format!("{NOT_SENT}: {why}"));
    let authority = url.authority;
    let tls = match (url.tls, tls) {
        (true, None) => return Err(not_sent(format!("{authority}: an https:// URL, but the run has no TLS settings"))),
        (true, Some(tls)) => Some(tls),
        (false, _) => None,
    };
    let stream = match tokio::time::timeout_at(deadline, tokio::net::TcpStream::connect(url.address())).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            return Err(not_sent(format!("connection refused: {authority}")))
        }
        Ok(Err(e)) => return Err(not_sent(format!("cannot connect to {authority}: {e}"))),
        Err(_) => return Err(not_sent(format!("no connection to {authority} within {timeout:?}"))),
    };
    // Requests are small and each waits for its answer: Nagle's delay would only add latency.
    let _ = stream.set_nodelay(true);
    let Some(tls) = tls else {
        return http1(hyper_util::rt::TokioIo::new(stream), authority).await;
    };
    let name = rustls::pki_types::ServerName::try_from(url.host().to_string())
        .map_err(|e| not_sent(format!("{authority}: not a name TLS can check a certificate against: {e}")))?;
    let connector = tokio_rustls::TlsConnector::from(tls.config().clone());
    let stream = match tokio::time::timeout_at(deadline, connector.connect(name, stream)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return Err(not_sent(format!("TLS handshake with {authority} failed: {}", root_cause(&e)))),
        Err(_) => return Err(not_sent(format!("no TLS handshake with {authority} within {timeout:?}"))),
    };
    http1(hyper_util::rt::TokioIo::new(stream), authority).await
}

/// An HTTP/1.1 connection over `io`, its I/O running as its own task on this thread's runtime; it ends
/// when the sender is dropped or the node closes the connection.
async fn http1<I>(io: I, authority: &str) -> Result<SendRequest<Full<Bytes>>, Outcome>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| Outcome::fail(format!("{NOT_SENT}: cannot speak HTTP/1.1 to {authority}: {}", root_cause(&e))))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// Checks, before a run, that `url` (its base) can be reached over TLS with `tls`: one `GET /`, whose
/// answer (any status) proves the handshake, the server's certificate and, if the server asks for one,
/// the client's. A plain `http://` URL, or a node that cannot be reached at all, is no TLS problem: `Ok`,
/// and the run records what happens to it.
pub async fn probe(url: &str, tls: Option<&Tls>, timeout: Duration) -> Result<(), String> {
    let parsed = Url::split(url).map_err(|e| format!("{url}: {e}"))?;
    if !parsed.tls {
        return Ok(());
    }
    let tls = tls.ok_or_else(|| format!("{url}: an https:// URL, but the run has no TLS settings"))?;
    let name = rustls::pki_types::ServerName::try_from(parsed.host().to_string())
        .map_err(|e| format!("{url}: not a name TLS can check a certificate against: {e}"))?;
    let attempt = async {
        let Ok(stream) = tokio::net::TcpStream::connect(parsed.address()).await else { return Ok(()) };
        let stream = tokio_rustls::TlsConnector::from(tls.config().clone())
            .connect(name, stream)
            .await
            .map_err(|e| format!("{url}: TLS handshake failed: {}", root_cause(&e)))?;
        let Ok((mut sender, connection)) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await
        else {
            return Ok(());
        };
        let connection = tokio::spawn(connection);
        let request = hyper::Request::get("/")
            .header(hyper::header::HOST, parsed.authority)
            .body(Full::new(Bytes::new()))
            .map_err(|e| format!("{url}: {e}"))?;
        // TLS 1.3 tells a client that the server refused its certificate (or the lack of one) only with
        // the first answer: the request is what shows it.
        let Err(e) = sender.send_request(request).await else { return Ok(()) };
        let refused = |e: &hyper::Error| {
            is_tls_error(e).then(|| format!("{url}: the server refused the TLS connection: {}", root_cause(e)))
        };
        if let Some(why) = refused(&e) {
            return Err(why);
        }
        drop(sender);
        match connection.await {
            Ok(Err(e)) => refused(&e).map_or(Ok(()), Err),
            _ => Ok(()),
        }
    };
    tokio::time::timeout(timeout, attempt).await.unwrap_or(Ok(()))
}

/// A request URL's parts: `http(s)://host:port/path?query`; the port defaults to 80 (443 with TLS).
#[derive(Debug, PartialEq, Eq)]
struct Url<'a> {
    tls: bool,
    /// `scheme://host:port`, naming the connection.
    origin: &'a str,
    /// `host:port` (or `host`).
    authority: &'a str,
    /// `/path?query`.
    target: &'a str,
}

impl<'a> Url<'a> {
    fn split(url: &'a str) -> Result<Url<'a>, String> {
        let (tls, rest) = match (url.strip_prefix("http://"), url.strip_prefix("https://")) {
            (Some(rest), _) => (false, rest),
            (None, Some(rest)) => (true, rest),
            (None, None) => return Err("expected an http:// or https:// URL".into()),
        };
        let (authority, target) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], &rest[i..]),
            Some(_) => return Err("a query needs a path before it".into()),
            None => (rest, "/"),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err("expected a host (and port) after the scheme".into());
        }
        let origin = &url[..url.len() - rest.len() + authority.len()];
        Ok(Url { tls, origin, authority, target })
    }

    /// The host, without port or IPv6 brackets, as TLS checks it against the certificate.
    fn host(&self) -> &'a str {
        match self.authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(v6),
            None => self.authority.rsplit_once(':').map_or(self.authority, |(host, _)| host),
        }
    }

    /// Where to connect: `host:port`, with the scheme's port when the URL names none.
    fn address(&self) -> String {
        if self.authority.rsplit_once(':').is_some_and(|(_, port)| !port.contains(']')) {
            self.authority.to_string()
        } else {
            format!("{}:{}", self.authority, if self.tls { 443 } else { 80 })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Url;

    #[test]
    fn urls_split_into_origin_authority_and_target() {
        let url = Url::split("http://127.0.0.1:7000/kv/a%20b?x=1").unwrap();
        assert_eq!(
            url,
            Url { tls: false, origin: "http://127.0.0.1:7000", authority: "127.0.0.1:7000", target: "/kv/a%20b?x=1" }
        );
        assert_eq!((url.host(), url.address()), ("127.0.0.1", "127.0.0.1:7000".to_string()));
        let url = Url::split("https://node").unwrap();
        assert_eq!((url.tls, url.origin, url.target), (true, "https://node", "/"));
        assert_eq!((url.host(), url.address()), ("node", "node:443".to_string()));
        let url = Url::split("https://[::1]:2379/v3/kv/put").unwrap();
        assert_eq!((url.host(), url.address()), ("::1", "[::1]:2379".to_string()));
        assert_eq!(Url::split("http://[::1]").unwrap().address(), "[::1]:80");
        assert!(Url::split("ftp://node/kv").is_err());
        assert!(Url::split("http:///kv").is_err());
        assert!(Url::split("http://user@node/kv").is_err());
    }
}
