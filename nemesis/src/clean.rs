//! What a killed run left on this machine, found and removed: `faultline lab clean`.

use crate::probe::process_alive;

/// The environment variable every lab node carries, naming its lab: how [`clean`] finds orphans.
pub const LAB_ENV: &str = "FAULTLINE_LAB";

/// Kills node processes a killed run left behind (found by their [`LAB_ENV`] variable naming a faultline
/// process that is gone), then unmounts its lazy filesystems and removes namespaces and links the same
/// way. Returns what it removed.
pub fn clean() -> Vec<String> {
    let mut removed = Vec::new();
    let me = std::process::id();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|p| p.parse::<u32>().ok()) else { continue };
            if pid == me {
                continue;
            }
            let Ok(environ) = std::fs::read(entry.path().join("environ")) else { continue };
            let prefix = format!("{LAB_ENV}=");
            let owner = environ.split(|b| *b == 0).find_map(|var| {
                let tag = std::str::from_utf8(var.strip_prefix(prefix.as_bytes())?).ok()?;
                tag.split('-').next()?.parse::<u32>().ok()
            });
            if owner.is_some_and(|owner| !process_alive(owner)) {
                // SAFETY: kill has no memory preconditions.
                unsafe {
                    libc::kill(pid as i32, libc::SIGCONT);
                    libc::kill(pid as i32, libc::SIGKILL);
                }
                removed.push(format!("process {pid}"));
            }
        }
    }
    // After the nodes that used them are dead.
    removed.extend(crate::lazyfs::clean());
    if crate::netns::unavailable().is_none() {
        removed.extend(crate::netns::clean());
    }
    removed.extend(crate::ssh::clean_control_dirs());
    removed
}
