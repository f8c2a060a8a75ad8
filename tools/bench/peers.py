#!/usr/bin/env python3
"""The child processes that bench.py measures for the peers (and the pre-clean).

Each sub-command is one measured step: bench.py starts it as its own process (with the
benchmark venv's python for DuckDB/Polars, with any python 3.11 for `clean`) and reads one JSON
object from its stdout. Peer libraries are imported inside the sub-command, so that the import
cost is part of what the step measures, as it is for a user who runs the same thing.

Sub-commands
  clean IN OUT               keep the lines that are JSON objects (the peers need this)
  duckdb-ingest IN DB        CREATE TABLE ev AS SELECT * FROM read_json(...); CHECKPOINT
  duckdb-count DB            row and column count of ev (verification, not measured)
  polars-ingest IN OUT       scan_ndjson(IN).sink_parquet(OUT, compression='zstd')
  parquet-count FILE         row and column count from the Parquet footer (verification)
  versions                   versions of python, duckdb, polars, pyarrow

Add the query peers here later (duckdb-query, polars-query ...), same contract: one JSON
object on stdout, a non-zero exit on failure with the error on stderr.
"""
import argparse
import json
import os
import sys
import time


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def sql_str(s):
    """A SQL string literal."""
    return "'" + str(s).replace("'", "''") + "'"


# --------------------------------------------------------------------------------------------
def cmd_clean(a):
    """Drop every line that is not a JSON object: a truncated line, a bare value such as
    "garbage", [1,2], 42 or null, a blank line. Lines are copied byte for byte."""
    loads = json.loads
    kept = dropped = 0
    examples = []
    t0 = time.perf_counter()
    with open(a.input, "rb", buffering=1 << 20) as fin, open(a.output, "wb", buffering=1 << 20) as fout:
        for lineno, line in enumerate(fin, 1):
            ok = False
            if line[:1] == b"{":  # only objects qualify; skips the parse for bare values
                try:
                    ok = isinstance(loads(line), dict)
                except ValueError:  # JSONDecodeError and UnicodeDecodeError
                    ok = False
            if ok:
                fout.write(line if line.endswith(b"\n") else line + b"\n")
                kept += 1
            else:
                dropped += 1
                if len(examples) < 20:
                    examples.append({"line": lineno, "head": line[:60].decode("utf-8", "replace").rstrip("\n")})
    emit({"kept": kept, "dropped": dropped, "dropped_examples": examples,
          "inner_s": time.perf_counter() - t0})


# --------------------------------------------------------------------------------------------
def cmd_duckdb_ingest(a):
    import duckdb

    t0 = time.perf_counter()
    con = duckdb.connect(a.db)
    con.execute(f"SET threads = {int(a.threads)}")
    con.execute(
        "CREATE TABLE ev AS SELECT * FROM read_json("
        + sql_str(a.input)
        + ", format='newline_delimited', records=true)"
    )
    con.execute("CHECKPOINT")
    con.close()
    emit({"inner_s": time.perf_counter() - t0, "duckdb": duckdb.__version__, "threads": int(a.threads)})


def cmd_duckdb_count(a):
    import duckdb

    con = duckdb.connect(a.db, read_only=True)
    rows = con.execute("SELECT count(*) FROM ev").fetchone()[0]
    cols = con.execute("SELECT count(*) FROM duckdb_columns() WHERE table_name = 'ev'").fetchone()[0]
    con.close()
    emit({"rows": rows, "columns": cols})


# --------------------------------------------------------------------------------------------
def cmd_polars_ingest(a):
    import polars as pl

    t0 = time.perf_counter()
    if a.mode == "sink":
        # The streaming path: what the Polars docs recommend for larger-than-memory files.
        # A failure here makes bench.py switch to --mode eager and say so in its report.
        pl.scan_ndjson(a.input).sink_parquet(a.output, compression="zstd")
    else:
        pl.read_ndjson(a.input).write_parquet(a.output, compression="zstd")
    emit({"inner_s": time.perf_counter() - t0, "polars": pl.__version__, "mode": a.mode})


def cmd_parquet_count(a):
    import pyarrow.parquet as pq

    md = pq.ParquetFile(a.file).metadata
    emit({"rows": md.num_rows, "columns": md.num_columns, "row_groups": md.num_row_groups})


# --------------------------------------------------------------------------------------------
def cmd_versions(a):
    out = {"python": sys.version.split()[0]}
    for mod in ("duckdb", "polars", "pyarrow"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception as e:  # reported, not fatal
            out[mod] = f"unavailable ({e.__class__.__name__}: {e})"
    emit(out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("clean")
    s.add_argument("input")
    s.add_argument("output")
    s.set_defaults(fn=cmd_clean)

    s = sub.add_parser("duckdb-ingest")
    s.add_argument("input")
    s.add_argument("db")
    s.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    s.set_defaults(fn=cmd_duckdb_ingest)

    s = sub.add_parser("duckdb-count")
    s.add_argument("db")
    s.set_defaults(fn=cmd_duckdb_count)

    s = sub.add_parser("polars-ingest")
    s.add_argument("input")
    s.add_argument("output")
    s.add_argument("--mode", choices=("sink", "eager"), default="sink")
    s.set_defaults(fn=cmd_polars_ingest)

    s = sub.add_parser("parquet-count")
    s.add_argument("file")
    s.set_defaults(fn=cmd_parquet_count)

    s = sub.add_parser("versions")
    s.set_defaults(fn=cmd_versions)

    a = p.parse_args(argv)
    a.fn(a)


if __name__ == "__main__":
    main()
