"""logpivot past one machine, on Ray: the same Rust engine on every node, Ray moving the work
and the partial results. Nothing here is a cluster of its own: it runs on the Ray cluster the
caller has (``ray.init(address="auto")``) or starts a local one.

    import ray, logpivot, logpivot.ray as lpray
    ray.init(address="auto")
    lpray.ingest(["logs/"], data="/shared/lp")            # one Ray task per shard
    t = lpray.pivot("/shared/lp", rows="ClientIP", cols="Action", top=100)
    c = lpray.contrast("/shared/lp", suspect="Datetime >= 2024-06-05T19:00:00Z")
    ds = lpray.read_logpivot("/shared/lp", columns=["Datetime", "ClientIP"],
                             where="RuleID = 942100")    # a ray.data.Dataset
    logpivot.open("/shared/lp")                          # a sharded root is one store

The data directory must be on storage every node reads at the same path (a shared or network
file system). Layout, assignment of files to shards and the partial-aggregate format are in
docs/FORMAT.md; the data flow in docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Sequence
from os import PathLike
from typing import Any

import pyarrow as pa
import ray

from . import _logpivot

# The Arrow schema metadata key of a partial aggregate, and the blob format it carries
# (query::partial::PARTIAL_FORMAT, also checked by the blob's own header).
PARTIAL_KEY = b"logpivot.partial_format"
PARTIAL_FORMAT = b"1"

# Most reduce partitions a query uses by default.
MAX_REDUCERS = 64

# The phases of the last pivot or contrast this process ran (seconds, on the driver's clock):
# map_s until every map task's column counts arrived, reduce_s until every reduce task
# finished after that, finish_s for the table built here; with the task counts.
LAST: dict[str, float] = {}

_SUM_FIELDS = (
    "events",
    "rejects",
    "repaired",
    "segments",
    "bytes_in",
    "raw_bytes_in",
    "bytes_on_disk",
    "events_without_time",
    "orphans_removed",
)
_LIST_FIELDS = ("skipped", "not_logs", "broken", "envelopes", "resumed")


def _path(p: str | PathLike[str]) -> str:
    return os.path.abspath(os.fspath(p))


def _cluster_cpus() -> int:
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def _shard_dir(root: str, i: int) -> str:
    return os.path.join(root, "shards", f"{i:04d}")


# --- ingest ---------------------------------------------------------------------------------


@ray.remote(max_retries=3)
def _ingest_shard(files: list[str], shard: str, threads: int, opts: dict) -> dict:
    return _logpivot.ingest(files, data=shard, threads=threads, _shard=True, **opts)


def ingest(
    paths: str | PathLike[str] | Sequence[str | PathLike[str]],
    data: str | PathLike[str],
    shards: int | None = None,
    cpus_per_task: int = 1,
    time_field: str | None = None,
    index: str | list[str] | None = None,
    strict: bool = False,
    records: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Ingest JSON logs into the shards of the sharded store ``data``, one Ray task per shard
    that has files to read, each with ``cpus_per_task`` CPUs (its ingest threads). With
    ``progress``, a line on stderr as each shard's task ends.

    ``shards`` is fixed when the store is created (default: the cluster's CPU count); later
    runs keep it. A file always goes to the same shard (the shard that already holds its
    content, else the one that holds an unfinished input of its path, else a pinned hash of
    its absolute path), so running the same ingest again after a failure or a lost node
    continues exactly once. Returns ``logpivot.ingest``'s summary, summed over the shards,
    with ``shards`` and ``tasks`` added.
    """
    started = time.monotonic()
    if isinstance(paths, (str, PathLike)):
        paths = [paths]
    root = _path(data)
    n = shards
    if n is None and not os.path.exists(os.path.join(root, "SHARDS")):
        n = _cluster_cpus()
    n, files, not_logs = _logpivot._plan_shards([_path(p) for p in paths], root, n)
    if not any(files):
        raise _logpivot.DataError(
            f"no JSON log to ingest in {', '.join(os.fspath(p) for p in paths)}"
            + (f" ({len(not_logs)} files are not logs)" if not_logs else "")
        )
    opts = {"time_field": time_field, "index": index, "strict": strict, "records": records}
    cpus = max(1, int(cpus_per_task))
    refs = [
        _ingest_shard.options(num_cpus=cpus).remote(fs, _shard_dir(root, i), cpus, opts)
        for i, fs in enumerate(files)
        if fs
    ]
    shard_of = {ref: i for ref, i in zip(refs, [i for i, fs in enumerate(files) if fs])}
    pending, summaries = list(refs), []
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        s = ray.get(done[0])
        summaries.append(s)
        if progress:
            print(
                f"logpivot.ray.ingest: shard {shard_of[done[0]]:04d}: {s['events']:,} events, "
                f"{s['rejects']:,} rejects in {s['seconds']:.1f} s "
                f"({len(summaries)} of {len(refs)} shards, {time.monotonic() - started:.1f} s)",
                file=sys.stderr,
                flush=True,
            )
    out: dict[str, Any] = {k: sum(s.get(k, 0) for s in summaries) for k in _SUM_FIELDS}
    for k in _LIST_FIELDS:
        out[k] = [x for s in summaries for x in s.get(k, [])]
    out["not_logs"] = [list(x) for x in not_logs] + out["not_logs"]
    out["seconds"] = time.monotonic() - started
    out["data_dir"] = root
    out["shards"] = n
    out["tasks"] = len(refs)
    return out


