//! The one place that opens, maps, syncs, renames and locks files.
//!
//! Everything above this module works on byte slices, readers and writers; it never calls
//! `File::open`, `Mmap::map` or `fsync` itself. Keeping file system effects here makes the
//! commit protocol (docs/FORMAT.md) auditable in one file.
//!
//! Must not: know about segments, JSON or queries.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::error::{Error, IoContext, Result};

/// A read-only memory map of an immutable, published file.
pub struct MappedFile {
    path: PathBuf,
    map: Option<memmap2::Mmap>,
}

impl MappedFile {
    /// Map `path` read-only. An empty file maps to an empty slice.
    pub fn open(path: &Path) -> Result<MappedFile> {
        let file = File::open(path).at(path)?;
        let len = file.metadata().at(path)?.len();
        if len == 0 {
            return Ok(MappedFile {
                path: path.to_path_buf(),
                map: None,
            });
        }
        // SAFETY: logpivot maps only published segment files. The commit protocol never
        // modifies, truncates or overwrites a published file (a new segment gets a new name;
        // orphans are deleted only when they are not listed in the manifest, so no reader maps
        // them). The length and checksums are verified by the segment reader before any byte
        // is interpreted, so a file truncated before mapping is an error, not a SIGBUS. A file
        // truncated by another program *while* mapped is outside this contract.
        let map = unsafe { memmap2::Mmap::map(&file) }.at(path)?;
        Ok(MappedFile {
            path: path.to_path_buf(),
            map: Some(map),
        })
    }

    /// The mapped bytes.
    pub fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }

    /// The file this map was made from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Drop this process's resident pages of the mapping. They stay in the page cache and are
    /// faulted back in on the next access, so a query that scans many segments does not grow
    /// its RSS by the size of everything it has read.
    pub fn release_pages(&self) {
        if let Some(m) = &self.map {
            // SAFETY: the mapping is a read-only shared mapping of a file that is never modified
            // (see `open`). MADV_DONTNEED only removes this process's page-table entries; the
            // next access re-reads the same bytes from the page cache or the file, so no
            // reference into the map sees different data and nothing is lost.
            let _ = unsafe { m.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) };
        }
    }
}

/// Create a directory and its parents.
pub fn create_dir_all(path: &Path) -> Result<()> {
    fs::create_dir_all(path).at(path)
}

/// Read a whole (small) file.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).at(path)
}

/// Read a whole (small) file, gunzipping it when it is gzip-compressed (e.g. a rule map).
pub fn read_maybe_gzip(path: &Path) -> Result<Vec<u8>> {
    let raw = read_file(path)?;
    if Compression::detect(&raw) != Compression::Gzip {
        return Ok(raw);
    }
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(&raw[..])
        .read_to_end(&mut out)
        .at(path)?;
    Ok(out)
}

/// Does `path` exist?
pub fn exists(path: &Path) -> bool {
    path.exists()
}

