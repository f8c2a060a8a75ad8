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

from ._logpivot import (
    CorruptStore,
    DataError,
    InvalidArgument,
    LogpivotError,
    Store,
    StoreIOError,
    __version__,
    ingest,
    open,
    parse_size,
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
