//! Reads a mapped segment: validates it on open and decodes blocks, dictionaries and index
//! blobs on demand.
//!
//! Validation on open: length, header and trailer magic, format version, metadata checksum,
//! that every region lies inside the data area, and that block row counts add up. Each region's
//! crc32 is checked when the region is read, so a flipped bit anywhere is an
//! [`Error::Corrupt`] naming the file and offset, never a panic.
//!
//! Must not: open files itself (it is handed a [`MappedFile`] by the store).

use std::borrow::Cow;
use std::cell::RefCell;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use roaring::RoaringBitmap;

use crate::codec::strings::StrDict;
use crate::error::{Error, Result};
use crate::index;
use crate::io::MappedFile;

use super::block::{decode_block, decode_plain_block};
pub use super::block::{Block, Values};
use super::footer::{decode_meta, decode_trailer, IndexMeta, Region, SegmentMeta, TRAILER_LEN};
use super::{BlockCompression, FORMAT_VERSION, HEADER_MAGIC, MIN_FORMAT_VERSION, TRAILER_MAGIC};

/// A validated, mapped segment.
pub struct SegmentReader {
    file: MappedFile,
    meta: SegmentMeta,
    data_end: u64,
    /// Plain string columns decoded so far, by column index (dropped by `release_pages`).
    plain: Mutex<Vec<(usize, Arc<PlainColumn>)>>,
    /// Index directories parsed so far (format v2 and later), by the offset of their region:
    /// a handle kept open across queries (the Python module's `Store`) verifies, decompresses
    /// and parses each once. Small (keys, offsets and row ranges); kept across
    /// `release_pages`.
    dirs: Mutex<Vec<(u64, Arc<index::Directory>)>>,
    /// Bytes of the mapping read through [`SegmentReader::region`] since the last release.
    read_since_release: AtomicU64,
    /// Decoded dictionaries and index chunks kept for later queries on this handle, by
    /// region offset (see [`set_kept_budget`]).
    kept: Mutex<Vec<(u64, Arc<Vec<u8>>)>>,
    /// String dictionaries parsed so far and kept (by column), under the same budget.
    dicts: Mutex<Vec<(usize, Arc<Dictionary>)>>,
}

/// How many bytes of decoded regions (string dictionaries, index chunks) all open segments of
/// the process may keep between queries ([`set_kept_budget`]; 0, the default, keeps none).
/// A handle kept open (the Python module's `Store`, which sets [`KEPT_BYTES_DEFAULT`]) then
/// checksums and decompresses a filter's dictionary and index chunk once, not at every
/// query; once the budget is taken, further regions are decoded per use. Kept bytes are
/// freed when their segment is dropped (a `refresh` that drops it, or the handle). A
/// one-shot process (the CLI) reads each region about once and keeps nothing.
static KEPT_BUDGET: AtomicU64 = AtomicU64::new(0);
static KEPT_BYTES: AtomicU64 = AtomicU64::new(0);
/// The budget a long-lived handle sets: 64 MiB.
pub const KEPT_BYTES_DEFAULT: u64 = 64 << 20;
/// The largest region kept: 4 MiB.
pub const KEPT_REGION_MAX: u64 = 4 << 20;

/// Set the process's budget for decoded regions kept between queries (see
/// [`SegmentReader::region_kept`]); 0 keeps none. Regions already kept stay until their
/// segment is dropped.
pub fn set_kept_budget(bytes: u64) {
    KEPT_BUDGET.store(bytes, Ordering::Relaxed);
}

/// Bytes of decoded regions and dictionaries all open segments of the process keep.
pub fn kept_bytes() -> u64 {
    KEPT_BYTES.load(Ordering::Relaxed)
}

/// Caps on the kept bytes of the queries running now (see [`KeptCap`]).
static KEPT_CAPS: Mutex<Vec<u64>> = Mutex::new(Vec::new());

/// While it lives, segments keep no more than `cap` bytes in all (what they keep already
/// is not dropped by it: see [`SegmentReader::release_kept`]). A query with a small memory
/// limit holds one, so the regions it reads do not fill the process's budget for kept
/// regions behind its back.
pub struct KeptCap(u64);

impl KeptCap {
    pub fn new(cap: u64) -> KeptCap {
        if let Ok(mut caps) = KEPT_CAPS.lock() {
            caps.push(cap);
        }
        KeptCap(cap)
    }
}