/// Remove a file; a file that is already gone is not an error.
pub fn remove_file(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// The regular files directly inside `dir`, sorted by name.
pub fn list_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.at(dir)?;
        if entry.file_type().at(dir)?.is_file() {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

/// Walk `dir` recursively, returning files (not directories) in sorted order, hidden entries
/// (names starting with `.`) skipped.
pub fn walk_sorted(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut entries: Vec<PathBuf> = Vec::new();
    for entry in fs::read_dir(dir).at(dir)? {
        let entry = entry.at(dir)?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        entries.push(entry.path());
    }
    entries.sort();
    let mut out = Vec::new();
    for path in entries {
        if path.is_dir() {
            out.extend(walk_sorted(&path)?);
        } else {
            out.push(path);
        }
    }
    Ok(out)
}

/// Storage faults on purpose, for tests: `LOGPIVOT_FAULT=OP:N[:ERR]` makes the N-th `OP` of
/// the process fail with `ERR` (`ENOSPC`, the default, or `EIO`), as a full or failing disk
/// would. `OP` is `write` (a file's bytes written), `fsync` (a file or a directory synced) or
/// `rename`; `cut:N` instead kills the process right after its N-th fsync. Every durable write
/// of the library goes through this module, so a test can fail each step of the commit
/// protocol in turn (tests/crash.rs, tests/compact.rs).
pub mod fault {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;

    /// An operation that can be made to fail.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Op {
        Write = 0,
        Fsync = 1,
        Rename = 2,
        /// Not a failure: the process dies right after the N-th fsync has returned
        /// (`LOGPIVOT_FAULT=cut:N`), as at a power cut just after a durable point.
        Cut = 3,
    }

    fn spec() -> Option<(Op, u64, i32)> {
        static SPEC: OnceLock<Option<(Op, u64, i32)>> = OnceLock::new();
        *SPEC.get_or_init(|| {
            let v = std::env::var("LOGPIVOT_FAULT").ok()?;
            let mut parts = v.split(':');
            let op = match parts.next()? {
                "write" => Op::Write,
                "fsync" => Op::Fsync,
                "rename" => Op::Rename,
                "cut" => Op::Cut,
                _ => return None,
            };
            let n: u64 = parts.next()?.parse().ok()?;
            let errno = match parts.next().unwrap_or("ENOSPC") {
                "EIO" => libc::EIO,
                _ => libc::ENOSPC,
            };
            Some((op, n, errno))
        })
    }

    /// Count one `op`; the error to fail it with when it is the chosen one.
    pub(crate) fn check(op: Op) -> std::io::Result<()> {
        static COUNTS: [AtomicU64; 4] = [
            AtomicU64::new(0),
            AtomicU64::new(0),
            AtomicU64::new(0),
            AtomicU64::new(0),
        ];
        let Some((want, n, errno)) = spec() else {
            return Ok(());
        };
        if want == op && COUNTS[op as usize].fetch_add(1, Ordering::SeqCst) + 1 == n {
            if op == Op::Cut {
                eprintln!("logpivot: LOGPIVOT_FAULT cut after fsync {n}, aborting");
                std::process::abort();
            }
            return Err(std::io::Error::from_raw_os_error(errno));
        }
        Ok(())
    }
}

fn sync_file(f: &File, path: &Path) -> Result<()> {
    fault::check(fault::Op::Fsync).at(path)?;
    f.sync_all().at(path)?;
    fault::check(fault::Op::Cut).at(path)
}

/// fsync a directory so a rename or create inside it is durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    let f = File::open(dir).at(dir)?;
    sync_file(&f, dir)
}

/// Write `bytes` to a fresh file at `path` and fsync it (not the directory).
pub fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .at(path)?;
    fault::check(fault::Op::Write).at(path)?;
    f.write_all(bytes).at(path)?;
    sync_file(&f, path)
}

/// Rename `from` to `to` and fsync the directory of `to`.
pub fn rename_synced(from: &Path, to: &Path) -> Result<()> {
    fault::check(fault::Op::Rename).map_err(|e| Error::io(to, e))?;
    fs::rename(from, to).map_err(|e| Error::io(to, e))?;
    if let Some(dir) = to.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Replace `path` atomically with `bytes`: temp file in the same directory, fsync, rename,
/// fsync the directory. A crash leaves either the old content or the new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = tmp_sibling(path);
    write_synced(&tmp, bytes)?;
    rename_synced(&tmp, path)
}

fn tmp_sibling(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}.tmp", std::process::id()));
    path.with_file_name(name)
}

/// An exclusive advisory lock on a file, held until dropped. The holder's pid is written into
/// the file so a second process can say who holds it.
pub struct FileLock {
    _file: File,
    path: PathBuf,
}

