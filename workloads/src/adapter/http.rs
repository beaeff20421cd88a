//! A generic HTTP adapter described by a TOML file, so that any HTTP key-value store can be tested
//! without writing Rust. Each operation names its request and what its answers mean:
//!
//! ```toml
//! [read]
//! method = "GET"
//! url = "{base}/kv/{key|url}"
//! value = "/value"          # JSON pointer to the value in an ok answer
//! ok = [200]
//! not_found = [404]         # reads as null
//! fail = [400, 503]         # certainly not applied
//! info = [504]              # may or may not have been applied (so is any status not listed)
//!
//! [write]
//! method = "PUT"
//! url = "{base}/kv/{key|url}"
//! body = '{"value": {value}}'
//! ok = [200]
//!
//! [cas]
//! method = "POST"
//! url = "{base}/kv/{key|url}/cas"
//! body = '{"from": {from}, "to": {to}}'
//! ok = [200]
//! mismatch = [412]          # the comparison failed: an observation
//! ```
//!
//! A `[cas_absent]` section, shaped like `[cas]`, is used for a compare-and-set from null ("if the key does
//! not exist"), which stores express differently from a comparison of values.
//!
//! Placeholders: `{base}` (the node's URL), `{key}`, and `{value}`, `{from}`, `{to}` (values as JSON
//! text), each optionally filtered: `|url` percent-encodes, `|base64` base64-encodes, `|json` quotes as a
//! JSON string. `value_encoding = "json-text"` says the store holds values as strings containing their
//! JSON text (etcd), rather than as JSON (`"json"`, the default). Headers go in `headers = { ... }`.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use faultline_checker::Value;
use serde::Deserialize;

use super::encode_segment;
use reqwest::header::HeaderName;
use reqwest::Method;

use super::{decode_value, encode_value, garbage, Op, Outcome, CAS_MISMATCH, NOT_APPLIED};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpAdapter {
    #[serde(default)]
    pub name: Option<String>,
    pub read: Request,
    pub write: Request,
    #[serde(default)]
    pub cas: Option<Request>,
    /// A cas from null ("if the key does not exist"), which stores express differently from a comparison
    /// of values. Without it such a cas is not sent.
    #[serde(default)]
    pub cas_absent: Option<Request>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    pub method: String,
    pub url: String,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// JSON pointer to the value in an ok read's answer.
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub value_encoding: ValueEncoding,
    pub ok: Vec<u16>,
    #[serde(default)]
    pub not_found: Vec<u16>,
    #[serde(default)]
    pub mismatch: Vec<u16>,
    #[serde(default)]
    pub fail: Vec<u16>,
    #[serde(default)]
    pub info: Vec<u16>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ValueEncoding {
    #[default]
    Json,
    JsonText,
}

impl HttpAdapter {
    /// Reads an adapter file; errors name the file and what is wrong.
    pub fn load(path: &std::path::Path) -> Result<HttpAdapter, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        HttpAdapter::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<HttpAdapter, String> {
        let adapter: HttpAdapter = toml::from_str(text).map_err(|e| format!("not a valid adapter file: {e}"))?;
        let requests = [
            ("read", Some(&adapter.read)),
            ("write", Some(&adapter.write)),
            ("cas", adapter.cas.as_ref()),
            ("cas_absent", adapter.cas_absent.as_ref()),
        ];
        for (op, request) in requests {
            let Some(request) = request else { continue };
            Method::from_bytes(request.method.as_bytes())
                .map_err(|_| format!("[{op}] method {:?} is not an HTTP method", request.method))?;
            if let Some(name) = request.headers.keys().find(|name| HeaderName::from_bytes(name.as_bytes()).is_err()) {
                return Err(format!("[{op}] header {name:?} is not an HTTP header name"));
            }
            for template in std::iter::once(&request.url).chain(&request.body).chain(request.headers.values()) {
                check_template(template).map_err(|e| format!("[{op}] {e}"))?;
            }
            if op == "read" && request.value.is_none() {
                return Err(
                    "[read] needs `value`, the JSON pointer to the value in an ok answer (e.g. \"/value\")".into()
                );
            }
            if request.ok.is_empty() {
                return Err(format!("[{op}] needs `ok`, the statuses that mean it happened"));
            }
        }
        Ok(adapter)
    }

    /// The file's section for `op`, or the outcome of an operation the file cannot express.
    fn section(&self, op: &Op) -> Result<&Request, Outcome> {
        match (op, &self.cas, &self.cas_absent) {
            (Op::Read, ..) => Ok(&self.read),
            (Op::Write(_), ..) => Ok(&self.write),
            (Op::Cas(Value::Null, _), _, Some(absent)) => Ok(absent),
            (Op::Cas(Value::Null, _), _, None) => {
                Err(Outcome::fail(format!("{}: this adapter has no [cas_absent] for a cas from null", super::NOT_SENT)))
            }
            (Op::Cas(..), Some(cas), _) => Ok(cas),
            (Op::Cas(..), None, _) => Err(Outcome::fail(format!("{}: this adapter has no [cas]", super::NOT_SENT))),
        }
    }

    /// The request for `op`, or the outcome of one this adapter cannot express.
    pub fn request(&self, base: &str, key: &str, op: &Op) -> Result<crate::transport::Request, Outcome> {
        let request = self.section(op)?;
        let values: Vec<(&str, String)> = match op {
            Op::Read => vec![],
            Op::Write(v) => vec![("value", encode_value(v))],
            Op::Cas(from, to) => vec![("from", encode_value(from)), ("to", encode_value(to))],
        };
        let fill = |template: &str| render(template, base, key, &values);
        let method = Method::from_bytes(request.method.as_bytes()).expect("checked when loaded");
        let mut sent = crate::transport::Request::new(method, fill(&request.url));
        for (name, value) in &request.headers {
            sent = sent.header(HeaderName::from_bytes(name.as_bytes()).expect("checked when loaded"), fill(value));
        }
        if let Some(body) = &request.body {
            sent = sent.body(fill(body));
        }
        Ok(sent)
    }

    pub fn outcome(&self, op: &Op, status: u16, body: &str) -> Outcome {
        let request = match self.section(op) {
            Ok(request) => request,
            Err(not_sent) => return not_sent,
        };
        if request.ok.contains(&status) {
            let Op::Read = op else { return Outcome::Ok(Value::Null) };
            let pointer = request.value.as_deref().unwrap_or("");
            let found = serde_json::from_str::<serde_json::Value>(body).ok().and_then(|b| b.pointer(pointer).cloned());
            return match (found, request.value_encoding) {
                (Some(serde_json::Value::String(text)), ValueEncoding::JsonText) => Outcome::Ok(decode_value(&text)),
                (Some(v), ValueEncoding::Json) => Outcome::Ok(Value::from_json(&v)),
                _ => garbage(status, body, &format!("a value at {pointer}")),
            };
        }
        if request.not_found.contains(&status) && *op == Op::Read {
            Outcome::Ok(Value::Null)
        } else if request.mismatch.contains(&status)
            || (request.not_found.contains(&status) && matches!(op, Op::Cas(..)))
        {
            Outcome::fail(CAS_MISMATCH)
        } else if request.fail.contains(&status) {
            Outcome::fail(format!("{NOT_APPLIED}: status {status}: {}", short(body)))
        } else if request.info.contains(&status) {
            Outcome::info(format!("status {status} means indeterminate: {}", short(body)))
        } else {
            garbage(status, body, "a status the adapter file lists")
        }
    }
}

fn short(body: &str) -> String {
    body.chars().take(200).collect()
}

const NAMES: &[&str] = &["base", "key", "value", "from", "to"];

fn check_template(template: &str) -> Result<(), String> {
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else { return Ok(()) };
        let inner = &rest[open + 1..open + close];
        let (name, filter) = inner.split_once('|').unwrap_or((inner, ""));
        // Braces of a JSON body template are literal unless they hold a known placeholder.
        if NAMES.contains(&name) && !["", "url", "base64", "json"].contains(&filter) {
            return Err(format!("unknown filter |{filter} in {{{inner}}}; expected url, base64 or json"));
        }
        rest = &rest[open + close + 1..];
    }
    Ok(())
}

