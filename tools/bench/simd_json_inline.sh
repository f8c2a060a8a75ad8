#!/usr/bin/env bash
# What inlining simd-json's AVX2 string parser would buy ingest: the measurement behind issue 2's
# open question (the 3x-DuckDB target). Not part of the build or of the tests.
#
# simd-json 0.19's stage 2 calls its string parser (`impls::avx2::parse_str`) through a function
# pointer chosen at run time (feature `runtime-detection`), or, built for AVX2, as a call LLVM
# does not inline. Either way the `&str` comes back through memory and is reloaded at once as one
# 16-byte load, which the store buffer cannot forward: that reload holds about half of the
# samples of logpivot's `RecordParser::parse`. This script builds logpivot from HEAD against a
# patched copy of simd-json (parse_str `#[inline(always)]`, compiled for x86-64-v3, no run-time
# detection), checks that both binaries write the same segments, and times them alternately.
#
# usage: tools/bench/simd_json_inline.sh [INPUT.ndjson]
#   INPUT  default bench-out/data/events-1000000.ndjson (made by `python3 tools/bench/bench.py ingest`)
#   env    RUNS (default 7) alternating runs per binary; BASE (default target/release/logpivot);
#          OUT (default bench-out/simd-json-inline) for the patched copy and its target dir
# The first build of the patched variant takes about 5 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
input=${1:-bench-out/data/events-1000000.ndjson}
runs=${RUNS:-7}
base=${BASE:-target/release/logpivot}
out=${OUT:-bench-out/simd-json-inline}
case "$out" in /*) ;; *) out="$root/$out" ;; esac

[ -x "$base" ] || { echo "no $base: run cargo build --release first" >&2; exit 1; }
[ -f "$input" ] || { echo "no $input: python3 tools/bench/bench.py ingest makes it" >&2; exit 1; }
grep -qw avx2 /proc/cpuinfo || { echo "this CPU has no AVX2: the patched build cannot run here" >&2; exit 1; }

cargo fetch --quiet
src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/simd-json-0.19.0 2>/dev/null | head -1)
[ -n "$src" ] || { echo "simd-json 0.19.0 source not found under the cargo registry" >&2; exit 1; }

rm -rf "$out/simd-json" "$out/repo"
mkdir -p "$out/repo"
cp -r "$src" "$out/simd-json"
python3 - "$out/simd-json/src/impls/avx2/deser.rs" <<'EOF'
import sys
p = sys.argv[1]
s = open(p).read()
old = '#[target_feature(enable = "avx2")]\n#[allow(\n    clippy::if_not_else,\n    clippy::cast_possible_wrap,\n    clippy::too_many_lines\n)]\n#[cfg_attr(not(feature = "no-inline"), inline)]\npub(crate) unsafe fn parse_str'
if old not in s:
    sys.exit("simd-json's avx2 parse_str is not where this patch expects it")
new = '#[allow(\n    clippy::if_not_else,\n    clippy::cast_possible_wrap,\n    clippy::too_many_lines\n)]\n#[inline(always)]\npub(crate) unsafe fn parse_str'
open(p, 'w').write(s.replace(old, new, 1))
EOF

git archive HEAD | tar -x -C "$out/repo"
sed -i 's/features = \["swar-number-parsing", "runtime-detection"\]/features = ["swar-number-parsing"]/' "$out/repo/Cargo.toml"
printf '\n[patch.crates-io]\nsimd-json = { path = "%s" }\n' "$out/simd-json" >> "$out/repo/Cargo.toml"
echo "building the patched variant (x86-64-v3, simd-json parse_str inlined) ..." >&2
RUSTFLAGS="-C target-cpu=x86-64-v3" CARGO_TARGET_DIR="$out/target" \
  cargo build --release --quiet --bin logpivot --manifest-path "$out/repo/Cargo.toml"
patched="$out/target/release/logpivot"

# Same segments: one parser thread over the first 200,000 lines, byte for byte.
head -n 200000 "$input" > "$out/prefix.ndjson"
for v in base patched; do
  bin=$base; [ $v = patched ] && bin=$patched
  rm -rf "$out/data-$v"
  "$bin" ingest --quiet --threads 1 --data "$out/data-$v" "$out/prefix.ndjson" >/dev/null
done
for f in "$out"/data-base/segments/*.lps; do
  cmp -s "$f" "$out/data-patched/segments/$(basename "$f")" || { echo "segments differ: $f" >&2; exit 1; }
done
echo "same segments: yes (200,000 lines, --threads 1)"

declare -A cpu wall
for i in $(seq "$runs"); do
  for v in base patched; do
    bin=$base; [ $v = patched ] && bin=$patched
    rm -rf "$out/data-run"
    /usr/bin/time -o "$out/time" -f '%U %S %e' "$bin" ingest --quiet --data "$out/data-run" "$input" >/dev/null 2>&1
    cpu[$v]="${cpu[$v]:-} $(awk '{print $1 + $2}' "$out/time")"
    wall[$v]="${wall[$v]:-} $(awk '{print $3}' "$out/time")"
  done
done
rm -rf "$out/data-run"
summary() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{a[NR]=$1} END {printf "median %.2f (min %.2f, max %.2f)", a[int((NR+1)/2)], a[1], a[NR]}'; }
echo "ingest of $input, $runs alternating runs each, warm cache:"
for v in base patched; do
  printf '  %-8s CPU s: %s   wall s: %s\n' "$v" "$(echo "${cpu[$v]}" | summary)" "$(echo "${wall[$v]}" | summary)"
done