impl FileLock {
    /// Take the lock, failing at once with [`Error::Locked`] when another process holds it, or
    /// blocking until it is free when `wait` is set.
    pub fn acquire(path: &Path, wait: bool) -> Result<FileLock> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .at(path)?;
        if wait {
            file.lock().at(path)?;
        } else {
            match file.try_lock() {
                Ok(()) => {}
                Err(fs::TryLockError::WouldBlock) => {
                    let holder = fs::read_to_string(path).unwrap_or_default();
                    return Err(Error::Locked {
                        path: path.to_path_buf(),
                        holder: holder.trim().to_string(),
                    });
                }
                Err(fs::TryLockError::Error(e)) => return Err(Error::io(path, e)),
            }
        }
        file.set_len(0).at(path)?;
        write!(file, "{}", std::process::id()).at(path)?;
        Ok(FileLock {
            _file: file,
            path: path.to_path_buf(),
        })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for FileLock {
    /// Unlock explicitly: closing the file is not enough when another thread of the process is
    /// starting a child, whose copy of the descriptor (until its exec closes it) would keep the
    /// lock held and make the next writer of this process fail as "locked".
    fn drop(&mut self) {
        let _ = self._file.unlock();
    }
}

/// The identity of the file at `path` (device and inode on Unix; None elsewhere or when it does
/// not exist): how a followed log is recognised after it was renamed.
pub fn file_id(path: &Path) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// A small file held under an exclusive advisory lock by its creator for as long as it lives
/// (a reader's lease, `store::lease`). It is written and locked under a temporary name and then
/// renamed into place, so whoever lists the directory never sees it unlocked while its holder
/// lives. Dropping it removes the file.
pub struct HeldFile {
    _file: File,
    path: PathBuf,
}

impl HeldFile {
    /// Create `path` holding `content`, locked.
    pub fn create(path: &Path, content: &[u8]) -> Result<HeldFile> {
        let tmp = tmp_sibling(path);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .at(&tmp)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(Error::io(
                    &tmp,
                    io::Error::new(io::ErrorKind::WouldBlock, "locked by another process"),
                ))
            }
            Err(fs::TryLockError::Error(e)) => return Err(Error::io(&tmp, e)),
        }
        file.write_all(content).at(&tmp)?;
        fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
        Ok(HeldFile {
            _file: file,
            path: path.to_path_buf(),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for HeldFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
        // As `FileLock`: a child being started may hold a copy of the descriptor.
        let _ = self._file.unlock();
    }
}

/// Is the file at `path` held (locked) by a live process? False when it can be locked (its
/// holder is gone) or no longer exists.
pub fn is_held(path: &Path) -> Result<bool> {
    let file = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io(path, e)),
    };
    match file.try_lock() {
        Ok(()) => Ok(false),
        Err(fs::TryLockError::WouldBlock) => Ok(true),
        Err(fs::TryLockError::Error(e)) => Err(Error::io(path, e)),
    }
}

/// How an input's bytes are compressed, detected from its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// Detect from magic bytes (gzip `1f 8b`, zstd `28 b5 2f fd`).
    pub fn detect(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// Counts the raw (compressed) bytes read from an input, for progress reporting.
struct CountingReader<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf).map_err(RawReadError::wrap)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// An error of the file (or pipe) itself, as opposed to one of a decompressor reading it: a
/// decompressor passes it through, so the reader can tell a failing disk from a broken stream.
#[derive(Debug)]
struct RawReadError(io::Error);

impl RawReadError {
    fn wrap(e: io::Error) -> io::Error {
        if e.kind() == io::ErrorKind::Interrupted {
            return e;
        }
        io::Error::new(e.kind(), RawReadError(e))
    }
}

impl std::fmt::Display for RawReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for RawReadError {}

/// Did `e` come from reading the raw file (not from decompressing it)?
pub fn is_raw_read_error(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|i| i.is::<RawReadError>())
}

/// An opened input: its decompressed byte stream and what is known about it.
pub struct InputReader {
    /// Decompressed bytes.
    pub reader: Box<dyn Read + Send>,
    pub compression: Compression,
    /// Raw size on disk, when known (not for stdin).
    pub raw_len: Option<u64>,
    /// Whether it is an uncompressed regular file (so `skip` was a seek).
    pub seekable: bool,
}

/// Size of the prefix hashed to fingerprint an input file.
pub const FINGERPRINT_PREFIX: usize = 64 * 1024;

/// Read the first [`FINGERPRINT_PREFIX`] raw bytes of `path` (fewer for a short file).
pub fn read_prefix(path: &Path) -> Result<Vec<u8>> {
    let f = File::open(path).at(path)?;
    let mut buf = Vec::with_capacity(FINGERPRINT_PREFIX);
    f.take(FINGERPRINT_PREFIX as u64)
        .read_to_end(&mut buf)
        .at(path)?;
    Ok(buf)
}

