//! A process's operations as both of sequential consistency's methods take them: each with its key's
//! problem and its model's op. (A file of its own so that the graph method and the search, which
//! `sequential.rs` holds, share it without importing each other.)

/// One operation in its process's sequence: which key (partition) it belongs to and its op there.
pub(super) struct Step<Op> {
    pub(super) key: usize,
    pub(super) op: Op,
    /// May or may not have taken effect.
    pub(super) optional: bool,
    /// Index into the history's operations.
    pub(super) id: u32,
    /// Where it was invoked in the history: the search tries the earliest first.
    pub(super) call: u32,
}
