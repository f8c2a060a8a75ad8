"""Progress of a long ingest, as the place it runs in can show it: a bar redrawn in place in a
terminal, one line updated in place in Jupyter, a line every few seconds in a log file."""

from __future__ import annotations

import sys
import time
from typing import Any, Callable

Progress = Callable[[dict[str, Any]], None]


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def describe(p: dict[str, Any]) -> str:
    """One line: events, bytes read (of the total when known), rejects, rate, elapsed."""
    secs = max(p["seconds"], 1e-9)
    read = _mb(p["raw_bytes"])
    if p["raw_total"]:
        pct = 100.0 * p["raw_bytes"] / p["raw_total"]
        read = f"{read} of {_mb(p['raw_total'])} ({pct:.0f}%)"
    state = "done" if p["done"] else "ingesting"
    return (
        f"logpivot {state}: {p['events']:,} events, {read}, {p['rejects']:,} rejects, "
        f"{p['events'] / secs:,.0f} events/s, {p['seconds']:.1f} s"
    )


def _in_jupyter() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        ip = shell.get_ipython()
    except Exception:
        return False
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


class _Terminal:
    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def __call__(self, p: dict[str, Any]) -> None:
        line = describe(p)
        if p["raw_total"]:
            width = 24
            filled = min(width, int(width * p["raw_bytes"] / p["raw_total"]))
            line = "[" + "#" * filled + "-" * (width - filled) + "] " + line
        end = "\n" if p["done"] else ""
        self.stream.write("\r\x1b[2K" + line + end)
        self.stream.flush()


class _Jupyter:
    def __init__(self) -> None:
        self.handle: Any = None

    def __call__(self, p: dict[str, Any]) -> None:
        from IPython.display import display

        text = describe(p)
        if self.handle is None:
            self.handle = display({"text/plain": text}, raw=True, display_id=True)
        else:
            self.handle.update({"text/plain": text}, raw=True)


class _Log:
    def __init__(self, stream: Any, every: float = 5.0) -> None:
        self.stream, self.every, self.last = stream, every, 0.0

    def __call__(self, p: dict[str, Any]) -> None:
        now = time.monotonic()
        if p["done"] or now - self.last >= self.every:
            self.last = now
            self.stream.write(describe(p) + "\n")
            self.stream.flush()


def make(progress: bool | Progress | None) -> Progress | None:
    """The callback for ``ingest(progress=...)``: True = what fits the place it runs in, a
    callable = that callable (it gets a dict of counters every half second and once with
    ``done=True``), False or None = nothing."""
    if progress is None or progress is False:
        return None
    if callable(progress):
        return progress
    if _in_jupyter():
        return _Jupyter()
    stream = sys.stderr
    if hasattr(stream, "isatty") and stream.isatty():
        return _Terminal(stream)
    return _Log(stream)
