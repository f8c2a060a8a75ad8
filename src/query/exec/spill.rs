//! Spilling aggregation state to disk: hash partitions of compressed runs.
//!
//! When the in-memory group table outgrows the memory budget, its groups are written to
//! `PARTITIONS` partition files by a hash of the row key (so every column of a pivot row lands
//! in the same partition), as zstd frames of encoded (key, states) records, and the table is
//! cleared. At the end each partition is read back and merged on its own, so the merge phase
//! needs about 1/`PARTITIONS` of the memory. Each frame: u64 LE compressed length, u64 LE raw
//! length, u32 LE record count, then the zstd bytes.
//!
//! The directory (and the quota `--max-spill`) is owned by [`crate::io::SpillDir`].

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::io::{Read, Write};
use std::path::PathBuf;

use crate::codec::bytes::ByteReader;
use crate::error::{Error, Result};
use crate::io::{spill_err, SpillDir};

use crate::query::value::{get_key, get_state, put_key, put_state, AggState, KeyValue};

/// Number of hash partitions.
pub const PARTITIONS: usize = 256;

/// A group table: key parts -> aggregate states.
pub type Groups = HashMap<Vec<KeyValue>, Vec<AggState>, ahash::RandomState>;

/// The spill files of one query.
pub struct Spill {
    dir: SpillDir,
    files: Vec<Option<std::fs::File>>,
    hasher: ahash::RandomState,
    row_parts: usize,
    max_bytes: Option<u64>,
    /// Compressed bytes written.
    pub bytes_written: u64,
    /// Compressed bytes read back.
    pub bytes_read: u64,
    /// Groups written (counting repeats across runs).
    pub groups_written: u64,
    pub runs: u64,
    /// Leftover directories of dead runs removed at start.
    pub stale_removed: usize,
}

impl Spill {
    /// A spill set in a fresh directory under `parent`.
    pub fn new(
        parent: &std::path::Path,
        row_parts: usize,
        max_bytes: Option<u64>,
    ) -> Result<Spill> {
        let (dir, stale_removed) = SpillDir::create(parent)?;
        Ok(Spill {
            dir,
            files: (0..PARTITIONS).map(|_| None).collect(),
            hasher: ahash::RandomState::with_seeds(1, 2, 3, 4),
            row_parts,
            max_bytes,
            bytes_written: 0,
            bytes_read: 0,
            groups_written: 0,
            runs: 0,
            stale_removed,
        })
    }

    /// The spill directory.
    pub fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    fn partition(&self, key: &[KeyValue]) -> usize {
        let mut h = self.hasher.build_hasher();
        key[..self.row_parts.min(key.len())].hash(&mut h);
        (std::hash::Hasher::finish(&h) % PARTITIONS as u64) as usize
    }

    /// Write every group of `groups` to its partition and empty the table.
    pub fn write(
        &mut self,
        groups: impl Iterator<Item = (Vec<KeyValue>, Vec<AggState>)>,
    ) -> Result<()> {
        let mut bufs: Vec<(Vec<u8>, u32)> = (0..PARTITIONS).map(|_| (Vec::new(), 0)).collect();
        for (k, states) in groups {
            let p = self.partition(&k);
            let (buf, n) = &mut bufs[p];
            crate::codec::bytes::put_varint_u64(buf, k.len() as u64);
            for part in &k {
                put_key(buf, part);
            }
            crate::codec::bytes::put_varint_u64(buf, states.len() as u64);
            for s in &states {
                put_state(buf, s);
            }
            *n += 1;
        }
        for (p, (raw, n)) in bufs.into_iter().enumerate() {
            if n > 0 {
                self.write_frame(p, &raw, n)?;
            }
        }
        self.runs += 1;
        Ok(())
    }

    /// Append one frame of records already encoded by the caller to partition `p` (the
    /// byte-key path of `bytegroups`); `n` is the record count.
    pub fn write_raw(&mut self, p: usize, raw: &[u8], n: u32) -> Result<()> {
        if p >= PARTITIONS {
            return Err(Error::invalid(format!("spill partition {p} out of range")));
        }
        self.write_frame(p, raw, n)
    }

    /// Count one spill run written with [`Spill::write_raw`].
    pub fn end_run(&mut self) {
        self.runs += 1;
    }

    /// The decompressed frames of partition `p`, their records (as written) and the bytes
    /// read (the byte-key path).
    pub fn read_raw(&self, p: usize) -> Result<(Vec<Vec<u8>>, u64, u64)> {
        let mut frames = Vec::new();
        let mut records = 0u64;
        let read = self.for_each_frame(p, &mut |raw, n| {
            frames.push(raw);
            records += u64::from(n);
            Ok(())
        })?;
        Ok((frames, records, read))
    }

