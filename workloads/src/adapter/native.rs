//! faultline's native protocol (the reference cluster's):
//!
//! | operation | request | answers |
//! |---|---|---|
//! | read | `GET /kv/{key}` | 200 `{"value": V}`; 404 missing key (reads as null) |
//! | write | `PUT /kv/{key}` `{"value": V}` | 200 `{"ok": true}` |
//! | compare-and-set | `POST /kv/{key}/cas` `{"from": A, "to": B}` | 200 `{"ok": true}`; 412 `{"error": "mismatch", "value": V}` |
//!
//! 503 means the node did nothing (`"applied": false`), 504 that it cannot tell; 400 that the request was
//! malformed and refused.

use faultline_checker::Value;
use serde_json::json;

use reqwest::header::CONTENT_TYPE;
use reqwest::Method;

use super::{encode_segment, garbage, Op, Outcome, CAS_MISMATCH, NOT_APPLIED};
use crate::transport::Request;

#[derive(Clone, Copy, Debug, Default)]
pub struct Native;

impl Native {
    pub fn request(&self, base: &str, key: &str, op: &Op) -> Request {
        let url = format!("{base}/kv/{}", encode_segment(key));
        let request = match op {
            Op::Read => Request::new(Method::GET, url),
            Op::Write(v) => Request::new(Method::PUT, url).body(json!({ "value": v.to_json() }).to_string()),
            Op::Cas(from, to) => Request::new(Method::POST, format!("{url}/cas"))
                .body(json!({ "from": from.to_json(), "to": to.to_json() }).to_string()),
        };
        request.header(CONTENT_TYPE, "application/json")
    }

    pub fn outcome(&self, op: &Op, status: u16, body: &str) -> Outcome {
        let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
        let error = || parsed.as_ref().and_then(|b| b.get("error")).map_or_else(|| body.to_string(), |e| e.to_string());
        match (status, op) {
            (200, Op::Read) => match parsed.as_ref().and_then(|b| b.get("value")) {
                Some(v) => Outcome::Ok(Value::from_json(v)),
                None => garbage(status, body, r#"{"value": ...}"#),
            },
            (404, Op::Read) => Outcome::Ok(Value::Null),
            (200, _) => match parsed.as_ref().and_then(|b| b.get("ok")) {
                Some(serde_json::Value::Bool(true)) => Outcome::Ok(Value::Null),
                _ => garbage(status, body, r#"{"ok": true}"#),
            },
            (412, Op::Cas(..)) => Outcome::fail(CAS_MISMATCH),
            (400, _) => Outcome::fail(format!("{NOT_APPLIED}: refused as malformed: {}", error())),
            (503, _) => Outcome::fail(format!("{NOT_APPLIED}: unavailable: {}", error())),
            (504, _) => Outcome::info(format!("indeterminate: {}", error())),
            _ => garbage(status, body, "200, 404 (read), 412 (cas), 400, 503 or 504"),
        }
    }
}