impl Drop for KeptCap {
    fn drop(&mut self) {
        if let Ok(mut caps) = KEPT_CAPS.lock() {
            if let Some(i) = caps.iter().position(|&c| c == self.0) {
                caps.swap_remove(i);
            }
        }
    }
}

/// The process's budget for kept bytes now: the set budget, under every running cap.
fn kept_budget() -> u64 {
    let budget = KEPT_BUDGET.load(Ordering::Relaxed);
    match KEPT_CAPS.lock() {
        Ok(caps) => caps.iter().fold(budget, |b, &c| b.min(c)),
        Err(_) => budget,
    }
}

/// What a segment keeps of `key`, if anything.
fn kept_get<K: PartialEq, V>(kept: &Mutex<Vec<(K, Arc<V>)>>, key: &K) -> Option<Arc<V>> {
    let kept = kept.lock().ok()?;
    kept.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

/// Keep `value` under `key` unless something is kept there already (another thread was
/// first) or the lock is poisoned; whether it was stored.
fn kept_put<K: PartialEq, V>(kept: &Mutex<Vec<(K, Arc<V>)>>, key: K, value: &Arc<V>) -> bool {
    match kept.lock() {
        Ok(mut k) if !k.iter().any(|(x, _)| *x == key) => {
            k.push((key, value.clone()));
            true
        }
        _ => false,
    }
}

/// Region bytes: decoded for this use, or kept by the segment.
pub enum RegionBytes<'a> {
    /// Borrowed from the mapping or decoded for this use.
    Fresh(Cow<'a, [u8]>),
    /// Kept by the segment for later uses.
    Kept(Arc<Vec<u8>>),
}

impl std::ops::Deref for RegionBytes<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            RegionBytes::Fresh(c) => c,
            RegionBytes::Kept(a) => a,
        }
    }
}

impl Drop for SegmentReader {
    fn drop(&mut self) {
        let kept: u64 = self
            .kept
            .get_mut()
            .map(|k| k.iter().map(|(_, b)| b.len() as u64).sum())
            .unwrap_or(0)
            + self
                .dicts
                .get_mut()
                .map(|k| k.iter().map(|(_, d)| d.heap_bytes()).sum())
                .unwrap_or(0);
        KEPT_BYTES.fetch_sub(kept, Ordering::Relaxed);
    }
}

/// [`SegmentReader::release_read_pages`] releases a segment's pages once this many bytes of
/// it were read since the last release: a scan that decodes columns drops what it read, a
/// query answered from an index (a directory and a chunk, some kilobytes) keeps its few
/// pages for the next query on the same handle instead of paying an madvise (and the TLB
/// shootdown it sends every core) and the page faults again.
pub const RELEASE_AFTER_BYTES: u64 = 256 << 10;

/// A plain string column (format v3) decoded whole and dictionary-encoded on first use, so that
/// `dictionary` and `block` answer for it exactly as for a dictionary-encoded column.
struct PlainColumn {
    dict: Dictionary,
    /// The code of every row (0 for a null row).
    codes: Vec<u32>,
    /// Each block's validity.
    validity: Vec<Option<Vec<bool>>>,
}

/// An owned, sorted string dictionary of one column.
#[derive(Clone, Debug, Default)]
pub struct Dictionary {
    data: Vec<u8>,
    ends: Vec<usize>,
}

impl Dictionary {
    /// Bytes it holds on the heap.
    pub fn heap_bytes(&self) -> u64 {
        (self.data.capacity() + self.ends.capacity() * std::mem::size_of::<usize>()) as u64
    }

    fn from_strdict(d: &StrDict<'_>) -> Dictionary {
        let mut data = Vec::with_capacity(d.data_len());
        let mut ends = Vec::with_capacity(d.len());
        for s in d.iter() {
            data.extend_from_slice(s);
            ends.push(data.len());
        }
        Dictionary { data, ends }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when the dictionary is empty.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Entry `code` as bytes.
    pub fn get(&self, code: u32) -> Option<&[u8]> {
        let i = code as usize;
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.data.get(start..end)
    }

    /// Entry `code` as text (lossy only if the file was written with non-UTF-8 bytes).
    pub fn get_str(&self, code: u32) -> Cow<'_, str> {
        String::from_utf8_lossy(self.get(code).unwrap_or(b""))
    }

