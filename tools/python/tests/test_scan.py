"""`Store.scan` against an independent reading of the generated JSON: rows selected by an
indexed column and a time range, values row by row, Arrow types, batches, consumers.

Needs the `logpivot` and `loggen` binaries (LOGPIVOT_BIN, LOGGEN_BIN; default target/release/
of the checkout) and the module installed (`pip install ./tools/python`).
"""

from __future__ import annotations

import collections
import json
import math
import os
import subprocess
from pathlib import Path

import pyarrow as pa
import pytest

import logpivot

ROOT = Path(__file__).resolve().parents[3]
LOGPIVOT_BIN = os.environ.get("LOGPIVOT_BIN", str(ROOT / "target/release/logpivot"))
LOGGEN_BIN = os.environ.get("LOGGEN_BIN", str(ROOT / "target/release/loggen"))
EVENTS = 20_000
DAY_NS = 86_400 * 10**9
DICT = pa.dictionary(pa.int32(), pa.string())
COLUMNS = ["RayID", "Datetime", "_time", "ClientIP", "ClientRequestPath", "EdgeResponseStatus"]


@pytest.fixture(scope="module")
def gen(tmp_path_factory):
    """loggen events, ingested through the module, and the same events read with `json`."""
    d = tmp_path_factory.mktemp("scan")
    events = d / "ev.ndjson"
    subprocess.run(
        [LOGGEN_BIN, "--events", str(EVENTS), "--output", str(events)],
        check=True,
        capture_output=True,
    )
    logpivot.ingest([str(events)], data=d / "data", progress=False)
    records = []
    for line in events.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            records.append(obj)
    assert len({r["RayID"] for r in records}) == len(records), "RayID is the unique id"
    return {"dir": d, "events": events, "store": logpivot.open(d / "data"), "records": records}


def read(reader: pa.RecordBatchReader) -> tuple[list[pa.RecordBatch], pa.Schema]:
    schema = reader.schema
    return list(reader), schema


def by_ray(t: pa.Table) -> list[dict]:
    return sorted(t.to_pylist(), key=lambda r: r["RayID"])


def test_scan_is_a_stream_with_one_schema(gen):
    reader = gen["store"].scan()
    assert isinstance(reader, pa.RecordBatchReader)
    assert hasattr(reader, "__arrow_c_stream__")
    batches, schema = read(reader)
    assert len(batches) >= 1
    assert all(b.schema == schema for b in batches)
    assert sum(b.num_rows for b in batches) == len(gen["records"])
    # All columns, by name.
    assert schema.names == sorted(schema.names)
    assert {"RayID", "_time", "_file", "_line", "Metadata.ruleset"} <= set(schema.names)


def test_arrow_types_and_pandas_categoricals(gen):
    t = gen["store"].scan(columns=COLUMNS + ["Action"]).read_all()
    assert t.column_names == COLUMNS + ["Action"]
    types = {f.name: f.type for f in t.schema}
    assert types["_time"] == pa.timestamp("ns", tz="UTC")
    assert types["Datetime"] == pa.int64()  # Cloudflare's unixnano, stored as an int
    assert types["EdgeResponseStatus"] == pa.int64()
    for name in ["RayID", "ClientIP", "ClientRequestPath", "Action"]:
        assert types[name] == DICT, name
    df = t.to_pandas()
    assert str(df["Action"].dtype) == "category"
    assert str(df["_time"].dtype) == "datetime64[ns, UTC]"
    assert set(df["Action"].cat.categories) == {r["Action"] for r in gen["records"]}
    want = collections.Counter(r["Action"] for r in gen["records"])
    assert df["Action"].value_counts().to_dict() == dict(want)


def test_rule_rows_match_the_json_row_by_row(gen):
    records = gen["records"]
    rule, n = collections.Counter(r["RuleID"] for r in records).most_common(1)[0]
    assert n > 10
    reader = gen["store"].scan(columns=COLUMNS, where=f'RuleID = "{rule}"', batch_size=97)
    batches, schema = read(reader)
    assert all(b.num_rows <= 97 for b in batches)
    got = by_ray(pa.Table.from_batches(batches, schema=schema))
    want = sorted((r for r in records if r["RuleID"] == rule), key=lambda r: r["RayID"])
    assert len(got) == len(want) == n
    for g, w in zip(got, want):
        assert g["RayID"] == w["RayID"]
        assert g["Datetime"] == w["Datetime"]
        assert pa.scalar(g["_time"], pa.timestamp("ns", tz="UTC")).value == w["Datetime"]
        assert g["ClientIP"] == w["ClientIP"]
        assert g["ClientRequestPath"] == w["ClientRequestPath"]
        assert g["EdgeResponseStatus"] == w["EdgeResponseStatus"]


