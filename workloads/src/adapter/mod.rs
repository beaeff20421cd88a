//! Target adapters: how one register operation becomes an HTTP request to a store, and how the answer
//! becomes a history outcome.
//!
//! The classification is what a Jepsen user would trust, because a wrong `fail` makes the checker unsound:
//! - `ok`: the store said it happened (for a read, the value it returned; null for a missing key).
//! - `fail`: it certainly did not happen: the request was refused before it was sent (connection refused),
//!   the store answered that it did nothing, or a compare-and-set's comparison failed (an observation of
//!   the state, recorded with the error [`CAS_MISMATCH`]).
//! - `info`: it may or may not have happened: a timeout or a reset after the request was sent, a 5xx
//!   without a definite meaning, an answer that cannot be understood.

mod etcd;
mod http;
mod native;

use faultline_checker::Value;

pub use etcd::{EtcdV2, EtcdV3};
pub use http::HttpAdapter;
pub use native::Native;

// The words of the classification, where they were before they had a module of their own.
pub use crate::outcome::{Outcome, CAS_MISMATCH, NOT_APPLIED, NOT_SENT};
use crate::transport::HttpClient;

/// A register operation on one key.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    Read,
    Write(Value),
    Cas(Value, Value),
}

impl Op {
    pub fn f(&self) -> &'static str {
        match self {
            Op::Read => "read",
            Op::Write(_) => "write",
            Op::Cas(..) => "cas",
        }
    }
}

/// The adapters faultline knows by name.
#[derive(Clone, Debug)]
pub enum Adapter {
    Native(Native),
    EtcdV2(EtcdV2),
    EtcdV3(EtcdV3),
    /// Described by a TOML file.
    Http(Box<HttpAdapter>),
}

impl Adapter {
    pub const NAMES: &'static [&'static str] = &["native", "etcd-v2", "etcd-v2-stale", "etcd-v3", "etcd-v3-stale"];

    /// An adapter by name; the `-stale` variants read without a quorum (v2) or serializably (v3).
    pub fn by_name(name: &str) -> Result<Adapter, String> {
        match name {
            "native" => Ok(Adapter::Native(Native)),
            "etcd-v2" => Ok(Adapter::EtcdV2(EtcdV2 { quorum_reads: true })),
            "etcd-v2-stale" => Ok(Adapter::EtcdV2(EtcdV2 { quorum_reads: false })),
            "etcd-v3" => Ok(Adapter::EtcdV3(EtcdV3 { serializable_reads: false })),
            "etcd-v3-stale" => Ok(Adapter::EtcdV3(EtcdV3 { serializable_reads: true })),
            _ => Err(format!("unknown adapter {name:?}; expected one of {}", Adapter::NAMES.join(", "))),
        }
    }

    /// A built-in adapter by name, or else an adapter file (`*.toml`) at that path.
    pub fn by_name_or_file(name: &str) -> Result<Adapter, String> {
        match Adapter::by_name(name) {
            Ok(adapter) => Ok(adapter),
            Err(_) if name.ends_with(".toml") || std::path::Path::new(name).exists() => {
                HttpAdapter::load(std::path::Path::new(name)).map(|a| Adapter::Http(Box::new(a)))
            }
            Err(e) => Err(format!("{e}, or the path of an adapter file (.toml)")),
        }
    }

    /// Performs `op` on `key` at the node whose base URL is `base` (e.g. `http://127.0.0.1:7000`).
    pub async fn invoke(&self, http: &mut HttpClient, base: &str, key: &str, op: &Op) -> Outcome {
        let base = base.trim_end_matches('/');
        let request = match self {
            Adapter::Native(a) => a.request(base, key, op),
            Adapter::EtcdV2(a) => a.request(base, key, op),
            Adapter::EtcdV3(a) => a.request(base, key, op),
            Adapter::Http(a) => match a.request(base, key, op) {
                Ok(request) => request,
                Err(refused) => return refused,
            },
        };
        let (status, body) = match http.send(request).await {
            Ok(answer) => answer,
            Err(outcome) => return outcome,
        };
        let body = String::from_utf8_lossy(&body);
        match self {
            Adapter::Native(a) => a.outcome(op, status, &body),
            Adapter::EtcdV2(a) => a.outcome(op, status, &body),
            Adapter::EtcdV3(a) => a.outcome(op, status, &body),
            Adapter::Http(a) => a.outcome(op, status, &body),
        }
    }
}

/// Values are stored as their JSON text in stores that hold strings; text that is not JSON reads back as
/// a string, so values written by other clients still show up faithfully.
pub(crate) fn decode_value(text: &str) -> Value {
    serde_json::from_str::<serde_json::Value>(text).map(|v| Value::from_json(&v)).unwrap_or_else(|_| Value::str(text))
}

pub(crate) fn encode_value(v: &Value) -> String {
    v.to_json().to_string()
}

/// What an answer that cannot be understood means: for a read nothing happened that matters (it changes
/// nothing), but faultline cannot say what it saw; for a write, it may have happened.
pub(crate) fn garbage(status: u16, body: &str, expected: &str) -> Outcome {
    let shown: String = body.chars().take(200).collect();
    Outcome::info(format!("unexpected answer {status} {shown:?}; expected {expected}"))
}

/// The characters a URL path segment keeps as they are: RFC 3986's unreserved ones.
const SEGMENT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Keys go into the URL path (and etcd v2's form values): percent-encode everything but unreserved
/// characters.
pub(crate) fn encode_segment(key: &str) -> String {
    percent_encoding::utf8_percent_encode(key, SEGMENT).to_string()
}