    /// The code of `key`, if present (the dictionary is sorted bytewise).
    pub fn find(&self, key: &[u8]) -> Option<u32> {
        let (mut lo, mut hi) = (0usize, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.get(mid as u32).unwrap_or(b"").cmp(key) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid as u32),
            }
        }
        None
    }

    /// Every entry as text, validated once: (the entries concatenated, the end of each).
    /// An entry is `text.get(start..end)`, which is valid when every entry is UTF-8.
    pub fn text(&self) -> std::result::Result<(&str, &[usize]), std::str::Utf8Error> {
        Ok((std::str::from_utf8(&self.data)?, &self.ends))
    }

    /// Iterate entries in code order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        (0..self.len() as u32).map(|c| self.get(c).unwrap_or(b""))
    }
}

impl SegmentReader {
    /// Validate a mapped segment file.
    pub fn new(file: MappedFile) -> Result<SegmentReader> {
        let bytes = file.bytes();
        let path = file.path();
        let len = bytes.len();
        let min = HEADER_MAGIC.len() + TRAILER_LEN;
        if len < min {
            return Err(Error::corrupt(path, len as u64, format!("file is {len} bytes, shorter than the smallest segment ({min} bytes): truncated")));
        }
        if &bytes[..8] != HEADER_MAGIC {
            return Err(Error::corrupt(
                path,
                0,
                "not a logpivot segment (bad header magic)",
            ));
        }
        let tpos = len - TRAILER_LEN;
        let trailer = &bytes[tpos..];
        if &trailer[16..24] != TRAILER_MAGIC {
            return Err(Error::corrupt(
                path,
                tpos as u64 + 16,
                "bad trailer magic: the file is truncated or was not fully written",
            ));
        }
        let t = decode_trailer(trailer).map_err(|e| Error::decode(path, tpos as u64, e))?;
        if !(MIN_FORMAT_VERSION..=FORMAT_VERSION).contains(&t.version) {
            return Err(Error::Version {
                path: path.to_path_buf(),
                found: t.version,
                supported: FORMAT_VERSION,
            });
        }
        if t.meta_len > (tpos - 8) as u64 {
            return Err(Error::corrupt(
                path,
                tpos as u64,
                "metadata length exceeds the file",
            ));
        }
        let mstart = tpos - t.meta_len as usize;
        let mbytes = &bytes[mstart..tpos];
        if super::footer::meta_crc(mbytes, t.version) != t.meta_crc {
            return Err(Error::corrupt(
                path,
                mstart as u64,
                "metadata checksum mismatch",
            ));
        }
        let meta =
            decode_meta(mbytes, t.version).map_err(|e| Error::decode(path, mstart as u64, e))?;
        let reader = SegmentReader {
            meta,
            data_end: mstart as u64,
            file,
            plain: Mutex::new(Vec::new()),
            dirs: Mutex::new(Vec::new()),
            read_since_release: AtomicU64::new(0),
            kept: Mutex::new(Vec::new()),
            dicts: Mutex::new(Vec::new()),
        };
        if let Some(c) = reader
            .meta
            .columns
            .iter()
            .find(|c| c.flags & super::flags::PLAIN != 0)
        {
            if t.version < 3 || c.ty != super::ColumnType::Str || c.dict.is_some() {
                return Err(Error::corrupt(
                    reader.path(),
                    mstart as u64,
                    format!(
                        "column `{}` is marked plain, which format v{} does not allow for a {} column{}",
                        c.name,
                        t.version,
                        c.ty.name(),
                        if c.dict.is_some() { " with a dictionary" } else { "" }
                    ),
                ));
            }
        }
        reader.check_layout()?;
        Ok(reader)
    }

