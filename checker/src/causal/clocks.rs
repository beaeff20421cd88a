//! Strict causal pasts as vector clocks, stored as shared copy-on-write chunks.

use super::graph::{Graph, Src};

/// Entries per chunk of a vector clock.
pub(super) const CHUNK: usize = 64;

/// Strict causal pasts as vector clocks, stored as copy-on-write chunks of [`CHUNK`] entries.
///
/// Dense rows (one entry per process for every operation) cannot scale: every indeterminate write retires
/// a process and its client goes on under a new one, so the number of processes grows with the run (2,410
/// for a 1M-operation history with 0.5% indeterminate writes: 9 GiB of rows). The rows are the same
/// vectors, shared where they are equal: a row is a list of chunk ids, and an operation that learns nothing
/// new about other processes (every write, and most reads of one's own recent knowledge) shares its
/// predecessor's row outright. A process's own entry is not stored: in the strict causal past of its `i`th
/// operation it is always `i - 1` (its predecessors are in the past, and in an acyclic causal order none of
/// its later operations). Processes that are active at the same time got their numbers close together (slots
/// are numbered as processes first appear), so what an operation learns is mostly within one or two chunks;
/// the entries of retired processes settle and stay shared.
pub(super) struct Clocks {
    /// Chunks per row.
    pub(super) width: usize,
    /// Row id of each node.
    pub(super) row_of: Vec<u32>,
    /// `width` chunk ids per row.
    pub(super) rows: Vec<u32>,
    /// `CHUNK` entries per chunk; chunk 0 is all zeros, row 0 is all chunk 0.
    pub(super) chunks: Vec<u32>,
}

impl Clocks {
    /// Bytes one more row and one more chunk take.
    pub(super) fn bytes(&self) -> usize {
        (self.row_of.len() + self.rows.len() + self.chunks.len()) * 4
    }

    pub(super) fn chunk(&self, row: u32, c: usize) -> &[u32] {
        let id = self.rows[row as usize * self.width + c] as usize;
        &self.chunks[id * CHUNK..(id + 1) * CHUNK]
    }

    /// Entry `slot` of node `v`'s strict causal past: the number of operations of that slot's process in it.
    pub(super) fn get(&self, g: &Graph, v: u32, slot: u32) -> u32 {
        let node = &g.nodes[v as usize];
        if node.slot == slot {
            return node.idx - 1;
        }
        let id = self.rows[self.row_of[v as usize] as usize * self.width + slot as usize / CHUNK] as usize;
        self.chunks[id * CHUNK + slot as usize % CHUNK]
    }

    /// Node `v`'s strict causal past as a dense vector of `slots` entries.
    pub(super) fn dense(&self, g: &Graph, v: u32) -> Vec<u32> {
        let row = self.row_of[v as usize];
        let mut out = Vec::with_capacity(self.width * CHUNK);
        for c in 0..self.width {
            out.extend_from_slice(self.chunk(row, c));
        }
        out.truncate(g.slots);
        let node = &g.nodes[v as usize];
        out[node.slot as usize] = node.idx - 1;
        out
    }

    /// The slots, ascending, of which `a`'s strict causal past holds more operations than `b`'s inclusive
    /// one (`b` and its past). Chunks the two rows share are skipped without reading them.
    pub(super) fn ahead(&self, g: &Graph, a: u32, b: u32, out: &mut Vec<u32>) {
        out.clear();
        let (ra, rb) = (self.row_of[a as usize] as usize, self.row_of[b as usize] as usize);
        for c in 0..self.width {
            let (ia, ib) = (self.rows[ra * self.width + c], self.rows[rb * self.width + c]);
            if ia == ib {
                continue;
            }
            let (ca, cb) = (self.chunk(ra as u32, c), self.chunk(rb as u32, c));
            for i in 0..CHUNK {
                if ca[i] > cb[i] {
                    out.push((c * CHUNK + i) as u32);
                }
            }
        }
        // The two processes' own entries are not stored: compare them as they are.
        let (sa, sb) = (g.nodes[a as usize].slot, g.nodes[b as usize].slot);
        out.retain(|&s| s != sa && s != sb);
        for s in if sa == sb { vec![sa] } else { vec![sa, sb] } {
            let inclusive_b = self.get(g, b, s) + u32::from(s == sb);
            if self.get(g, a, s) > inclusive_b {
                out.push(s);
            }
        }
        out.sort_unstable();
    }