/// Replaces placeholders; text in braces that is not a placeholder (JSON) is left as it is.
fn render(template: &str, base: &str, key: &str, values: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open..];
        let replaced = after.find('}').and_then(|close| {
            let inner = &after[1..close];
            let (name, filter) = inner.split_once('|').unwrap_or((inner, ""));
            let raw = match name {
                "base" => base.to_string(),
                "key" => key.to_string(),
                _ => values.iter().find(|(n, _)| *n == name)?.1.clone(),
            };
            let text = match filter {
                "url" => encode_segment(&raw),
                "base64" => BASE64.encode(&raw),
                "json" => serde_json::Value::String(raw).to_string(),
                _ => raw,
            };
            Some((text, close))
        });
        match replaced {
            Some((text, close)) => {
                out.push_str(&text);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_placeholders_and_leaves_json_braces() {
        let values = [("value", "\"a b\"".to_string())];
        assert_eq!(render("{base}/v2/keys/{key|url}", "http://h", "x/y", &values), "http://h/v2/keys/x%2Fy");
        assert_eq!(render(r#"{"value": {value}}"#, "", "k", &values), r#"{"value": "a b"}"#);
        assert_eq!(render("value={value|url}", "", "k", &values), "value=%22a%20b%22");
        assert_eq!(render(r#"{"key": "{key|base64}"}"#, "", "k", &values), r#"{"key": "aw=="}"#);
        assert_eq!(render("{key|json}", "", "a\"b", &values), r#""a\"b""#);
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let base = "[read]\nmethod = \"GET\"\nurl = \"{base}\"\nvalue = \"/v\"\nok = [200]\n[write]\nmethod = \"PUT\"\nurl = \"{base}\"\nok = [200]\n";
        assert!(HttpAdapter::parse(base).is_ok());
        let e = HttpAdapter::parse(&base.replace("\"GET\"", "\"G ET\"")).unwrap_err();
        assert!(e.contains("[read] method \"G ET\" is not an HTTP method"), "{e}");
        let e = HttpAdapter::parse(&base.replace("value = \"/v\"\n", "")).unwrap_err();
        assert!(e.contains("[read] needs `value`"), "{e}");
        let e = HttpAdapter::parse(&base.replace("{base}\"\nok", "{key|hex}\"\nok")).unwrap_err();
        assert!(e.contains("[write] unknown filter |hex"), "{e}");
        let e =
            HttpAdapter::parse(&base.replace("ok = [200]\n[write]", "ok = [200]\nretries = 3\n[write]")).unwrap_err();
        assert!(e.contains("not a valid adapter file") && e.contains("retries"), "{e}");
        let e = HttpAdapter::parse(
            &base.replace("ok = [200]\n[write]", "ok = [200]\nheaders = { \"x y\" = \"1\" }\n[write]"),
        )
        .unwrap_err();
        assert!(e.contains("[read] header \"x y\" is not an HTTP header name"), "{e}");
    }
}