/// Open an input file (or stdin for `-`), detect compression from its magic bytes and return
/// a reader of its decompressed bytes that starts at decompressed offset `skip`. For a plain
/// file the skip is a seek; for a compressed one the prefix is decompressed and discarded.
pub fn open_input(path: &Path, skip: u64, raw_count: Arc<AtomicU64>) -> Result<InputReader> {
    if path == Path::new("-") {
        let stdin = io::stdin();
        let reader = CountingReader {
            inner: stdin,
            count: raw_count,
        };
        // Small enough that the reader's chunk-sized reads pass it by once the peeked head is
        // consumed (a BufReader copies only reads shorter than its capacity).
        let mut r = io::BufReader::with_capacity(64 << 10, reader);
        let head = r.fill_buf_peek().at(path)?;
        let compression = Compression::detect(&head);
        let reader: Box<dyn Read + Send> = decompress(Box::new(r), compression);
        return Ok(InputReader {
            reader,
            compression,
            raw_len: None,
            seekable: false,
        });
    }
    let mut file = File::open(path).at(path)?;
    let raw_len = file.metadata().at(path)?.len();
    let mut head = [0u8; 4];
    let n = read_full(&mut file, &mut head).at(path)?;
    let compression = Compression::detect(&head[..n]);
    use std::io::Seek;
    let start = if compression == Compression::None {
        skip
    } else {
        0
    };
    file.seek(io::SeekFrom::Start(start)).at(path)?;
    raw_count.fetch_add(start, Ordering::Relaxed);
    let counted = CountingReader {
        inner: file,
        count: raw_count,
    };
    // A plain file is read straight into the caller's chunk buffer (reads of about a MiB, so a
    // BufReader would only add a copy); a decompressor's small reads go through a buffer.
    let raw: Box<dyn Read + Send> = match compression {
        Compression::None => Box::new(counted),
        _ => Box::new(io::BufReader::with_capacity(1 << 20, counted)),
    };
    let mut reader = decompress(raw, compression);
    if compression != Compression::None && skip > 0 {
        let copied = io::copy(&mut (&mut reader).take(skip), &mut io::sink()).at(path)?;
        if copied < skip {
            return Err(Error::invalid(format!(
                "{}: the file is shorter ({copied} bytes decompressed) than the {skip} bytes already ingested from it",
                path.display()
            )));
        }
    }
    Ok(InputReader {
        reader,
        compression,
        raw_len: Some(raw_len),
        seekable: compression == Compression::None,
    })
}

fn decompress(inner: Box<dyn Read + Send>, c: Compression) -> Box<dyn Read + Send> {
    match c {
        Compression::None => inner,
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(inner)),
        Compression::Zstd => {
            match zstd::stream::read::Decoder::with_buffer(io::BufReader::new(ZstdErrShim {
                inner,
            })) {
                Ok(d) => Box::new(d),
                Err(e) => Box::new(FailingReader(Some(e))),
            }
        }
    }
}

struct ZstdErrShim {
    inner: Box<dyn Read + Send>,
}

impl Read for ZstdErrShim {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

struct FailingReader(Option<io::Error>);

impl Read for FailingReader {
    fn read(&mut self, _buf: &mut [u8]) -> io::Result<usize> {
        Err(self
            .0
            .take()
            .unwrap_or_else(|| io::Error::other("zstd decoder failed")))
    }
}

trait PeekExt {
    fn fill_buf_peek(&mut self) -> io::Result<Vec<u8>>;
}

impl<R: Read> PeekExt for io::BufReader<R> {
    fn fill_buf_peek(&mut self) -> io::Result<Vec<u8>> {
        use io::BufRead;
        let buf = self.fill_buf()?;
        Ok(buf[..buf.len().min(4)].to_vec())
    }
}

/// Read until `buf` is full or the reader ends; returns the bytes read.
pub fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    match read_full_partial(r, buf) {
        (n, None) => Ok(n),
        (_, Some(e)) => Err(e),
    }
}

/// Read until `buf` is full, the reader ends or fails; returns the bytes read and the error
/// that stopped it, if any (the bytes read before an error are kept).
pub fn read_full_partial(r: &mut dyn Read, buf: &mut [u8]) -> (usize, Option<io::Error>) {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (n, Some(e)),
        }
    }
    (n, None)
}