    fn check_layout(&self) -> Result<()> {
        let path = self.file.path();
        let mut prev: Option<&str> = None;
        for c in &self.meta.columns {
            if prev.is_some_and(|p| p >= c.name.as_str()) {
                return Err(Error::corrupt(
                    path,
                    self.data_end,
                    "column directory not sorted",
                ));
            }
            prev = Some(&c.name);
            if let Some(b) = c
                .blocks
                .iter()
                .find(|b| b.rows as usize > super::BLOCK_ROWS)
            {
                return Err(Error::corrupt(
                    path,
                    b.region.offset,
                    format!(
                        "block of column `{}` claims {} rows (at most {} allowed)",
                        c.name,
                        b.rows,
                        super::BLOCK_ROWS
                    ),
                ));
            }
            let rows: u64 = c.blocks.iter().map(|b| b.rows as u64).sum();
            if rows != self.meta.rows {
                return Err(Error::corrupt(
                    path,
                    self.data_end,
                    format!(
                        "column `{}` has {rows} rows, segment has {}",
                        c.name, self.meta.rows
                    ),
                ));
            }
            for r in c.blocks.iter().map(|b| &b.region).chain(c.dict.iter()) {
                self.check_region(r)?;
            }
        }
        for i in &self.meta.indexes {
            self.check_region(&i.region)?;
            for c in &i.chunks {
                self.check_region(&c.region)?;
            }
            if i.chunks.windows(2).any(|w| w[0].first >= w[1].first)
                || i.chunks.first().is_some_and(|c| c.first != 0)
            {
                return Err(Error::corrupt(
                    path,
                    i.region.offset,
                    format!("index chunks of `{}` out of order", i.column),
                ));
            }
        }
        Ok(())
    }

    fn check_region(&self, r: &Region) -> Result<()> {
        let end = r.offset.checked_add(r.len);
        if r.offset < 8 || end.is_none_or(|e| e > self.data_end) {
            return Err(Error::corrupt(
                self.file.path(),
                r.offset,
                "region outside the data area",
            ));
        }
        Ok(())
    }

    /// The segment's metadata.
    pub fn meta(&self) -> &SegmentMeta {
        &self.meta
    }

    /// The segment file.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Release this process's resident pages of the mapping (after a scan of this segment,
    /// or after opening it). Besides keeping RSS flat, it is faster on the whole: a worker
    /// unmaps a segment's pages while the others scan, instead of the process tearing every
    /// mapping down serially at exit (measured: the single-rule query at 10M events, 9.9 ms
    /// with the release, 12.0 without).
    pub fn release_pages(&self) {
        self.read_since_release.store(0, Ordering::Relaxed);
        self.file.release_pages();
        if let Ok(mut p) = self.plain.lock() {
            p.clear();
        }
    }

    /// [`SegmentReader::release_pages`] when at least [`RELEASE_AFTER_BYTES`] were read since
    /// the last release or a plain column was decoded (what a scan worker calls after each
    /// segment).
    pub fn release_read_pages(&self) {
        let plain = self.plain.lock().map(|p| !p.is_empty()).unwrap_or(true);
        if plain || self.read_since_release.load(Ordering::Relaxed) >= RELEASE_AFTER_BYTES {
            self.release_pages();
        }
    }

    /// Size of the file in bytes.
    pub fn file_len(&self) -> u64 {
        self.file.bytes().len() as u64
    }

    /// Drop the regions and dictionaries this segment keeps between queries, giving their
    /// bytes back to the process's budget (they are freed once no running query holds them).
    pub fn release_kept(&self) {
        let mut freed = 0u64;
        if let Ok(mut k) = self.kept.lock() {
            freed += k.drain(..).map(|(_, b)| b.len() as u64).sum::<u64>();
        }
        if let Ok(mut d) = self.dicts.lock() {
            freed += d.drain(..).map(|(_, d)| d.heap_bytes()).sum::<u64>();
        }
        KEPT_BYTES.fetch_sub(freed, Ordering::Relaxed);
    }

