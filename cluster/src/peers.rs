//! How a node reaches the others: HTTP clients that name its cluster on every request, and a client's
//! request passed on to the primary.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{json, Value};
use tracing::{info, warn};

use crate::config::{node_name, Config, CLUSTER_HEADER};
use crate::http::{Request, Response};

pub struct Peers {
    /// Every node, this one included: id and address.
    addresses: Vec<(usize, String)>,
    /// For client requests passed on, and the modes' own messages.
    pub http: reqwest::Client,
    /// The last request passed on to the primary got no answer (logged when it changes).
    primary_lost: AtomicBool,
}

impl Peers {
    pub fn new(config: &Config) -> Result<Peers, String> {
        Ok(Peers {
            addresses: config.peers.clone(),
            http: client(config, config.request_timeout)?,
            primary_lost: AtomicBool::new(false),
        })
    }

    /// Passes a client's request to the node `primary` at `path`, and its answer back.
    pub async fn forward_to(&self, primary: usize, path: &str, request: &Request) -> Response {
        let Some((_, address)) = self.addresses.iter().find(|(id, _)| *id == primary) else {
            return Response::json(503, json!({"error": "no such primary", "applied": false}));
        };
        let url = format!("http://{address}{path}");
        let sent = self
            .http
            .request(request.method.clone(), url)
            .header("content-type", "application/json")
            .body(request.body.clone())
            .send()
            .await;
        let answer = match sent {
            Ok(response) => {
                let status = response.status().as_u16();
                response.json::<Value>().await.map(|body| Response::json(status, body))
            }
            Err(e) => Err(e),
        };
        let primary = node_name(primary);
        match &answer {
            Ok(_) if self.primary_lost.swap(false, Ordering::Relaxed) => {
                info!("primary {primary} answers forwarded requests")
            }
            Err(e) if !self.primary_lost.swap(true, Ordering::Relaxed) => {
                warn!("primary {primary} unreachable: {}; answering 503/504 until it is back", root_cause(e))
            }
            _ => {}
        }
        answer.unwrap_or_else(|e| {
            if e.is_connect() && !e.is_timeout() {
                Response::json(503, json!({"error": format!("primary unreachable: {e}"), "applied": false}))
            } else {
                Response::json(504, json!({"error": format!("no answer from the primary: {e}"), "applied": null}))
            }
        })
    }
}

/// A client for talking to peers: each request names this node's cluster, and gives up after `timeout`.
pub fn client(config: &Config, timeout: Duration) -> Result<reqwest::Client, String> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(id) = &config.cluster_id {
        let value = reqwest::header::HeaderValue::from_str(id)
            .map_err(|_| format!("the cluster id {id:?} cannot be sent in an HTTP header"))?;
        headers.insert(CLUSTER_HEADER, value);
    }
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .default_headers(headers)
        .build()
        .map_err(|e| e.to_string())
}

/// Posts `body` (JSON) to `url`; the answer's status and body, or why there is none.
pub async fn post<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    body: String,
) -> Result<(u16, T), String> {
    let answer = http.post(url).header("content-type", "application/json").body(body).send().await;
    let answer = answer.map_err(|e| root_cause(&e))?;
    let status = answer.status().as_u16();
    let bytes = answer.bytes().await.map_err(|e| format!("answer {status}: {}", root_cause(&e)))?;
    let body = serde_json::from_slice(&bytes)
        .map_err(|e| format!("answer {status} not understood ({e}): {}", String::from_utf8_lossy(&bytes)))?;
    Ok((status, body))
}

/// The innermost cause: reqwest's own message ("error sending request") says nothing a reader can act on.
pub fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
