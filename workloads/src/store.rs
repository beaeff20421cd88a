//! A run's folder: `store/<test>/<timestamp>/`, holding `history.jsonl`, the effective configuration (so a
//! run can be repeated with the same seed) and, next to them, the results. `store/latest` points at the
//! newest run that ran: it moves only once a run is done ([`RunDir::mark_latest`]), so a run refused or
//! broken on the way never takes it.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

pub struct RunDir {
    pub path: PathBuf,
    store: PathBuf,
}

impl RunDir {
    /// The folder a run of `test` would get now, without creating anything (for checks made before).
    pub fn would_be(store: &Path, test: &str) -> io::Result<PathBuf> {
        check_name(test)?;
        Ok(store.join(test).join(timestamp(SystemTime::now())))
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

    pub fn history(&self) -> PathBuf {
        self.path.join("history.jsonl")
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

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
}