    /// The clocks of every node along a topological order of causal order; `None` past `memory_limit` bytes.
    pub(super) fn build(g: &Graph, order: &[u32], memory_limit: usize) -> Option<Clocks> {
        let width = g.slots.div_ceil(CHUNK).max(1);
        let n = g.nodes.len();
        let mut clocks = Clocks { width, row_of: vec![0; n], rows: vec![0; width], chunks: vec![0; CHUNK] };
        let mut buf = [0u32; CHUNK];
        for &v in order {
            let node = &g.nodes[v as usize];
            let po = g.po_pred[v as usize];
            // The source of a read, when it is another process's: it may bring news of other processes.
            let src = match node.read {
                Some(Src::Write(w)) if g.nodes[w as usize].slot != node.slot => Some(w),
                _ => None,
            };
            let base = po.map_or(0, |p| clocks.row_of[p as usize]);
            let Some(w) = src else {
                // Nothing but its own process's past: the row of its predecessor (or the empty one).
                clocks.row_of[v as usize] = base;
                continue;
            };
            let wrow = clocks.row_of[w as usize];
            let wn = &g.nodes[w as usize];
            let mut fresh: Option<u32> = None;
            for c in 0..width {
                let a = clocks.rows[base as usize * width + c];
                let b = clocks.rows[wrow as usize * width + c];
                let has_w_slot = wn.slot as usize / CHUNK == c;
                if a == b && !has_w_slot {
                    continue;
                }
                let (ca, cb) = (a as usize * CHUNK, b as usize * CHUNK);
                for (i, x) in buf.iter_mut().enumerate() {
                    *x = clocks.chunks[ca + i].max(clocks.chunks[cb + i]);
                }
                if has_w_slot {
                    let i = wn.slot as usize % CHUNK;
                    buf[i] = buf[i].max(wn.idx);
                }
                // Its own entry is implicit: keep the predecessor's, so that rows stay shared.
                if node.slot as usize / CHUNK == c {
                    let i = node.slot as usize % CHUNK;
                    buf[i] = clocks.chunks[ca + i];
                }
                let id = if buf[..] == clocks.chunks[ca..ca + CHUNK] {
                    continue;
                } else if buf[..] == clocks.chunks[cb..cb + CHUNK] {
                    b
                } else {
                    clocks.chunks.extend_from_slice(&buf);
                    (clocks.chunks.len() / CHUNK - 1) as u32
                };
                let row = *fresh.get_or_insert_with(|| {
                    clocks.rows.extend_from_within(base as usize * width..(base as usize + 1) * width);
                    (clocks.rows.len() / width - 1) as u32
                });
                clocks.rows[row as usize * width + c] = id;
            }
            clocks.row_of[v as usize] = fresh.unwrap_or(base);
            if clocks.bytes() > memory_limit {
                return None;
            }
        }
        Some(clocks)
    }
}

#[cfg(test)]
mod tests {
    use rustc_hash::FxHashMap;

    use super::*;
    use crate::causal::graph::{co_preds, topological, Node};
    use faultline_rng::Rng;

