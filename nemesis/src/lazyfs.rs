//! Power loss for any server, as Jepsen's LazyFS: a FUSE filesystem that faultline mounts over a node's
//! data directory. It passes everything through to the directory underneath, except file data: what a
//! program writes stays in this filesystem's memory (a page cache of its own, which reads see) until the
//! program makes it durable with fsync or fdatasync. [`LazyMount::crash`] drops every unsynced write, as
//! a power loss would; the `crash` fault kills the node first, then calls it.
//!
//! # Durability rules
//!
//! - **File data** (write, truncate, fallocate) is durable only once the file is fsynced or
//!   fdatasynced. Until then reads see it; a crash drops it, back to the file's last synced contents.
//!   Closing a file does not sync it.
//! - **Names and metadata** (create, mkdir, unlink, rmdir, rename, link, symlink, chmod, chown, times) are
//!   durable at once: they go straight to the directory underneath, like a journalling filesystem that
//!   commits metadata before it returns. Syncing a directory is therefore accepted and does nothing.
//! - So a rename moves the file's name durably, but not its unsynced data, which follows the file: a
//!   program that writes `tmp`, renames it over `data` and never fsyncs `tmp` finds `data` empty (or with
//!   `tmp`'s last synced contents) after a crash. This is the zero-length-file hazard of delayed
//!   allocation, and what LazyFS's data-only cache exposes too; a rule that also held names back until
//!   their directory was synced would find strictly more bugs, and is not what this filesystem does.
//!
//! The underlying directory is reached through a descriptor opened before the mount covers it
//! (`/proc/self/fd/N/...`), so the durable state stays in the data directory itself: after the run (or
//! `faultline lab clean`, which unmounts what a killed run left) the directory holds what a machine that
//! lost power at the end would hold.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{
    BsdFileFlags, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, LockOwner,
    MountOption, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry,
    ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow, WriteFlags,
};

/// The source name of every mount, as /proc/self/mountinfo shows it: `faultline-lazyfs-<pid>`, how
/// [`clean`] finds the mounts of a faultline that is gone.
pub const FS_NAME: &str = "faultline-lazyfs";

/// The unit of the cache: a write dirties the pages it touches.
const PAGE: u64 = 4096;

/// The kernel must ask again for every name and attribute: after a crash, sizes it cached would be wrong.
const TTL: Duration = Duration::ZERO;

/// Why a lazy mount cannot be made on this machine, if it cannot: faultline mounts FUSE itself, with
/// mount(2), which needs `/dev/fuse` and root.
pub fn unavailable() -> Option<String> {
    const WHAT: &str = "the crash fault mounts a FUSE filesystem over each data directory";
    if !Path::new("/dev/fuse").exists() {
        return Some(format!("{WHAT}, and there is no /dev/fuse (modprobe fuse, or give the container /dev/fuse)"));
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some(format!("{WHAT}, which needs root"));
    }
    if let Err(e) = OpenOptions::new().read(true).write(true).open("/dev/fuse") {
        return Some(format!("{WHAT}, and /dev/fuse cannot be opened: {e}"));
    }
    None
}

/// What a crash dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Files with unsynced writes or truncations.
    pub files: usize,
    /// Pages (4 KiB) of unsynced data.
    pub pages: usize,
}

/// A lazy filesystem mounted over a directory; dropping it unmounts it.
pub struct LazyMount {
    mountpoint: PathBuf,
    cache: Arc<Mutex<Cache>>,
    session: Option<fuser::BackgroundSession>,
}

impl LazyMount {
    /// Mounts over `dir` (created if missing), whose current contents become the durable state.
    pub fn mount(dir: &Path) -> Result<LazyMount, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mountpoint = dir.canonicalize().map_err(|e| format!("{}: {e}", dir.display()))?;
        // Opened before the mount hides it: the way to the durable state underneath.
        let backing = File::open(&mountpoint).map_err(|e| format!("{}: {e}", mountpoint.display()))?;
        let root = PathBuf::from(format!("/proc/self/fd/{}", backing.as_raw_fd()));
        let cache = Arc::new(Mutex::new(Cache::default()));
        let fs = LazyFs { backing, root, cache: cache.clone(), inner: Mutex::new(Inodes::new()) };
        let mut config = fuser::Config::default();
        config.mount_options = vec![
            MountOption::FSName(format!("{FS_NAME}-{}", std::process::id())),
            MountOption::RW,
            MountOption::NoAtime,
        ];
        // Nodes run as whoever runs faultline, possibly in their own network (and mount) namespace.
        config.acl = fuser::SessionACL::All;
        let session = fuser::spawn_mount(fs, &mountpoint, &config)
            .map_err(|e| format!("cannot mount the lazy filesystem over {}: {e}", mountpoint.display()))?;
        Ok(LazyMount { mountpoint, cache, session: Some(session) })
    }

    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// Files and pages written but not yet synced.
    pub fn unsynced(&self) -> Dropped {
        lock(&self.cache).unsynced()
    }

    /// Drops every unsynced write, as a power loss would. Call it once the programs writing here are dead:
    /// a request of theirs that the filesystem is still serving is answered first (a `stat` of the mount
    /// queues behind it), so nothing a dead program wrote lands after the crash.
    pub fn crash(&self) -> Dropped {
        let _ = std::fs::metadata(&self.mountpoint);
        lock(&self.cache).crash()
    }
}

