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
  duckdb-query DB Q OUT      one query of the query benchmark on the DuckDB table, CSV to OUT
  polars-query PQ Q OUT      the same query with Polars on the Parquet file, CSV to OUT

The query sub-commands take the query's name (see QUERIES) and its parameters (--rules,
--from-ns/--to-ns, --rule, --top; DuckDB also --threads, --memory-limit, --temp-dir; Polars
--engine). They write the result in long form (the keys, then the count `n`; high-card also the
row total) and report on stdout, besides inner_s, the bytes the process wrote to storage apart
from its output (/proc/self/io write_bytes: the spill) and, for DuckDB, the largest size of its
temp directory seen by a sampler.
"""
import argparse
import json
import os
import sys
import threading
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
# The query benchmark's queries. bench.py shows this text in its report: keep it readable.
QUERIES = ("join-pivot", "hourly", "rule-hourly", "value-counts", "high-card", "distinct")

DUCKDB_SQL = {
    "join-pivot": """
SELECT COALESCE(r.category, '(unmatched)') AS category, ev.Action AS Action, count(*) AS n
FROM ev LEFT JOIN read_csv({rules}, all_varchar = true, header = true) r ON ev.RuleID = r.rule_id
GROUP BY ALL ORDER BY n DESC""",
    "hourly": """
SELECT date_trunc('hour', to_timestamp(Datetime / 1e9)) AS hour, Source, count(*) AS n
FROM ev WHERE Datetime >= {from_ns} AND Datetime < {to_ns}
GROUP BY ALL ORDER BY hour, n DESC""",
    "rule-hourly": """
SELECT date_trunc('hour', to_timestamp(Datetime / 1e9)) AS hour, count(*) AS n
FROM ev WHERE RuleID = {rule} GROUP BY ALL ORDER BY hour""",
    "value-counts": """
SELECT ClientCountry, count(*) AS n FROM ev GROUP BY ALL ORDER BY n DESC LIMIT {top}""",
    "high-card": """
WITH g AS (SELECT ClientIP, ClientRequestPath, Action, count(*) AS n FROM ev GROUP BY ALL),
     t AS (SELECT ClientIP, ClientRequestPath, sum(n) AS total FROM g GROUP BY ALL
           ORDER BY total DESC LIMIT {top})
SELECT g.ClientIP, g.ClientRequestPath, g.Action, g.n, t.total
FROM g JOIN t ON g.ClientIP = t.ClientIP AND g.ClientRequestPath = t.ClientRequestPath
ORDER BY t.total DESC, g.ClientIP, g.ClientRequestPath, g.n DESC""",
    "distinct": """
SELECT COALESCE(r.category, '(unmatched)') AS category, count(DISTINCT ev.ClientIP) AS n
FROM ev LEFT JOIN read_csv({rules}, all_varchar = true, header = true) r ON ev.RuleID = r.rule_id
GROUP BY ALL ORDER BY n DESC""",
}

# The Polars side, as text for the report (polars_plan below is the code that runs).
POLARS_CODE = {
    "join-pivot": "lf.join(pl.scan_csv(rules, infer_schema=False), left_on='RuleID', right_on='rule_id', "
                  "how='left').group_by(pl.col('category').fill_null('(unmatched)'), 'Action').len()",
    "hourly": "lf.filter((pl.col('Datetime') >= from_ns) & (pl.col('Datetime') < to_ns)).group_by("
              "pl.from_epoch('Datetime', time_unit='ns').dt.truncate('1h').alias('hour'), 'Source').len()",
    "rule-hourly": "lf.filter(pl.col('RuleID') == rule).group_by("
                   "pl.from_epoch('Datetime', time_unit='ns').dt.truncate('1h').alias('hour')).len()",
    "value-counts": "lf.group_by('ClientCountry').len().top_k(top, by='len')",
    "high-card": "g = lf.group_by('ClientIP', 'ClientRequestPath', 'Action').len(); "
                 "t = g.group_by('ClientIP', 'ClientRequestPath').agg(pl.col('len').sum().alias('total'))"
                 ".top_k(top, by='total'); g.join(t, on=['ClientIP', 'ClientRequestPath']).collect(engine=...)",
    "distinct": "lf.join(pl.scan_csv(rules, infer_schema=False), left_on='RuleID', right_on='rule_id', "
                "how='left').group_by(pl.col('category').fill_null('(unmatched)')).agg("
                "pl.col('ClientIP').n_unique())",
}


def proc_io():
    """This process's /proc/self/io counters ({} where the kernel does not provide them)."""
    try:
        with open("/proc/self/io") as f:
            return {k: int(v) for k, v in (l.split(":") for l in f if ":" in l)}
    except OSError:
        return {}


class DirSampler:
    """The largest total size of the files in a directory tree, sampled every 20 ms in a thread
    (DuckDB removes its temp files when the query ends)."""

    def __init__(self, path):
        self.path, self.peak, self._stop = path, 0, threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _size(self):
        total = 0
        for root, _, files in os.walk(self.path):
            for f in files:
                try:
                    total += os.lstat(os.path.join(root, f)).st_size
                except OSError:
                    pass
        return total

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._size())
            self._stop.wait(0.02)

    def __enter__(self):
        if self.path:
            self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self.path:
            self._t.join()