    /// A random acyclic causal graph: `clients` clients run operations in turn, each a write (of one of
    /// `keys` keys) or a read of an earlier write or of the initial value; after an operation a client goes
    /// on under a new process with probability `retire`, as after an indeterminate result.
    fn random_graph(rng: &mut Rng, n: usize, clients: u64, keys: u32, retire: f64) -> Graph {
        let mut process_of: Vec<u32> = (0..clients as u32).collect();
        let mut slots = clients as usize;
        let mut slot_len = vec![0u32; slots];
        let mut last: Vec<Option<u32>> = vec![None; slots];
        let mut nodes = Vec::new();
        let mut po_pred = Vec::new();
        let mut writes: Vec<u32> = Vec::new();
        for v in 0..n as u32 {
            let client = rng.below(clients) as usize;
            let slot = process_of[client];
            slot_len[slot as usize] += 1;
            let writes_now = writes.is_empty() || rng.below(2) == 0;
            let (key, read) = if writes_now {
                (rng.below(keys as u64) as u32, None)
            } else if rng.below(10) == 0 {
                (rng.below(keys as u64) as u32, Some(Src::Init))
            } else {
                // Mostly recent writes, sometimes any earlier one.
                let back = if rng.below(4) == 0 { writes.len() } else { writes.len().min(30) };
                let w = writes[writes.len() - 1 - rng.below(back as u64) as usize];
                (nodes.get(w as usize).map_or(0, |n: &Node| n.key), Some(Src::Write(w)))
            };
            nodes.push(Node { id: v, slot, idx: slot_len[slot as usize], key, read, writes: writes_now });
            po_pred.push(last[slot as usize]);
            last[slot as usize] = Some(v);
            if writes_now {
                writes.push(v);
            }
            if rng.unit() < retire {
                process_of[client] = slots as u32;
                slots += 1;
                slot_len.push(0);
                last.push(None);
            }
        }
        Graph {
            nodes,
            slots,
            slot_process: (0..slots as u64).collect(),
            key_writers: vec![],
            writer_range: FxHashMap::default(),
            po_pred,
        }
    }

    /// The dense clocks, one full row per node, as the checker computed them before they were chunked.
    fn dense_clocks(g: &Graph, order: &[u32]) -> Vec<Vec<u32>> {
        let mut rows = vec![vec![0u32; g.slots]; g.nodes.len()];
        let mut preds = Vec::new();
        for &v in order {
            preds.clear();
            co_preds(g, v, &mut preds);
            let mut row = vec![0u32; g.slots];
            for &p in &preds {
                for (a, b) in row.iter_mut().zip(&rows[p as usize]) {
                    *a = (*a).max(*b);
                }
                let pn = &g.nodes[p as usize];
                row[pn.slot as usize] = row[pn.slot as usize].max(pn.idx);
            }
            rows[v as usize] = row;
        }
        rows
    }

    #[test]
    fn chunked_clocks_equal_dense_clocks_with_many_retired_processes() {
        let mut rng = Rng(14);
        let mut most_slots = 0;
        for round in 0..300 {
            let n = 50 + rng.below(1500) as usize;
            let clients = 1 + rng.below(30);
            let keys = 1 + rng.below(40) as u32;
            let retire = [0.0, 0.01, 0.05, 0.2, 0.6][round % 5];
            let g = random_graph(&mut rng, n, clients, keys, retire);
            most_slots = most_slots.max(g.slots);
            let (order, _) = topological(g.nodes.len(), &|v, out| co_preds(&g, v, out));
            assert_eq!(order.len(), g.nodes.len(), "reads read earlier writes, so causal order is acyclic");
            let dense = dense_clocks(&g, &order);
            let clocks = Clocks::build(&g, &order, usize::MAX).expect("no memory limit");
            let mut ahead = Vec::new();
            for v in 0..g.nodes.len() as u32 {
                assert_eq!(clocks.dense(&g, v), dense[v as usize], "round {round}, node {v}");
                // Which slots v's past holds more of than another node's inclusive past.
                let u = rng.below(g.nodes.len() as u64) as u32;
                let un = &g.nodes[u as usize];
                let expected: Vec<u32> = (0..g.slots as u32)
                    .filter(|&s| {
                        dense[v as usize][s as usize] > dense[u as usize][s as usize] + u32::from(s == un.slot)
                    })
                    .collect();
                clocks.ahead(&g, v, u, &mut ahead);
                assert_eq!(ahead, expected, "round {round}, nodes {v} and {u}");
                for s in 0..g.slots as u32 {
                    assert_eq!(clocks.get(&g, v, s), dense[v as usize][s as usize], "round {round}, node {v}");
                }
            }
        }
        assert!(most_slots > 4 * CHUNK, "rows of several chunks were tested ({most_slots} processes at most)");
    }

    #[test]
    fn chunked_clocks_give_up_past_their_memory_limit() {
        let g = random_graph(&mut Rng(3), 3000, 20, 10, 0.3);
        let (order, _) = topological(g.nodes.len(), &|v, out| co_preds(&g, v, out));
        assert!(Clocks::build(&g, &order, 64 << 10).is_none());
        assert!(Clocks::build(&g, &order, usize::MAX).is_some());
    }
}