impl Drop for LazyMount {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            if let Err(e) = session.umount_and_join() {
                eprintln!("faultline: unmounting the lazy filesystem over {}: {e}", self.mountpoint.display());
            }
        }
    }
}

/// Unmounts lazy filesystems that a faultline killed before it could unmount them left behind (their
/// source names a process that is gone, or a zombie). Their FUSE connections are aborted first: a program
/// still waiting on the dead filesystem (in the worst case a thread of the dead faultline itself, which
/// keeps it a zombie) gets an error instead of waiting for ever. Returns what it removed.
pub fn clean() -> Vec<String> {
    let Ok(mountinfo) = std::fs::read_to_string("/proc/self/mountinfo") else { return Vec::new() };
    let stale: Vec<StaleMount> = stale_mounts(&mountinfo).into_iter().filter(|m| !running(m.owner)).collect();
    if stale.is_empty() {
        return Vec::new();
    }
    let connections = Path::new("/sys/fs/fuse/connections");
    if connections.is_dir() && !mountinfo.contains(" fusectl ") {
        let (source, target, fstype) = (c"fusectl", c"/sys/fs/fuse/connections", c"fusectl");
        // SAFETY: valid C strings and no data; failing leaves the connections unaborted, no worse.
        unsafe { libc::mount(source.as_ptr(), target.as_ptr(), fstype.as_ptr(), 0, std::ptr::null()) };
    }
    let mut removed = Vec::new();
    for mount in stale {
        let _ = std::fs::write(connections.join(mount.device_minor.to_string()).join("abort"), "1");
        let Ok(path) = std::ffi::CString::new(mount.mountpoint.as_bytes()) else { continue };
        // SAFETY: a valid C string; a lazy detach, as the daemon that served the mount is gone.
        if unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) } == 0 {
            removed.push(format!("lazy filesystem over {}", mount.mountpoint));
        }
    }
    removed
}

/// Whether a process runs (exists and is not a zombie).
fn running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().next()) != Some("Z"),
        Err(_) => false,
    }
}

#[derive(Debug, PartialEq, Eq)]
struct StaleMount {
    mountpoint: String,
    /// The faultline that made it.
    owner: u32,
    /// Names the mount's FUSE connection in /sys/fs/fuse/connections.
    device_minor: u32,
}

/// Each lazy mount in a mountinfo table.
fn stale_mounts(mountinfo: &str) -> Vec<StaleMount> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let device_minor = fields.get(2)?.split_once(':')?.1.parse().ok()?;
            let mountpoint = unescape_mountinfo(fields.get(4)?);
            let dash = fields.iter().position(|f| *f == "-")?;
            let source = fields.get(dash + 2)?;
            let owner = source.strip_prefix(FS_NAME)?.strip_prefix('-')?.parse().ok()?;
            Some(StaleMount { mountpoint, owner, device_minor })
        })
        .collect()
}

