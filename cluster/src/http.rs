//! Just enough HTTP/1.1 for the node's own protocol: requests with a content-length body, keep-alive,
//! JSON answers. The node serves only faultline's clients and its peers, so this stays small instead of
//! pulling in a web framework.

use std::future::Future;
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

pub struct Request {
    pub method: String,
    pub path: String,
    pub body: Vec<u8>,
    /// The client asked to close the connection after the answer.
    pub close: bool,
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
    loop {
        let Ok((socket, _)) = listener.accept().await else { continue };
        let _ = socket.set_nodelay(true);
        let handle = handle.clone();
        tokio::spawn(async move {
            let (read, mut write) = socket.into_split();
            let mut read = BufReader::new(read);
            loop {
                let request = match read_request(&mut read).await {
                    Ok(Some(r)) => r,
                    Ok(None) => return,
                    Err(message) => {
                        let _ =
                            write_response(&mut write, &Response::json(400, serde_json::json!({ "error": message })))
                                .await;
                        return;
                    }
                };
                let close = request.close;
                let response = handle(request).await;
                if write_response(&mut write, &response).await.is_err() || close {
                    return;
                }
            }
        });
    }
}

async fn read_request<R: tokio::io::AsyncRead + Unpin>(read: &mut BufReader<R>) -> Result<Option<Request>, String> {
    let mut line = String::new();
    if read.read_line(&mut line).await.map_err(|e| e.to_string())? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return Err(format!("expected a request line such as `GET /kv/k HTTP/1.1`, not {:?}", line.trim()));
    };
    let (method, path) = (method.to_string(), path.to_string());
    let mut length = 0usize;
    let mut close = false;
    loop {
        let mut header = String::new();
        if read.read_line(&mut header).await.map_err(|e| e.to_string())? == 0 {
            return Ok(None);
        }
        if header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().map_err(|_| "content-length is not a number".to_string())?;
            } else if name.trim().eq_ignore_ascii_case("connection") {
                close = value.trim().eq_ignore_ascii_case("close");
            }
        }
    }
    if length > MAX_BODY {
        return Err(format!("a body of {length} bytes is over the limit of {MAX_BODY}"));
    }
    let mut body = vec![0; length];
    read.read_exact(&mut body).await.map_err(|e| e.to_string())?;
    Ok(Some(Request { method, path, body, close }))
}

async fn write_response<W: tokio::io::AsyncWrite + Unpin>(write: &mut W, response: &Response) -> std::io::Result<()> {
    let body = response.body.to_string();
    // One write, so that the answer leaves in one segment (the socket has Nagle off).
    let answer = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        response.status,
        reason(response.status),
        body.len()
    );
    write.write_all(answer.as_bytes()).await
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        409 => "Conflict",
        412 => "Precondition Failed",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// Decodes a percent-encoded path segment.
pub fn decode_segment(s: &str) -> Option<String> {
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