def query_report(t0, io0, out, **extra):
    io1 = proc_io()
    written = None
    if io0 and io1:
        # Bytes this process dirtied in the page cache (counted when written, so temp files
        # deleted before writeback are in it too), less the result file.
        written = max(0, io1.get("write_bytes", 0) - io0.get("write_bytes", 0) - os.path.getsize(out))
    emit(dict({"inner_s": time.perf_counter() - t0, "spill_write_bytes": written}, **extra))


def cmd_duckdb_query(a):
    import duckdb

    io0 = proc_io()
    t0 = time.perf_counter()
    sql = DUCKDB_SQL[a.query].format(rules=sql_str(a.rules), from_ns=int(a.from_ns or 0),
                                     to_ns=int(a.to_ns or 0), rule=sql_str(a.rule), top=int(a.top or 0))
    con = duckdb.connect(a.db, read_only=True)
    con.execute(f"SET threads = {int(a.threads)}")
    con.execute("SET TimeZone = 'UTC'")
    if a.memory_limit:
        con.execute(f"SET memory_limit = {sql_str(a.memory_limit)}")
    if a.temp_dir:
        con.execute(f"SET temp_directory = {sql_str(a.temp_dir)}")
    with DirSampler(a.temp_dir) as sampler:
        con.execute(f"COPY ({sql.strip()}) TO {sql_str(a.output)} (HEADER, DELIMITER ',')")
    rows = None
    con.close()
    with open(a.output, "rb") as f:
        rows = max(0, sum(1 for _ in f) - 1)
    query_report(t0, io0, a.output, rows=rows, temp_peak_bytes=sampler.peak if a.temp_dir else None,
                 duckdb=duckdb.__version__, threads=int(a.threads), memory_limit=a.memory_limit)


def polars_plan(pl, lf, a):
    """The Polars query as a LazyFrame (every aggregate named `n`)."""
    q = a.query
    hour = pl.from_epoch("Datetime", time_unit="ns").dt.truncate("1h").alias("hour")
    if q in ("join-pivot", "distinct"):
        rules = getattr(a, "rules_frame", None)  # the map loaded once (bench.py inprocess)
        if rules is None:
            rules = pl.scan_csv(a.rules, infer_schema=False)  # every column a string, as DuckDB's
        j = lf.join(rules, left_on="RuleID", right_on="rule_id", how="left")
        cat = pl.col("category").fill_null("(unmatched)").alias("category")
        if q == "join-pivot":
            return j.group_by(cat, "Action").agg(pl.len().alias("n")).sort("n", descending=True)
        return j.group_by(cat).agg(pl.col("ClientIP").n_unique().alias("n")).sort("n", descending=True)
    if q == "hourly":
        return (lf.filter((pl.col("Datetime") >= int(a.from_ns)) & (pl.col("Datetime") < int(a.to_ns)))
                .group_by(hour, "Source").agg(pl.len().alias("n")).sort("hour", "Source"))
    if q == "rule-hourly":
        return lf.filter(pl.col("RuleID") == a.rule).group_by(hour).agg(pl.len().alias("n")).sort("hour")
    if q == "value-counts":
        return lf.group_by("ClientCountry").agg(pl.len().alias("n")).top_k(int(a.top), by="n")
    if q == "high-card":
        keys = ["ClientIP", "ClientRequestPath"]
        g = lf.group_by(*keys, "Action").agg(pl.len().alias("n"))
        t = g.group_by(*keys).agg(pl.col("n").sum().alias("total")).top_k(int(a.top), by="total")
        return g.join(t, on=keys).sort(["total", "ClientIP", "ClientRequestPath", "n"],
                                       descending=[True, False, False, True])
    raise SystemExit(f"unknown query {q}")


def cmd_polars_query(a):
    import polars as pl

    io0 = proc_io()
    t0 = time.perf_counter()
    lf = pl.scan_parquet(a.parquet)
    df = polars_plan(pl, lf, a).collect(engine=a.engine)
    df.write_csv(a.output)
    query_report(t0, io0, a.output, rows=df.height, polars=pl.__version__, engine=a.engine)


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

    for name, fn, src in (("duckdb-query", cmd_duckdb_query, "db"),
                          ("polars-query", cmd_polars_query, "parquet")):
        s = sub.add_parser(name)
        s.add_argument(src)
        s.add_argument("query", choices=QUERIES)
        s.add_argument("output")
        s.add_argument("--rules")
        s.add_argument("--from-ns", type=int)
        s.add_argument("--to-ns", type=int)
        s.add_argument("--rule")
        s.add_argument("--top", type=int)
        if name == "duckdb-query":
            s.add_argument("--threads", type=int, default=os.cpu_count() or 1)
            s.add_argument("--memory-limit")
            s.add_argument("--temp-dir")
        else:
            s.add_argument("--engine", default="auto", choices=("auto", "in-memory", "streaming"))
        s.set_defaults(fn=fn)

    s = sub.add_parser("versions")
    s.set_defaults(fn=cmd_versions)

    a = p.parse_args(argv)
    a.fn(a)


if __name__ == "__main__":
    main()
