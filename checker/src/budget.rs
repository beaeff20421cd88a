//! The limits a check runs under, shared by every search of it: a deadline, a memory budget for the memo
//! tables, and a flag to stop once another part of the check has decided. A checker that reaches one says
//! which ([`Limit`]), and its verdict is `unknown`.

use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::time::Instant;

/// Why a search stopped without a verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    Time,
    Memory,
    /// Another part of the check already decided the verdict, or the caller gave up.
    Cancelled,
}

/// The limits every search of one check shares.
pub struct Budget {
    pub deadline: Option<Instant>,
    /// Bytes that all memo tables together may hold.
    pub memory_limit: usize,
    pub memory_used: AtomicUsize,
    pub cancelled: AtomicBool,
}

impl Budget {
    pub fn new(deadline: Option<Instant>, memory_limit: usize) -> Budget {
        Budget { deadline, memory_limit, memory_used: AtomicUsize::new(0), cancelled: AtomicBool::new(false) }
    }

    pub fn unlimited() -> Budget {
        Budget::new(None, usize::MAX)
    }

    pub fn expired(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}
