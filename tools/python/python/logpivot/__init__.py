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
    compact: bool = False,
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

    ``compact``: after the run, merge small segments by the tiered policy (a size level is
    merged once it holds 10 segments; the summary's ``"compaction"``), so frequent small
    ingests keep a healthy store without calling ``compact``.
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
        compact=compact,
    )


def compact(
    data: str | PathLike[str] | None = None,
    target_rows: int | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Merge the segments of ``data`` under ``target_rows`` rows (default 1,048,576) into
    full ones, rows in event-time order, indexes rebuilt (``logpivot compact``). Open stores
    and running queries keep what they opened; replaced files are deleted once no reader's
    lease needs them. Returns the summary ``logpivot compact --json`` prints."""
    return _logpivot.compact(data, target_rows=target_rows, dry_run=dry_run)


def retain(
    data: str | PathLike[str] | None = None,
    before: str | None = None,
    older_than: str | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Drop the events of ``data`` whose event time is before ``before`` (a date, an RFC 3339
    time or epoch seconds) or older than ``older_than`` (``"90d"``, ``"12h"``)
    (``logpivot retain``). Events without a time are kept; the inputs stay ingested. Returns
    the summary ``logpivot retain --json`` prints."""
    return _logpivot.retain(data, before=before, older_than=older_than, dry_run=dry_run)


__all__ = [
    "CorruptStore",
    "DataError",
    "InvalidArgument",
    "LogpivotError",
    "Store",
    "StoreIOError",
    "__version__",
    "compact",
    "ingest",
    "open",
    "parse_size",
    "retain",
]
