"""The Python module against the CLI's answers and an independent count of the JSON.

Needs the `logpivot` and `loggen` binaries (LOGPIVOT_BIN, LOGGEN_BIN; default
target/release/ of the checkout) and the module installed (`pip install ./tools/python`).
"""

from __future__ import annotations

import collections
import csv
import gzip
import io
import json
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pyarrow as pa
import pytest

import logpivot

ROOT = Path(__file__).resolve().parents[3]
LOGPIVOT_BIN = os.environ.get("LOGPIVOT_BIN", str(ROOT / "target/release/logpivot"))
LOGGEN_BIN = os.environ.get("LOGGEN_BIN", str(ROOT / "target/release/loggen"))
FIXTURES = ROOT / "tests/data/fixtures"
EVENTS = 20_000
HOUR_NS = 3600 * 10**9


@pytest.fixture(scope="session")
def gen(tmp_path_factory):
    """loggen events and rule map, ingested through the module."""
    d = tmp_path_factory.mktemp("gen")
    subprocess.run(
        [
            LOGGEN_BIN,
            "--events",
            str(EVENTS),
            "--output",
            str(d / "ev.ndjson"),
            "--rules",
            str(d / "rules.csv"),
        ],
        check=True,
        capture_output=True,
    )
    summary = logpivot.ingest([str(d / "ev.ndjson")], data=d / "data", progress=False)
    return {
        "dir": d,
        "data": d / "data",
        "summary": summary,
        "events": d / "ev.ndjson",
        "rules": d / "rules.csv",
    }


@pytest.fixture(scope="session")
def store(gen):
    return logpivot.open(gen["data"])


@pytest.fixture(scope="session")
def records(gen):
    """The events as dicts, read independently of logpivot (malformed lines skipped)."""
    out = []
    for line in gen["events"].read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out


def cli_csv(data, *args):
    """Run `logpivot pivot|contrast|score ... --format csv` and parse the CSV."""
    cmd, *rest = args
    p = subprocess.run(
        [LOGPIVOT_BIN, cmd, "--data", str(data), *rest, "--format", "csv"],
        check=True,
        capture_output=True,
        text=True,
    )
    rows = list(csv.reader(io.StringIO(p.stdout)))
    return rows[0], rows[1:]


def cell_text(v) -> str:
    """A Python value of a table cell as the CLI's CSV writes it."""
    if v is None:
        return ""
    if hasattr(v, "isoformat"):  # a timestamp: RFC 3339, Z in UTC
        s = v.isoformat()
        return s.replace("+00:00", "Z")
    if isinstance(v, float):
        return f"{v:.6f}".rstrip("0").rstrip(".") if v != int(v) else str(int(v))
    return str(v)


def table_as_csv(t: pa.Table, totals: bool = False):
    """The table as the CLI's CSV cells. A null time key is the CSV's `(null)`, or `Total` in
    the Total row (the last, with totals)."""
    out = []
    for r in range(t.num_rows):
        row = []
        for i, f in enumerate(t.schema):
            v = t.column(i)[r].as_py()
            if v is None and pa.types.is_timestamp(f.type):
                row.append("Total" if totals and r == t.num_rows - 1 and i == 0 else "(null)")
            else:
                row.append(cell_text(v))
        out.append(row)
    return t.column_names, out


