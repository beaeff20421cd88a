//! The node's HTTP/1.1 server: hyper's connection handling (keep-alive, pipelining, chunked bodies,
//! malformed requests answered 400 by hyper itself), one task per connection, and JSON answers.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Body as _;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::Method;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

pub struct Request {
    pub method: Method,
    /// The path and query, as sent (percent-encoded).
    pub path: String,
    pub body: Bytes,
    /// The cluster a peer request says it comes from (header [`crate::config::CLUSTER_HEADER`]).
    pub cluster: Option<String>,
}

pub struct Response {
    pub status: u16,
    pub body: serde_json::Value,
}

impl Response {
    pub fn json(status: u16, body: serde_json::Value) -> Response {
        Response { status, body }
    }
}

const MAX_BODY: usize = 16 << 20;

/// Serves `handle` on `listener` until the process ends.
pub async fn serve<H, F>(listener: TcpListener, handle: Arc<H>)
where
    H: Fn(Request) -> F + Send + Sync + 'static,
    F: Future<Output = Response> + Send,
{
    // Defaults, pipeline_flush included: with it on (hyper 1.12), the 400 hyper writes for a request it
    // cannot parse is never flushed, and the client sees the connection close without a word; and wrk
    // measured no gain from it (its clients do not pipeline).
    let mut server = http1::Builder::new();
    // Answers are small: head and body copied into one buffer leave in one write(), as writev's two
    // slices would, for a little less work per answer (scripts/bench-node.sh: 6.96 against 7.12 µs).
    server.writev(false);
    loop {
        let Ok((socket, _)) = listener.accept().await else { continue };
        // Answers are small and each is awaited by its client: Nagle's delay would only add latency.
        let _ = socket.set_nodelay(true);
        let handle = handle.clone();
        let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let handle = handle.clone();
            async move {
                let response = match read(request).await {
                    Ok(request) => handle(request).await,
                    Err(refused) => refused,
                };
                Ok::<_, Infallible>(answer(&response))
            }
        });
        let connection = server.serve_connection(TokioIo::new(socket), service);
        tokio::spawn(async move {
            // A client that goes away mid-request is its own business.
            let _ = connection.await;
        });
    }
}

/// The request with its whole body, or the answer refusing it.
async fn read(request: hyper::Request<hyper::body::Incoming>) -> Result<Request, Response> {
    let (parts, body) = request.into_parts();
    // Most requests are reads, without a body: nothing to collect.
    let body = if body.is_end_stream() {
        Bytes::new()
    } else {
        let body = Limited::new(body, MAX_BODY).collect().await.map_err(|e| {
            let message = format!("reading the body (at most {MAX_BODY} bytes): {e}");
            Response::json(400, serde_json::json!({ "error": message }))
        })?;
        body.to_bytes()
    };
    let path = parts.uri.path_and_query().map_or_else(|| parts.uri.path().to_string(), |p| p.as_str().to_string());
    let cluster =
        parts.headers.get(crate::config::CLUSTER_HEADER).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    Ok(Request { method: parts.method, path, body, cluster })
}

fn answer(response: &Response) -> hyper::Response<Full<Bytes>> {
    let mut answer = hyper::Response::new(Full::new(Bytes::from(response.body.to_string())));
    *answer.status_mut() =
        hyper::StatusCode::from_u16(response.status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    answer
        .headers_mut()
        .insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    answer
}

/// Decodes a percent-encoded path segment; `None` if it is not UTF-8 once decoded.
pub fn decode_segment(s: &str) -> Option<String> {
    percent_encoding::percent_decode_str(s).decode_utf8().ok().map(|s| s.into_owned())
}
