//! zstd compression with one compression and one decompression context per thread.
//!
//! `zstd::bulk::{compress, decompress}` build a fresh context on every call; a query that
//! reads a few dozen small regions per segment (a dictionary, an index chunk) spent about as
//! long creating contexts as decompressing. The contexts here live as long as their thread.

use std::cell::RefCell;

thread_local! {
    static DCTX: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
    static CCTX: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> = const { RefCell::new(None) };
}

/// Decompress one zstd frame whose decompressed size is at most `capacity` bytes.
pub fn decompress(stored: &[u8], capacity: usize) -> std::io::Result<Vec<u8>> {
    DCTX.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(zstd::bulk::Decompressor::new()?);
        }
        match slot.as_mut() {
            Some(d) => d.decompress(stored, capacity),
            None => zstd::bulk::decompress(stored, capacity),
        }
    })
}

/// Compress `raw` into one zstd frame at `level`.
pub fn compress(raw: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
    CCTX.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().map(|(l, _)| *l) != Some(level) {
            *slot = Some((level, zstd::bulk::Compressor::new(level)?));
        }
        match slot.as_mut() {
            Some((_, c)) => c.compress(raw),
            None => zstd::bulk::compress(raw, level),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let raw: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for level in [1, 3, 1] {
            let c = compress(&raw, level).expect("compress");
            assert!(c.len() < raw.len());
            assert_eq!(decompress(&c, raw.len()).expect("decompress"), raw);
        }
        assert!(decompress(b"not zstd at all", 100).is_err());
        let c = compress(&raw, 1).expect("compress");
        assert!(
            decompress(&c, raw.len() - 1).is_err(),
            "capacity is a bound"
        );
        assert_eq!(decompress(&c, raw.len()).expect("still usable"), raw);
    }
}
