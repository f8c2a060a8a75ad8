#!/usr/bin/env python3
"""The child process of `bench.py inprocess`: one tool, one Python process, open handles, warm.

    python tools/bench/inproc.py TOOL SPEC.json OUT.json      TOOL: logpivot | duckdb | polars

SPEC (written by bench.py) names the stores, the thread count and the queries: for each, the
keyword arguments of `logpivot.Store.pivot` (logpivot), or peers.py's query name and parameters
(DuckDB: `DUCKDB_SQL` on an open read-only connection to the native table `ev`,
`con.sql(sql).to_arrow_table()`; Polars: `polars_plan` on `pl.scan_parquet`, collected to a
DataFrame). With `preload_maps` the peers load the rules map once when they open (DuckDB: a
temp table; Polars: `pl.read_csv(...).lazy()`) instead of reading it in every query. The handle (a `logpivot.Store`, a DuckDB connection, the lazy Parquet scan) is
opened once; each query then runs warm-up calls and timed calls in this process:

- runs: at least `min_runs`, and at least `min_seconds` of calls, at most `max_seconds`
  (never fewer than 5 runs);
- wall time per call (`time.perf_counter`) and CPU time per call (`time.process_time`: user+sys
  of every thread of this process, so the engines' worker threads are counted);
- peak RSS of the process over the query's calls: `/proc/self/clear_refs` is written `5` (resets
  the high-water mark, Linux >= 4.0) before the warm-up and `VmHWM` read from /proc/self/status
  after the last call; so it includes what the process holds before (interpreter, libraries,
  the open handle, caches of earlier queries).

The result of the last call is written (untimed) as CSV in the form the process benchmark
compares: logpivot's pivot table as it is (row keys, a column per column value, Total), the
peers' long form (keys, column key, count). bench.py compares them with the same rules as
`bench.py query`. One JSON object goes to OUT.
"""
import csv
import datetime as _dt
import json
import os
import resource
import statistics
import sys
import time
from types import SimpleNamespace

HERE = os.path.dirname(os.path.abspath(__file__))


