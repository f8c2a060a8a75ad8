"""logpivot in-process: ingest JSON security logs into an out-of-core columnar store, then
pivot, contrast and score them, with results as pyarrow Tables.

    import logpivot
    logpivot.ingest(["logs/"], data="lp-data")
    store = logpivot.open("lp-data")
    t = store.pivot(rows="rules.category", cols="Action", join="rules.csv:RuleID=rule_id")
    df = t.to_pandas()

Arguments are the CLI's flags with ``_`` (``--cols-top`` is ``cols_top``, ``--from`` is
``time_from``, ``--value`` is ``values``); strings use the CLI's syntax (filters, join specs,
sizes such as ``"256MiB"``). Options that the CLI repeats (``rows``, ``values``, ``where``,
``join``, ``unmatched``, ``fields``, ``index``) take a string or a list of strings.
"""

from __future__ import annotations

from os import PathLike
from typing import Any

from . import _logpivot, _progress
from ._logpivot import (
    CorruptStore,
    DataError,
    InvalidArgument,
    LogpivotError,
    Store,
    StoreIOError,
    __version__,
    open,
    parse_size,
)


def ingest(
    paths: str | PathLike[str] | list[str | PathLike[str]],
    data: str | PathLike[str] | None = None,
    time_field: str | None = None,
    index: str | list[str] | None = None,
    threads: int | None = None,
    strict: bool = False,
    records: str | None = None,
    progress: bool | _progress.Progress | None = True,
    shards: int | None = None,
) -> dict[str, Any]:
    """Ingest JSON logs (files, directories walked by content, .gz, .zst, stdin as ``"-"``)
    into ``data`` (default ``logpivot-data``); returns the summary ``logpivot ingest --json``
    prints. Exactly once: run it again after an interruption and it continues after the last
    committed record.

    ``records`` names the array of events inside envelope objects (``"data.events"``);
    CloudTrail's ``Records`` needs no flag. A truncated ``.gz``/``.zst`` input keeps its
    complete records and is listed under ``"broken"`` in the summary (the CLI exits 3).

    ``progress``: True shows progress as fits where it runs (a bar in a terminal, one line
    updated in place in Jupyter, a line every few seconds otherwise); a callable gets a dict of
    counters (events, rejects, bytes, raw_bytes, raw_total, segments, seconds, current, done)
    every half second; False shows nothing.

    ``shards``: make ``data`` a sharded root of that many shards (fixed when it is created),
    ingested here shard by shard; ``logpivot.ray.ingest`` writes the same layout with one Ray
    task per shard. A sharded root opens as one store.
    """
    return _logpivot.ingest(
        paths,
        data=data,
        time_field=time_field,
        index=index,
        threads=threads,
        strict=strict,
        records=records,
        progress=_progress.make(progress),
        shards=shards,
    )


__all__ = [
    "CorruptStore",
    "DataError",
    "InvalidArgument",
    "LogpivotError",
    "Store",
    "StoreIOError",
    "__version__",
    "ingest",
    "open",
    "parse_size",
]