/// A writer for a new file that is fsynced when finished.
pub struct SyncedWriter {
    file: io::BufWriter<File>,
    path: PathBuf,
}

impl SyncedWriter {
    /// Create (truncate) `path`.
    pub fn create(path: &Path) -> Result<SyncedWriter> {
        let f = File::create(path).at(path)?;
        Ok(SyncedWriter {
            file: io::BufWriter::with_capacity(1 << 20, f),
            path: path.to_path_buf(),
        })
    }

    /// Append bytes.
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        fault::check(fault::Op::Write).at(&self.path)?;
        self.file.write_all(bytes).at(&self.path)
    }

    /// Flush and fsync.
    pub fn finish(self) -> Result<()> {
        let path = self.path;
        let f = self
            .file
            .into_inner()
            .map_err(|e| Error::io(&path, e.into_error()))?;
        sync_file(&f, &path)
    }
}

/// Create (or truncate) an output file, buffered.
pub fn create_output(path: &Path) -> Result<Box<dyn Write>> {
    let f = File::create(path).at(path)?;
    Ok(Box::new(io::BufWriter::with_capacity(1 << 16, f)))
}

/// Is stderr a terminal (for progress bars)?
pub fn stderr_is_terminal() -> bool {
    use std::io::IsTerminal;
    io::stderr().is_terminal()
}

/// Is stdout a terminal?
pub fn stdout_is_terminal() -> bool {
    use std::io::IsTerminal;
    io::stdout().is_terminal()
}

/// Size in bytes of a file.
pub fn file_len(path: &Path) -> Result<u64> {
    Ok(fs::metadata(path).at(path)?.len())
}

/// A private directory for one query's spill files, inside a user-chosen parent. Removed with
/// everything in it when dropped (success, error or panic unwinding); directories left by a
/// killed run are removed by the next [`SpillDir::create`] in the same parent.
pub struct SpillDir {
    dir: tempfile::TempDir,
}

/// Prefix of spill directories (followed by the owner's pid).
const SPILL_PREFIX: &str = "logpivot-spill-";

impl SpillDir {
    /// Create a spill directory under `parent`, first removing the leftovers of dead runs.
    /// Returns the directory and how many leftovers were removed.
    pub fn create(parent: &Path) -> Result<(SpillDir, usize)> {
        fs::create_dir_all(parent).map_err(|e| spill_err(parent, &e))?;
        let removed = remove_stale_spills(parent);
        let dir = tempfile::Builder::new()
            .prefix(&format!("{SPILL_PREFIX}{}-", std::process::id()))
            .tempdir_in(parent)
            .map_err(|e| spill_err(parent, &e))?;
        Ok((SpillDir { dir }, removed))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Create a spill file.
    pub fn create_file(&self, name: &str) -> Result<File> {
        let p = self.dir.path().join(name);
        File::create(&p).map_err(|e| spill_err(&p, &e))
    }

    /// Open a spill file for reading.
    pub fn open_file(&self, name: &str) -> Result<File> {
        let p = self.dir.path().join(name);
        File::open(&p).map_err(|e| spill_err(&p, &e))
    }
}

/// A spill I/O error as [`Error::Spill`], with advice.
pub fn spill_err(path: &Path, e: &io::Error) -> Error {
    let what = if e.raw_os_error() == Some(28) {
        "no space left on device; free space, point --spill-dir at a larger disk, or lower --max-spill to fail sooner".to_string()
    } else {
        e.to_string()
    };
    Error::Spill {
        path: path.to_path_buf(),
        what,
    }
}

fn remove_stale_spills(parent: &Path) -> usize {
    let Ok(entries) = fs::read_dir(parent) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(rest) = name.strip_prefix(SPILL_PREFIX) else {
            continue;
        };
        let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
        let alive = pid.is_some_and(|p| Path::new(&format!("/proc/{p}")).exists());
        if !alive && fs::remove_dir_all(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Hand the allocator's free memory back to the OS (glibc's `malloc_trim`, which also gives
/// back free pages inside its arenas, not only at their tops). For the end of a phase whose
/// memory is freed in the middle of what the next phase keeps: `score`'s counting pass left
/// about 320 MB resident at 10M events, on which its scan then grew to 475 MB. Elsewhere a
/// no-op.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointer; it trims the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}