def status_kib(key):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak():
    """Reset VmHWM to the current RSS; False where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def cell(v):
    if v is None:
        return ""
    if isinstance(v, _dt.datetime):
        return v.isoformat()
    if hasattr(v, "isoformat"):  # a pandas Timestamp
        return v.isoformat()
    return str(v)


def write_csv(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        for r in rows:
            w.writerow([cell(x) for x in r])
    return len(rows)


def arrow_rows(t):
    cols = [c.to_pylist() for c in t.columns]
    return list(zip(*cols)) if cols else []


# --------------------------------------------------------------------------------------------
def setup_logpivot(spec):
    import logpivot

    t0 = time.perf_counter()
    store = logpivot.open(spec["lp_dir"])
    open_s = time.perf_counter() - t0

    def make(q):
        kw = q["lp_kwargs"]
        return lambda: store.pivot(**kw)

    def save(q, res, path):
        return write_csv(path, res.column_names, arrow_rows(res))

    import hashlib

    from logpivot import _logpivot

    with open(_logpivot.__file__, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()[:12]
    return make, save, open_s, {"logpivot": f"{logpivot.__version__} (extension sha256 {sha})",
                                "pyarrow": __import__("pyarrow").__version__}


def setup_duckdb(spec):
    import duckdb
    import peers

    t0 = time.perf_counter()
    con = duckdb.connect(spec["db"], read_only=True)
    con.execute(f"SET threads = {int(spec['threads'])}")
    con.execute("SET TimeZone = 'UTC'")
    default_mem = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    # The spill directory is set once, when the connection opens: DuckDB refuses to switch it
    # after a query has used the default one ("Cannot switch temporary directory after the
    # current one has been used"), which a large GROUP BY without a budget may do.
    temp_dirs = {q["temp_dir"] for q in spec["queries"] if q.get("temp_dir")}
    if len(temp_dirs) > 1:
        raise SystemExit(f"one temp directory per DuckDB session, not {sorted(temp_dirs)}")
    if temp_dirs:
        con.execute(f"SET temp_directory = {peers.sql_str(temp_dirs.pop())}")
    per_call = "read_csv({rules}, all_varchar = true, header = true)"
    maps = {}
    if spec.get("preload_maps"):
        # What a notebook user does with a map: load it once (a temp table), join it in every query.
        for q in spec["queries"]:
            path = q["params"].get("rules")
            if path and path not in maps:
                maps[path] = f"rules_map_{len(maps)}"
                con.execute(f"CREATE TEMP TABLE {maps[path]} AS SELECT * FROM "
                            + per_call.format(rules=peers.sql_str(path)))
    open_s = time.perf_counter() - t0

    def make(q):
        p = q["params"]
        tmpl = peers.DUCKDB_SQL[q["name"]]
        if p.get("rules") in maps:
            assert per_call in tmpl, f"{q['name']}: the map is not read by `{per_call}`"
            tmpl = tmpl.replace(per_call, maps[p["rules"]])
        sql = tmpl.format(
            rules=peers.sql_str(p.get("rules")), from_ns=int(p.get("from_ns") or 0),
            to_ns=int(p.get("to_ns") or 0), rule=peers.sql_str(p.get("rule")), top=int(p.get("top") or 0)).strip()
        # The query's memory budget (the memory-budget variant) is set before its warm-up and
        # kept for its runs only.
        con.execute(f"SET memory_limit = {peers.sql_str(q.get('memory_limit') or default_mem)}")

        def run():
            # con.sql(...), not con.execute(...): DuckDB warns that Arrow output of a DB-API result
            # makes an extra copy of the rows.
            return con.sql(sql).to_arrow_table()
        return run

    def save(q, res, path):
        return write_csv(path, res.column_names, arrow_rows(res))

    return make, save, open_s, {"duckdb": duckdb.__version__, "pyarrow": __import__("pyarrow").__version__}


def setup_polars(spec):
    import peers
    import polars as pl

    t0 = time.perf_counter()
    lf = pl.scan_parquet(spec["pq"])
    lf.collect_schema()  # reads the footer once, as a user's first look at the frame does
    maps = {}
    if spec.get("preload_maps"):
        # The map read once into a DataFrame (every column a string), joined lazily in each query.
        for q in spec["queries"]:
            path = q["params"].get("rules")
            if path and path not in maps:
                maps[path] = pl.read_csv(path, infer_schema=False).lazy()
    open_s = time.perf_counter() - t0

    def make(q):
        p = q["params"]
        a = SimpleNamespace(query=q["name"], rules=p.get("rules"), from_ns=p.get("from_ns"),
                            to_ns=p.get("to_ns"), rule=p.get("rule"), top=p.get("top"),
                            rules_frame=maps.get(p.get("rules")))
        plan = peers.polars_plan(pl, lf, a)
        engine = q.get("engine") or "auto"
        return lambda: plan.collect(engine=engine)

    def save(q, res, path):
        return write_csv(path, res.columns, res.rows())

    return make, save, open_s, {"polars": pl.__version__, "threads": pl.thread_pool_size()}


SETUP = {"logpivot": setup_logpivot, "duckdb": setup_duckdb, "polars": setup_polars}


# --------------------------------------------------------------------------------------------
def measure_query(fn, min_runs, min_seconds, max_seconds):
    # Warm-up: one call, and more (up to 0.5 s) when calls are fast.
    t0 = time.perf_counter()
    res = fn()
    first = time.perf_counter() - t0
    warm = 1
    w0 = time.perf_counter()
    while warm < 5 and time.perf_counter() - w0 < 0.5 and first < 0.1:
        res = fn()
        warm += 1
    walls, cpus = [], []
    start = time.perf_counter()
    while True:
        c0, t0 = time.process_time(), time.perf_counter()
        res = fn()
        t1, c1 = time.perf_counter(), time.process_time()
        walls.append(t1 - t0)
        cpus.append(c1 - c0)
        n, spent = len(walls), t1 - start
        if n >= 5 and spent >= max_seconds:
            break
        if n >= min_runs and spent >= min_seconds:
            break
    return res, {"first_s": first, "warmup_runs": warm, "wall_s": walls, "cpu_s": cpus}


def main(argv):
    tool, spec_path, out_path = argv
    with open(spec_path) as f:
        spec = json.load(f)
    sys.path.insert(0, HERE)
    sys.dont_write_bytecode = True
    t0 = time.perf_counter()
    make, save, open_s, versions = SETUP[tool](spec)
    ready = time.perf_counter() - t0
    out = {"tool": tool, "pid": os.getpid(), "versions": versions, "setup_s": ready, "open_s": open_s,
           "rss_after_open_kib": status_kib("VmRSS"), "hwm_after_open_kib": status_kib("VmHWM"),
           "queries": {}}
    can_reset = None
    for q in spec["queries"]:
        can_reset = reset_peak()
        rss0 = status_kib("VmRSS")
        try:
            fn = make(q)
            res, m = measure_query(fn, spec["min_runs"], spec["min_seconds"], spec["max_seconds"])
        except Exception as e:  # noqa: BLE001  (reported per query, the others still run)
            out["queries"][str(q["num"])] = {"error": f"{e.__class__.__name__}: {e}"[:2000]}
            continue
        m["rss_before_kib"] = rss0
        m["peak_rss_kib"] = status_kib("VmHWM")
        m["wall_s_median"] = statistics.median(m["wall_s"])
        m["cpu_s_median"] = statistics.median(m["cpu_s"])
        m["runs"] = len(m["wall_s"])
        csv_path = os.path.join(spec["csv_dir"], f"q{q['num']}-{tool}.csv")
        m["rows"] = save(q, res, csv_path)
        m["csv"] = csv_path
        out["queries"][str(q["num"])] = m
    out["peak_rss_reset_works"] = can_reset
    out["process_peak_rss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out["rss_end_kib"] = status_kib("VmRSS")
    with open(out_path, "w") as f:
        json.dump(out, f)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in SETUP:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1:]))
