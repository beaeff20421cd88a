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
/// or a Go binary (it has Go's sections). It reads the program's headers only, never searches the whole
/// file: the lab still asks once per node at start, not while a fault is being applied.
pub fn unsupported(program: &Path) -> Option<String> {
    let elf = match read_headers(program) {
        Ok(b) => b,
        Err(e) => return Some(format!("cannot read {}: {e}", program.display())),
    };
    if elf.ident.len() < 64 || &elf.ident[..4] != b"\x7fELF" {
        return Some(format!("{} is not an ELF executable", program.display()));
    }
    if elf.section_names.iter().any(|n| n == ".go.buildinfo" || n == ".gopclntab" || n == ".note.go.buildid") {
        return Some(format!(
            "{} is a Go binary: it reads the clock from the kernel, not libc, so libfaketime cannot move it",
            program.display()
        ));
    }
    if !elf.has_interpreter {
        return Some(format!("{} is statically linked: libfaketime cannot be preloaded into it", program.display()));
    }
    None
}

/// What [`unsupported`] needs of an ELF file: its identification, whether it names an interpreter
/// (PT_INTERP: dynamically linked), and its section names.
struct ElfHeaders {
    ident: Vec<u8>,
    has_interpreter: bool,
    section_names: Vec<String>,
}

/// Reads the ELF header, the program headers and the section names of a 64-bit little-endian file,
/// seeking to each instead of reading the whole (possibly 70 MB) program.
fn read_headers(program: &Path) -> std::io::Result<ElfHeaders> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(program)?;
    let mut at = |offset: u64, len: usize| -> std::io::Result<Vec<u8>> {
        let mut buf = vec![0u8; len];
        file.seek(SeekFrom::Start(offset))?;
        let mut filled = 0;
        while filled < len {
            match file.read(&mut buf[filled..])? {
                0 => break,
                n => filled += n,
            }
        }
        buf.truncate(filled);
        Ok(buf)
    };
    let ident = at(0, 64)?;
    let mut headers = ElfHeaders { ident: ident.clone(), has_interpreter: false, section_names: Vec::new() };
    if ident.len() < 64 || &ident[..4] != b"\x7fELF" {
        return Ok(headers);
    }
    let u16_in = |b: &[u8], o: usize| b.get(o..o + 2).map_or(0, |b| u16::from_le_bytes([b[0], b[1]]) as usize);
    let u32_in = |b: &[u8], o: usize| b.get(o..o + 4).map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let u64_in = |b: &[u8], o: usize| b.get(o..o + 8).map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])));
    let (phoff, phentsize, phnum) = (u64_in(&ident, 0x20), u16_in(&ident, 0x36), u16_in(&ident, 0x38));
    let program_headers = at(phoff, phentsize * phnum)?;
    headers.has_interpreter = (0..phnum).any(|i| u32_in(&program_headers, i * phentsize) == 3);
    let (shoff, shentsize, shnum, shstrndx) =
        (u64_in(&ident, 0x28), u16_in(&ident, 0x3a), u16_in(&ident, 0x3c), u16_in(&ident, 0x3e));
    if shoff == 0 || shnum == 0 || shstrndx >= shnum {
        return Ok(headers);
    }
    let sections = at(shoff, shentsize * shnum)?;
    let names_header = shstrndx * shentsize;
    let names = at(u64_in(&sections, names_header + 0x18), u64_in(&sections, names_header + 0x20) as usize)?;
    for i in 0..shnum {
        let start = u32_in(&sections, i * shentsize) as usize;
        if let Some(rest) = names.get(start..) {
            let end = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
            headers.section_names.push(String::from_utf8_lossy(&rest[..end]).into_owned());
        }
    }
    Ok(headers)
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
    fn recognises_dynamic_static_and_go_binaries() {
        assert_eq!(unsupported(Path::new("/bin/sh")), None);
        assert!(unsupported(Path::new("/etc/hostname")).unwrap().contains("not an ELF"));
        // This test's own binary names Go's sections in its code, and is no Go binary for it.
        assert_eq!(unsupported(&std::env::current_exe().unwrap()), None);
        match ["/usr/bin/etcd", "/usr/local/bin/etcd"].iter().find(|p| Path::new(p).exists()) {
            Some(etcd) => assert!(unsupported(Path::new(etcd)).unwrap().contains("Go binary")),
            None => eprintln!("skipping the Go binary: etcd is not installed"),
        }
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