    /// Hand each frame of partition `p`, decompressed, with its record count to `f`, one at a
    /// time; returns the bytes read.
    fn for_each_frame(
        &self,
        p: usize,
        f: &mut dyn FnMut(Vec<u8>, u32) -> Result<()>,
    ) -> Result<u64> {
        if self.files.get(p).is_none_or(|f| f.is_none()) {
            return Ok(0);
        }
        let name = format!("part-{p:03}.run");
        let path = self.dir.path().join(&name);
        let mut r = std::io::BufReader::new(self.dir.open_file(&name)?);
        let mut read = 0u64;
        let mut head = [0u8; 20];
        loop {
            match r.read_exact(&mut head) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(spill_err(&path, &e)),
            }
            let clen = u64::from_le_bytes(head[0..8].try_into().unwrap_or_default()) as usize;
            let rlen = u64::from_le_bytes(head[8..16].try_into().unwrap_or_default()) as usize;
            let n = u32::from_le_bytes(head[16..20].try_into().unwrap_or_default());
            let mut comp = vec![0u8; clen];
            r.read_exact(&mut comp).map_err(|e| spill_err(&path, &e))?;
            let at = read;
            read += clen as u64 + 20;
            let raw = crate::codec::zst::decompress(&comp, rlen)
                .map_err(|e| Error::corrupt(&path, at, format!("spill run: {e}")))?;
            f(raw, n)?;
        }
        Ok(read)
    }

    fn write_frame(&mut self, p: usize, raw: &[u8], n: u32) -> Result<()> {
        let path = self.dir.path().join(format!("part-{p:03}.run"));
        let compressed = crate::codec::zst::compress(raw, 1).map_err(|e| spill_err(&path, &e))?;
        let total = self.bytes_written + compressed.len() as u64 + 20;
        if let Some(max) = self.max_bytes {
            if total > max {
                return Err(Error::Spill {
                    path: self.dir.path().to_path_buf(),
                    what: format!(
                        "spilling needs more than --max-spill {max} bytes; raise --max-spill or --memory-limit, or narrow the query (--top, --where, --from/--to)"
                    ),
                });
            }
        }
        if self.files[p].is_none() {
            self.files[p] = Some(self.dir.create_file(&format!("part-{p:03}.run"))?);
        }
        let f = self.files[p]
            .as_mut()
            .ok_or_else(|| Error::invalid("spill file missing"))?;
        let mut head = Vec::with_capacity(20);
        head.extend_from_slice(&(compressed.len() as u64).to_le_bytes());
        head.extend_from_slice(&(raw.len() as u64).to_le_bytes());
        head.extend_from_slice(&n.to_le_bytes());
        f.write_all(&head).map_err(|e| spill_err(&path, &e))?;
        f.write_all(&compressed).map_err(|e| spill_err(&path, &e))?;
        self.bytes_written = total;
        self.groups_written += n as u64;
        Ok(())
    }

    /// Read partition `p` back, merged.
    pub fn read_partition(&mut self, p: usize) -> Result<Groups> {
        let mut out = Groups::default();
        let path = self.dir.path().join(format!("part-{p:03}.run"));
        let read = self.for_each_frame(p, &mut |raw, n| {
            let mut br = ByteReader::new(&raw);
            for _ in 0..n {
                let (k, s) = read_record(&mut br).map_err(|e| Error::decode(&path, 0, e))?;
                merge_into(&mut out, k, s);
            }
            Ok(())
        })?;
        self.bytes_read += read;
        // Read once: the file is closed and not read again.
        if let Some(f) = self.files.get_mut(p) {
            *f = None;
        }
        Ok(out)
    }
}

pub(crate) fn read_record(
    r: &mut ByteReader<'_>,
) -> std::result::Result<(Vec<KeyValue>, Vec<AggState>), crate::codec::DecodeError> {
    let nk = r.read_varint_u64()? as usize;
    let mut k = Vec::with_capacity(nk.min(64));
    for _ in 0..nk {
        k.push(get_key(r)?);
    }
    let ns = r.read_varint_u64()? as usize;
    let mut s = Vec::with_capacity(ns.min(64));
    for _ in 0..ns {
        s.push(get_state(r)?);
    }
    Ok((k, s))
}

/// Merge one group into a table.
pub fn merge_into(g: &mut Groups, k: Vec<KeyValue>, states: Vec<AggState>) {
    match g.get_mut(&k) {
        Some(cur) => {
            for (a, b) in cur.iter_mut().zip(states) {
                a.merge(b);
            }
        }
        None => {
            g.insert(k, states);
        }
    }
}

impl std::fmt::Debug for Spill {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Spill({})", self.dir.path().display())
    }
}