    /// [`SegmentReader::region`], kept for later calls while the process's budget
    /// ([`set_kept_budget`]) allows: for dictionaries and index chunks, which every query that
    /// filters on a column reads again.
    pub fn region_kept(&self, r: &Region) -> Result<RegionBytes<'_>> {
        if let Some(b) = kept_get(&self.kept, &r.offset) {
            return Ok(RegionBytes::Kept(b));
        }
        let bytes = self.region(r)?;
        let len = bytes.len() as u64;
        if !Self::take_budget(len) {
            return Ok(RegionBytes::Fresh(bytes));
        }
        let kept = Arc::new(bytes.into_owned());
        if !kept_put(&self.kept, r.offset, &kept) {
            KEPT_BYTES.fetch_sub(len, Ordering::Relaxed);
        }
        Ok(RegionBytes::Kept(kept))
    }

    /// Take `len` bytes of the process's budget for kept regions, if it allows.
    fn take_budget(len: u64) -> bool {
        let budget = kept_budget();
        len <= KEPT_REGION_MAX
            && KEPT_BYTES
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                    (t + len <= budget).then_some(t + len)
                })
                .is_ok()
    }

    /// The bytes of a region, checksum-verified and decompressed.
    pub fn region(&self, r: &Region) -> Result<Cow<'_, [u8]>> {
        let path = self.file.path();
        let stored = self
            .file
            .bytes()
            .get(r.offset as usize..(r.offset + r.len) as usize)
            .ok_or_else(|| Error::corrupt(path, r.offset, "region outside the file"))?;
        self.read_since_release
            .fetch_add(stored.len() as u64, Ordering::Relaxed);
        if crc32fast::hash(stored) != r.crc {
            return Err(Error::corrupt(
                path,
                r.offset,
                format!("checksum mismatch in a {}-byte region", r.len),
            ));
        }
        match BlockCompression::try_from(r.compression) {
            Ok(BlockCompression::None) => Ok(Cow::Borrowed(stored)),
            Ok(BlockCompression::Zstd) => {
                if r.raw_len > 1 << 34 {
                    return Err(Error::corrupt(
                        path,
                        r.offset,
                        "implausible decompressed size",
                    ));
                }
                let raw = crate::codec::zst::decompress(stored, r.raw_len as usize)
                    .map_err(|e| Error::corrupt(path, r.offset, format!("zstd: {e}")))?;
                if raw.len() as u64 != r.raw_len {
                    return Err(Error::corrupt(
                        path,
                        r.offset,
                        "decompressed size differs from the directory",
                    ));
                }
                Ok(Cow::Owned(raw))
            }
            Err(id) => Err(Error::corrupt(
                path,
                r.offset,
                format!("unknown compression {id}"),
            )),
        }
    }

    /// Decode block `block` of column `col`. A plain string column's block comes back as
    /// codes into the dictionary [`SegmentReader::dictionary`] returns for it.
    pub fn block(&self, col: usize, block: usize) -> Result<Block> {
        let c = self.column_meta(col)?;
        let b = c
            .blocks
            .get(block)
            .ok_or_else(|| Error::invalid(format!("block {block} out of range")))?;
        if c.flags & super::flags::PLAIN != 0 {
            let p = self.plain_column(col)?;
            let start: usize = c.blocks[..block].iter().map(|b| b.rows as usize).sum();
            let codes = p
                .codes
                .get(start..start + b.rows as usize)
                .ok_or_else(|| Error::corrupt(self.path(), b.region.offset, "plain block rows"))?;
            return Ok(Block {
                values: Values::Codes(codes.to_vec()),
                validity: p.validity.get(block).cloned().flatten(),
            });
        }
        let raw = self.region(&b.region)?;
        let decoded = decode_block(&raw, c.ty, b.rows as usize)
            .map_err(|e| Error::decode(self.file.path(), b.region.offset, e))?;
        Ok(decoded)
    }

    fn column_meta(&self, col: usize) -> Result<&super::ColumnMeta> {
        self.meta
            .columns
            .get(col)
            .ok_or_else(|| Error::invalid(format!("column {col} out of range")))
    }

    /// A plain string column, decoded and dictionary-encoded (once until `release_pages`).
    fn plain_column(&self, col: usize) -> Result<Arc<PlainColumn>> {
        let cached = |p: &[(usize, Arc<PlainColumn>)]| {
            p.iter().find(|(c, _)| *c == col).map(|(_, p)| p.clone())
        };
        if let Some(p) = self.plain.lock().ok().and_then(|p| cached(&p)) {
            return Ok(p);
        }
        let c = self.column_meta(col)?;
        let mut blocks = Vec::with_capacity(c.blocks.len());
        for b in &c.blocks {
            let raw = self.region(&b.region)?;
            let d = decode_plain_block(&raw, b.rows as usize)
                .map_err(|e| Error::decode(self.file.path(), b.region.offset, e))?;
            blocks.push(d);
        }
        // The non-null strings, sorted (on an eight-byte big-endian prefix first), then
        // numbered: equal strings get one code.
        let mut rows: Vec<(u64, u32, u32)> = Vec::new();
        for (bi, b) in blocks.iter().enumerate() {
            for i in 0..b.len() {
                if b.is_valid(i) {
                    let s = b.get(i);
                    let mut w = [0u8; 8];
                    let k = s.len().min(8);
                    w[..k].copy_from_slice(&s[..k]);
                    rows.push((u64::from_be_bytes(w), bi as u32, i as u32));
                }
            }
        }
        let text = |&(_, bi, i): &(u64, u32, u32)| blocks[bi as usize].get(i as usize);
        rows.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| text(a).cmp(text(b))));
        let firsts: Vec<usize> = c
            .blocks
            .iter()
            .scan(0usize, |at, b| {
                let first = *at;
                *at += b.rows as usize;
                Some(first)
            })
            .collect();
        let mut codes = vec![0u32; self.meta.rows as usize];
        let mut dict = Dictionary::default();
        let mut last: Option<&[u8]> = None;
        for r in &rows {
            let s = text(r);
            if last != Some(s) {
                dict.data.extend_from_slice(s);
                dict.ends.push(dict.data.len());
                last = Some(s);
            }
            let at = firsts[r.1 as usize] + r.2 as usize;
            if let Some(slot) = codes.get_mut(at) {
                *slot = (dict.ends.len() - 1) as u32;
            }
        }
        let p = Arc::new(PlainColumn {
            dict,
            codes,
            validity: blocks.into_iter().map(|b| b.validity).collect(),
        });
        if let Ok(mut cache) = self.plain.lock() {
            cache.push((col, p.clone()));
        }
        Ok(p)
    }

    /// The dictionary of string column `col` (empty for other types; for a plain string
    /// column, its distinct strings, sorted).
    pub fn dictionary(&self, col: usize) -> Result<Arc<Dictionary>> {
        let c = self.column_meta(col)?;
        if c.flags & super::flags::PLAIN != 0 {
            return Ok(Arc::new(self.plain_column(col)?.dict.clone()));
        }
        let Some(r) = c.dict else {
            return Ok(Arc::new(Dictionary::default()));
        };
        if let Some(d) = kept_get(&self.dicts, &col) {
            return Ok(d);
        }
        let raw = self.region(&r)?;
        let (d, _) =
            StrDict::parse(&raw).map_err(|e| Error::decode(self.file.path(), r.offset, e))?;
        let d = Arc::new(Dictionary::from_strdict(&d));
        let len = d.heap_bytes();
        if Self::take_budget(len) && !kept_put(&self.dicts, col, &d) {
            KEPT_BYTES.fetch_sub(len, Ordering::Relaxed);
        }
        Ok(d)
    }

    /// The dictionary codes of `keys` in string column `col` (None where absent), without
    /// copying the dictionary.
    pub fn dictionary_codes(&self, col: usize, keys: &[&[u8]]) -> Result<Vec<Option<u32>>> {
        let c = self.column_meta(col)?;
        if c.flags & super::flags::PLAIN != 0 {
            let p = self.plain_column(col)?;
            return Ok(keys.iter().map(|k| p.dict.find(k)).collect());
        }
        let Some(r) = c.dict else {
            return Ok(vec![None; keys.len()]);
        };
        let keeps = self.dicts.lock().is_ok_and(|d| !d.is_empty());
        if keeps || KEPT_BUDGET.load(Ordering::Relaxed) > 0 {
            // A handle that keeps regions keeps this dictionary parsed, for the next query.
            let d = self.dictionary(col)?;
            return Ok(keys.iter().map(|k| d.find(k)).collect());
        }
        let raw = self.region(&r)?;
        let (d, _) =
            StrDict::parse(&raw).map_err(|e| Error::decode(self.file.path(), r.offset, e))?;
        Ok(keys.iter().map(|k| d.find(k)).collect())
    }

    /// Open an index: reads and parses its directory; bitmaps are read on demand.
    pub fn index<'a>(&'a self, im: &'a IndexMeta) -> Result<IndexReader<'a>> {
        let path = self.file.path();
        let at = im.region.offset;
        if !im.chunked {
            let head = self.region(&im.region)?;
            let (dir, area_pos) =
                index::Directory::parse(&head).map_err(|e| Error::decode(path, at, e))?;
            if dir.area_len() != (head.len() - area_pos) as u64 {
                return Err(Error::corrupt(
                    path,
                    at,
                    "index bitmap area length does not match its offsets",
                ));
            }
            return Ok(IndexReader {
                seg: self,
                im,
                dir: Arc::new(dir),
                whole: Some((head, area_pos)),
                chunk: RefCell::new(None),
            });
        }
        let dir = match kept_get(&self.dirs, &at) {
            Some(d) => d,
            None => {
                let head = self.region(&im.region)?;
                let (dir, used) =
                    index::Directory::parse(&head).map_err(|e| Error::decode(path, at, e))?;
                if used != head.len() {
                    return Err(Error::corrupt(
                        path,
                        at,
                        "trailing bytes after the index directory",
                    ));
                }
                let dir = Arc::new(dir);
                kept_put(&self.dirs, at, &dir);
                dir
            }
        };
        let n = dir.len() as u64;
        if im.chunks.last().is_some_and(|c| c.first >= n) || (n > 0 && im.chunks.is_empty()) {
            return Err(Error::corrupt(
                path,
                at,
                "index chunks do not match the directory",
            ));
        }
        Ok(IndexReader {
            seg: self,
            im,
            dir,
            whole: None,
            chunk: RefCell::new(None),
        })
    }

    /// Read and verify every region of the file (for `inspect --verify` and tests).
    pub fn verify_all(&self) -> Result<()> {
        for (ci, c) in self.meta.columns.iter().enumerate() {
            self.dictionary(ci)?;
            for bi in 0..c.blocks.len() {
                self.block(ci, bi)?;
            }
        }
        for i in &self.meta.indexes {
            let ix = self.index(i)?;
            for p in 0..ix.len() {
                let bm = ix.bitmap(p)?;
                if let Some(g) = ix.directory().row_range(p) {
                    let actual = (bm.min().unwrap_or(0), bm.max().unwrap_or(0), bm.len());
                    if actual != (g.min, g.max, u64::from(g.len)) {
                        return Err(Error::corrupt(
                            self.file.path(),
                            i.region.offset,
                            format!(
                                "index of `{}`: the row range of key {p} differs from its bitmap",
                                i.column
                            ),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// One decoded value, owned (for row-at-a-time consumers and tests; the query engine works on
/// blocks and codes instead).
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// Nanoseconds since the epoch, UTC.
    Time(i64),
}

impl Cell {
    /// The value as JSON-ish text: strings as themselves, numbers in decimal (floats in their
    /// shortest round-trip form), booleans as `true`/`false`, times as RFC 3339.
    pub fn to_text(&self) -> String {
        match self {
            Cell::Bool(b) => b.to_string(),
            Cell::Int(i) => i.to_string(),
            Cell::Float(f) => format!("{f:?}"),
            Cell::Str(s) => s.clone(),
            Cell::Time(t) => crate::json::time::format_rfc3339(*t),
        }
    }
}

impl SegmentReader {
    /// Decode a whole column into cells (`None` = null).
    pub fn column_cells(&self, col: usize) -> Result<Vec<Option<Cell>>> {
        let c = self.column_meta(col)?;
        let dict = self.dictionary(col)?;
        let mut out = Vec::with_capacity(self.meta.rows as usize);
        for bi in 0..c.blocks.len() {
            let b = self.block(col, bi)?;
            for i in 0..b.values.len() {
                out.push(self.cell(c, &dict, &b, i)?);
            }
        }
        Ok(out)
    }

    /// All non-null cells of the given rows, as (column index, cell) per row in the order
    /// asked; each needed block is decoded once however many of the rows it holds.
    pub fn row_cells(&self, rows: &[usize]) -> Result<Vec<Vec<(usize, Cell)>>> {
        let mut out = vec![Vec::new(); rows.len()];
        for (ci, c) in self.meta.columns.iter().enumerate() {
            let dict = self.dictionary(ci)?;
            let mut start = 0usize;
            for (bi, bm) in c.blocks.iter().enumerate() {
                let end = start + bm.rows as usize;
                let wanted: Vec<usize> = (0..rows.len())
                    .filter(|&k| (start..end).contains(&rows[k]))
                    .collect();
                if !wanted.is_empty() {
                    let b = self.block(ci, bi)?;
                    for k in wanted {
                        if let Some(cell) = self.cell(c, &dict, &b, rows[k] - start)? {
                            out[k].push((ci, cell));
                        }
                    }
                }
                start = end;
            }
        }
        Ok(out)
    }

    /// Row `i` of a decoded block as a cell (`None` = null).
    fn cell(
        &self,
        c: &super::ColumnMeta,
        dict: &Dictionary,
        b: &Block,
        i: usize,
    ) -> Result<Option<Cell>> {
        if i >= b.values.len() || !b.is_valid(i) {
            return Ok(None);
        }
        Ok(Some(match (&b.values, c.ty) {
            (Values::Bool(v), _) => Cell::Bool(v[i]),
            (Values::Int(v), super::ColumnType::Time) => Cell::Time(v[i]),
            (Values::Int(v), _) => Cell::Int(v[i]),
            (Values::Float(v), _) => Cell::Float(v[i]),
            (Values::Codes(v), _) => {
                let s = dict.get(v[i]).ok_or_else(|| {
                    Error::corrupt(
                        self.path(),
                        c.dict.map_or(0, |d| d.offset),
                        format!("dictionary code {} out of range", v[i]),
                    )
                })?;
                Cell::Str(String::from_utf8_lossy(s).into_owned())
            }
        }))
    }
}

/// An open index of one segment: its directory, and its bitmaps read on demand. In format v2
/// reading a bitmap decompresses only the chunk that holds it (the last chunk read is kept,
/// so a walk in key order decompresses each chunk once).
pub struct IndexReader<'a> {
    seg: &'a SegmentReader,
    im: &'a IndexMeta,
    dir: Arc<index::Directory>,
    /// Format v1: the whole blob and where its bitmap area begins.
    whole: Option<(Cow<'a, [u8]>, usize)>,
    /// Format v2: the last chunk read (its number and bytes).
    chunk: RefCell<Option<(usize, RegionBytes<'a>)>>,
}

impl std::ops::Deref for IndexReader<'_> {
    type Target = index::Directory;

    /// The directory: keys, positions and (time index) row ranges.
    fn deref(&self) -> &index::Directory {
        &self.dir
    }
}

impl IndexReader<'_> {
    /// The directory (keys and offsets).
    pub fn directory(&self) -> &index::Directory {
        &self.dir
    }

    /// The bitmap at position `pos`, checksum-verified and validated.
    pub fn bitmap(&self, pos: usize) -> Result<RoaringBitmap> {
        let path = self.seg.path();
        if pos >= self.dir.len() {
            return Err(Error::invalid(format!(
                "index position {pos} out of range in {}",
                path.display()
            )));
        }
        let (a, b) = self.dir.bounds(pos);
        if let Some((blob, area_pos)) = &self.whole {
            let at = self.im.region.offset;
            let bytes = blob
                .get(area_pos + a as usize..area_pos + b as usize)
                .ok_or_else(|| Error::corrupt(path, at, "index bitmap outside the index"))?;
            return index::read_bitmap(bytes, area_pos + a as usize)
                .map_err(|e| Error::decode(path, at, e));
        }
        let k = self
            .im
            .chunks
            .partition_point(|c| c.first <= pos as u64)
            .saturating_sub(1);
        let chunk =
            self.im.chunks.get(k).ok_or_else(|| {
                Error::corrupt(path, self.im.region.offset, "index chunk missing")
            })?;
        let start = self.dir.bounds(chunk.first as usize).0;
        let end = match self.im.chunks.get(k + 1) {
            Some(next) => self.dir.bounds(next.first as usize).0,
            None => self.dir.area_len(),
        };
        let at = chunk.region.offset;
        let mut cache = self.chunk.borrow_mut();
        if cache.as_ref().map(|(i, _)| *i) != Some(k) {
            let bytes = self.seg.region_kept(&chunk.region)?;
            if bytes.len() as u64 != end - start {
                return Err(Error::corrupt(
                    path,
                    at,
                    "index chunk length does not match the directory",
                ));
            }
            *cache = Some((k, bytes));
        }
        let Some((_, bytes)) = cache.as_ref() else {
            return Err(Error::corrupt(path, at, "index chunk missing"));
        };
        let (lo, hi) = ((a - start) as usize, (b - start) as usize);
        let slice = bytes
            .get(lo..hi)
            .ok_or_else(|| Error::corrupt(path, at, "index bitmap outside its chunk"))?;
        index::read_bitmap(slice, lo).map_err(|e| Error::decode(path, at, e))
    }
}
