//! A run's folder and every path in it, named once: `store/<test>/<timestamp>/` holds `history.jsonl`, the
//! effective configuration (`config.json`, so a run can be repeated with the same seed), the results and
//! reports, and, for a cluster faultline started, each node's log (`nodes/NAME.log`) and data directory
//! (`data/NAME`). The harness writes these files, cluster specs render their paths, and `faultline serve`
//! reads them back: all through [`RunDir`], so that no crate spells a file of the run folder itself.
//!
//! `store/latest` points at the newest run that ran: it moves only once a run is done
//! ([`RunDir::mark_latest`]), so a run refused or broken on the way never takes it.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Clone, Debug)]
pub struct RunDir {
    pub path: PathBuf,
    store: PathBuf,
}

impl RunDir {
    /// The folder a run of `test` would get now, without creating anything (for checks made before).
    pub fn would_be(store: &Path, test: &str) -> io::Result<RunDir> {
        check_name(test)?;
        Ok(RunDir { path: store.join(test).join(timestamp(SystemTime::now())), store: store.to_path_buf() })
    }

    /// Creates a fresh run folder for `test` under `store`.
    pub fn create(store: &Path, test: &str) -> io::Result<RunDir> {
        check_name(test)?;
        let stamp = timestamp(SystemTime::now());
        let mut path = store.join(test).join(&stamp);
        // Two runs in the same second get distinct folders.
        let mut n = 1;
        while path.exists() {
            n += 1;
            path = store.join(test).join(format!("{stamp}-{n}"));
        }
        std::fs::create_dir_all(&path)?;
        Ok(RunDir { path, store: store.to_path_buf() })
    }

    /// The run folder at `path` (`store/<test>/<timestamp>`), as it is: nothing is created or checked.
    pub fn at(path: &Path) -> RunDir {
        let store = path.parent().and_then(Path::parent).unwrap_or(Path::new("")).to_path_buf();
        RunDir { path: path.to_path_buf(), store }
    }

    /// Points `store/latest` at this run: once it has run.
    pub fn mark_latest(&self) -> io::Result<()> {
        let latest = self.store.join("latest");
        let _ = std::fs::remove_file(&latest);
        #[cfg(unix)]
        {
            let target = self.path.strip_prefix(&self.store).unwrap_or(&self.path);
            std::os::unix::fs::symlink(target, &latest)?;
        }
        Ok(())
    }

    /// The folder's own name, the timestamp (`20261122T164501`, or `20261122T164501-2`).
    pub fn name(&self) -> String {
        self.path.file_name().map_or_else(String::new, |n| n.to_string_lossy().to_string())
    }

    /// Every event of the run, as it happened.
    pub fn history(&self) -> PathBuf {
        self.path.join("history.jsonl")
    }

    /// The run's effective configuration.
    pub fn config(&self) -> PathBuf {
        self.path.join("config.json")
    }

    /// The check's results, with the verdict `faultline serve` lists.
    pub fn results(&self) -> PathBuf {
        self.path.join("results.json")
    }

    /// The self-contained HTML report.
    pub fn report(&self) -> PathBuf {
        self.path.join(REPORT)
    }

    pub fn junit(&self) -> PathBuf {
        self.path.join("junit.xml")
    }

    /// The Markdown summary, for a CI job's page.
    pub fn summary(&self) -> PathBuf {
        self.path.join("summary.md")
    }

    /// The nodes' data directories, one per node.
    pub fn data(&self) -> PathBuf {
        self.path.join("data")
    }

    /// A node's data directory (a spec's `{data_dir}`).
    pub fn data_dir(&self, node: &str) -> PathBuf {
        self.data().join(node)
    }

    /// The nodes' logs, one per node.
    pub fn logs(&self) -> PathBuf {
        self.path.join(LOGS)
    }

    /// What a node wrote to stdout and stderr.
    pub fn node_log(&self, node: &str) -> PathBuf {
        self.logs().join(format!("{node}.log"))
    }

    /// The nodes' logs there are (`nodes/n1.log`, ...), relative to the run folder, in order.
    pub fn node_logs(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.logs()) else { return Vec::new() };
        let mut logs: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|name| name.ends_with(".log"))
            .map(|name| format!("{LOGS}/{name}"))
            .collect();
        logs.sort();
        logs
    }
}

/// The report's name inside a run folder (also the page `faultline serve` links to).
pub const REPORT: &str = "report.html";

/// The folder of the nodes' logs, inside a run folder.
const LOGS: &str = "nodes";

fn check_name(test: &str) -> io::Result<()> {
    if test.is_empty() || test.contains(['/', '\\']) || test.starts_with('.') {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{test:?} cannot name a test folder")));
    }
    Ok(())
}

/// `20261122T164501`, in UTC: sortable, and safe in a path.
pub fn timestamp(at: SystemTime) -> String {
    let secs = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}{month:02}{day:02}T{:02}{:02}{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_utc_calendar_times() {
        assert_eq!(timestamp(UNIX_EPOCH), "19700101T000000");
        assert_eq!(timestamp(UNIX_EPOCH + Duration::from_secs(951_782_400)), "20000229T000000");
        assert_eq!(timestamp(UNIX_EPOCH + Duration::from_secs(1_795_365_901)), "20261122T164501");
    }

    #[test]
    fn runs_get_fresh_folders_and_latest_follows() {
        let store = std::env::temp_dir().join(format!("faultline-store-{}", std::process::id()));
        let a = RunDir::create(&store, "register").unwrap();
        a.mark_latest().unwrap();
        let b = RunDir::create(&store, "register").unwrap();
        assert_ne!(a.path, b.path);
        assert_eq!(std::fs::canonicalize(store.join("latest")).unwrap(), std::fs::canonicalize(&a.path).unwrap());
        b.mark_latest().unwrap();
        assert_eq!(std::fs::canonicalize(store.join("latest")).unwrap(), std::fs::canonicalize(&b.path).unwrap());
        assert!(RunDir::create(&store, "../escape").is_err());
        std::fs::remove_dir_all(&store).unwrap();
    }

    #[test]
    fn a_run_folder_names_its_files_and_finds_its_store() {
        let run = RunDir::at(Path::new("/s/register/20261122T164501-2"));
        assert_eq!(run.name(), "20261122T164501-2");
        assert_eq!(run.history(), Path::new("/s/register/20261122T164501-2/history.jsonl"));
        assert_eq!(run.data_dir("n2"), Path::new("/s/register/20261122T164501-2/data/n2"));
        assert_eq!(run.node_log("n2"), Path::new("/s/register/20261122T164501-2/nodes/n2.log"));
        assert_eq!(run.store, Path::new("/s"));
        let would_be = RunDir::would_be(Path::new("/s"), "register").unwrap();
        assert!(!would_be.path.exists() && would_be.path.starts_with("/s/register"));
    }

    #[test]
    fn node_logs_are_listed_relative_to_the_run_folder() {
        let store = std::env::temp_dir().join(format!("faultline-store-logs-{}", std::process::id()));
        let run = RunDir::create(&store, "register").unwrap();
        assert!(run.node_logs().is_empty(), "no logs folder: no logs");
        std::fs::create_dir_all(run.logs()).unwrap();
        for name in ["n2.log", "n1.log", "notes.txt"] {
            std::fs::write(run.logs().join(name), "").unwrap();
        }
        assert_eq!(run.node_logs(), ["nodes/n1.log", "nodes/n2.log"]);
        std::fs::remove_dir_all(&store).unwrap();
    }
}
