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
  fields IN                  every field path the JSON objects in IN carry (verification)
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
            c = line[:1]
            # Only objects qualify: this skips the parse for bare values such as "garbage" or 42.
            if c == b"{" or (c in (b" ", b"\t", b"\r") and line.lstrip()[:1] == b"{"):
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


def cmd_fields(a):
    """The set of leaf field paths (nested objects joined with '.') with how many objects carry
    each. Empty objects and nulls are not counted as fields; an array is one leaf."""
    counts = {}

    def walk(o, prefix):
        for k, v in o.items():
            if isinstance(v, dict):
                walk(v, prefix + k + ".")
            elif v is not None:
                path = prefix + k
                counts[path] = counts.get(path, 0) + 1

    with open(a.input, "rb", buffering=1 << 20) as f:
        for line in f:
            try:
                o = json.loads(line)
            except ValueError:
                continue
            if isinstance(o, dict):
                walk(o, "")
    emit({"fields": dict(sorted(counts.items()))})


def arrow_leaf_paths(schema):
    """Leaf column paths of an Arrow schema, struct children joined with '.'."""
    import pyarrow as pa

    out = []

    def walk(fld, prefix):
        if pa.types.is_struct(fld.type):
            for i in range(fld.type.num_fields):
                walk(fld.type.field(i), prefix + fld.name + ".")
        else:
            out.append(prefix + fld.name)

    for fld in schema:
        walk(fld, "")
    return out


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
    rows = con.execute("SELECT count(*) FROM ev").fetchall()[0][0]
    cols = con.execute("SELECT count(*) FROM duckdb_columns() WHERE table_name = 'ev'").fetchall()[0][0]
    rel = con.sql("SELECT * FROM ev LIMIT 0")
    for name in ("to_arrow_table", "fetch_arrow_table", "arrow"):
        if hasattr(rel, name):
            tbl = getattr(rel, name)()
            break
    if hasattr(tbl, "read_all"):  # a RecordBatchReader
        tbl = tbl.read_all()
    paths = arrow_leaf_paths(tbl.schema)
    # Non-null values per leaf field, in one scan.
    exprs = []
    for p in paths:
        head, *rest = p.split(".")
        e = '"' + head.replace('"', '""') + '"' + "".join("[" + sql_str(r) + "]" for r in rest)
        exprs.append(f"count({e})")
    counts = con.execute("SELECT " + ", ".join(exprs) + " FROM ev").fetchall()[0]
    con.close()
    emit({"rows": rows, "columns": cols, "fields": dict(zip(paths, counts))})


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

    f = pq.ParquetFile(a.file)
    md = f.metadata
    # Non-null values per leaf column from the row-group statistics (a footer read); a column
    # without statistics is read and counted.
    nulls = {}
    for g in range(md.num_row_groups):
        rg = md.row_group(g)
        for c in range(rg.num_columns):
            col = rg.column(c)
            st = col.statistics
            n = st.null_count if st is not None and st.has_null_count else None
            key = col.path_in_schema
            if n is None or nulls.get(key, 0) is None:
                nulls[key] = None
            else:
                nulls[key] = nulls.get(key, 0) + n
    fields = {}
    for p in arrow_leaf_paths(f.schema_arrow):
        if nulls.get(p) is not None:
            fields[p] = md.num_rows - nulls[p]
        else:
            import pyarrow.compute as pc

            arr = f.read(columns=[p.split(".")[0]]).column(0)
            for part in p.split(".")[1:]:
                arr = pc.struct_field(arr, part)
            fields[p] = len(arr) - arr.null_count
    emit({"rows": md.num_rows, "columns": md.num_columns, "row_groups": md.num_row_groups,
          "fields": fields})


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

    s = sub.add_parser("fields")
    s.add_argument("input")
    s.set_defaults(fn=cmd_fields)

    s = sub.add_parser("versions")
    s.set_defaults(fn=cmd_versions)

    a = p.parse_args(argv)
    a.fn(a)


if __name__ == "__main__":
    main()