/// mountinfo writes space, tab, newline and backslash as octal escapes (`\040`).
fn unescape_mountinfo(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 3 < bytes.len() && bytes[i + 1..i + 4].iter().all(|b| (b'0'..=b'7').contains(b)) {
            out.push((bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The unsynced state of one file.
#[derive(Debug)]
struct Dirty {
    /// The file's size as programs see it.
    size: u64,
    /// Bytes of the durable file at or past this offset are no longer the file's (a truncation cut them);
    /// never more than `size`.
    cut: u64,
    /// Whole pages holding the file's current bytes, zeros past `size`.
    pages: BTreeMap<u64, Box<[u8]>>,
    mtime: SystemTime,
}

/// Every file's unsynced data, by inode.
#[derive(Debug, Default)]
struct Cache {
    files: HashMap<u64, Dirty>,
}

impl Cache {
    /// The size programs see, if the file has unsynced changes.
    fn size(&self, ino: u64) -> Option<u64> {
        self.files.get(&ino).map(|d| d.size)
    }

    fn dirty(&mut self, ino: u64, durable: &File) -> io::Result<&mut Dirty> {
        Ok(match self.files.entry(ino) {
            std::collections::hash_map::Entry::Occupied(dirty) => dirty.into_mut(),
            std::collections::hash_map::Entry::Vacant(new) => {
                let len = durable.metadata()?.len();
                new.insert(Dirty { size: len, cut: len, pages: BTreeMap::new(), mtime: SystemTime::now() })
            }
        })
    }

    /// Reads what programs see: unsynced pages over the durable file.
    fn read(&self, ino: u64, durable: &File, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let Some(d) = self.files.get(&ino) else {
            let mut buf = vec![0; len];
            let n = read_full_at(durable, &mut buf, offset)?;
            buf.truncate(n);
            return Ok(buf);
        };
        let end = (offset + len as u64).min(d.size);
        let mut out = Vec::with_capacity(end.saturating_sub(offset) as usize);
        let mut at = offset;
        while at < end {
            let page = at / PAGE;
            let within = (at % PAGE) as usize;
            let take = ((PAGE - at % PAGE).min(end - at)) as usize;
            match d.pages.get(&page) {
                Some(bytes) => out.extend_from_slice(&bytes[within..within + take]),
                None => out.extend_from_slice(&durable_page(durable, page, d.cut)?[within..within + take]),
            }
            at += take as u64;
        }
        Ok(out)
    }

    fn write(&mut self, ino: u64, durable: &File, offset: u64, data: &[u8]) -> io::Result<()> {
        let d = self.dirty(ino, durable)?;
        let mut done = 0usize;
        while done < data.len() {
            let at = offset + done as u64;
            let (page, within) = (at / PAGE, (at % PAGE) as usize);
            let take = (PAGE as usize - within).min(data.len() - done);
            if !d.pages.contains_key(&page) {
                let loaded = durable_page(durable, page, d.cut)?;
                d.pages.insert(page, loaded);
            }
            d.pages.get_mut(&page).expect("loaded")[within..within + take].copy_from_slice(&data[done..done + take]);
            done += take;
        }
        d.size = d.size.max(offset + data.len() as u64);
        d.mtime = SystemTime::now();
        Ok(())
    }

    fn truncate(&mut self, ino: u64, durable: &File, size: u64) -> io::Result<()> {
        let d = self.dirty(ino, durable)?;
        if size < d.size {
            d.pages.retain(|page, _| page * PAGE < size);
            if let Some(last) = d.pages.get_mut(&(size / PAGE)) {
                last[(size % PAGE) as usize..].fill(0);
            }
            d.cut = d.cut.min(size);
        }
        // Growing needs nothing: past the old size, pages hold zeros and the durable file is cut.
        d.size = size;
        d.mtime = SystemTime::now();
        Ok(())
    }

    /// Makes the file's unsynced state durable: the durable file is cut, the pages written, the size set,
    /// and the file synced. On an error the state stays unsynced.
    fn sync(&mut self, ino: u64, durable: &File) -> io::Result<()> {
        let Some(d) = self.files.remove(&ino) else { return durable.sync_data() };
        let written = (|| {
            durable.set_len(d.cut)?;
            for (page, bytes) in &d.pages {
                let start = page * PAGE;
                let len = (d.size.saturating_sub(start)).min(PAGE) as usize;
                durable.write_all_at(&bytes[..len], start)?;
            }
            durable.set_len(d.size)?;
            durable.sync_all()
        })();
        if written.is_err() {
            self.files.insert(ino, d);
        }
        written
    }

    fn unsynced(&self) -> Dropped {
        Dropped { files: self.files.len(), pages: self.files.values().map(|d| d.pages.len()).sum() }
    }

    fn crash(&mut self) -> Dropped {
        let dropped = self.unsynced();
        self.files.clear();
        dropped
    }
}

/// Page `page` of the durable file as the file now has it: zeros at and past `cut`.
fn durable_page(durable: &File, page: u64, cut: u64) -> io::Result<Box<[u8]>> {
    let mut bytes = vec![0u8; PAGE as usize].into_boxed_slice();
    let start = page * PAGE;
    if start < cut {
        let want = (cut - start).min(PAGE) as usize;
        read_full_at(durable, &mut bytes[..want], start)?;
    }
    Ok(bytes)
}

/// Reads until `buf` is full or the file ends; how many bytes were read.
fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], offset + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// What the filesystem knows of a file: where it is underneath, relative to the data directory.
struct Node {
    path: PathBuf,
}

/// The filesystem's inode table, and its open files.
struct Inodes {
    nodes: HashMap<u64, Node>,
    /// Nodes by the underlying file's identity (device, inode), to find a node again by another name.
    by_real: HashMap<(u64, u64), u64>,
    next_ino: u64,
    handles: HashMap<u64, Handle>,
    next_fh: u64,
}

struct Handle {
    ino: u64,
    file: File,
    writable: bool,
}

impl Inodes {
    fn new() -> Inodes {
        let mut nodes = HashMap::new();
        nodes.insert(INodeNo::ROOT.0, Node { path: PathBuf::new() });
        Inodes { nodes, by_real: HashMap::new(), next_ino: 2, handles: HashMap::new(), next_fh: 1 }
    }

    fn path(&self, ino: INodeNo) -> Result<PathBuf, Errno> {
        self.nodes.get(&ino.0).map(|n| n.path.clone()).ok_or(Errno::ENOENT)
    }

    /// The inode of the file at `path` (relative), made known under that path.
    fn remember(&mut self, path: PathBuf, meta: &Metadata) -> u64 {
        let real = (meta.dev(), meta.ino());
        if let Some(&ino) = self.by_real.get(&real) {
            if let Some(node) = self.nodes.get_mut(&ino) {
                node.path = path;
                return ino;
            }
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        self.nodes.insert(ino, Node { path });
        self.by_real.insert(real, ino);
        ino
    }

    /// A file whose last name went away: a new file that gets its underlying inode number is another file.
    /// Returns the file's inode if no program has it open either: it is gone, and so is its unsynced data.
    fn forget_real(&mut self, meta: &Metadata) -> Option<u64> {
        if meta.nlink() > 1 && !meta.is_dir() {
            return None;
        }
        let ino = self.by_real.remove(&(meta.dev(), meta.ino()))?;
        (!self.handles.values().any(|h| h.ino == ino)).then_some(ino)
    }

    /// A rename: the node and, for a directory, everything under it, move.
    fn moved(&mut self, from: &Path, to: &Path) {
        for node in self.nodes.values_mut() {
            if let Ok(rest) = node.path.strip_prefix(from) {
                node.path = if rest.as_os_str().is_empty() { to.to_path_buf() } else { to.join(rest) };
            }
        }
    }
}

struct LazyFs {
    /// Keeps `root` valid.
    #[allow(dead_code)]
    backing: File,
    /// The data directory underneath the mount.
    root: PathBuf,
    cache: Arc<Mutex<Cache>>,
    inner: Mutex<Inodes>,
}

fn errno(e: io::Error) -> Errno {
    match e.raw_os_error() {
        Some(code) if code > 0 => Errno::from_i32(code),
        _ => Errno::EIO,
    }
}

fn file_type(meta: &Metadata) -> FileType {
    FileType::from_std(meta.file_type()).unwrap_or(FileType::RegularFile)
}

fn system_time(secs: i64, nanos: i64) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs as u64, nanos as u32)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    }
}

impl LazyFs {
    fn full(&self, rel: &Path) -> PathBuf {
        if rel.as_os_str().is_empty() {
            // `/proc/self/fd/N` itself is a symbolic link: `.` under it is the directory.
            self.root.join(".")
        } else {
            self.root.join(rel)
        }
    }

    /// The attributes programs see: the underlying file's, with the unsynced size and time.
    fn attr(&self, ino: u64, meta: &Metadata) -> FileAttr {
        let cache = lock(&self.cache);
        let dirty = cache.files.get(&ino);
        let size = dirty.map_or(meta.size(), |d| d.size);
        let mtime = dirty.map_or(system_time(meta.mtime(), meta.mtime_nsec()), |d| d.mtime);
        FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: size.div_ceil(512),
            atime: system_time(meta.atime(), meta.atime_nsec()),
            mtime,
            ctime: system_time(meta.ctime(), meta.ctime_nsec()),
            crtime: UNIX_EPOCH,
            kind: file_type(meta),
            perm: (meta.mode() & 0o7777) as u16,
            nlink: meta.nlink() as u32,
            uid: meta.uid(),
            gid: meta.gid(),
            rdev: meta.rdev() as u32,
            blksize: PAGE as u32,
            flags: 0,
        }
    }

    /// Looks up (or, after a create, finds) `name` in `parent`: its inode and attributes.
    fn entry(&self, parent: INodeNo, name: &OsStr) -> Result<FileAttr, Errno> {
        let mut inner = lock(&self.inner);
        let path = inner.path(parent)?.join(name);
        let meta = std::fs::symlink_metadata(self.full(&path)).map_err(errno)?;
        let ino = inner.remember(path, &meta);
        drop(inner);
        Ok(self.attr(ino, &meta))
    }

    fn getattr_of(&self, ino: INodeNo) -> Result<FileAttr, Errno> {
        let handle_meta = {
            let inner = lock(&self.inner);
            let by_handle = inner.handles.values().find(|h| h.ino == ino.0).map(|h| h.file.metadata());
            match by_handle {
                Some(meta) => meta.map_err(errno)?,
                None => std::fs::symlink_metadata(self.full(&inner.path(ino)?)).map_err(errno)?,
            }
        };
        Ok(self.attr(ino.0, &handle_meta))
    }

    /// A file of `ino` to read the durable state from or sync into: an open handle's, else opened by name.
    fn durable_file(&self, ino: INodeNo, fh: Option<FileHandle>, writable: bool) -> Result<File, Errno> {
        let inner = lock(&self.inner);
        let usable = |h: &&Handle| h.ino == ino.0 && (h.writable || !writable);
        let handle = fh.and_then(|fh| inner.handles.get(&fh.0)).filter(usable);
        if let Some(h) = handle.or_else(|| inner.handles.values().find(usable)) {
            return h.file.try_clone().map_err(errno);
        }
        let path = self.full(&inner.path(ino)?);
        drop(inner);
        OpenOptions::new().read(true).write(writable).open(path).map_err(errno)
    }

    fn open_handle(&self, ino: u64, path: &Path) -> Result<u64, Errno> {
        let (file, writable) = match OpenOptions::new().read(true).write(true).open(path) {
            Ok(f) => (f, true),
            Err(_) => (File::open(path).map_err(errno)?, false),
        };
        let mut inner = lock(&self.inner);
        let fh = inner.next_fh;
        inner.next_fh += 1;
        inner.handles.insert(fh, Handle { ino, file, writable });
        Ok(fh)
    }
}