PIVOTS = [
    (dict(rows="Action"), ["--rows", "Action"]),
    (
        dict(rows=["ClientCountry", "Action"], top=15),
        ["--rows", "ClientCountry,Action", "--top", "15"],
    ),
    (
        dict(rows="Datetime:1h", cols="Source", totals=True),
        ["--rows", "Datetime:1h", "--cols", "Source", "--totals"],
    ),
    (
        dict(rows="Datetime:1d", tz="Europe/Berlin"),
        ["--rows", "Datetime:1d", "--tz", "Europe/Berlin"],
    ),
    (
        dict(
            rows="ClientCountry",
            values=["count", "count_distinct(ClientIP)"],
            where="Action in (block, challenge)",
            sort="ClientCountry",
        ),
        [
            "--rows",
            "ClientCountry",
            "--value",
            "count",
            "--value",
            "count_distinct(ClientIP)",
            "--where",
            "Action in (block, challenge)",
            "--sort",
            "ClientCountry",
        ],
    ),
    (
        dict(
            rows="hour(Datetime)",
            cols="ClientRequestMethod",
            cols_top=3,
            time_from="2024-06-04",
            time_to="2024-06-06",
        ),
        [
            "--rows",
            "hour(Datetime)",
            "--cols",
            "ClientRequestMethod",
            "--cols-top",
            "3",
            "--from",
            "2024-06-04",
            "--to",
            "2024-06-06",
        ],
    ),
    (
        dict(rows="Source", values="avg(EdgeResponseStatus)", memory_limit="1MiB"),
        ["--rows", "Source", "--value", "avg(EdgeResponseStatus)", "--memory-limit", "1MiB"],
    ),
]


@pytest.mark.parametrize("kwargs,flags", PIVOTS, ids=[str(i) for i in range(len(PIVOTS))])
def test_pivot_matches_cli(gen, store, kwargs, flags):
    t = store.pivot(**kwargs)
    assert isinstance(t, pa.Table)
    header, rows = cli_csv(gen["data"], "pivot", *flags)
    got_header, got_rows = table_as_csv(t, kwargs.get("totals", False))
    assert got_header == header
    assert got_rows == rows


def test_join_pivot_matches_cli_and_python(gen, store, records):
    spec = f"{gen['rules']}:RuleID=rule_id"
    t = store.pivot(rows="rules.category", cols="Action", join=spec, totals=True)
    header, rows = cli_csv(
        gen["data"],
        "pivot",
        "--rows",
        "rules.category",
        "--cols",
        "Action",
        "--join",
        spec,
        "--totals",
    )
    assert table_as_csv(t, True) == (header, rows)
    # Independently: the map read with csv, the events with json.
    with open(gen["rules"], newline="", encoding="utf-8") as f:
        category = {r["rule_id"]: r["category"] for r in csv.DictReader(f)}
    want = collections.Counter(category.get(str(r.get("RuleID")), "(unmatched)") for r in records)
    d = t.to_pandas().set_index("rules.category")["Total"].to_dict()
    assert d.pop("Total") == len(records)
    assert d == dict(want)


def test_counts_match_json(store, records):
    t = store.pivot(rows="Action")
    got = dict(zip(t.column("Action").to_pylist(), t.column("count").to_pylist()))
    assert got == dict(collections.Counter(r["Action"] for r in records))
    assert sum(got.values()) == EVENTS - (len(records) != EVENTS) * 0 == len(records)


def test_approx_count_distinct_against_exact_sets(store, records):
    t = store.pivot(
        rows="Action", values=["count_distinct(ClientIP)", "approx_count_distinct(ClientIP)"]
    )
    assert t.schema.field("approx_count_distinct(ClientIP)").type == pa.int64()
    want = collections.defaultdict(set)
    for r in records:
        if r.get("ClientIP") is not None:
            want[r["Action"]].add(r["ClientIP"])
    exact = dict(zip(t.column("Action").to_pylist(), t.column(1).to_pylist()))
    approx = dict(zip(t.column("Action").to_pylist(), t.column(2).to_pylist()))
    assert exact == {k: len(v) for k, v in want.items()}
    for k, v in want.items():
        # Four standard errors of 0.81%, or one value while the sketch is sparse.
        assert abs(approx[k] - len(v)) <= max(1, 4 * 0.0081 * len(v)), (k, approx[k], len(v))