def test_time_range_and_filter_match_a_naive_filter(gen):
    records = gen["records"]
    t0 = min(r["Datetime"] for r in records) // DAY_NS * DAY_NS + DAY_NS
    lo, hi = t0, t0 + 2 * DAY_NS
    frm = pa.scalar(lo, pa.timestamp("ns", tz="UTC")).as_py().isoformat()
    to = pa.scalar(hi, pa.timestamp("ns", tz="UTC")).as_py().isoformat()
    t = (
        gen["store"]
        .scan(
            columns=["RayID", "Action"],
            where=["Action in (block, challenge)", "EdgeResponseStatus >= 403"],
            time_from=frm,
            time_to=to,
        )
        .read_all()
    )
    want = sorted(
        r["RayID"]
        for r in records
        if lo <= r["Datetime"] < hi
        and r["Action"] in ("block", "challenge")
        and r["EdgeResponseStatus"] >= 403
    )
    assert 0 < len(want) < len(records)
    assert sorted(t.column("RayID").to_pylist()) == want


def test_nothing_selected_is_an_empty_table_with_the_schema(gen):
    store = gen["store"]
    full = store.scan(columns=COLUMNS).schema
    reader = store.scan(columns=COLUMNS, where='RuleID = "no such rule"')
    t = reader.read_all()
    assert t.num_rows == 0
    assert t.schema == full
    t = store.scan(time_from="1999-01-01", time_to="1999-01-02").read_all()
    assert t.num_rows == 0 and t.num_columns == len(store.schema)


def test_errors(gen):
    store = gen["store"]
    with pytest.raises(logpivot.InvalidArgument, match="NoSuchColumn"):
        store.scan(columns=["RayID", "NoSuchColumn"])
    with pytest.raises(logpivot.InvalidArgument):
        store.scan(where="RuleID = ")
    with pytest.raises(logpivot.InvalidArgument):
        store.scan(time_from="yesterday-ish")
    with pytest.raises(logpivot.InvalidArgument):
        store.scan(batch_size=0)


def test_polars_and_duckdb_read_the_stream(gen):
    store = gen["store"]
    polars = pytest.importorskip("polars")
    duckdb = pytest.importorskip("duckdb")
    df = polars.from_arrow(store.scan(columns=["RayID", "Action", "EdgeResponseStatus"]))
    assert df.height == len(gen["records"])
    assert df.schema["Action"] == polars.Categorical
    r = store.scan(columns=["Action"], where="Action = block")  # noqa: F841 (DuckDB reads r by name)
    n = duckdb.sql("select count(*) from r").fetchall()[0][0]
    assert n == sum(1 for x in gen["records"] if x["Action"] == "block")


def test_many_segments_stream_batch_by_batch(gen, tmp_path):
    """A store of several segments read batch by batch: a batch never spans two segments, so
    their count follows from the segments' sizes, and every batch has the one schema."""
    data = tmp_path / "many"
    subprocess.run(
        [
            LOGPIVOT_BIN,
            "ingest",
            "--data",
            str(data),
            "--segment-rows",
            "3000",
            "--quiet",
            str(gen["events"]),
        ],
        check=True,
        capture_output=True,
    )
    store = logpivot.open(data)
    seg_rows = [s["rows"] for s in store.info()["segments"]]
    assert len(seg_rows) >= 4
    reader = store.scan(batch_size=1000)
    schema = reader.schema
    batches = 0
    rows = 0
    for b in reader:
        assert b.schema == schema
        assert 0 < b.num_rows <= 1000
        batches += 1
        rows += b.num_rows
    assert rows == sum(seg_rows) == len(gen["records"])
    assert batches == sum(math.ceil(n / 1000) for n in seg_rows)