impl Filesystem for LazyFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        match self.entry(parent, name) {
            Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.getattr_of(ino) {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let result = (|| {
            let path = self.full(&lock(&self.inner).path(ino)?);
            if let Some(mode) = mode {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).map_err(errno)?;
            }
            if uid.is_some() || gid.is_some() {
                std::os::unix::fs::lchown(&path, uid, gid).map_err(errno)?;
            }
            if let Some(size) = size {
                let durable = self.durable_file(ino, fh, false)?;
                lock(&self.cache).truncate(ino.0, &durable, size).map_err(errno)?;
            }
            if atime.is_some() || mtime.is_some() {
                let at = |t: TimeOrNow| match t {
                    TimeOrNow::SpecificTime(t) => t,
                    TimeOrNow::Now => SystemTime::now(),
                };
                let mut times = std::fs::FileTimes::new();
                if let Some(a) = atime {
                    times = times.set_accessed(at(a));
                }
                if let Some(m) = mtime {
                    times = times.set_modified(at(m));
                    if let Some(d) = lock(&self.cache).files.get_mut(&ino.0) {
                        d.mtime = at(m);
                    }
                }
                let file = File::open(&path).map_err(errno)?;
                file.set_times(times).map_err(errno)?;
            }
            self.getattr_of(ino)
        })();
        match result {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        let target = lock(&self.inner).path(ino).and_then(|p| std::fs::read_link(self.full(&p)).map_err(errno));
        match target {
            Ok(target) => reply.data(target.as_os_str().as_bytes()),
            Err(e) => reply.error(e),
        }
    }

