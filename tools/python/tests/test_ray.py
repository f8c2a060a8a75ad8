"""logpivot.ray on a real two-node Ray cluster on loopback (a head on 127.0.0.1 and a second
node on 127.0.0.2, one CPU each): distributed ingest, pivots, contrast and the Ray Data
source against the single-process answers, and a pivot whose map task loses its worker.

The nodes are `ray start --block` processes, each in a session of its own, killed as process
groups when the module's tests end; tools/test also kills them from a trap (the groups are
listed in LOGPIVOT_RAY_PGIDS) if pytest itself dies.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pytest
import ray

import logpivot
import logpivot.ray as lpray

ROOT = Path(__file__).resolve().parents[3]
LOGPIVOT_BIN = os.environ.get("LOGPIVOT_BIN", str(ROOT / "target/release/logpivot"))
LOGGEN_BIN = os.environ.get("LOGGEN_BIN", str(ROOT / "target/release/loggen"))
RAY_BIN = str(Path(sys.executable).parent / "ray")
FILES = 4
EVENTS_PER_FILE = 12_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(args: list[str], env: dict) -> subprocess.Popen:
    p = subprocess.Popen(
        [RAY_BIN, "start", "--block", "--disable-usage-stats", *args],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    pgids = os.environ.get("LOGPIVOT_RAY_PGIDS")
    if pgids:
        with open(pgids, "a") as f:
            f.write(f"{p.pid}\n")
    return p


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()


@pytest.fixture(scope="module")
def cluster():
    os.environ["RAY_AUTH_MODE"] = "disabled"
    tmp = tempfile.mkdtemp(prefix="lpray", dir="/tmp")  # short: Ray's socket paths
    fail = os.path.join(tmp, "kill-one-map")
    env = dict(os.environ, LOGPIVOT_RAY_FAILPOINT=f"map:{fail}")
    port = _free_port()
    procs = [
        _start(
            [
                "--head",
                "--node-ip-address=127.0.0.1",
                f"--port={port}",
                "--num-cpus=1",
                "--include-dashboard=false",
                f"--temp-dir={tmp}",
            ],
            env,
        )
    ]
    try:
        deadline = time.monotonic() + 90
        second = False
        while time.monotonic() < deadline:
            time.sleep(1)
            if not second:
                r = subprocess.run(
                    [RAY_BIN, "status", f"--address=127.0.0.1:{port}"], env=env, capture_output=True
                )
                if r.returncode == 0:
                    procs.append(
                        _start(
                            [
                                f"--address=127.0.0.1:{port}",
                                "--node-ip-address=127.0.0.2",
                                "--num-cpus=1",
                            ],
                            env,
                        )
                    )
                    second = True
                continue
            ray.init(
                address=f"127.0.0.1:{port}",
                log_to_driver=False,
                runtime_env={
                    "env_vars": {
                        "LOGPIVOT_RAY_FAILPOINT": f"map:{fail}",
                        "RAY_AUTH_MODE": "disabled",
                    }
                },
            )
            while time.monotonic() < deadline and len([n for n in ray.nodes() if n["Alive"]]) < 2:
                time.sleep(0.5)
            break
        nodes = [n["NodeManagerAddress"] for n in ray.nodes() if n["Alive"]]
        assert len(nodes) == 2, f"the two-node cluster did not come up: {nodes}"
        yield {"fail": fail, "nodes": nodes}
    finally:
        if ray.is_initialized():
            ray.shutdown()
        _stop(procs)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def stores(cluster, tmp_path_factory):
    d = tmp_path_factory.mktemp("raydata")
    logs = d / "logs"
    logs.mkdir()
    for i in range(FILES):
        subprocess.run(
            [
                LOGGEN_BIN,
                "--events",
                str(EVENTS_PER_FILE),
                "--seed",
                str(7 + i),
                "--output",
                str(logs / f"ev{i}.ndjson"),
                "--rules",
                str(d / "rules.csv"),
            ],
            check=True,
            capture_output=True,
        )
    summary = lpray.ingest([logs], data=d / "lp", shards=3)
    logpivot.ingest([logs], data=d / "one", progress=False)
    return {
        "dir": d,
        "logs": logs,
        "lp": d / "lp",
        "one": logpivot.open(d / "one"),
        "summary": summary,
        "rules": d / "rules.csv",
    }


def test_ingest_fills_shards_and_a_rerun_adds_nothing(stores):
    s = stores["summary"]
    one = stores["one"]
    events = one.pivot(rows="Action").column("count").to_pylist()
    assert s["events"] == sum(events)
    assert s["shards"] == 3 and s["tasks"] >= 2
    shards = sorted(p.name for p in (stores["lp"] / "shards").iterdir())
    assert len(shards) >= 2
    again = lpray.ingest([stores["logs"]], data=stores["lp"])
    assert again["events"] == 0 and len(again["skipped"]) == FILES
    # A renamed file is recognised by its content: it stays in its shard, nothing is added.
    moved = stores["dir"] / "moved"
    moved.mkdir()
    shutil.copy(stores["logs"] / "ev0.ndjson", moved / "renamed.ndjson")
    third = lpray.ingest([moved], data=stores["lp"])
    assert third["events"] == 0
    with pytest.raises(logpivot.InvalidArgument):
        lpray.ingest([stores["logs"]], data=stores["lp"], shards=5)


QUERIES_KEYS = [
    "Action",
    "Source",
    "ClientCountry",
    "RuleID",
    "ClientASN",
    "ClientIP",
    "EdgeResponseStatus",
    "Datetime:1h",
    "hour(Datetime)",
    "ClientRequestPath",
]


def _random_queries(rules: Path, n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        kw: dict = {"rows": rng.sample(QUERIES_KEYS, rng.choice([1, 2]))}
        if rng.random() < 0.6:
            kw["cols"] = rng.choice(["Action", "Source", "hour(Datetime)"])
        if rng.random() < 0.3:
            kw["where"] = rng.choice(
                ["Action = block", "Source != waf", "ClientCountry in (US, DE)"]
            )
        if rng.random() < 0.3:
            kw["join"] = f"{rules}:RuleID=rule_id"
            kw["rows"] = ["rules.category", *kw["rows"][:1]]
        if rng.random() < 0.5:
            kw["top"] = rng.choice([1, 5, 20])
        if "cols" in kw and rng.random() < 0.4:
            kw["cols_top"] = rng.choice([1, 2])
        if rng.random() < 0.3:
            kw["totals"] = True
        kw["values"] = rng.choice(
            [
                ["count"],
                ["count", "count_distinct(ClientIP)"],
                ["approx_count_distinct(ClientRequestPath)", "sum(EdgeResponseStatus)"],
                ["avg(EdgeResponseStatus)", "min(EdgeResponseStatus)", "max(EdgeResponseStatus)"],
            ]
        )
        if any(k.startswith("Datetime") or k.startswith("hour") for k in kw["rows"]) and i % 2:
            kw["tz"] = "America/New_York"
        if rng.random() < 0.3:
            kw["time_from"], kw["time_to"] = "2024-06-04", "2024-06-06T12:00:00Z"
        out.append(kw)
    return out


def test_pivots_equal_the_single_process_answer(stores):
    one, lp = stores["one"], stores["lp"]
    sharded = logpivot.open(lp)
    for kw in _random_queries(stores["rules"], 14, seed=3):
        want = one.pivot(**kw)
        assert sharded.pivot(**kw).equals(want), kw
        got = lpray.pivot(lp, **kw, reducers=random.Random(str(kw)).choice([1, 2, 3]))
        assert got.equals(want), (kw, got.slice(0, 5).to_pylist(), want.slice(0, 5).to_pylist())


def test_high_cardinality_top_and_memory_limit(stores):
    kw = {"rows": ["ClientIP", "ClientRequestPath"], "cols": "Action", "top": 25}
    want = stores["one"].pivot(**kw)
    got = lpray.pivot(stores["lp"], **kw, memory_limit="1MiB", map_tasks=3, reducers=4)
    assert got.equals(want)


def test_contrast_equals_the_single_process_answer(stores):
    lp = stores["lp"]
    for kw in [
        {
            "suspect": "Datetime >= 2024-06-05T19:00:00Z and Datetime < 2024-06-05T21:00:00Z",
            "fields": ["ClientASN", "ClientRequestUserAgent", "RuleID", "Action"],
            "top": 0,
        },
        {
            "suspect": "Action = block",
            "fields": ["ClientCountry", "Source"],
            "pairs": True,
            "sort": "g",
        },
    ]:
        assert lpray.contrast(lp, **kw).equals(stores["one"].contrast(**kw)), kw
    # Default fields depend on the segments: compare with the sharded store opened here.
    kw = {"suspect": "Datetime >= 2024-06-05T19:00:00Z and Datetime < 2024-06-05T21:00:00Z"}
    assert lpray.contrast(lp, **kw).equals(logpivot.open(lp).contrast(**kw))


def test_score_equals_the_single_process_answer(stores):
    lp = stores["lp"]
    suspect = "Datetime >= 2024-06-05T19:00:00Z and Datetime < 2024-06-05T21:00:00Z"
    for kw in [
        {"fields": ["ClientRequestUserAgent", "ClientASN", "ClientCountry"], "top": 30},
        {"fields": ["ClientASN", "Action"], "where": "Source = waf", "threshold": 0.9},
    ]:
        # Equal scores are listed in the order of their segments and rows, which differ
        # between the sharded store and the one-directory store: cell for cell against the
        # sharded store opened here, and the scores against the one-directory store.
        want = logpivot.open(lp).score(suspect, **kw)
        got = lpray.score(lp, suspect, **kw, reducers=2)
        assert got.equals(want), (kw, got.slice(0, 3).to_pylist(), want.slice(0, 3).to_pylist())
        assert want.num_rows > 0
        one = stores["one"].score(suspect, **kw)
        assert got.column("score").equals(one.column("score"))


def test_read_logpivot_matches_the_scan(stores):
    one, lp = stores["one"], stores["lp"]
    ds = lpray.read_logpivot(lp, columns=["Datetime", "ClientIP"], where="Action = block")
    want = one.scan(columns=["ClientIP"], where="Action = block").read_all().num_rows
    assert ds.count() == want
    ds = lpray.read_logpivot(
        lp, columns=["ClientIP", "RuleID"], time_from="2024-06-04", time_to="2024-06-05"
    )
    t = one.scan(
        columns=["ClientIP", "RuleID"], time_from="2024-06-04", time_to="2024-06-05"
    ).read_all()
    got = pa.concat_tables(ray.get(ds.to_arrow_refs()))
    assert got.num_rows == t.num_rows
    key = lambda r: (r["ClientIP"], r["RuleID"])  # noqa: E731
    assert sorted(got.to_pylist(), key=key) == sorted(t.to_pylist(), key=key)
    assert ds.schema().names == ["ClientIP", "RuleID"]


def test_a_killed_map_worker_is_retried_and_the_answer_stays_exact(stores, cluster):
    Path(cluster["fail"]).write_text("kill the first map task that sees this\n")
    kw = {
        "rows": ["ClientCountry"],
        "cols": "Action",
        "values": ["count", "count_distinct(ClientIP)"],
    }
    got = lpray.pivot(stores["lp"], **kw)
    assert not Path(cluster["fail"]).exists(), "no map task reached the failpoint"
    assert got.equals(stores["one"].pivot(**kw))


def test_the_cli_reads_a_sharded_root_as_one_store(stores):
    args = ["pivot", "--rows", "Action", "--cols", "Source", "--format", "csv"]
    a = subprocess.run(
        [LOGPIVOT_BIN, *args, "--data", str(stores["lp"])],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    b = subprocess.run(
        [LOGPIVOT_BIN, *args, "--data", str(stores["dir"] / "one")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert a == b and a.count("\n") > 3


def test_a_compaction_beside_a_dataset_keeps_what_it_reads(stores):
    lp = stores["dir"] / "lp-compact"
    shutil.copytree(stores["lp"], lp)
    # More small batches, each its own segment in its shard.
    more = stores["dir"] / "more"
    more.mkdir()
    for i in range(6):
        subprocess.run(
            [
                LOGGEN_BIN,
                "--events",
                "300",
                "--seed",
                str(100 + i),
                "--output",
                str(more / f"m{i}"),
            ],
            check=True,
            capture_output=True,
        )
        logpivot.ingest(more / f"m{i}", data=lp, progress=False)
    one = stores["dir"] / "one-more"
    shutil.copytree(stores["dir"] / "one", one)
    logpivot.ingest(more, data=one, progress=False)
    want = logpivot.open(one).scan(columns=["ClientIP"]).read_all().num_rows
    ds = lpray.read_logpivot(lp, columns=["ClientIP"])
    s = logpivot.compact(lp)
    assert s["groups"] >= 1 and s["segments_after"] < s["segments_before"], s
    # The dataset's lease keeps the files its read tasks will open.
    assert s["files_kept"] > 0, s
    assert ds.count() == want
    got = lpray.pivot(lp, rows="Action", values=["count", "count_distinct(ClientIP)"])
    assert got.equals(
        logpivot.open(one).pivot(rows="Action", values=["count", "count_distinct(ClientIP)"])
    )
