from os import PathLike
from typing import Any, Callable

from ._logpivot import (
    CorruptStore as CorruptStore,
)
from ._logpivot import (
    DataError as DataError,
)
from ._logpivot import (
    InvalidArgument as InvalidArgument,
)
from ._logpivot import (
    LogpivotError as LogpivotError,
)
from ._logpivot import (
    Store as Store,
)
from ._logpivot import (
    StoreIOError as StoreIOError,
)
from ._logpivot import (
    __version__ as __version__,
)
from ._logpivot import (
    open as open,
)
from ._logpivot import (
    parse_size as parse_size,
)

def ingest(
    paths: str | PathLike[str] | list[str | PathLike[str]],
    data: str | PathLike[str] | None = None,
    time_field: str | None = None,
    index: str | list[str] | None = None,
    threads: int | None = None,
    strict: bool = False,
    records: str | None = None,
    progress: bool | Callable[[dict[str, Any]], None] | None = True,
    shards: int | None = None,
    compact: bool = False,
) -> dict[str, Any]: ...
def compact(
    data: str | PathLike[str] | None = None,
    target_rows: int | None = None,
    dry_run: bool = False,
) -> dict[str, Any]: ...
def retain(
    data: str | PathLike[str] | None = None,
    before: str | None = None,
    older_than: str | None = None,
    dry_run: bool = False,
) -> dict[str, Any]: ...

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
