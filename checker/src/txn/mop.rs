//! What a history's micro-ops are made of, shared by the general reader ([`super::history`]) and the fast
//! one ([`super::fast`]).

use crate::value::Value;

/// Which transactional data model a history uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// Keys hold lists; `append` adds a value unique per key; reads return the whole list.
    ListAppend,
    /// Keys hold one value; `w` writes a value unique per key; reads return it (null before any write).
    RwRegister,
}

impl Workload {
    pub const NAMES: &'static [&'static str] = &["list-append", "rw-register"];

    pub fn name(self) -> &'static str {
        match self {
            Workload::ListAppend => "list-append",
            Workload::RwRegister => "rw-register",
        }
    }

    pub fn parse(s: &str) -> Option<Workload> {
        match s {
            "list-append" | "append" => Some(Workload::ListAppend),
            "rw-register" | "wr-register" => Some(Workload::RwRegister),
            _ => None,
        }
    }
}

/// A micro-op's value: one value, or a list (kept apart so a list need not be built as a [`Value`]).
#[derive(Clone, Copy)]
pub enum MopValue<'v> {
    One(&'v Value),
    List(&'v [Value]),
}

impl std::fmt::Display for MopValue<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MopValue::One(v) => write!(f, "{v}"),
            MopValue::List(l) => write!(f, "{}", Value::List(l.iter().cloned().collect())),
        }
    }
}
