"""Type stubs of the compiled extension (tools/python/src/)."""

from os import PathLike
from typing import Any, Callable

import pyarrow

_Path = str | PathLike[str]
_StrOrList = str | list[str]

__version__: str

class LogpivotError(Exception):
    """Base class of every logpivot error."""

class InvalidArgument(LogpivotError):
    """A malformed argument: a filter, a join spec, a size, a time, an unknown field."""

class DataError(LogpivotError):
    """Bad input data: a bad line with strict=True, or inputs that hold no JSON log."""

class StoreIOError(LogpivotError):
    """An operating-system error, a held writer lock, the spill directory or memory limit."""

class CorruptStore(LogpivotError):
    """Not a data directory, a corrupt segment or manifest, or an unsupported version."""

def ingest(
    paths: _Path | list[_Path],
    data: _Path | None = None,
    time_field: str | None = None,
    index: _StrOrList | None = None,
    threads: int | None = None,
    strict: bool = False,
    records: str | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
    shards: int | None = None,
    compact: bool = False,
    _shard: bool = False,
) -> dict[str, Any]:
    """Ingest JSON logs (files, directories, .gz, .zst) into ``data`` (default
    ``logpivot-data``); returns the summary that ``logpivot ingest --json`` prints.
    ``progress`` is called with a dict of counters every half second and once at the end
    (``logpivot.ingest`` wraps this and picks a display)."""

def open(data: _Path) -> Store:
    """Open a data directory (or a sharded root, as one store); its segments are opened once
    and shared by every query."""

def _open_view(data: _Path, view: str) -> Store:
    """Open exactly the segments a view (``Store._view()``) lists (for ``logpivot.ray``)."""

def compact(
    data: _Path | None = None, target_rows: int | None = None, dry_run: bool = False
) -> dict[str, Any]:
    """Merge small segments (``logpivot compact``); the summary as a dict."""

def retain(
    data: _Path | None = None,
    before: str | None = None,
    older_than: str | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Drop events before a time or older than an age (``logpivot retain``)."""

class Lease:
    """A reader's hold on the generations it read (``logpivot.ray``)."""

    @property
    def generations(self) -> list[int]: ...
    def release(self) -> None: ...

def _lease(data: _Path) -> Lease: ...
def _plan_shards(
    paths: list[_Path], data: _Path, shards: int | None = None
) -> tuple[int, list[list[str]], list[tuple[str, str]]]:
    """Make ``data`` a sharded root (or check its count) and assign the files of ``paths`` to
    its shards: (shards, files per shard, files that are not logs with the reason)."""

def parse_size(text: str) -> int:
    """Bytes of a size in the CLI's syntax: ``"256MiB"``, ``"16M"``, ``"1g"``, ``"4096"``."""

class Store:
    """An open data directory: immutable, safe to share between threads, picklable by path."""

    @property
    def path(self) -> str: ...
    @property
    def schema(self) -> list[tuple[str, str]]:
        """(name, type) of every column, sorted by name; ``int|str`` when types differ."""

    def refresh(self) -> None:
        """Open the segments committed since ``open`` (or the last refresh)."""

    def _view(self) -> str:
        """The manifest view this handle reads, as JSON (for ``logpivot.ray``)."""

    def _segments(
        self, time_from: str | None = None, time_to: str | None = None
    ) -> list[tuple[int, int, int]]:
        """(index, rows, bytes) of the view's segments that may hold events in the range."""

    def info(self, segment: int | None = None, verify: bool = False) -> dict[str, Any]:
        """What ``logpivot inspect --json`` prints."""

    def pivot(
        self,
        rows: _StrOrList,
        cols: str | None = None,
        values: _StrOrList | None = None,
        where: _StrOrList | None = None,
        time_from: str | None = None,
        time_to: str | None = None,
        join: _StrOrList | None = None,
        unmatched: _StrOrList | None = None,
        top: int | None = None,
        cols_top: int | None = None,
        totals: bool = False,
        sort: str | None = None,
        tz: str | None = None,
        memory_limit: str | None = None,
        spill_dir: _Path | None = None,
        max_spill: str | None = None,
        threads: int | None = None,
        plot: _Path | None = None,
        _stage: dict[str, Any] | None = None,
    ) -> pyarrow.Table:
        """A pivot table with the CSV's columns: the row keys, one column per value of
        ``cols`` (and ``Total`` with ``totals=True``). Time-bucket keys are
        ``timestamp[ns, tz]`` (``UTC`` unless ``tz``), counts ``int64``, other aggregates
        ``float64``, other keys ``string``. ``plot="f.svg"`` (or ``.png``) also draws it as
        ``logpivot pivot --plot`` does (``IPython.display.SVG("f.svg")`` shows it)."""

    def scan(
        self,
        columns: _StrOrList | None = None,
        where: _StrOrList | None = None,
        time_from: str | None = None,
        time_to: str | None = None,
        batch_size: int | None = None,
        _segments: list[int] | None = None,
    ) -> pyarrow.RecordBatchReader:
        """Stream the selected rows of ``columns`` (default: all, by name), at most
        ``batch_size`` rows a batch (default 65,536), decoded as they are read: memory stays
        bounded whatever the store's size. ``where``, ``time_from`` and ``time_to`` are the
        filters of ``pivot`` (answered from the indexes where they can be). Every batch has the
        same schema: strings ``dictionary<int32, string>`` (pandas categoricals), ``_time``
        ``timestamp[ns, UTC]``, ints ``int64``, floats ``float64``, booleans ``bool``; a column
        whose type differs between segments is ``float64`` (ints and floats) or strings, and
        nulls in a segment without it. Polars and DuckDB read the reader directly."""

    def contrast(
        self,
        suspect: str,
        baseline: str | None = None,
        fields: _StrOrList | None = None,
        pairs: bool = False,
        min_count: int = 5,
        top: int = 30,
        sort: str = "f",
        where: _StrOrList | None = None,
        join: _StrOrList | None = None,
        unmatched: _StrOrList | None = None,
        tz: str | None = None,
        memory_limit: str | None = None,
        spill_dir: _Path | None = None,
        max_spill: str | None = None,
        threads: int | None = None,
        plot: _Path | None = None,
        _stage: dict[str, Any] | None = None,
    ) -> pyarrow.Table:
        """Field values over-represented in the suspect set (``logpivot contrast``);
        ``plot="f.svg"`` (or ``.png``) also draws the top values' rates."""

    def score(
        self,
        suspect: str,
        baseline: str | None = None,
        fields: _StrOrList | None = None,
        where: _StrOrList | None = None,
        top: int | None = None,
        threshold: float | None = None,
        join: _StrOrList | None = None,
        unmatched: _StrOrList | None = None,
        tz: str | None = None,
        memory_limit: str | None = None,
        spill_dir: _Path | None = None,
        max_spill: str | None = None,
        threads: int | None = None,
        _stage: dict[str, Any] | None = None,
    ) -> pyarrow.Table:
        """Events scored by how much they look like the suspect set (``logpivot score``)."""

    def __reduce__(self) -> tuple[Any, tuple[str]]: ...