# --- partial aggregates as Arrow ------------------------------------------------------------


def _arrow(blob: bytes) -> pa.Table:
    return pa.table(
        {"partial": pa.array([blob], type=pa.large_binary())},
    ).replace_schema_metadata({PARTIAL_KEY: PARTIAL_FORMAT})


def _blob(t: pa.Table) -> bytes:
    meta = t.schema.metadata or {}
    if meta.get(PARTIAL_KEY) != PARTIAL_FORMAT:
        raise _logpivot.CorruptStore(
            f"a partial aggregate of format {meta.get(PARTIAL_KEY)!r}, this module reads "
            f"{PARTIAL_FORMAT!r} (mixed logpivot versions on the cluster?)"
        )
    return t.column(0)[0].as_py()


# --- planning -------------------------------------------------------------------------------


def _plan(
    data: str | PathLike[str],
    tasks: int | None,
    cpus: int,
    time_from: str | None = None,
    time_to: str | None = None,
):
    """Pin one view of the store (every shard's manifest, read once) and split its segments
    into map tasks: by shard, and within a shard into runs of about equal rows."""
    root = _path(data)
    # The lease first: the view read after it is at least as new, and compaction or
    # retention keeps its files until the query releases it.
    lease = _logpivot._lease(root)
    store = _logpivot.open(root)
    view = store._view()
    segs = store._segments(time_from, time_to)
    files = [e["file"] for e in json.loads(view)["segments"]]
    want = tasks or max(1, _cluster_cpus() // cpus)
    by_shard: dict[str, list[tuple[int, int, int]]] = {}
    for s in segs:
        f = files[s[0]] or ""
        shard = f.split("/segments/")[0] if f.startswith("shards/") else ""
        by_shard.setdefault(shard, []).append(s)
    total = sum(s[1] for s in segs) or 1
    groups: list[list[int]] = []
    for shard_segs in by_shard.values():
        rows = sum(s[1] for s in shard_segs)
        k = max(1, min(len(shard_segs), round(want * rows / total)))
        per = math.ceil(len(shard_segs) / k)
        for i in range(0, len(shard_segs), per):
            groups.append([s[0] for s in shard_segs[i : i + per]])
    return root, lease, view, groups


def _ref(view: str):
    # The view travels once (one object), not in every task's arguments.
    return ray.put(view)


# --- map, reduce, finish -------------------------------------------------------------------


@ray.remote(max_retries=3)
def _map(root: str, view_ref, method: str, segments: list[int], parts: int, kw: dict):
    _failpoint("map")
    store = _logpivot._open_view(root, ray.get(view_ref[0]))
    cols, blobs, _stats = getattr(store, method)(
        **kw, _stage={"op": "map", "parts": parts, "segments": segments}
    )
    return (_arrow(cols), *[_arrow(b) for b in blobs])


@ray.remote(max_retries=3)
def _reduce(root: str, view_ref, method: str, kw: dict, *tables: pa.Table):
    store = _logpivot._open_view(root, ray.get(view_ref[0]))
    blob, rows, _groups = getattr(store, method)(
        **kw, _stage={"op": "reduce", "inputs": [_blob(t) for t in tables]}
    )
    return _arrow(blob), rows


def _failpoint(step: str) -> None:
    """Fault injection for tests: with ``LOGPIVOT_RAY_FAILPOINT=STEP:FILE`` in the workers'
    environment, the first task of STEP to remove FILE kills its own worker process (SIGKILL,
    as a lost node would stop it); Ray retries the task."""
    spec = os.environ.get("LOGPIVOT_RAY_FAILPOINT", "")
    name, _, path = spec.partition(":")
    if name != step or not path:
        return
    try:
        os.remove(path)
    except FileNotFoundError:
        return
    import signal

    os.kill(os.getpid(), signal.SIGKILL)


def _counts(
    method: str,
    root: str,
    view: str,
    groups: list[list[int]],
    kw: dict,
    cpus: int,
    reducers: int | None,
):
    """The map and reduce tasks of a counting pass over one pinned view: (the maps'
    column-count blobs, the reduced blobs, the rows of the result)."""
    t0 = time.monotonic()
    parts = max(1, min(reducers or len(groups), MAX_REDUCERS))
    vref = [_ref(view)]
    mkw = dict(kw, threads=cpus)
    maps = [
        _map.options(num_cpus=cpus, num_returns=parts + 1).remote(root, vref, method, g, parts, mkw)
        for g in groups
    ]
    reds = [
        _reduce.options(num_cpus=cpus).remote(root, vref, method, mkw, *[m[p + 1] for m in maps])
        for p in range(parts)
    ]
    col_tables = ray.get([m[0] for m in maps])
    t1 = time.monotonic()
    reduced = ray.get(reds)
    LAST.update(maps=len(groups), reducers=parts, map_s=t1 - t0, reduce_s=time.monotonic() - t1)
    return (
        [_blob(t) for t in col_tables],
        [_blob(t) for t, _ in reduced],
        sum(r for _, r in reduced),
    )


def _distributed(
    method: str,
    data,
    kw: dict,
    cpus_per_task: int,
    map_tasks: int | None,
    reducers: int | None,
    time_from: str | None = None,
    time_to: str | None = None,
):
    """Run ``Store.<method>`` as map tasks over groups of segments of one pinned view, reduce
    tasks over hash partitions of the row keys, and the finish here."""
    cpus = max(1, int(cpus_per_task))
    root, lease, view, groups = _plan(data, map_tasks, cpus, time_from, time_to)
    try:
        return _run_distributed(method, root, view, groups, kw, cpus, reducers)
    finally:
        lease.release()


def _run_distributed(method, root, view, groups, kw, cpus, reducers):
    finish = getattr(_logpivot._open_view(root, view), method)
    if not groups:
        # Nothing to read: the one-machine answer over no segments.
        return finish(**kw, _stage={"op": "finish", "col_counts": [], "inputs": [], "rows": 0})
    cols, reduced, rows = _counts(method, root, view, groups, kw, cpus, reducers)
    t = time.monotonic()
    out = finish(**kw, _stage={"op": "finish", "col_counts": cols, "inputs": reduced, "rows": rows})
    LAST["finish_s"] = time.monotonic() - t
    return out


def pivot(
    data: str | PathLike[str],
    rows: str | list[str],
    cols: str | None = None,
    values: str | list[str] | None = None,
    where: str | list[str] | None = None,
    time_from: str | None = None,
    time_to: str | None = None,
    join: str | list[str] | None = None,
    unmatched: str | list[str] | None = None,
    top: int | None = None,
    cols_top: int | None = None,
    totals: bool = False,
    sort: str | None = None,
    tz: str | None = None,
    memory_limit: str | None = None,
    spill_dir: str | None = None,
    max_spill: str | None = None,
    cpus_per_task: int = 1,
    map_tasks: int | None = None,
    reducers: int | None = None,
) -> pa.Table:
    """``Store.pivot`` over a store on Ray, with the same arguments and the same result, cell
    for cell: map tasks aggregate groups of segments (each shard's, split by rows) with
    ``cpus_per_task`` threads and ``memory_limit`` each, spilling to ``spill_dir`` (default:
    the node's temp directory); their partial states, hash-partitioned by row key, are merged
    by ``reducers`` reduce tasks (default: one per map task, at most 64), each the only one to
    see its row keys; the driver builds the table. Join maps must be readable at the same
    path on every node.
    """
    kw = {
        "rows": rows,
        "cols": cols,
        "values": values,
        "where": where,
        "time_from": time_from,
        "time_to": time_to,
        "join": join,
        "unmatched": unmatched,
        "top": top,
        "cols_top": cols_top,
        "totals": totals,
        "sort": sort,
        "tz": tz,
        "memory_limit": memory_limit,
        "spill_dir": spill_dir,
        "max_spill": max_spill,
    }
    return _distributed("pivot", data, kw, cpus_per_task, map_tasks, reducers, time_from, time_to)


def contrast(
    data: str | PathLike[str],
    suspect: str,
    baseline: str | None = None,
    fields: str | list[str] | None = None,
    pairs: bool = False,
    min_count: int = 5,
    top: int = 30,
    sort: str = "f",
    where: str | list[str] | None = None,
    join: str | list[str] | None = None,
    unmatched: str | list[str] | None = None,
    tz: str | None = None,
    memory_limit: str | None = None,
    spill_dir: str | None = None,
    max_spill: str | None = None,
    cpus_per_task: int = 1,
    map_tasks: int | None = None,
    reducers: int | None = None,
) -> pa.Table:
    """``Store.contrast`` over a store on Ray, same arguments and result: the counts of every
    field value in the suspect and baseline sets come from map tasks over the segments,
    merged by reduce tasks; the statistics (the smoothed probability, G, JLH and
    Benjamini-Hochberg q-values over the complete list of p-values) are computed once, here.
    """
    kw = {
        "suspect": suspect,
        "baseline": baseline,
        "fields": fields,
        "pairs": pairs,
        "min_count": min_count,
        "top": top,
        "sort": sort,
        "where": where,
        "join": join,
        "unmatched": unmatched,
        "tz": tz,
        "memory_limit": memory_limit,
        "spill_dir": spill_dir,
        "max_spill": max_spill,
    }
    return _distributed("contrast", data, kw, cpus_per_task, map_tasks, reducers)


@ray.remote(max_retries=3)
def _score_part(root: str, view_ref, table_ref, segments: list[int], kw: dict):
    store = _logpivot._open_view(root, ray.get(view_ref[0]))
    table = ray.get(table_ref[0])
    return store.score(**kw, _stage={"op": "score", "table": table, "segments": segments})


def score(
    data: str | PathLike[str],
    suspect: str,
    baseline: str | None = None,
    fields: str | list[str] | None = None,
    where: str | list[str] | None = None,
    top: int | None = None,
    threshold: float | None = None,
    join: str | list[str] | None = None,
    unmatched: str | list[str] | None = None,
    tz: str | None = None,
    memory_limit: str | None = None,
    spill_dir: str | None = None,
    max_spill: str | None = None,
    cpus_per_task: int = 1,
    map_tasks: int | None = None,
    reducers: int | None = None,
) -> pa.Table:
    """``Store.score`` over a store on Ray, same arguments and result: the value counts come
    from map and reduce tasks, the token table is learned once here and shared with the
    scoring tasks as one object (``ray.put``); each task scores its segments' events and
    returns its best; the best of all are merged and read in full here."""
    kw = {
        "suspect": suspect,
        "baseline": baseline,
        "fields": fields,
        "where": where,
        "top": top,
        "threshold": threshold,
        "join": join,
        "unmatched": unmatched,
        "tz": tz,
        "memory_limit": memory_limit,
        "spill_dir": spill_dir,
        "max_spill": max_spill,
    }
    cpus = max(1, int(cpus_per_task))
    root, lease, view, groups = _plan(data, map_tasks, cpus)
    try:
        return _run_score(root, view, groups, kw, cpus, reducers)
    finally:
        lease.release()


def _run_score(root, view, groups, kw, cpus, reducers):
    pinned = _logpivot._open_view(root, view)
    _cols, reduced, _rows = (
        _counts("score", root, view, groups, kw, cpus, reducers) if groups else ([], [], 0)
    )
    table = pinned.score(**kw, _stage={"op": "finish", "inputs": reduced})
    vref, tref = [_ref(view)], [ray.put(table)]
    mkw = dict(kw, threads=cpus)
    parts = ray.get(
        [_score_part.options(num_cpus=cpus).remote(root, vref, tref, g, mkw) for g in groups]
    )
    return pinned.score(**kw, _stage={"op": "list", "table": table, "parts": parts})


# --- Ray Data source ------------------------------------------------------------------------


def _read_part(root: str, view_ref, segments: list[int], scan_kw: dict):
    view = ray.get(view_ref[0])
    store = _logpivot._open_view(root, view)
    reader = store.scan(**scan_kw, _segments=segments)
    for batch in reader:
        if batch.num_rows:
            yield pa.Table.from_batches([batch])


class LogpivotDatasource(ray.data.Datasource):
    """A logpivot store as a Ray Data source: one read task per group of segments (pruned by
    the time range on the driver), the filters and column projection run in the Rust scan of
    each task, Arrow blocks out. The task arguments are small: the store's pinned view
    travels once, as one object."""

    def __init__(
        self,
        data: str | PathLike[str],
        columns: list[str] | None = None,
        where: str | list[str] | None = None,
        time_from: str | None = None,
        time_to: str | None = None,
        batch_size: int | None = None,
    ):
        self._root = _path(data)
        # Held while this object lives on the driver (the dataset that reads it), so that a
        # compaction meanwhile keeps the files its read tasks open; copies sent to workers
        # do not hold it.
        self._lease = _logpivot._lease(self._root)
        store = _logpivot.open(self._root)
        self._view = store._view()
        self._segs = store._segments(time_from, time_to)
        self._scan_kw = {
            "columns": columns,
            "where": where,
            "time_from": time_from,
            "time_to": time_to,
            "batch_size": batch_size,
        }
        # The Arrow schema, from a scan that reads no segment.
        self._schema = store.scan(**self._scan_kw, _segments=[]).schema
        self._vref = None

    def __getstate__(self):
        # The lease stays on the driver: a copy sent to a worker does not hold it.
        state = self.__dict__.copy()
        state["_lease"] = None
        return state

    def estimate_inmemory_data_size(self) -> int | None:
        # Arrow bytes per row of the projected columns (dictionary strings: codes, with the
        # values about as large as on disk), times the rows of the pruned segments.
        rows = sum(s[1] for s in self._segs)
        width = 0
        for f in self._schema:
            t = f.type
            width += (
                4 + 8
                if pa.types.is_dictionary(t)
                else 8
                if t.bit_width is None
                else t.bit_width // 8
            )
        return rows * max(width, 1)

    def get_read_tasks(self, parallelism: int, *args, **kwargs) -> list:
        # Ray >= 2.48 passes per_task_row_limit and >= 2.52 data_context: accepted and
        # handed to ReadTask where its signature takes them.
        import inspect

        from ray.data.block import BlockMetadata
        from ray.data.datasource import ReadTask

        per_task_row_limit = kwargs.get("per_task_row_limit", args[0] if args else None)
        if self._vref is None:
            self._vref = [ray.put(self._view)]
        segs = self._segs
        n = max(1, min(parallelism if parallelism > 0 else len(segs), len(segs)))
        tasks = []
        if not segs:
            return tasks
        total = sum(s[1] for s in segs)
        target = total / n
        group: list[tuple[int, int, int]] = []
        groups = []
        acc = 0
        for s in segs:
            group.append(s)
            acc += s[1]
            if acc >= target * (len(groups) + 1) and len(groups) < n - 1:
                groups.append(group)
                group = []
        if group:
            groups.append(group)
        rt_params = inspect.signature(ReadTask.__init__).parameters
        md_params = inspect.signature(BlockMetadata).parameters
        size = self.estimate_inmemory_data_size() or 0
        for g in groups:
            idx = [s[0] for s in g]
            rows = sum(s[1] for s in g)
            md_kw = {
                "num_rows": None if self._scan_kw["where"] else rows,
                "size_bytes": int(size * rows / max(total, 1)),
                "input_files": None,
                "exec_stats": None,
            }
            md = BlockMetadata(**{k: v for k, v in md_kw.items() if k in md_params})
            root, vref, kw = self._root, self._vref, self._scan_kw

            def read(root=root, vref=vref, idx=idx, kw=kw):
                return _read_part(root, vref, idx, kw)

            task_kw: dict[str, Any] = {}
            if "schema" in rt_params:
                task_kw["schema"] = self._schema
            if "per_task_row_limit" in rt_params and per_task_row_limit is not None:
                task_kw["per_task_row_limit"] = per_task_row_limit
            tasks.append(ReadTask(read, md, **task_kw))
        return tasks

    def get_name(self) -> str:
        return "logpivot"


def read_logpivot(
    data: str | PathLike[str],
    columns: list[str] | None = None,
    where: str | list[str] | None = None,
    time_from: str | None = None,
    time_to: str | None = None,
    batch_size: int | None = None,
    **read_args: Any,
) -> ray.data.Dataset:
    """The selected rows of a store (or sharded root) as a ``ray.data.Dataset`` of Arrow
    blocks: the arguments of ``Store.scan``; ``read_args`` go to
    ``ray.data.read_datasource`` (``override_num_blocks``, ``ray_remote_args``, ...).
    ``ds.to_modin()``, ``ds.to_pandas()`` and every Ray Data operation work on it."""
    return ray.data.read_datasource(
        LogpivotDatasource(data, columns, where, time_from, time_to, batch_size), **read_args
    )


__all__ = ["LogpivotDatasource", "contrast", "ingest", "pivot", "read_logpivot", "score"]