    fn mkdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, mode: u32, umask: u32, reply: ReplyEntry) {
        let result = lock(&self.inner).path(parent).and_then(|p| {
            let path = self.full(&p.join(name));
            std::fs::create_dir(&path).map_err(errno)?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode & !umask & 0o7777)).map_err(errno)
        });
        match result.and_then(|()| self.entry(parent, name)) {
            Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let mut inner = lock(&self.inner);
        let result = inner.path(parent).and_then(|p| {
            let path = self.full(&p.join(name));
            let meta = std::fs::symlink_metadata(&path).map_err(errno)?;
            std::fs::remove_file(&path).map_err(errno)?;
            if let Some(gone) = inner.forget_real(&meta) {
                lock(&self.cache).files.remove(&gone);
            }
            Ok(())
        });
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let mut inner = lock(&self.inner);
        let result = inner.path(parent).and_then(|p| {
            let path = self.full(&p.join(name));
            let meta = std::fs::symlink_metadata(&path).map_err(errno)?;
            std::fs::remove_dir(&path).map_err(errno)?;
            let _ = inner.forget_real(&meta);
            Ok(())
        });
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn symlink(&self, _req: &Request, parent: INodeNo, link_name: &OsStr, target: &Path, reply: ReplyEntry) {
        let made = lock(&self.inner)
            .path(parent)
            .and_then(|p| std::os::unix::fs::symlink(target, self.full(&p.join(link_name))).map_err(errno));
        match made.and_then(|()| self.entry(parent, link_name)) {
            Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let mut inner = lock(&self.inner);
        let result = (|| {
            let (from, to) = (inner.path(parent)?.join(name), inner.path(newparent)?.join(newname));
            let (full_from, full_to) = (self.full(&from), self.full(&to));
            let replaced = std::fs::symlink_metadata(&full_to).ok();
            let (c_from, c_to) = (
                std::ffi::CString::new(full_from.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?,
                std::ffi::CString::new(full_to.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?,
            );
            // SAFETY: two valid C strings; renameat2 with AT_FDCWD reads nothing else.
            let done = unsafe {
                libc::renameat2(libc::AT_FDCWD, c_from.as_ptr(), libc::AT_FDCWD, c_to.as_ptr(), flags.bits())
            };
            if done != 0 {
                return Err(errno(io::Error::last_os_error()));
            }
            if flags.contains(RenameFlags::RENAME_EXCHANGE) {
                let swap = from.with_extension("faultline-lazyfs-swap");
                inner.moved(&from, &swap);
                inner.moved(&to, &from);
                inner.moved(&swap, &to);
            } else {
                if let Some(gone) = replaced.and_then(|replaced| inner.forget_real(&replaced)) {
                    lock(&self.cache).files.remove(&gone);
                }
                inner.moved(&from, &to);
            }
            Ok(())
        })();
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn link(&self, _req: &Request, ino: INodeNo, newparent: INodeNo, newname: &OsStr, reply: ReplyEntry) {
        let made = {
            let inner = lock(&self.inner);
            inner.path(ino).and_then(|from| {
                let to = inner.path(newparent)?.join(newname);
                std::fs::hard_link(self.full(&from), self.full(&to)).map_err(errno)
            })
        };
        match made.and_then(|()| self.entry(newparent, newname)) {
            Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let path = lock(&self.inner).path(ino);
        let opened = path.and_then(|p| self.open_handle(ino.0, &self.full(&p)));
        match opened {
            // No FOPEN_KEEP_CACHE: every open drops the kernel's cached pages, so a node restarted after a
            // crash reads what survived it.
            Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let data = self
            .durable_file(ino, Some(fh), false)
            .and_then(|file| lock(&self.cache).read(ino.0, &file, offset, size as usize).map_err(errno));
        match data {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let written = self
            .durable_file(ino, Some(fh), false)
            .and_then(|file| lock(&self.cache).write(ino.0, &file, offset, data).map_err(errno));
        match written {
            Ok(()) => reply.written(data.len() as u32),
            Err(e) => reply.error(e),
        }
    }

    fn flush(&self, _req: &Request, _ino: INodeNo, _fh: FileHandle, _lock_owner: LockOwner, reply: ReplyEmpty) {
        // close() is not a sync: the data stays unsynced.
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        lock(&self.inner).handles.remove(&fh.0);
        reply.ok();
    }

    fn fsync(&self, _req: &Request, ino: INodeNo, fh: FileHandle, _datasync: bool, reply: ReplyEmpty) {
        let synced =
            self.durable_file(ino, Some(fh), true).and_then(|file| lock(&self.cache).sync(ino.0, &file).map_err(errno));
        match synced {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn opendir(&self, _req: &Request, _ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        reply.opened(FileHandle(0), FopenFlags::empty());
    }

    fn readdir(&self, _req: &Request, ino: INodeNo, _fh: FileHandle, offset: u64, mut reply: ReplyDirectory) {
        let listed = (|| {
            let dir = lock(&self.inner).path(ino)?;
            let mut entries = vec![(ino.0, FileType::Directory, OsStr::new(".").to_os_string())];
            entries.push((ino.0, FileType::Directory, OsStr::new("..").to_os_string()));
            for entry in std::fs::read_dir(self.full(&dir)).map_err(errno)? {
                let entry = entry.map_err(errno)?;
                let Ok(meta) = entry.metadata() else { continue };
                let child = lock(&self.inner).remember(dir.join(entry.file_name()), &meta);
                entries.push((child, file_type(&meta), entry.file_name()));
            }
            Ok(entries)
        })();
        match listed {
            Ok(entries) => {
                for (i, (child, kind, name)) in entries.into_iter().enumerate().skip(offset as usize) {
                    if reply.add(INodeNo(child), i as u64 + 1, kind, name) {
                        break;
                    }
                }
                reply.ok();
            }
            Err(e) => reply.error(e),
        }
    }

    fn fsyncdir(&self, _req: &Request, _ino: INodeNo, _fh: FileHandle, _datasync: bool, reply: ReplyEmpty) {
        // Names are durable as soon as they change (see the module's rules).
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let path = std::ffi::CString::new(self.root.as_os_str().as_bytes()).expect("no NUL in /proc/self/fd/N");
        // SAFETY: statvfs fills the zeroed struct from a valid path.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::statvfs(path.as_ptr(), &mut st) } != 0 {
            return reply.error(errno(io::Error::last_os_error()));
        }
        reply.statfs(
            st.f_blocks,
            st.f_bfree,
            st.f_bavail,
            st.f_files,
            st.f_ffree,
            st.f_bsize as u32,
            st.f_namemax as u32,
            st.f_frsize as u32,
        );
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let made = lock(&self.inner).path(parent).and_then(|p| {
            let mut options = OpenOptions::new();
            options.write(true).mode(mode & !umask & 0o7777);
            if flags & libc::O_EXCL != 0 {
                options.create_new(true);
            } else {
                options.create(true);
            }
            options.open(self.full(&p.join(name))).map(drop).map_err(errno)
        });
        let created = made.and_then(|()| {
            let attr = self.entry(parent, name)?;
            let path = self.full(&lock(&self.inner).path(attr.ino)?);
            Ok((attr, self.open_handle(attr.ino.0, &path)?))
        });
        match created {
            Ok((attr, fh)) => reply.created(&TTL, &attr, Generation(0), FileHandle(fh), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn fallocate(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        // Plain preallocation grows the file (with zeros); punching holes and the like are not kept lazily.
        if mode != 0 {
            return reply.error(Errno::EOPNOTSUPP);
        }
        let grown = self.durable_file(ino, Some(fh), false).and_then(|file| {
            let mut cache = lock(&self.cache);
            let size = cache.size(ino.0).map_or_else(|| file.metadata().map(|m| m.len()), Ok).map_err(errno)?;
            if offset + length > size {
                cache.truncate(ino.0, &file, offset + length).map_err(errno)?;
            }
            Ok(())
        });
        match grown {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A fresh directory with a lazy mount over it, or `None` (said on stderr) where FUSE is unavailable;
    /// in CI, where it must be available, a failure.
    fn mounted(name: &str) -> Option<(PathBuf, LazyMount)> {
        if let Some(why) = unavailable() {
            assert!(std::env::var_os("CI").is_none(), "CI must be able to mount FUSE: {why}");
            eprintln!("SKIPPED: {why}");
            return None;
        }
        let dir = std::env::temp_dir().join(format!("faultline-lazyfs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mount = LazyMount::mount(&dir).unwrap();
        Some((dir, mount))
    }

    fn write_file(path: &Path, bytes: &[u8], sync: bool) {
        let mut f = File::create(path).unwrap();
        f.write_all(bytes).unwrap();
        if sync {
            f.sync_data().unwrap();
        }
    }

    fn append(path: &Path, bytes: &[u8], sync: bool) {
        let mut f = OpenOptions::new().append(true).open(path).unwrap();
        f.write_all(bytes).unwrap();
        if sync {
            f.sync_all().unwrap();
        }
    }

    #[test]
    fn an_unsynced_write_is_read_back_and_lost_at_a_crash() {
        let Some((dir, mount)) = mounted("unsynced") else { return };
        let log = dir.join("log");
        write_file(&log, b"first\n", false);
        assert_eq!(std::fs::read(&log).unwrap(), b"first\n", "reads see unsynced data");
        assert_eq!(std::fs::metadata(&log).unwrap().len(), 6);
        assert_eq!(mount.unsynced(), Dropped { files: 1, pages: 1 });
        assert_eq!(mount.crash(), Dropped { files: 1, pages: 1 });
        // A removed file's unsynced data goes with it: nothing of it is left to drop.
        write_file(&dir.join("scratch"), b"temporary", false);
        std::fs::remove_file(dir.join("scratch")).unwrap();
        assert_eq!(mount.unsynced(), Dropped::default());
        // The name was durable at once; the data was not.
        assert_eq!(std::fs::read(&log).unwrap(), b"");
        drop(mount);
        assert_eq!(std::fs::read(&log).unwrap(), b"", "underneath, the same after the unmount");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn what_was_fsynced_survives_and_only_that() {
        let Some((dir, mount)) = mounted("fsynced") else { return };
        let log = dir.join("log");
        write_file(&log, b"one\n", true);
        append(&log, b"two\n", true);
        append(&log, b"three\n", false);
        assert_eq!(std::fs::read(&log).unwrap(), b"one\ntwo\nthree\n");
        // Synced data is underneath already, before any crash.
        assert_eq!(mount.crash().files, 1);
        assert_eq!(std::fs::read(&log).unwrap(), b"one\ntwo\n");
        append(&log, b"four\n", true);
        assert_eq!(mount.crash(), Dropped::default());
        drop(mount);
        assert_eq!(std::fs::read(&log).unwrap(), b"one\ntwo\nfour\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_rename_is_durable_but_the_data_it_carries_is_not() {
        let Some((dir, mount)) = mounted("rename") else { return };
        let (tmp, data) = (dir.join("data.tmp"), dir.join("data"));
        write_file(&data, b"old", true);
        // Write a new version, rename it over the old one, never fsync it.
        write_file(&tmp, b"new", false);
        std::fs::rename(&tmp, &data).unwrap();
        assert_eq!(std::fs::read(&data).unwrap(), b"new");
        mount.crash();
        assert!(!tmp.exists(), "the rename survived");
        assert_eq!(std::fs::read(&data).unwrap(), b"", "its unsynced data did not: the old version is lost too");
        // The same with an fsync before the rename: the new version survives.
        write_file(&tmp, b"newer", true);
        std::fs::rename(&tmp, &data).unwrap();
        mount.crash();
        assert_eq!(std::fs::read(&data).unwrap(), b"newer");
        // Unsynced data follows its file across a rename, and a later fsync under the new name keeps it.
        write_file(&tmp, b"moved", false);
        std::fs::rename(&tmp, &data).unwrap();
        File::open(&data).unwrap().sync_all().unwrap();
        mount.crash();
        assert_eq!(std::fs::read(&data).unwrap(), b"moved");
        drop(mount);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unsynced_truncations_and_overwrites_are_undone_by_a_crash() {
        let Some((dir, mount)) = mounted("truncate") else { return };
        let file = dir.join("pages");
        // Three pages and a bit, synced.
        let durable: Vec<u8> = (0..3 * PAGE as usize + 100).map(|i| (i % 251) as u8).collect();
        write_file(&file, &durable, true);
        // Cut into the second page, grow again past the old end, overwrite a byte of the first page.
        let f = OpenOptions::new().write(true).open(&file).unwrap();
        f.set_len(PAGE + 10).unwrap();
        f.set_len(5 * PAGE).unwrap();
        f.write_all_at(b"X", 7).unwrap();
        drop(f);
        let seen = std::fs::read(&file).unwrap();
        assert_eq!(seen.len(), 5 * PAGE as usize);
        assert_eq!(seen[7], b'X');
        assert_eq!(&seen[8..PAGE as usize + 10], &durable[8..PAGE as usize + 10]);
        assert!(seen[PAGE as usize + 10..].iter().all(|b| *b == 0), "what a truncation cut reads as zeros");
        mount.crash();
        assert_eq!(std::fs::read(&file).unwrap(), durable, "the crash restores the synced contents");
        // Synced, the same changes are kept exactly.
        let f = OpenOptions::new().write(true).open(&file).unwrap();
        f.set_len(PAGE + 10).unwrap();
        f.set_len(2 * PAGE).unwrap();
        f.sync_data().unwrap();
        drop(f);
        mount.crash();
        let kept = std::fs::read(&file).unwrap();
        assert_eq!(&kept[..PAGE as usize + 10], &durable[..PAGE as usize + 10]);
        assert_eq!(kept.len(), 2 * PAGE as usize);
        assert!(kept[PAGE as usize + 10..].iter().all(|b| *b == 0));
        drop(mount);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn directories_and_listings_pass_through() {
        let Some((dir, mount)) = mounted("dirs") else { return };
        std::fs::create_dir_all(dir.join("a/b")).unwrap();
        write_file(&dir.join("a/b/f"), b"x", false);
        std::fs::rename(dir.join("a"), dir.join("c")).unwrap();
        assert_eq!(std::fs::read(dir.join("c/b/f")).unwrap(), b"x");
        let names: Vec<String> = std::fs::read_dir(dir.join("c/b"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec!["f"]);
        std::fs::remove_file(dir.join("c/b/f")).unwrap();
        std::fs::remove_dir(dir.join("c/b")).unwrap();
        assert!(!dir.join("c/b").exists());
        drop(mount);
        assert!(dir.join("c").is_dir(), "names are durable at once, underneath too");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn stale_mounts_are_found_by_their_source() {
        let table = "36 35 0:51 / /tmp/run\\040one/data/n1 rw,nosuid,nodev,relatime shared:1 - fuse.faultline-lazyfs \
                     faultline-lazyfs-4242 rw,user_id=0,group_id=0\n\
                     37 35 0:52 / /mnt rw - fuse.sshfs host:/ rw\n";
        let expected = StaleMount { mountpoint: "/tmp/run one/data/n1".into(), owner: 4242, device_minor: 51 };
        assert_eq!(stale_mounts(table), vec![expected]);
    }
}
