//! Clock faults through libfaketime: every node faultline starts is preloaded with it and reads its offset
//! from a control file of its own on every call (`FAKETIME_NO_CACHE=1`), so the offset can change while
//! the node runs. Only wall-clock time moves (`FAKETIME_DONT_FAKE_MONOTONIC=1`): timeouts and the runner's
//! clocks are unaffected. libfaketime works by interposing libc: it cannot reach statically linked
//! binaries or Go binaries (which call the kernel directly), so such targets are refused, not pretended.

use std::path::{Path, PathBuf};

/// Where Debian's `libfaketime` package puts the library.
pub const LIBRARY_PATHS: [&str; 2] =
    ["/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1", "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1"];

pub fn library() -> Option<PathBuf> {
    LIBRARY_PATHS.iter().map(PathBuf::from).find(|p| p.exists())
}

/// The environment that puts a process under the control file `control`.
pub fn environment(library: &Path, control: &Path) -> Vec<(String, String)> {
    vec![
        ("LD_PRELOAD".into(), library.display().to_string()),
        ("FAKETIME_TIMESTAMP_FILE".into(), control.display().to_string()),
        ("FAKETIME_NO_CACHE".into(), "1".into()),
        ("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()),
    ]
}

/// Sets the offset a control file gives, in milliseconds (libfaketime's relative format, `+1.5` seconds).
pub fn set_offset(control: &Path, offset_ms: i64) -> std::io::Result<()> {
    let sign = if offset_ms < 0 { '-' } else { '+' };
    let ms = offset_ms.unsigned_abs();
    std::fs::write(control, format!("{sign}{}.{:03}\n", ms / 1000, ms % 1000))
}

/// Why libfaketime cannot move this program's clock, if it cannot: a static binary (no ELF interpreter)
/// or a Go binary. It reads the whole program: the lab asks once per node at start, never while a fault
/// is being applied.
pub fn unsupported(program: &Path) -> Option<String> {
    let bytes = match std::fs::read(program) {
        Ok(b) => b,
        Err(e) => return Some(format!("cannot read {}: {e}", program.display())),
    };
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" {
        return Some(format!("{} is not an ELF executable", program.display()));
    }
    if contains(&bytes, b"\xff Go buildinf:") || contains(&bytes, b"runtime.goexit") {
        return Some(format!(
            "{} is a Go binary: it reads the clock from the kernel, not libc, so libfaketime cannot move it",
            program.display()
        ));
    }
    if !has_interpreter(&bytes) {
        return Some(format!("{} is statically linked: libfaketime cannot be preloaded into it", program.display()));
    }
    None
}

/// A substring search fast enough for a 70 MB binary (a naive window scan took ~100 ms per needle).
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}

/// Whether a 64-bit little-endian ELF file has a PT_INTERP program header (is dynamically linked).
fn has_interpreter(elf: &[u8]) -> bool {
    let u16_at = |o: usize| elf.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize);
    let u64_at = |o: usize| elf.get(o..o + 8).map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as usize);
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38)) else {
        return false;
    };
    (0..phnum).any(|i| elf.get(phoff + i * phentsize..phoff + i * phentsize + 4) == Some(&3u32.to_le_bytes()[..]))
}

/// The wall clock a process under `control` sees, in ms since the epoch, minus the real one: runs `date`
/// with the same preload, which is the probe that the offset really applies.
pub fn observed_offset_ms(library: &Path, control: &Path) -> Option<i64> {
    let before = now_ms();
    let out = std::process::Command::new("date").arg("+%s%3N").envs(environment(library, control)).output().ok()?;
    let seen: i64 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    Some(seen - (before + now_ms()) / 2)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_dynamic_and_static_binaries() {
        assert_eq!(unsupported(Path::new("/bin/sh")), None);
        assert!(unsupported(Path::new("/etc/hostname")).unwrap().contains("not an ELF"));
    }

    #[test]
    fn the_offset_reaches_a_preloaded_process() {
        let Some(library) = library() else {
            eprintln!("skipping: libfaketime is not installed (Debian: faketime)");
            return;
        };
        let dir = std::env::temp_dir().join(format!("faultline-clock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let control = dir.join("n1");
        for offset in [0i64, 90_000, -45_500] {
            set_offset(&control, offset).unwrap();
            let seen = observed_offset_ms(&library, &control).unwrap();
            assert!((seen - offset).abs() < 1_000, "asked {offset} ms, saw {seen} ms");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
