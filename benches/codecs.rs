//! Codec throughput: encode and decode MB/s of the integer, bit-packing and dictionary codecs,
//! and of a whole segment. `cargo bench --bench codecs`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use logpivot::codec::{bitpack, ints, strings};

fn xorshift(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

fn bench_ints(c: &mut Criterion) {
    let mut g = c.benchmark_group("ints");
    let mut seed = 7u64;
    let n = 65_536;
    // Sorted nanosecond timestamps (delta coding) and small random ints (frame of reference).
    let mut t = 1_717_372_800_000_000_000i64;
    let times: Vec<i64> = (0..n)
        .map(|_| {
            t += (xorshift(&mut seed) % 1_000_000_000) as i64;
            t
        })
        .collect();
    let small: Vec<i64> = (0..n).map(|_| (xorshift(&mut seed) % 600) as i64).collect();
    for (name, data) in [("sorted_times", &times), ("status_codes", &small)] {
        g.throughput(Throughput::Bytes((data.len() * 8) as u64));
        let mut buf = Vec::new();
        ints::encode_i64(data, &mut buf);
        g.bench_with_input(BenchmarkId::new("encode", name), data, |b, d| {
            b.iter(|| {
                let mut out = Vec::with_capacity(buf.len());
                ints::encode_i64(d, &mut out);
                out
            })
        });
        g.bench_with_input(BenchmarkId::new("decode", name), &buf, |b, bytes| {
            b.iter(|| {
                let mut out = Vec::with_capacity(n);
                let _ = ints::decode_i64(bytes, n, &mut out);
                out
            })
        });
    }
    g.finish();
}

fn bench_bitpack(c: &mut Criterion) {
    let mut g = c.benchmark_group("bitpack_codes");
    let mut seed = 11u64;
    let n = 65_536;
    for width in [5u8, 12, 19] {
        let codes: Vec<u64> = (0..n)
            .map(|_| xorshift(&mut seed) & ((1 << width) - 1))
            .collect();
        let mut packed = Vec::new();
        bitpack::pack(&codes, width, &mut packed);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("unpack_u32", width), &packed, |b, p| {
            b.iter(|| {
                let mut out = Vec::with_capacity(n);
                let _ = bitpack::unpack_u32(p, width, n, &mut out);
                out
            })
        });
    }
    g.finish();
}

fn bench_dict(c: &mut Criterion) {
    let mut g = c.benchmark_group("dictionary");
    let mut seed = 3u64;
    let mut items: Vec<Vec<u8>> = (0..100_000)
        .map(|_| format!("/api/v1/users/{}/orders", xorshift(&mut seed) % 10_000_000).into_bytes())
        .collect();
    items.sort();
    items.dedup();
    let refs: Vec<&[u8]> = items.iter().map(|v| &v[..]).collect();
    let mut buf = Vec::new();
    strings::encode_dict(&refs, &mut buf);
    g.throughput(Throughput::Bytes(buf.len() as u64));
    g.bench_function("parse_and_find", |b| {
        b.iter(|| {
            let (d, _) = strings::StrDict::parse(&buf).expect("dict");
            d.find(b"/api/v1/users/5000000/orders")
        })
    });
    g.finish();
}

criterion_group!(benches, bench_ints, bench_bitpack, bench_dict);
criterion_main!(benches);
