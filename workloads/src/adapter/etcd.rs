//! etcd 3.4 over HTTP: the v2 keys API and the v3 JSON gateway, as observed in `shared/notes/etcd-http.md`.
//!
//! etcd stores strings, so values are written as their JSON text. Under a partition etcd answers writes
//! and linearizable reads with 500 or 503 after about 7 s ("request timed out"); the write may still
//! commit later, so those are `info`.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use faultline_checker::Value;
use serde_json::json;

use super::encode_segment;
use reqwest::header::CONTENT_TYPE;
use reqwest::Method;

use super::{decode_value, encode_value, garbage, Op, Outcome, CAS_MISMATCH, NOT_APPLIED};
use crate::transport::Request;

/// The v2 keys API (`--enable-v2=true`): `/v2/keys/{key}`.
#[derive(Clone, Copy, Debug)]
pub struct EtcdV2 {
    /// Read with `quorum=true` (through the Raft log: linearizable); otherwise from the node's own state.
    pub quorum_reads: bool,
}

impl EtcdV2 {
    pub fn request(&self, base: &str, key: &str, op: &Op) -> Request {
        let url = format!("{base}/v2/keys/{}", encode_segment(key));
        let form = |v: &Value| format!("value={}", encode_segment(&encode_value(v)));
        let request = match op {
            Op::Read if self.quorum_reads => Request::new(Method::GET, format!("{url}?quorum=true")),
            Op::Read => Request::new(Method::GET, url),
            Op::Write(v) => Request::new(Method::PUT, url).body(form(v)),
            // A cas from null means "if the key does not exist": etcd can only say that with prevExist.
            Op::Cas(Value::Null, to) => Request::new(Method::PUT, format!("{url}?prevExist=false")).body(form(to)),
            Op::Cas(from, to) => {
                Request::new(Method::PUT, format!("{url}?prevValue={}", encode_segment(&encode_value(from))))
                    .body(form(to))
            }
        };
        request.header(CONTENT_TYPE, "application/x-www-form-urlencoded")
    }

    pub fn outcome(&self, op: &Op, status: u16, body: &str) -> Outcome {
        let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
        let error_code = parsed.as_ref().and_then(|b| b.get("errorCode")).and_then(|c| c.as_i64());
        match (status, op, error_code) {
            (200, Op::Read, _) => match parsed.as_ref().and_then(|b| b.pointer("/node/value")).and_then(|v| v.as_str())
            {
                Some(text) => Outcome::Ok(decode_value(text)),
                None => garbage(status, body, r#"{"node": {"value": "..."}}"#),
            },
            // Key not found: a read of nothing; a cas against a missing key compared against nothing.
            (404, Op::Read, Some(100)) => Outcome::Ok(Value::Null),
            // 101: compare failed; 100: no key to compare against; 105: the key exists (a cas from null).
            (404, Op::Cas(..), Some(100)) | (412, Op::Cas(..), Some(101 | 105)) => Outcome::fail(CAS_MISMATCH),
            (200 | 201, Op::Write(_) | Op::Cas(..), _) if parsed.as_ref().is_some_and(|b| b.get("node").is_some()) => {
                Outcome::Ok(Value::Null)
            }
            (400..=499, _, Some(code)) => {
                Outcome::fail(format!("{NOT_APPLIED}: refused: errorCode {code}: {}", message(&parsed)))
            }
            (500..=599, _, _) => Outcome::info(format!("server error {status}: {}", message(&parsed))),
            _ => garbage(status, body, "an etcd v2 answer"),
        }
    }
}

/// The v3 JSON gateway: `/v3/kv/range`, `/v3/kv/put`, `/v3/kv/txn`, keys and values base64.
#[derive(Clone, Copy, Debug)]
pub struct EtcdV3 {
    /// Read with `serializable: true` (the node's own state, may be stale); otherwise linearizable.
    pub serializable_reads: bool,
}

impl EtcdV3 {
    pub fn request(&self, base: &str, key: &str, op: &Op) -> Request {
        let key64 = BASE64.encode(key);
        let value64 = |v: &Value| BASE64.encode(encode_value(v));
        let (path, body) = match op {
            Op::Read if self.serializable_reads => ("range", json!({"key": key64, "serializable": true})),
            Op::Read => ("range", json!({ "key": key64 })),
            Op::Write(v) => ("put", json!({"key": key64, "value": value64(v)})),
            Op::Cas(from, to) => (
                "txn",
                json!({
                    // A cas from null means "if the key does not exist": its create revision is 0.
                    "compare": [if from.is_null() {
                        json!({"key": key64, "result": "EQUAL", "target": "CREATE", "create_revision": "0"})
                    } else {
                        json!({"key": key64, "result": "EQUAL", "target": "VALUE", "value": value64(from)})
                    }],
                    "success": [{"request_put": {"key": key64, "value": value64(to)}}],
                    "failure": [{"request_range": {"key": key64}}],
                }),
            ),
        };
        Request::new(Method::POST, format!("{base}/v3/kv/{path}"))
            .body(body.to_string())
            .header(CONTENT_TYPE, "application/json")
    }

    pub fn outcome(&self, op: &Op, status: u16, body: &str) -> Outcome {
        let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
        let Some(answer) = parsed.filter(|_| status == 200) else {
            return match status {
                // gRPC codes in the body: 3 invalid argument, 9 failed precondition — refused outright.
                400..=499 => Outcome::fail(format!("{NOT_APPLIED}: refused {status}: {body}")),
                500..=599 => Outcome::info(format!("server error {status}: {body}")),
                _ => garbage(status, body, "an etcd v3 JSON answer"),
            };
        };
        if answer.get("header").is_none() {
            return garbage(status, body, r#"{"header": {...}, ...}"#);
        }
        match op {
            Op::Read => match answer.pointer("/kvs/0/value") {
                // A key whose value is empty has no `value` field: protobuf JSON drops defaults.
                None if answer.pointer("/kvs/0").is_some() => Outcome::Ok(decode_value("")),
                None => Outcome::Ok(Value::Null),
                Some(v) => match v.as_str().and_then(|s| BASE64.decode(s).ok()).and_then(|b| String::from_utf8(b).ok())
                {
                    Some(text) => Outcome::Ok(decode_value(&text)),
                    None => garbage(status, body, "kvs[0].value as base64 UTF-8"),
                },
            },
            Op::Write(_) => Outcome::Ok(Value::Null),
            // `succeeded` is left out when false.
            Op::Cas(..) => match answer.get("succeeded") {
                Some(serde_json::Value::Bool(true)) => Outcome::Ok(Value::Null),
                None | Some(serde_json::Value::Bool(false)) => Outcome::fail(CAS_MISMATCH),
                Some(_) => garbage(status, body, "succeeded: true or absent"),
            },
        }
    }
}

fn message(parsed: &Option<serde_json::Value>) -> String {
    parsed.as_ref().and_then(|b| b.get("message")).and_then(|m| m.as_str()).unwrap_or("no message").to_string()
}
