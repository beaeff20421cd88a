//! A node's log on disk: one JSON line per entry (`{"term": T, "writes": [[K, V], ...]}`), in order: a
//! write or compare-and-set sets one key, a transaction every key it wrote, a new primary's no-op none.
//! The Raft term is 0 in the modes without elections, and a line without one reads as term 0.
//! A node rebuilds its state from it when it restarts, so a SIGKILL loses nothing that was written, and a
//! torn last line (a write cut short by the kill) is dropped and cut off the file.
//!
//! `Fsync` durability syncs every append before it returns. `Lazy` keeps appends in memory and writes
//! them out only when [`Log::flush_lazy`] runs (every `--flush-interval` in `unsafe` mode), without syncing: a kill
//! loses the entries not yet written, which is exactly the bug `unsafe` mode exists to exhibit.
//! `Unsynced` writes every append out at once and never syncs (`nosync` mode): a kill loses nothing, as
//! the kernel keeps what was written, but a power loss (the `crash` fault) loses what the disk never got.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::Path;

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    /// The Raft term of the primary that appended it (0 in the modes without elections).
    #[serde(default)]
    pub term: u64,
    /// The keys it sets and their new values, applied in order and all at once. None for the no-op
    /// entry a new primary appends to commit its term.
    pub writes: Vec<(String, serde_json::Value)>,
}

impl Entry {
    /// An entry that sets one key.
    pub fn write(term: u64, key: &str, value: serde_json::Value) -> Entry {
        Entry { term, writes: vec![(key.to_string(), value)] }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    Fsync,
    Lazy,
    Unsynced,
}

pub struct Log {
    file: File,
    durability: Durability,
    entries: Vec<Entry>,
    /// Byte offset in the file where each entry that is on disk starts.
    offsets: Vec<u64>,
    /// Bytes of the file that hold entries.
    end: u64,
    /// Bytes cut off the end of the file when it was opened (a torn or garbled tail).
    torn: u64,
}

impl Log {
    pub fn open(dir: &Path, durability: Durability) -> io::Result<Log> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("log.jsonl");
        let mut file = OpenOptions::new().read(true).append(true).create(true).open(&path)?;
        let mut entries = Vec::new();
        let mut offsets = Vec::new();
        let mut end = 0u64;
        for line in BufReader::new(&file).split(b'\n') {
            let line = line?;
            // A torn or garbled line ends the log: what follows it was never acknowledged as durable.
            let Ok(entry) = serde_json::from_slice::<Entry>(&line) else { break };
            offsets.push(end);
            entries.push(entry);
            end += line.len() as u64 + 1;
        }
        let torn = file.metadata()?.len().saturating_sub(end);
        file.set_len(end)?;
        file.seek(SeekFrom::End(0))?;
        Ok(Log { file, durability, entries, offsets, end, torn })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Bytes of a torn or garbled tail dropped when the log was opened.
    pub fn torn(&self) -> u64 {
        self.torn
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Entries written to the file (all of them with `Fsync`; with `Lazy`, those of the last flush).
    pub fn written(&self) -> usize {
        self.offsets.len()
    }

    /// Appends; with `Fsync` the entries are on disk when this returns, with `Unsynced` in the file
    /// (the kernel's page cache) but not synced.
    pub fn append(&mut self, new: &[Entry]) -> io::Result<()> {
        self.entries.extend_from_slice(new);
        match self.durability {
            Durability::Fsync => {
                self.write_pending()?;
                self.file.sync_data()
            }
            Durability::Unsynced => self.write_pending(),
            Durability::Lazy => Ok(()),
        }
    }

    /// Drops every entry from `len` on, in memory and on disk.
    pub fn truncate(&mut self, len: usize) -> io::Result<()> {
        if len >= self.entries.len() {
            return Ok(());
        }
        self.entries.truncate(len);
        if len < self.offsets.len() {
            self.end = self.offsets[len];
            self.offsets.truncate(len);
            self.file.set_len(self.end)?;
            if self.durability == Durability::Fsync {
                self.file.sync_data()?;
            }
        }
        Ok(())
    }

    /// Writes out entries not yet in the file, without syncing (`Lazy` durability's periodic write).
    pub fn flush_lazy(&mut self) -> io::Result<()> {
        self.write_pending()
    }

    fn write_pending(&mut self) -> io::Result<()> {
        let mut bytes = Vec::new();
        let mut offset = self.end;
        for entry in &self.entries[self.offsets.len()..] {
            let line = serde_json::to_string(entry).map_err(io::Error::other)?;
            self.offsets.push(offset);
            offset += line.len() as u64 + 1;
            bytes.extend_from_slice(line.as_bytes());
            bytes.push(b'\n');
        }
        self.file.write_all(&bytes)?;
        self.end = offset;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(k: &str, v: i64) -> Entry {
        Entry::write(1, k, serde_json::json!(v))
    }

    #[test]
    fn survives_reopening_truncation_and_a_torn_tail() {
        let dir = std::env::temp_dir().join(format!("faultline-log-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut log = Log::open(&dir, Durability::Fsync).unwrap();
        log.append(&[entry("a", 1), entry("b", 2), entry("a", 3)]).unwrap();
        log.truncate(2).unwrap();
        log.append(&[entry("c", 4)]).unwrap();
        drop(log);
        // A write cut short by a kill.
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.join("log.jsonl"))
            .unwrap()
            .write_all(b"{\"term\":1,\"writes\":[[\"d\",")
            .unwrap();
        let mut log = Log::open(&dir, Durability::Fsync).unwrap();
        assert_eq!(log.entries(), &[entry("a", 1), entry("b", 2), entry("c", 4)]);
        log.append(&[entry("e", 5)]).unwrap();
        drop(log);
        assert_eq!(Log::open(&dir, Durability::Fsync).unwrap().len(), 4);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn lazy_entries_reach_the_file_only_when_flushed() {
        let dir = std::env::temp_dir().join(format!("faultline-lazy-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut log = Log::open(&dir, Durability::Lazy).unwrap();
        log.append(&[entry("a", 1)]).unwrap();
        assert_eq!(Log::open(&dir, Durability::Lazy).unwrap().len(), 0);
        log.flush_lazy().unwrap();
        log.append(&[entry("a", 2)]).unwrap();
        assert_eq!(Log::open(&dir, Durability::Lazy).unwrap().len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