def test_hourly_series_types_and_values(store, records):
    t = store.pivot(rows="Datetime:1h", sort="Datetime:1h")
    assert t.schema.field("Datetime:1h").type == pa.timestamp("ns", tz="UTC")
    assert t.schema.field("count").type == pa.int64()
    want = collections.Counter(r["Datetime"] // HOUR_NS * HOUR_NS for r in records)
    got = dict(
        zip(t.column("Datetime:1h").cast(pa.int64()).to_pylist(), t.column("count").to_pylist())
    )
    assert got == dict(want)
    df = t.to_pandas()
    assert str(df["Datetime:1h"].dtype) == "datetime64[ns, UTC]"
    assert str(df["count"].dtype) == "int64"


def test_arrow_types(store):
    t = store.pivot(
        rows="Datetime:1d",
        tz="Europe/Berlin",
        totals=True,
        values=["count", "avg(EdgeResponseStatus)"],
    )
    assert t.schema.field("Datetime:1d").type == pa.timestamp("ns", tz="Europe/Berlin")
    assert t.schema.field("count").type == pa.int64()
    assert t.schema.field("avg(EdgeResponseStatus)").type == pa.float64()
    # The Total row is last, its time key null.
    assert t.column("Datetime:1d")[t.num_rows - 1].as_py() is None
    t = store.pivot(rows="Action", cols="Source")
    assert t.schema.field("Action").type == pa.string()
    assert all(f.type == pa.int64() for f in t.schema if f.name != "Action")


def test_arrow_consumers(store):
    t = store.pivot(rows="Action")
    duckdb = pytest.importorskip("duckdb")
    polars = pytest.importorskip("polars")
    n = duckdb.sql("select sum(count) from t").fetchall()[0][0]
    assert n == sum(t.column("count").to_pylist())
    assert polars.from_arrow(t).height == t.num_rows
    assert hasattr(t, "__arrow_c_stream__")


def test_ingest_summary_and_info(gen, store, records):
    s = gen["summary"]
    assert s["events"] == len(records)
    info = store.info()
    assert info["rows"] == len(records)
    p = subprocess.run(
        [LOGPIVOT_BIN, "inspect", "--data", str(gen["data"]), "--json"],
        check=True,
        capture_output=True,
        text=True,
    )
    assert info == json.loads(p.stdout)
    names = dict(store.schema)
    assert names["Action"] == "string" and "Datetime" in names
    assert repr(store).startswith("Store(")


def test_contrast_and_score_match_cli(gen, store):
    suspect = "Datetime >= 2024-06-05T19:12:00Z and Datetime < 2024-06-05T21:12:00Z"
    fields = ["ClientRequestUserAgent", "ClientASN", "Action"]
    c = store.contrast(suspect=suspect, fields=fields, top=10)
    header, rows = cli_csv(
        gen["data"], "contrast", "--suspect", suspect, "--fields", ",".join(fields), "--top", "10"
    )
    assert c.column_names == header
    assert [[cell_text(v) for v in c.column(i).to_pylist()[:3]] for i in range(2)] == [
        [r[i] for r in rows[:3]] for i in range(2)
    ]
    assert c.column("suspect").to_pylist() == [int(r[2]) for r in rows]
    s = store.score(suspect=suspect, fields=fields, top=5)
    header, rows = cli_csv(
        gen["data"], "score", "--suspect", suspect, "--fields", ",".join(fields), "--top", "5"
    )
    assert s.column_names == header
    assert s.num_rows == len(rows) == 5


def test_errors(gen, store, tmp_path):
    with pytest.raises(logpivot.InvalidArgument, match="unknown field `NoSuchField`"):
        store.pivot(rows="NoSuchField")
    with pytest.raises(logpivot.InvalidArgument):
        store.pivot(rows="Action", where="Action in (")
    with pytest.raises(logpivot.InvalidArgument, match="invalid size `12 parsecs`"):
        store.pivot(rows="Action", memory_limit="12 parsecs")
    with pytest.raises(logpivot.InvalidArgument, match="invalid --join"):
        store.pivot(rows="Action", join="nocolon")
    with pytest.raises(logpivot.CorruptStore, match="not a logpivot data directory"):
        logpivot.open(tmp_path / "nothing")
    (tmp_path / "nologs").mkdir()
    (tmp_path / "nologs" / "notlog.txt").write_text("hello\n")
    with pytest.raises(logpivot.DataError, match="no JSON log found"):
        logpivot.ingest(tmp_path / "nologs", data=tmp_path / "d1", progress=False)
    (tmp_path / "bad.ndjson").write_text('{"a": 1}\nnot json\n')
    with pytest.raises(logpivot.DataError):
        logpivot.ingest(tmp_path / "bad.ndjson", data=tmp_path / "d2", strict=True, progress=False)
    with pytest.raises(logpivot.StoreIOError):
        logpivot.ingest(tmp_path / "missing.ndjson", data=tmp_path / "d3", progress=False)
    # A corrupt manifest.
    bad = tmp_path / "bad-store"
    shutil.copytree(gen["data"], bad)
    manifest = next(p for p in bad.iterdir() if p.name.upper().startswith("MANIFEST"))
    manifest.write_bytes(b"\x00garbage" * 8)
    with pytest.raises(logpivot.CorruptStore):
        logpivot.open(bad)
    for cls in (
        logpivot.InvalidArgument,
        logpivot.DataError,
        logpivot.StoreIOError,
        logpivot.CorruptStore,
    ):
        assert issubclass(cls, logpivot.LogpivotError)


def test_threads_share_one_store(store):
    want = store.pivot(rows=["ClientCountry", "Action"]).to_pylist()
    results, errors = [], []

    def work():
        try:
            for _ in range(10):
                results.append(store.pivot(rows=["ClientCountry", "Action"]).to_pylist())
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert len(results) == 20 and all(r == want for r in results)


def test_pickle_by_path(store):
    s2 = pickle.loads(pickle.dumps(store))
    assert isinstance(s2, logpivot.Store)
    assert s2.path == store.path
    assert s2.pivot(rows="Action").equals(store.pivot(rows="Action"))


def test_refresh_sees_new_commits(tmp_path):
    a = tmp_path / "a.ndjson"
    b = tmp_path / "b.ndjson"
    a.write_text('{"ts": "2024-01-01T00:00:00Z", "k": "x"}\n')
    b.write_text('{"ts": "2024-01-01T00:00:01Z", "k": "y"}\n')
    logpivot.ingest(a, data=tmp_path / "d", progress=False)
    s = logpivot.open(tmp_path / "d")
    assert s.pivot(rows="k").num_rows == 1
    logpivot.ingest(b, data=tmp_path / "d", progress=False)
    assert s.pivot(rows="k").num_rows == 1  # the handle keeps its segments
    s.refresh()
    assert sorted(s.pivot(rows="k").column("k").to_pylist()) == ["x", "y"]


def test_kept_regions_change_no_answer(gen, store):
    """Repeated filtered queries on one handle (dictionaries and index chunks kept after the
    first) answer as a process that keeps nothing (LOGPIVOT_KEEP_BYTES=0), and a bad setting
    is a clear error at import."""
    rule = store.pivot(rows="RuleID", top=3).column("RuleID").to_pylist()[2]
    calls = [
        dict(rows=["Datetime:1h"], where=f"RuleID = {rule}"),
        dict(rows=["Action"], where=f"RuleID = {rule} or Action = block"),
        dict(rows=["ClientCountry"], cols="Action", where=f"RuleID in ({rule}, x)"),
    ]
    want = [[store.pivot(**c).to_pylist() for c in calls] for _ in range(3)]
    assert want[0] == want[1] == want[2]
    script = textwrap.dedent(
        f"""
        import json, logpivot
        s = logpivot.open({str(gen["data"])!r})
        print(json.dumps([s.pivot(**c).to_pylist() for c in {calls!r}], default=str))
        """
    )
    env = {**os.environ, "LOGPIVOT_KEEP_BYTES": "0"}
    p = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == json.loads(json.dumps(want[0], default=str))
    env["LOGPIVOT_KEEP_BYTES"] = "lots"
    p = subprocess.run(
        [sys.executable, "-c", "import logpivot"], env=env, capture_output=True, text=True
    )
    assert p.returncode != 0 and "lots" in p.stderr


def test_version():
    assert logpivot.__version__ and isinstance(logpivot.__version__, str)
    assert logpivot.parse_size("256MiB") == 256 << 20


# Real logs from tests/data/fixtures: the module, the CLI and an independent reading agree.
FIXTURE_PIVOTS = [
    (
        "suricata",
        "suricata",
        dict(
            rows="et_rules_2019.classtype",
            join="{F}/suricata/et_rules_2019.csv.gz:alert.signature_id=sid",
            totals=True,
        ),
        [
            "--rows",
            "et_rules_2019.classtype",
            "--join",
            "{F}/suricata/et_rules_2019.csv.gz:alert.signature_id=sid",
            "--totals",
        ],
    ),
    (
        "zeek",
        "zeek_wrccdc/dns.json.gz",
        dict(rows=["id.orig_h", "qtype_name"], top=20),
        ["--rows", "id.orig_h,qtype_name", "--top", "20"],
    ),
    (
        "modsec",
        "modsecurity/modsec_audit.json.log",
        dict(
            rows="crs_rules.msg",
            top=10,
            join="{F}/modsecurity/crs_rules.csv:extract(audit_data.messages, 'id \"', '\"')"
            "=rule_id",
        ),
        [
            "--rows",
            "crs_rules.msg",
            "--top",
            "10",
            "--join",
            "{F}/modsecurity/crs_rules.csv:extract(audit_data.messages, 'id \"', '\"')=rule_id",
        ],
    ),
]


@pytest.fixture(scope="session")
def fixture_stores(tmp_path_factory):
    d = tmp_path_factory.mktemp("fixtures")
    out = {}
    for name, path, _, _ in FIXTURE_PIVOTS:
        logpivot.ingest(FIXTURES / path, data=d / name, progress=False)
        out[name] = d / name
    return out


@pytest.mark.parametrize(
    "name,path,kwargs,flags", FIXTURE_PIVOTS, ids=[f[0] for f in FIXTURE_PIVOTS]
)
def test_fixture_pivot_matches_cli(fixture_stores, name, path, kwargs, flags):
    def fill(v):
        if isinstance(v, str):
            return v.replace("{F}", str(FIXTURES))
        return v

    kwargs = {k: fill(v) for k, v in kwargs.items()}
    t = logpivot.open(fixture_stores[name]).pivot(**kwargs)
    header, rows = cli_csv(fixture_stores[name], "pivot", *[fill(f) for f in flags])
    assert table_as_csv(t, kwargs.get("totals", False)) == (header, rows)
    assert t.num_rows > 2


def test_fixture_counts_match_json(fixture_stores):
    """Zeek dns: `id.orig_h` (a key with a dot) counted from the gzip JSON by hand."""
    want = collections.Counter()
    with gzip.open(FIXTURES / "zeek_wrccdc/dns.json.gz", "rt", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                want[json.loads(line).get("id.orig_h", "(null)")] += 1
    t = logpivot.open(fixture_stores["zeek"]).pivot(rows="id.orig_h")
    got = dict(zip(t.column("id.orig_h").to_pylist(), t.column("count").to_pylist()))
    assert got == dict(want)
    # Suricata alerts are JSON arrays: count alert.category by hand.
    want = collections.Counter()
    for p in sorted((FIXTURES / "suricata").glob("*/alerts-only.json")):
        for e in json.loads(p.read_text(encoding="utf-8")):
            want[e.get("alert", {}).get("category", "(null)")] += 1
    t = logpivot.open(fixture_stores["suricata"]).pivot(rows="alert.category")
    got = dict(zip(t.column("alert.category").to_pylist(), t.column("count").to_pylist()))
    assert got == dict(want)


CTRL_C_CHILD = textwrap.dedent("""
    import json, os, sys, threading, time
    import logpivot
    store = logpivot.open(sys.argv[1])
    spill, spill2 = sys.argv[2], sys.argv[3]
    def q(where=spill):
        return store.pivot(rows=["RayID", "ClientIP"], memory_limit="2MiB", spill_dir=where,
                           threads=1)
    # Another thread's calls on the same Store must not be cancelled by this thread's Ctrl-C.
    stop, other = threading.Event(), {"done_after": 0, "errors": []}
    def background():
        while True:
            stopping = stop.is_set()
            try:
                q(spill2)
            except BaseException as e:
                other["errors"].append(repr(e))
            if stopping:
                other["done_after"] += 1
                return
    t = threading.Thread(target=background)
    t.start()
    t0 = time.monotonic(); q(); one = time.monotonic() - t0
    print("ready", flush=True)
    try:
        while True:
            q()
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    stop.set()
    t.join()
    left = [os.path.join(r, n) for r, ds, fs in os.walk(spill) for n in ds + fs]
    n = q().num_rows
    print(json.dumps({"one": one, "left": left, "rows": n, "other": other}), flush=True)
""")


def test_ctrl_c_stops_a_pivot_and_cleans_up(tmp_path):
    """SIGINT during a spilling pivot: KeyboardInterrupt, no spill file left, the next call
    on the same Store works, and a pivot running in another thread at that moment is not
    cancelled (cancellation is per call, not process-wide)."""
    subprocess.run(
        [LOGGEN_BIN, "--events", "300000", "--output", str(tmp_path / "ev.ndjson")],
        check=True,
        capture_output=True,
    )
    logpivot.ingest(tmp_path / "ev.ndjson", data=tmp_path / "d", progress=False)
    spill, spill2 = tmp_path / "spill", tmp_path / "spill2"
    spill.mkdir()
    spill2.mkdir()
    child = subprocess.Popen(
        [sys.executable, "-c", CTRL_C_CHILD, str(tmp_path / "d"), str(spill), str(spill2)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline().strip() == "ready"
        time.sleep(0.3)
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        assert child.stdout.readline().strip() == "interrupted"
        latency = time.monotonic() - sent
        result = json.loads(child.stdout.readline())
        assert child.wait(timeout=120) == 0, child.stderr.read()
    finally:
        child.kill()
    # Timing is reported, never asserted (a shared machine).
    print(f"one pivot {result['one']:.2f} s, KeyboardInterrupt {latency:.3f} s after SIGINT")
    assert result["other"] == {"done_after": 1, "errors": []}, result["other"]
    assert result["left"] == []
    assert result["rows"] > 100_000


def test_ingest_reports_progress_to_a_callable(tmp_path):
    """`progress` as a callable gets the counters, the last time with done=True and the
    totals of the summary; `progress=False` reports nothing."""
    src = tmp_path / "e.ndjson"
    src.write_text("".join(f'{{"id": {i}, "RuleID": "{i % 7}"}}\n' for i in range(5000)))
    seen = []
    summary = logpivot.ingest(src, data=tmp_path / "d", progress=seen.append)
    assert seen and seen[-1]["done"] is True
    assert all(not p["done"] for p in seen[:-1])
    assert seen[-1]["events"] == summary["events"] == 5000
    assert seen[-1]["raw_total"] == src.stat().st_size
    assert "5,000 events" in logpivot._progress.describe(seen[-1])
    quiet = logpivot.ingest(tmp_path / "e.ndjson", data=tmp_path / "d2", progress=False)
    assert quiet["events"] == 5000


INGEST_CTRL_C_CHILD = textwrap.dedent("""
    import json, os, sys
    import logpivot
    src, data = sys.argv[1], sys.argv[2]
    def progress(p):
        if not progress.said:
            progress.said = True
            print("started", flush=True)
    progress.said = False
    try:
        logpivot.ingest(src, data=data, threads=1, progress=progress)
        print("finished", flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    tmp = sorted(os.listdir(os.path.join(data, "tmp")))
    before = logpivot.open(data).info()["rows"]
    again = logpivot.ingest(src, data=data, progress=False)
    after = logpivot.open(data).info()["rows"]
    print(json.dumps({"tmp": tmp, "before": before, "after": after,
                      "resumed": again["resumed"]}), flush=True)
""")


def test_ctrl_c_stops_an_ingest_that_resumes_exactly_once(tmp_path):
    """SIGINT during a long ingest: KeyboardInterrupt, nothing left in tmp/, and the same
    ingest run again stores every event exactly once."""
    src = tmp_path / "ev.ndjson"
    subprocess.run(
        [LOGGEN_BIN, "--events", "400000", "--malformed-every", "0", "--output", str(src)],
        check=True,
        capture_output=True,
    )
    child = subprocess.Popen(
        [sys.executable, "-c", INGEST_CTRL_C_CHILD, str(src), str(tmp_path / "d")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline().strip() == "started"
        child.send_signal(signal.SIGINT)
        state = child.stdout.readline().strip()
        result = json.loads(child.stdout.readline())
        assert child.wait(timeout=120) == 0, child.stderr.read()
    finally:
        child.kill()
    assert state == "interrupted", "the ingest must still run when SIGINT arrives"
    assert result["tmp"] == []
    assert result["before"] < 400_000
    assert result["after"] == 400_000
    if result["before"] > 0:
        assert result["resumed"] == [str(src)]


def test_compact_and_retain_from_python(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    for i in range(6):
        lines = [
            json.dumps(
                {
                    "Datetime": f"2024-06-0{1 + i % 3}T0{i}:00:00Z",
                    "ClientIP": f"10.0.0.{j % 7}",
                    "Action": ["block", "log"][j % 2],
                    "RuleID": str(100 + j % 5),
                }
            )
            for j in range(50)
        ]
        (logs / f"b{i}.ndjson").write_text("\n".join(lines) + "\n")
    data = tmp_path / "lp"
    for f in sorted(logs.iterdir()):
        logpivot.ingest(f, data=data, progress=False)
    store = logpivot.open(data)
    before = store.pivot(rows="Action", cols="ClientIP")
    lease = logpivot._logpivot._lease(data)
    dry = logpivot.compact(data, dry_run=True)
    assert dry["dry_run"] and dry["groups"] == 1 and dry["segments_replaced"] == 6
    s = logpivot.compact(data)
    assert (s["segments_before"], s["segments_after"]) == (6, 1)
    assert s["files_kept"] > 0  # the lease holds them
    # An open handle reads on from what it opened; a new one from the merged segment.
    assert store.pivot(rows="Action", cols="ClientIP").equals(before)
    assert logpivot.open(data).pivot(rows="Action", cols="ClientIP").equals(before)
    lease.release()
    s = logpivot.compact(data)
    assert s["groups"] == 0 and s["files_deleted"] > 0 and s["files_kept"] == 0
    r = logpivot.retain(data, before="2024-06-02")
    assert r["rows_before"] - r["rows_after"] == 100
    assert logpivot.open(data).pivot(rows="Action")["count"].to_pylist() == [100, 100]
    with pytest.raises(logpivot.InvalidArgument):
        logpivot.retain(data)
    summary = logpivot.ingest(logs, data=tmp_path / "lp2", progress=False, compact=True)
    assert summary["compaction"]["groups"] == 0


def test_plot_draws_the_table_it_returns(store, tmp_path):
    svg = tmp_path / "hourly.svg"
    t = store.pivot(rows="Datetime:1h", cols="Action", cols_top=3, plot=svg)
    text = svg.read_text()
    assert text.startswith("<svg") and text.rstrip().endswith("</svg>")
    texts = {m.strip() for m in re.findall(r"<text[^>]*>([^<]*)</text>", text)}
    assert "logpivot pivot --rows Datetime:1h --cols Action --cols-top 3" in texts  # the title
    for name in [c for c in t.column_names if c != "Datetime:1h"]:
        assert name in texts  # a legend entry per line
    png = tmp_path / "contrast.png"
    c = store.contrast(suspect="Action = block", fields="ClientCountry", top=5, plot=png)
    assert c.num_rows > 0 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(logpivot.InvalidArgument, match=r"\.svg or \.png"):
        store.pivot(rows="Action", plot=tmp_path / "x.gif")
