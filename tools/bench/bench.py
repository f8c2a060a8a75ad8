#!/usr/bin/env python3
"""End-to-end benchmarks of logpivot beside the tools people use instead (DuckDB, Polars).

    python3 tools/bench/bench.py ingest [--events N] [--seed S] [--runs R] [--bin DIR]
                                        [--out DIR] [--skip-peers] [--update-docs]

`ingest` generates (or reuses) a loggen dataset, makes a cleaned copy for the peers (they fail
on the malformed lines loggen injects; logpivot ingests the raw file), then runs each ingest
as its own process R times, measuring wall time, user+sys CPU and the child's peak RSS
(os.wait4), the bytes on disk afterwards, and checks every row count. It prints a markdown
table and writes it, with the machine, commands, dataset, date and commit, to
OUT/ingest-N.md and OUT/ingest-N.json; --update-docs also puts it into docs/BENCHMARKS.md
between the `<!-- ingest:begin -->` and `<!-- ingest:end -->` markers.

    python3 tools/bench/bench.py query  [same flags] [--spill-dir DIR] [--memory-limit SIZE]
                                        [--day D] [--queries 1,5,6] [--reingest]
    python3 tools/bench/bench.py all    [the flags of both]: ingest, then query
    python3 tools/bench/bench.py scale  [--sizes 1000000,10000000,100000000] [--deadline HH:MM]
                                        [query flags]: logpivot alone at growing N, ingest
                                        streamed from loggen through a pipe, then the query set;
                                        growth ratios, docs/scale.png (`<!-- scale:begin/end -->`)

`query` runs 7 pivot queries (join+pivot, a day's time series, one rule, value counts, a
high-cardinality top 100, the same under a memory budget that spills, distinct counts) with
logpivot, DuckDB and Polars on the stores `ingest` leaves (made once if missing), each run its
own process on a warm page cache; it checks that the three results agree and writes
OUT/query-N.md and OUT/query-N.json (--update-docs: the `<!-- query:begin/end -->` section).

Only the standard library is needed to run this file. The peers run in a venv at OUT/venv
(created on first use, `pip install duckdb polars pyarrow`) through tools/bench/peers.py.

Layout (see also tools/bench/README.md):
  measure(cmd)        one child process -> Measurement (wall, user, sys, peak RSS, output)
  Step                what to run, how to reset before a run, how to verify and size after
  run_step(step)      R runs under the chosen cache mode -> StepResult (medians, min-max)
  ensure_dataset()    loggen output, reused when events+seed match
  ensure_venv()       the peers' python
  render_table()      the markdown table from StepResults
  update_docs()       replaces one marked section of docs/BENCHMARKS.md
A new sub-command builds its own list of Steps and reuses the rest.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field, asdict
from pathlib import Path
from typing import Callable, Optional

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]  # tools/bench/bench.py -> repo root
PEERS_PY = HERE / "peers.py"
PEER_PACKAGES = ["duckdb", "polars", "pyarrow"]
DOCS = REPO / "docs" / "BENCHMARKS.md"
MB = 1e6  # all MB in the reports are 10^6 bytes


class BenchError(Exception):
    """A failure that ends the run with exit code 1."""


class CountMismatch(Exception):
    """A row count that does not match: the run ends with exit code 2 and writes no report."""


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def rel(p) -> str:
    """A path as it appears in the recorded commands: relative to the repo root when inside it
    (the commands run with the repo root as their working directory)."""
    p = Path(os.path.abspath(p))  # not resolve(): the venv's python is a symlink to keep
    try:
        return str(p.relative_to(REPO))
    except ValueError:
        return str(p)


# ============================================================================================
# Measuring one child process
# ============================================================================================
@dataclass
class Measurement:
    cmd: list
    wall_s: float
    user_s: float
    sys_s: float
    maxrss_kib: int  # ru_maxrss of the child (and any children it waited for); KiB on Linux
    returncode: int
    stdout: str = ""
    stderr: str = ""
    timed_out: bool = False

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s

    @property
    def rss_bytes(self) -> int:
        return self.maxrss_kib * 1024

    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def last_json(self) -> dict:
        """The last stdout line that parses as a JSON object, or {}."""
        for line in reversed(self.stdout.strip().splitlines()):
            line = line.strip()
            if line.startswith("{"):
                try:
                    return json.loads(line)
                except ValueError:
                    pass
        return {}

    def brief_error(self, limit: int = 400) -> str:
        if self.timed_out:
            return "timed out"
        tail = [l.strip() for l in (self.stderr.strip() or self.stdout.strip()).splitlines() if l.strip()]
        # The line naming the error when there is one (a Python traceback may end in hints),
        # else the last lines; keep them short.
        key = next((l for l in reversed(tail) if re.search(r"(Error|Exception|error)\b", l)), None)
        text = key if key else " | ".join(tail[-4:])
        return f"exit {self.returncode}: {text[:limit]}"


def _gnu_time() -> Optional[str]:
    """/usr/bin/time when it is GNU time (it takes -f and -o)."""
    t = "/usr/bin/time"
    if not os.access(t, os.X_OK):
        return None
    try:
        r = subprocess.run([t, "-f", "%M", "-o", os.devnull, "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return t if r.returncode == 0 else None


GNU_TIME = _gnu_time()
# Why GNU time when there is one: Linux gives a child's ru_maxrss at least the peak RSS of the
# process that forked it (exec keeps the pre-exec mm's high-water mark), so os.wait4 from this
# python (~25 MB) puts a floor under every figure. GNU time is a ~1 MB process, and it reports its
# own child's figures. Without it, os.wait4's figures are used and the report says so.
RUSAGE_SOURCE = ("GNU time (/usr/bin/time -f '%U %S %M') around each child" if GNU_TIME else
                 "os.wait4 on each child (peak RSS has this harness's ~25 MB as a floor)")


def measure(cmd, *, cwd=REPO, env=None, timeout: Optional[float] = None) -> Measurement:
    """Run cmd as its own process (own session, stdin closed, output to temp files) and return
    its wall time (taken here), user and system CPU time and peak RSS (from GNU time around the
    child when available, else os.wait4 on the child), so nothing else this script starts is
    counted."""
    cmd = [str(c) for c in cmd]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile(prefix="bench-time-", suffix=".txt") as tf:
        argv = [GNU_TIME, "-f", "%U %S %M", "-o", tf.name, *cmd] if GNU_TIME else cmd
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                             stderr=err, start_new_session=True)
        state = {"done": False, "timed_out": False}

        def kill():
            if not state["done"]:
                state["timed_out"] = True
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

        timer = threading.Timer(timeout, kill) if timeout else None
        if timer:
            timer.daemon = True
            timer.start()
        try:
            _, status, ru = os.wait4(p.pid, 0)
        except KeyboardInterrupt:
            os.killpg(p.pid, signal.SIGKILL)
            os.waitpid(p.pid, 0)
            p.returncode = -9
            raise
        finally:
            state["done"] = True
            if timer:
                timer.cancel()
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)  # tell Popen it has been reaped
        user, system, maxrss = ru.ru_utime, ru.ru_stime, ru.ru_maxrss
        if GNU_TIME:
            # The last line is the format's; a line before it may say how the command ended.
            lines = [l for l in Path(tf.name).read_text(errors="replace").splitlines() if l.strip()]
            try:
                u, sy, mr = lines[-1].split()
                user, system, maxrss = float(u), float(sy), int(mr)
            except (IndexError, ValueError):
                pass  # killed before time wrote it: keep wait4's figures
        out.seek(0)
        err.seek(0)
        return Measurement(cmd=cmd, wall_s=wall, user_s=user, sys_s=system,
                           maxrss_kib=maxrss, returncode=p.returncode,
                           stdout=out.read().decode("utf-8", "replace"),
                           stderr=err.read().decode("utf-8", "replace"),
                           timed_out=state["timed_out"])


def run_quiet(cmd, **kw) -> subprocess.CompletedProcess:
    """An unmeasured helper command (verification, versions)."""
    return subprocess.run([str(c) for c in cmd], cwd=kw.pop("cwd", REPO), capture_output=True,
                          text=True, **kw)


# ============================================================================================
# Page cache
# ============================================================================================
def drop_caches() -> bool:
    """sync; echo 3 > /proc/sys/vm/drop_caches. Works only as root, and not in every sandbox."""
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def read_through(paths) -> None:
    """Read files once so that a warm run finds them in the page cache, the same for every tool."""
    for p in paths:
        with open(p, "rb", buffering=0) as f:
            while f.read(8 << 20):
                pass


def choose_cache_mode(requested: str) -> str:
    if requested == "warm":
        return "warm"
    if drop_caches():
        return "cold"
    if requested == "cold":
        raise BenchError("--cache cold asked for, but dropping the page cache failed "
                         "(needs root and a writable /proc/sys/vm/drop_caches)")
    log("cannot drop the page cache (not root, or not allowed here): runs are WARM")
    return "warm"


# ============================================================================================
# Steps
# ============================================================================================
@dataclass
class Step:
    key: str                       # machine name: "logpivot", "duckdb", "polars", "clean"
    label: str                     # table label
    cmd: list
    inputs: list                   # files the step reads (pre-read in warm mode)
    input_bytes: int               # for MB/s
    expected_rows: Optional[int]   # None: no row check
    prepare: Callable[[], None]    # reset before each run (remove the previous output)
    verify: Callable[[Measurement], dict]  # after each run -> {"rows": ..., ...}
    disk_bytes: Callable[[], int]  # bytes on disk after a run
    env: Optional[dict] = None
    note: str = ""                 # shown below the table
    fallback: Optional["Step"] = None  # used when the first run fails (and its failure reported)
    in_table: bool = True          # a comparison row (ratios vs logpivot) or a helper row
    expected_fields: Optional[dict] = None  # {field path: non-null values in the input}; verify
                                            # then returns {"fields": {path: values held}}


@dataclass
class StepResult:
    key: str
    label: str
    cmd: str
    runs: list = field(default_factory=list)      # per run: wall, cpu, rss, rows, inner ...
    cache: str = "warm"
    failed: Optional[str] = None
    notes: list = field(default_factory=list)
    disk_bytes: Optional[int] = None
    input_bytes: int = 0
    rows: Optional[int] = None
    in_table: bool = True
    started: float = 0.0                   # when the step began (orders the command list)
    fields_total: Optional[int] = None     # fields in the input
    fields_complete: Optional[int] = None  # of those, held with every value
    fields_missing: list = field(default_factory=list)   # not in the output at all
    fields_short: dict = field(default_factory=dict)     # {path: [held, in input]}

    def med(self, k):
        vals = [r[k] for r in self.runs if r.get(k) is not None]
        return statistics.median(vals) if vals else None

    def lo(self, k):
        return min(r[k] for r in self.runs)

    def hi(self, k):
        return max(r[k] for r in self.runs)

    def summary(self) -> dict:
        if not self.runs:
            return {}
        return {
            "wall_s_median": self.med("wall_s"), "wall_s_min": self.lo("wall_s"),
            "wall_s_max": self.hi("wall_s"), "cpu_s_median": self.med("cpu_s"),
            "user_s_median": self.med("user_s"), "sys_s_median": self.med("sys_s"),
            "peak_rss_bytes_median": self.med("rss_bytes"),
            "inner_s_median": self.med("inner_s"),
            "mb_per_s": self.input_bytes / MB / self.med("wall_s"),
            "rows_per_s": (self.rows / self.med("wall_s")) if self.rows is not None else None,
        }


# A query whose logpivot median is below this gets `--fast-runs` runs per tool.
FAST_QUERY_S = 0.1


def run_step(step: Step, runs: int, cache: str, timeout: float) -> StepResult:
    """Run a step `runs` times, each a fresh process on a reset output, under the cache mode.
    A failing first run switches to step.fallback when there is one (the failure is reported);
    any other failure marks the step failed. A row count that does not match raises."""
    res = StepResult(key=step.key, label=step.label, cmd=shlex.join(str(c) for c in step.cmd),
                     cache=cache, input_bytes=step.input_bytes, in_table=step.in_table,
                     started=time.time())
    if step.note:
        res.notes.append(step.note)
    i = 0
    while i < runs:
        step.prepare()
        if cache == "cold":
            if not drop_caches():
                raise BenchError("dropping the page cache worked before but failed now")
        else:
            read_through(step.inputs)
        log(f"{step.label}: run {i + 1}/{runs} ({cache}): {res.cmd}")
        m = measure(step.cmd, env=step.env, timeout=timeout)
        if not m.ok():
            err = m.brief_error()
            if i == 0 and step.fallback is not None:
                fb = step.fallback
                msg = f"`{res.cmd}` failed ({err}); measured `{shlex.join(map(str, fb.cmd))}` instead"
                log(f"{step.label}: {msg}")
                res.notes.append(msg)
                res.cmd = shlex.join(str(c) for c in fb.cmd)
                if fb.note:
                    res.notes.append(fb.note)
                step = fb
                continue  # the failed attempt is not counted as a run
            res.failed = err
            log(f"{step.label}: FAILED: {err}")
            return res
        check = step.verify(m)
        held = check.pop("fields", None)
        if step.expected_fields is not None and held is not None:
            compare_fields(res, step.expected_fields, held)
        rows = check.get("rows")
        if step.expected_rows is not None and rows != step.expected_rows:
            raise CountMismatch(f"{step.label}: {rows} rows, expected {step.expected_rows} "
                                f"(run {i + 1}, command `{res.cmd}`)")
        res.rows = rows
        disk = step.disk_bytes()
        res.disk_bytes = disk
        inner = m.last_json().get("inner_s")
        res.runs.append({"wall_s": m.wall_s, "user_s": m.user_s, "sys_s": m.sys_s,
                         "cpu_s": m.cpu_s, "rss_bytes": m.rss_bytes, "rows": rows,
                         "disk_bytes": disk, "inner_s": inner,
                         "check": check, "child_output": m.last_json()})
        log(f"{step.label}: wall {m.wall_s:.2f}s cpu {m.cpu_s:.2f}s rss {m.rss_bytes / MB:.0f}MB "
            f"rows {rows} disk {disk / MB:.1f}MB")
        i += 1
    return res


def compare_fields(res: StepResult, want: dict, held: dict) -> None:
    """Which of the input's fields the output holds with every non-null value."""
    res.fields_total = len(want)
    res.fields_missing = sorted(p for p in want if p not in held)
    res.fields_short = {p: [held[p], n] for p, n in sorted(want.items()) if p in held and held[p] != n}
    res.fields_complete = len(want) - len(res.fields_missing) - len(res.fields_short)
    if res.fields_missing or res.fields_short:
        log(f"{res.label}: {len(res.fields_missing)} field(s) missing, {len(res.fields_short)} "
            f"with fewer values than the input")


# ============================================================================================
# Files, sizes, machine
# ============================================================================================
def path_bytes(*paths) -> int:
    """Apparent size in bytes of files and directory trees (missing ones count 0)."""
    total = 0
    for p in paths:
        p = Path(p)
        if p.is_file():
            total += p.stat().st_size
        elif p.is_dir():
            for root, _, files in os.walk(p):
                for f in files:
                    try:
                        total += os.lstat(os.path.join(root, f)).st_size
                    except FileNotFoundError:
                        pass
    return total


def remove(*paths) -> None:
    for p in paths:
        p = Path(p)
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        elif p.exists() or p.is_symlink():
            p.unlink()


def sha256_short(path, n=12) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:n]


def machine_info() -> dict:
    info = {"nproc": os.cpu_count(), "kernel": platform.release(), "cpu_model": "?",
            "ram_bytes": None, "python": sys.version.split()[0]}
    try:
        info["nproc"] = len(os.sched_getaffinity(0))
    except AttributeError:
        pass
    try:
        for line in open("/proc/cpuinfo"):
            if line.lower().startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                info["ram_bytes"] = int(line.split()[1]) * 1024
                break
    except OSError:
        pass
    return info


def loadavg() -> str:
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "?"


def git_commit() -> str:
    r = run_quiet(["git", "-C", REPO, "rev-parse", "--short", "HEAD"])
    if r.returncode != 0:
        return "unknown"
    commit = r.stdout.strip()
    st = run_quiet(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"])
    if st.returncode == 0 and st.stdout.strip():
        commit += "+dirty"
    return commit


# ============================================================================================
# Dataset
# ============================================================================================
LOGGEN_SUMMARY = re.compile(
    r"loggen: (\d+) events, (\d+) lines \((\d+) malformed\), (\d+) bytes(?:, (\d+) attack events)?")


def ensure_dataset(bin_dir: Path, out: Path, events: int, seed: int, regen: bool) -> dict:
    """loggen's output under OUT/data, reused when the same events and seed made it (a meta
    file records them, with loggen's summary and the file size)."""
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    raw = data / f"events-{events}.ndjson"
    rules = data / f"rules-{events}.csv"
    truth = data / f"truth-{events}.txt"
    meta_path = data / f"events-{events}.meta.json"
    loggen = bin_dir / "loggen"
    loggen_sha = sha256_short(loggen)
    if not regen and meta_path.exists() and raw.exists():
        try:
            meta = json.loads(meta_path.read_text())
        except ValueError:
            meta = {}
        if (meta.get("events") == events and meta.get("seed") == seed
                and meta.get("bytes") == raw.stat().st_size):
            if meta.get("loggen_sha256") != loggen_sha:
                log(f"note: {rel(raw)} was made by another loggen build "
                    f"({meta.get('loggen_sha256')} vs {loggen_sha}); reusing it (--regen to remake)")
            log(f"reusing {rel(raw)} (events={events}, seed={seed})")
            meta["reused"] = True
            return meta
    cmd = [loggen, "--events", events, "--seed", seed, "--output", rel(raw), "--rules", rel(rules),
           "--truth", rel(truth)]
    log(f"generating the dataset: {shlex.join(map(str, cmd))}")
    remove(raw, meta_path)
    m = measure(cmd)
    if not m.ok():
        raise BenchError(f"loggen failed: {m.brief_error()}")
    mt = LOGGEN_SUMMARY.search(m.stderr + m.stdout)
    if not mt:
        raise BenchError(f"cannot read loggen's summary line from its output:\n{m.stderr[:2000]}")
    meta = {
        "events": int(mt.group(1)), "lines": int(mt.group(2)), "malformed": int(mt.group(3)),
        "bytes": int(mt.group(4)), "attack_events": int(mt.group(5)) if mt.group(5) else None,
        "seed": seed, "requested_events": events,
        "file": rel(raw), "rules": rel(rules), "truth": rel(truth),
        "command": shlex.join(map(str, cmd)), "loggen_sha256": loggen_sha,
        "generate_wall_s": m.wall_s, "generated_at": _dt.datetime.now().isoformat(timespec="seconds"),
    }
    if meta["events"] != events:
        raise CountMismatch(f"loggen reports {meta['events']} events, asked for {events}")
    if meta["bytes"] != raw.stat().st_size:
        raise BenchError(f"loggen reports {meta['bytes']} bytes but {rel(raw)} has {raw.stat().st_size}")
    meta["events"] = events
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    meta["reused"] = False
    return meta


def ensure_fields(ds: dict, out: Path, raw: Path) -> dict:
    """{field path: non-null values} over the JSON objects of the raw file (one unmeasured pass
    with the stdlib, cached in the dataset's meta file)."""
    if isinstance(ds.get("fields"), dict) and ds["fields"]:
        return ds["fields"]
    log(f"counting the fields of {rel(raw)} (once per dataset)")
    r = run_quiet([sys.executable, PEERS_PY, "fields", raw])
    if r.returncode != 0:
        raise BenchError(f"counting fields failed: {r.stderr.strip()[-500:]}")
    ds["fields"] = json.loads(r.stdout.strip().splitlines()[-1])["fields"]
    meta_path = out / "data" / f"events-{ds['requested_events']}.meta.json"
    keep = {k: v for k, v in ds.items() if k != "reused"}
    meta_path.write_text(json.dumps(keep, indent=2) + "\n")
    return ds["fields"]


# ============================================================================================
# The peers' venv
# ============================================================================================
def ensure_venv(out: Path, upgrade: bool) -> Path:
    venv = out / "venv"
    py = venv / "bin" / "python"
    if not py.exists():
        log(f"creating the peers' venv at {rel(venv)}")
        r = run_quiet([sys.executable, "-m", "venv", venv])
        if r.returncode != 0:
            raise BenchError(f"python -m venv failed:\n{r.stderr}")
    probe = run_quiet([py, "-c", "import " + ", ".join(PEER_PACKAGES)])
    if upgrade or probe.returncode != 0:
        cmd = [py, "-m", "pip", "install", "--disable-pip-version-check", "-q"]
        cmd += (["--upgrade"] if upgrade else []) + PEER_PACKAGES
        log(f"installing the peers: {shlex.join(map(str, cmd))}")
        r = subprocess.run([str(c) for c in cmd], cwd=REPO)
        if r.returncode != 0:
            raise BenchError("pip install of the peers failed (see above)")
    return py


def peer_versions(py: Path) -> dict:
    r = run_quiet([py, PEERS_PY, "versions"])
    try:
        return json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": r.stderr.strip()[-300:]}


# ============================================================================================
# Report
# ============================================================================================
def fmt_s(x):
    return "-" if x is None else (f"{x:.2f}" if x < 100 else f"{x:.0f}")


def fmt_int(x):
    return "-" if x is None else f"{round(x):,}"


def fmt_mb(b):
    if b is None:
        return "-"
    mb = b / MB
    return f"{mb:.1f} MB" if mb < 1000 else f"{mb / 1000:.2f} GB"


def render_table(results: list, base_key: str = "logpivot") -> str:
    base = next((r for r in results if r.key == base_key and r.runs), None)
    hdr = ("| tool | wall s (median, min-max) | CPU s (user+sys) | MB/s of input | events/s "
           "| peak RSS MB | bytes on disk | logpivot wall speed-up | disk size vs logpivot "
           "| fields complete |")
    lines = [hdr, "|" + "---|" * 10]
    for r in results:
        if r.failed:
            lines.append(f"| {r.label} | failed: {r.failed.replace('|', '/')} | | | | | | | | |")
            continue
        fields = (f"{r.fields_complete}/{r.fields_total}" if r.fields_total is not None else "-")
        s = r.summary()
        wall = f"{fmt_s(s['wall_s_median'])} ({fmt_s(s['wall_s_min'])}-{fmt_s(s['wall_s_max'])})"
        if r.in_table and base is not None:
            speed = f"{s['wall_s_median'] / base.summary()['wall_s_median']:.2f}x"
            disk_ratio = (f"{r.disk_bytes / base.disk_bytes:.2f}x"
                          if r.disk_bytes is not None and base.disk_bytes else "-")
            disk = f"{fmt_mb(r.disk_bytes)} ({r.disk_bytes:,})"
        else:
            speed = disk_ratio = "-"
            disk = "-"
        lines.append(
            f"| {r.label} | {wall} | {fmt_s(s['cpu_s_median'])} | {s['mb_per_s']:.0f} "
            f"| {fmt_int(s['rows_per_s'])} | {s['peak_rss_bytes_median'] / MB:.0f} | {disk} "
            f"| {speed} | {disk_ratio} | {fields} |")
    return "\n".join(lines)


def render_ingest_md(rep: dict, results: list) -> str:
    ds = rep["dataset"]
    mach = rep["machine"]
    by = {r.key: r for r in results}
    lp = by.get("logpivot")
    out = []
    out.append(f"### Ingest: {ds['events']:,} events, {fmt_mb(ds['bytes'])} of NDJSON "
               f"({rep['cache']} cache, median of {rep['runs']} run{'s' if rep['runs'] != 1 else ''})")
    out.append("")
    out.append(f"Measured {rep['date']} at logpivot commit `{rep['commit']}` (the binaries are "
               f"those in `{rep['bin_dir']}`; their sha256 is under Versions) by "
               f"`{rep['bench_command']}`; do not edit these numbers by hand.")
    out.append("")
    out.append(render_table(results))
    out.append("")
    notes = []
    notes.append(
        f"Dataset: `{ds['command']}` (seed {ds['seed']}): {ds['events']:,} events, {ds['lines']:,} lines "
        f"of which {ds['malformed']} malformed, {ds['bytes']:,} bytes. logpivot ingests this raw file "
        f"(bad lines go to its rejects/); the peers read a pre-cleaned copy "
        f"({rep['clean']['kept']:,} lines, {rep['clean']['bytes']:,} bytes; "
        f"{rep['clean']['dropped']} line(s) dropped: "
        + ", ".join(f"line {e['line']} `{e['head'][:30]}`" for e in rep['clean']['dropped_examples'][:12])
        + ")." if rep.get("clean") else
        f"Dataset: `{ds['command']}` (seed {ds['seed']}): {ds['events']:,} events, {ds['lines']:,} lines "
        f"of which {ds['malformed']} malformed, {ds['bytes']:,} bytes. Peers skipped.")
    clean = by.get("clean")
    if lp and lp.runs and clean and clean.runs:
        lpw = lp.summary()["wall_s_median"]
        cw = clean.summary()["wall_s_median"]
        parts = []
        for k in ("duckdb", "polars"):
            r = by.get(k)
            if r and r.runs:
                w = r.summary()["wall_s_median"]
                parts.append(f"{r.label.split(' ')[0]} {fmt_s(cw + w)} s, {(cw + w) / lpw:.2f}x")
        if parts:
            notes.append(f"With the pre-clean the peers need ({fmt_s(cw)} s median) added: "
                         + "; ".join(parts) + " (logpivot's wall speed-up).")
    notes.append("Each figure is the median over the runs, each run a fresh process writing a fresh "
                 "output; wall time is taken by the harness, user+sys CPU and peak RSS are the child's, "
                 f"measured with {RUSAGE_SOURCE}; MB = 10^6 bytes; MB/s and events/s are input bytes and rows over the median wall "
                 "time; bytes on disk are the apparent size of the output after the run. "
                 "The speed-up is the peer's wall time over logpivot's; the disk ratio is the peer's "
                 "bytes over logpivot's.")
    if rep["cache"] == "cold":
        notes.append("Cold: `sync; echo 3 > /proc/sys/vm/drop_caches` before every run, so the input, "
                     "the binaries and the Python libraries are read from disk.")
    else:
        notes.append("Warm: the page cache could not be dropped, so each run's input was read once "
                     "just before it, and all runs read from memory.")
    notes.append("Row counts checked: logpivot's `inspect --json` rows equal loggen's event count; "
                 "DuckDB's `count(*)` and the Parquet footer's row count equal the cleaned line count.")
    ftotal = next((r.fields_total for r in results if r.fields_total is not None), None)
    if ftotal is not None:
        notes.append(f"Fields complete: of the {ftotal} field paths that carry values in the input "
                     "(nested objects joined with '.'), how many the output holds with exactly as many "
                     "non-null values (logpivot: `inspect --json` rows minus nulls; DuckDB: count() of "
                     "each struct leaf; Parquet: row-group null counts).")
    for r in results:
        if r.fields_missing:
            want = rep["dataset"].get("fields", {})
            notes.append(f"{r.label} LOST {len(r.fields_missing)} field(s) silently: "
                         + ", ".join(f"`{p}` ({want.get(p, '?'):,} values)" for p in r.fields_missing))
        if r.fields_short:
            notes.append(f"{r.label} holds fewer values than the input for: "
                         + ", ".join(f"`{p}` ({h:,} of {w:,})" for p, (h, w) in r.fields_short.items()))
    for r in results:
        for n in r.notes:
            notes.append(f"{r.label}: {n}")
        s = r.summary()
        if r.runs and s.get("inner_s_median") is not None and r.key in ("duckdb", "polars"):
            notes.append(f"{r.label}: {fmt_s(s['inner_s_median'])} s of the wall time inside the "
                         f"library call (the rest is interpreter start and import).")
    notes.append(
        f"Machine: {mach['nproc']} cores ({mach['cpu_model']}), "
        f"{(mach['ram_bytes'] or 0) / 2**30:.1f} GiB RAM, Linux {mach['kernel']}; load average "
        f"{rep['loadavg_start']} at the start, {rep['loadavg_end']} at the end (a shared machine: "
        f"expect noise). Versions: {rep['versions_text']}.")
    out += [f"- {n}" for n in notes]
    out.append("")
    out.append("Commands (run from the repo root):")
    out.append("")
    out.append("```")
    out.append(rep["dataset"]["command"] + ("   # reused" if ds.get("reused") else ""))
    for r in sorted(results, key=lambda r: r.started):
        out.append(r.cmd)
    out.append("```")
    if rep.get("peer_code"):
        out.append("")
        out.append("What the peer commands run (tools/bench/peers.py):")
        out.append("")
        out.append("```")
        out += rep["peer_code"]
        out.append("```")
    return "\n".join(out) + "\n"


def update_docs(section: str, md: str, docs: Path = DOCS) -> None:
    """Replace the text between <!-- SECTION:begin --> and <!-- SECTION:end --> in docs/BENCHMARKS.md
    (creating the file, or appending the markers, when missing)."""
    begin, end = f"<!-- {section}:begin -->", f"<!-- {section}:end -->"
    block = f"{begin}\n{md.rstrip()}\n{end}"
    if docs.exists():
        text = docs.read_text()
    else:
        text = ("# Benchmarks\n\nEvery number on this page is written by `tools/bench/bench.py "
                "... --update-docs` (see tools/bench/README.md); none is typed by hand.\n")
    if begin in text and end in text and text.index(begin) < text.index(end):
        a = text.index(begin)
        b = text.index(end) + len(end)
        text = text[:a] + block + text[b:]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    docs.parent.mkdir(parents=True, exist_ok=True)
    docs.write_text(text)
    log(f"updated {rel(docs)} between {begin} and {end}")


# ============================================================================================
# The ingest steps (bench.py ingest measures them; bench.py query runs them once when a store
# is missing)
# ============================================================================================
def lp_ingest_step(lp_bin: Path, lp_dir: Path, raw: Path, ds: dict, want_fields) -> Step:
    def lp_verify(m):
        r = run_quiet([lp_bin, "inspect", "--json", "--data", rel(lp_dir)])
        if r.returncode != 0:
            raise BenchError(f"logpivot inspect failed: {r.stderr.strip()[:500]}")
        j = json.loads(r.stdout)
        if j.get("rejects") != ds["malformed"]:
            log(f"note: logpivot rejected {j.get('rejects')} lines, loggen says {ds['malformed']} malformed")
        rows = j.get("rows")
        return {"rows": rows, "rejects": j.get("rejects"), "segments": len(j.get("segments", [])),
                "columns": len(j.get("columns", [])), "stored_bytes": j.get("bytes"),
                "fields": {c["name"]: rows - c.get("nulls", 0) for c in j.get("columns", [])}}

    return Step(
        key="logpivot", label="logpivot",
        cmd=[lp_bin, "ingest", "--quiet", "--data", rel(lp_dir), rel(raw)],
        inputs=[raw], input_bytes=raw.stat().st_size, expected_rows=ds["events"],
        prepare=lambda: remove(lp_dir), verify=lp_verify, disk_bytes=lambda: path_bytes(lp_dir),
        note="reads the raw file, malformed lines included (they go to its rejects/).",
        expected_fields=want_fields)


def clean_step(raw: Path, clean: Path, holder: dict) -> Step:
    """The pre-clean; the cleaner's report lands in `holder`."""
    def clean_verify(m):
        j = m.last_json()
        holder.update(j)
        return {"rows": j.get("kept"), "dropped": j.get("dropped")}

    return Step(
        key="clean", label="pre-clean for the peers (python json, 1 core)",
        cmd=[sys.executable, rel(PEERS_PY), "clean", rel(raw), rel(clean)],
        inputs=[raw], input_bytes=raw.stat().st_size, expected_rows=None,
        prepare=lambda: remove(clean), verify=clean_verify, disk_bytes=lambda: path_bytes(clean),
        in_table=False)


def check_clean(clean: Path, holder: dict, ds: dict) -> dict:
    """Check the cleaned copy against the cleaner's report and loggen's counts -> clean info."""
    kept = holder["kept"]
    if count_lines(clean) != kept:
        raise CountMismatch(f"{rel(clean)} has {count_lines(clean)} lines, the cleaner says {kept}")
    if kept != ds["events"] or holder["dropped"] != ds["malformed"]:
        log(f"WARNING: the pre-clean kept {kept} lines and dropped {holder['dropped']}; "
            f"loggen says {ds['events']} events and {ds['malformed']} malformed lines")
    return {"file": rel(clean), "kept": kept, "dropped": holder["dropped"],
            "dropped_examples": holder.get("dropped_examples", []), "bytes": clean.stat().st_size}


def duck_ingest_step(py: Path, db: Path, clean: Path, kept: int, versions: dict, threads: int,
                     want_fields) -> Step:
    def duck_verify(m):
        r = run_quiet([py, PEERS_PY, "duckdb-count", rel(db)])
        if r.returncode != 0:
            raise BenchError(f"duckdb count failed: {r.stderr.strip()[-500:]}")
        return json.loads(r.stdout.strip().splitlines()[-1])

    return Step(
        key="duckdb", label=f"DuckDB {versions.get('duckdb', '')}".strip(),
        cmd=[rel(py), rel(PEERS_PY), "duckdb-ingest", rel(clean), rel(db), "--threads", threads],
        inputs=[clean], input_bytes=clean.stat().st_size, expected_rows=kept,
        prepare=lambda: remove(db, Path(str(db) + ".wal")), verify=duck_verify,
        disk_bytes=lambda: path_bytes(db, Path(str(db) + ".wal")), expected_fields=want_fields)


def polars_ingest_step(py: Path, pq: Path, clean: Path, kept: int, versions: dict, want_fields) -> Step:
    """The streaming sink, with the eager read/write as its fallback."""
    def pq_verify(m):
        r = run_quiet([py, PEERS_PY, "parquet-count", rel(pq)])
        if r.returncode != 0:
            raise BenchError(f"parquet count failed: {r.stderr.strip()[-500:]}")
        return json.loads(r.stdout.strip().splitlines()[-1])

    def polars_step(mode, note=""):
        return Step(
            key="polars", label=f"Polars {versions.get('polars', '')} (Parquet zstd)".replace("  ", " "),
            cmd=[rel(py), rel(PEERS_PY), "polars-ingest", rel(clean), rel(pq), "--mode", mode],
            inputs=[clean], input_bytes=clean.stat().st_size, expected_rows=kept,
            prepare=lambda: remove(pq), verify=pq_verify, disk_bytes=lambda: path_bytes(pq),
            note=note, expected_fields=want_fields)

    pstep = polars_step("sink", "streaming: `pl.scan_ndjson(clean).sink_parquet(out, compression='zstd')`.")
    pstep.fallback = polars_step(
        "eager", "fallback: `pl.read_ndjson(clean).write_parquet(out, compression='zstd')` "
                 "(sink_parquet failed on this file).")
    return pstep


# ============================================================================================
# bench.py ingest
# ============================================================================================
def count_lines(path: Path) -> int:
    n = 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(8 << 20), b""):
            n += chunk.count(b"\n")
    return n


def cmd_ingest(a) -> int:
    if a.update_docs and a.skip_peers:
        raise BenchError("--update-docs needs the peers in the table: drop --skip-peers")
    out = a.out
    out.mkdir(parents=True, exist_ok=True)
    bin_dir = a.bin
    for b in ("logpivot", "loggen"):
        if not os.access(bin_dir / b, os.X_OK):
            raise BenchError(f"{bin_dir / b} is missing or not executable (--bin DIR)")
    lp_bin = bin_dir / "logpivot"
    N = a.events
    start_load = loadavg()
    date = _dt.datetime.now().astimezone().isoformat(timespec="seconds")

    ds = ensure_dataset(bin_dir, out, N, a.seed, a.regen)
    raw = REPO / ds["file"] if not Path(ds["file"]).is_absolute() else Path(ds["file"])
    want_fields = ensure_fields(ds, out, raw)

    py = None
    versions = {}
    if not a.skip_peers:
        py = ensure_venv(out, a.upgrade_peers)
        versions = peer_versions(py)
    lpv = run_quiet([lp_bin, "--version"]).stdout.strip()
    lpv = lpv.removeprefix("logpivot").strip()
    versions["logpivot"] = f"{lpv} (binary {bin_dir}/logpivot, sha256 {sha256_short(lp_bin)})"

    cache = choose_cache_mode(a.cache)
    log(f"cache mode: {cache}")

    results = []

    # --- logpivot -----------------------------------------------------------------------------
    lp_dir = out / f"lp-{N}"
    results.append(run_step(lp_ingest_step(lp_bin, lp_dir, raw, ds, want_fields), a.runs, cache, a.timeout))
    if results[-1].failed:
        raise BenchError(f"logpivot ingest failed: {results[-1].failed}")

    clean_info = None
    if not a.skip_peers:
        # --- the pre-clean (the peers need it) ---------------------------------------------------
        clean = out / "data" / f"events-{N}.clean.ndjson"
        clean_holder = {}
        cres = run_step(clean_step(raw, clean, clean_holder), a.runs, cache, a.timeout)
        results.append(cres)
        if cres.failed:
            raise BenchError(f"the pre-clean failed: {cres.failed}")
        clean_info = check_clean(clean, clean_holder, ds)
        kept = clean_info["kept"]

        # --- DuckDB ---------------------------------------------------------------------------
        db = out / f"duckdb-{N}.duckdb"
        threads = len(os.sched_getaffinity(0))
        results.append(run_step(duck_ingest_step(py, db, clean, kept, versions, threads, want_fields),
                                a.runs, cache, a.timeout))

        # --- Polars ---------------------------------------------------------------------------
        pq = out / f"polars-{N}.parquet"
        results.append(run_step(polars_ingest_step(py, pq, clean, kept, versions, want_fields),
                                a.runs, cache, a.timeout))

    # --- report ---------------------------------------------------------------------------------
    order = {"logpivot": 0, "duckdb": 1, "polars": 2, "clean": 3}
    results.sort(key=lambda r: order.get(r.key, 9))
    bench_cmd = "python3 tools/bench/bench.py ingest " + shlex.join(
        [f"--events={N}", f"--seed={a.seed}", f"--runs={a.runs}"]
        + (["--skip-peers"] if a.skip_peers else [])
        + ([f"--cache={a.cache}"] if a.cache != "auto" else []))
    vt = ", ".join(f"{k} {v}" for k, v in versions.items())
    rep = {
        "benchmark": "ingest", "date": date, "commit": git_commit(), "bench_command": bench_cmd,
        "argv": sys.argv, "bin_dir": str(bin_dir), "rusage_source": RUSAGE_SOURCE, "runs": a.runs, "cache": cache,
        "machine": machine_info(), "loadavg_start": start_load, "loadavg_end": loadavg(),
        "versions": versions, "versions_text": vt, "dataset": ds, "clean": clean_info,
        "peer_code": None if a.skip_peers else [
            "duckdb:  con = duckdb.connect(db); con.execute(f'SET threads = {threads}')",
            "         con.execute(\"CREATE TABLE ev AS SELECT * FROM read_json('<clean>', "
            "format='newline_delimited', records=true)\"); con.execute('CHECKPOINT')",
            "polars:  pl.scan_ndjson('<clean>').sink_parquet('<out>', compression='zstd')",
        ],
    }
    md = render_ingest_md(rep, results)
    rep["results"] = [dict(asdict(r), summary=r.summary()) for r in results]
    rep["markdown"] = md
    md_path, json_path = out / f"ingest-{N}.md", out / f"ingest-{N}.json"
    md_path.write_text(md)
    json_path.write_text(json.dumps(rep, indent=2, default=str) + "\n")
    print(md)
    log(f"wrote {rel(md_path)} and {rel(json_path)}")
    failed = [r.label for r in results if r.failed]
    if failed:
        log(f"peer failure(s) recorded in the table: {', '.join(failed)}")
    if a.update_docs:
        update_docs("ingest", md)
    return 0


# ============================================================================================
# bench.py query
# ============================================================================================
sys.path.insert(0, str(HERE))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import peers as PEERS  # noqa: E402  (the peers' SQL and Polars code, shown in the report)

TOOLS = ("logpivot", "duckdb", "polars")


@dataclass
class Query:
    num: int
    name: str                   # peers.py's name for it
    title: str                  # table label
    lp_args: list               # after `logpivot pivot --data DIR`
    row_keys: int               # leading key columns of logpivot's CSV
    wide: bool                  # logpivot's CSV has a column per --cols value
    top: Optional[int] = None   # a top-N query: compared by the totals of its rows
    totals: bool = False        # logpivot adds a Total column and row (checked, then dropped)
    spill: bool = False         # the memory-budget variant
    peer_args: list = field(default_factory=list)
    duckdb_args: list = field(default_factory=list)
    polars_args: list = field(default_factory=list)


def build_queries(rules: Path, day: str, rule_x: str, mem: str, spill_dir: Path,
                  limit_all: bool = False) -> list:
    """The query set. With `limit_all` (the scale run) every logpivot query runs under
    `--memory-limit mem --spill-dir spill_dir`, and query 5 (the same as 6 then) is left out."""
    qs = _queries(rules, day, rule_x, mem, spill_dir)
    if not limit_all:
        return qs
    lim = ["--memory-limit", mem, "--spill-dir", rel(spill_dir)]
    return [q if q.spill else Query(**{**q.__dict__, "lp_args": q.lp_args + lim})
            for q in qs if q.num != 5]


def _queries(rules: Path, day: str, rule_x: str, mem: str, spill_dir: Path) -> list:
    d0 = _dt.datetime.fromisoformat(day).replace(tzinfo=_dt.timezone.utc)
    d1 = d0 + _dt.timedelta(days=1)
    from_ns, to_ns = int(d0.timestamp()) * 10**9, int(d1.timestamp()) * 10**9
    join = f"{rel(rules)}:RuleID=rule_id"
    hc = ["--rows", "ClientIP,ClientRequestPath", "--cols", "Action", "--top", "100"]
    return [
        Query(1, "join-pivot", "1. join+pivot", ["--join", join, "--rows", "rules.category", "--cols",
              "Action", "--totals"], 1, True, totals=True, peer_args=["--rules", rel(rules)]),
        Query(2, "hourly", "2. time series, 1 day", ["--rows", "Datetime:1h", "--cols", "Source", "--from",
              f"{d0:%Y-%m-%d}", "--to", f"{d1:%Y-%m-%d}"], 1, True,
              peer_args=["--from-ns", from_ns, "--to-ns", to_ns]),
        Query(3, "rule-hourly", "3. single rule", ["--where", f"RuleID={rule_x}", "--rows", "Datetime:1h"],
              1, False, peer_args=["--rule", rule_x]),
        Query(4, "value-counts", "4. value counts", ["--rows", "ClientCountry", "--top", "20"], 1, False,
              top=20, peer_args=["--top", 20]),
        Query(5, "high-card", "5. high cardinality", hc, 2, True, top=100, peer_args=["--top", 100]),
        Query(6, "high-card", f"6. high cardinality, {mem} budget",
              hc + ["--memory-limit", mem, "--spill-dir", rel(spill_dir)], 2, True, top=100, spill=True,
              peer_args=["--top", 100], duckdb_args=["--memory-limit", mem, "--temp-dir", rel(spill_dir)],
              polars_args=["--engine", "streaming"]),
        Query(7, "distinct", "7. distinct counts", ["--join", join, "--rows", "rules.category", "--value",
              "count_distinct(ClientIP)"], 1, False, peer_args=["--rules", rel(rules)]),
    ]


def files_under(*paths) -> list:
    """The files of directory trees (and plain files), for read_through."""
    out = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            for root, _, files in os.walk(p):
                out += [Path(root) / f for f in sorted(files)]
        elif p.exists():
            out.append(p)
    return out


SIZE_RE = re.compile(r"^([\d.,]+)\s*([kKMGT]?i?B)$")
SIZE_UNITS = {"B": 1, "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
              "KiB": 2**10, "kiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}


def parse_size(text: str) -> Optional[int]:
    m = SIZE_RE.match(text.strip())
    if not m or m.group(2) not in SIZE_UNITS:
        return None
    return round(float(m.group(1).replace(",", "")) * SIZE_UNITS[m.group(2)])


SPILL_RE = re.compile(r"^-- spilled (\d+) runs?: ([^,]+?) written, ([^,]+?) read\b(.*)$", re.M)


def parse_lp_spill(stderr: str) -> dict:
    """From logpivot's --explain: `-- spilled N runs: X written, Y read, in DIR` or `-- no spill`."""
    m = SPILL_RE.search(stderr)
    if m:
        return {"spilled": True, "runs": int(m.group(1)), "written": parse_size(m.group(2)),
                "read": parse_size(m.group(3)), "text": m.group(0)[3:].strip()}
    if re.search(r"^-- no spill", stderr, re.M):
        return {"spilled": False, "written": 0, "read": 0, "text": "no spill"}
    return {"spilled": None, "text": "no spill line in --explain output"}


def list_dir(p: Path) -> set:
    try:
        return set(os.listdir(p))
    except OSError:
        return set()


def query_steps(q: Query, ctx: dict) -> list:
    """The Steps of one query: logpivot, then the peers (unless --skip-peers)."""
    qdir, spill_dir = ctx["qdir"], ctx["spill_dir"]
    steps = []
    before = {}

    def prep(outf):
        def f():
            remove(outf)
            if q.spill:
                spill_dir.mkdir(parents=True, exist_ok=True)
                before["entries"] = list_dir(spill_dir)
        return f

    def leftovers():
        if not q.spill:
            return []
        return sorted(list_dir(spill_dir) - before.get("entries", set()))

    # --- logpivot
    lp_out = qdir / f"q{q.num}-logpivot.csv"

    def lp_verify(m):
        rows = max(0, count_lines(lp_out) - 1 - (1 if q.totals else 0)) if lp_out.exists() else None
        explain = [l for l in m.stderr.splitlines() if l.startswith("--")]
        return {"rows": rows, "spill": parse_lp_spill(m.stderr), "explain": explain,
                "spill_dir_left": leftovers()}

    steps.append(Step(
        key="logpivot", label="logpivot",
        cmd=[ctx["lp_bin"], "pivot", "--data", rel(ctx["lp_dir"]), *q.lp_args, "--format", "csv",
             "--explain", "--output", rel(lp_out)],
        inputs=files_under(ctx["lp_dir"], ctx["rules"]), input_bytes=0, expected_rows=None,
        prepare=prep(lp_out), verify=lp_verify, disk_bytes=lambda: path_bytes(lp_out)))
    if ctx["py"] is None:
        return steps

    # --- the peers
    def peer_verify(outf):
        def f(m):
            j = m.last_json()
            return {"rows": j.get("rows"), "spill_write_bytes": j.get("spill_write_bytes"),
                    "temp_peak_bytes": j.get("temp_peak_bytes"), "spill_dir_left": leftovers()}
        return f

    for key, sub, store, extra in (("duckdb", "duckdb-query", ctx["db"],
                                    q.duckdb_args + ["--threads", ctx["threads"]]),
                                   ("polars", "polars-query", ctx["pq"], q.polars_args)):
        outf = qdir / f"q{q.num}-{key}.csv"
        label = f"{'DuckDB' if key == 'duckdb' else 'Polars'} {ctx['versions'].get(key, '')}".strip()
        steps.append(Step(
            key=key, label=label,
            cmd=[rel(ctx["py"]), rel(PEERS_PY), sub, rel(store), q.name, rel(outf), *q.peer_args, *extra],
            inputs=files_under(store, ctx["rules"]), input_bytes=0, expected_rows=None,
            prepare=prep(outf), verify=peer_verify(outf), disk_bytes=lambda o=outf: path_bytes(o)))
    return steps


# --- comparing the results -------------------------------------------------------------------
TIME_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}(?::?\d{2})?)?$")


def norm_key(v: str) -> str:
    """A key as text, with timestamps in one form (UTC, `YYYY-MM-DDTHH:MM:SSZ`): logpivot writes
    `2024-06-05T14:00:00Z`, DuckDB `2024-06-05 14:00:00+00`, Polars `2024-06-05T14:00:00.000000000`."""
    v = v.strip()
    m = TIME_RE.match(v)
    if not m:
        return v
    frac = (m.group(3) or ".0")[1:7].ljust(6, "0")
    tz = m.group(4) or "Z"
    tz = "+00:00" if tz == "Z" else (tz + ":00" if len(tz) == 3 else tz if ":" in tz else tz[:3] + ":" + tz[3:])
    t = _dt.datetime.fromisoformat(f"{m.group(1)}T{m.group(2)}.{frac}{tz}").astimezone(_dt.timezone.utc)
    s = t.strftime("%Y-%m-%dT%H:%M:%S")
    if t.microsecond:
        s += f".{t.microsecond:06d}".rstrip("0")
    return s + "Z"


def norm_num(v: str):
    v = v.strip()
    if v == "":
        return 0
    x = float(v)
    return int(x) if x.is_integer() else x


def read_csv_rows(path: Path) -> list:
    import csv
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        return list(csv.reader(f))


def lp_table(path: Path, q: Query):
    """logpivot's CSV -> ({row key tuple: {column key: number}}, problems). Zero cells are dropped
    (the peers' long form has no row for them); the Total column and row are checked, then dropped."""
    rows = read_csv_rows(path)
    problems = []
    if not rows:
        return {}, ["empty output"]
    header, data = rows[0], rows[1:]
    nk = q.row_keys
    total_row = None
    if q.totals:
        if header[-1] != "Total":
            problems.append(f"--totals: last column is {header[-1]!r}, not Total")
        if data and data[-1][0] == "Total":
            total_row = data.pop()
        else:
            problems.append("--totals: no Total row at the end")
    table = {}
    col_sums = {}
    for r in data:
        key = tuple(norm_key(x) for x in r[:nk])
        if key in table:
            problems.append(f"row key {key} appears twice")
        cells = {}
        if q.wide:
            for h, x in zip(header[nk:], r[nk:]):
                if q.totals and h == "Total":
                    continue
                n = norm_num(x)
                col_sums[h] = col_sums.get(h, 0) + n
                if n:
                    cells[norm_key(h)] = n
            if q.totals:
                tot = norm_num(r[-1])
                if tot != sum(cells.values()):
                    problems.append(f"Total column of {key} is {tot}, its cells sum to {sum(cells.values())}")
        else:
            n = norm_num(r[nk])
            if n:
                cells[""] = n
        table[key] = cells
    if total_row is not None:
        for h, x in zip(header[nk:], total_row[nk:]):
            want = sum(col_sums.values()) if h == "Total" else col_sums.get(h, 0)
            if norm_num(x) != want:
                problems.append(f"Total row, column {h}: {x}, the rows sum to {want}")
    return table, problems


def peer_table(path: Path, q: Query):
    """A peer's long CSV (keys, [column key], n, [total]) -> the same form as lp_table."""
    rows = read_csv_rows(path)
    problems = []
    if not rows:
        return {}, ["empty output"]
    nk = q.row_keys
    table = {}
    for r in rows[1:]:
        key = tuple(norm_key(x) for x in r[:nk])
        col = norm_key(r[nk]) if q.wide else ""
        n = norm_num(r[nk + 1] if q.wide else r[nk])
        cells = table.setdefault(key, {})
        if col in cells:
            problems.append(f"cell {key} / {col!r} appears twice")
        if n:
            cells[col] = n
    return table, problems


def compare_tables(q: Query, a: dict, b: dict, name_b: str) -> dict:
    """logpivot's table `a` against a peer's `b`. A top-N query compares the sorted row totals,
    then every row whose total is above the N-th (rows tied at the boundary may differ)."""
    def cell_diff(k):
        ca, cb = a.get(k), b.get(k)
        if ca is None or cb is None:
            return f"{k}: logpivot {ca if ca is not None else 'no row'} | {name_b} {cb if cb is not None else 'no row'}"
        d = {c: (ca.get(c, 0), cb.get(c, 0)) for c in sorted(set(ca) | set(cb)) if ca.get(c, 0) != cb.get(c, 0)}
        return f"{k}: " + ", ".join(f"{c or 'value'}: logpivot {x} vs {name_b} {y}" for c, (x, y) in d.items())

    if q.top is None:
        keys = set(a) | set(b)
        diff = sorted((k for k in keys if a.get(k, {}) != b.get(k, {})), key=str)
        cells = sum(len(v) for v in a.values())
        ok = not diff
        summary = (f"{len(a)} rows, {cells} non-zero cells equal" if ok else
                   f"{len(diff)} of {len(keys)} rows differ (logpivot {len(a)} rows, {name_b} {len(b)})")
        return {"agree": ok, "summary": summary, "sample": [cell_diff(k) for k in diff[:8]]}
    ta = {k: sum(v.values()) for k, v in a.items()}
    tb = {k: sum(v.values()) for k, v in b.items()}
    la, lb = sorted(ta.values(), reverse=True), sorted(tb.values(), reverse=True)
    sample = []
    ok = la == lb
    if not ok:
        sample.append(f"row totals, largest first: logpivot {la[:12]}{' ...' if len(la) > 12 else ''} | "
                      f"{name_b} {lb[:12]}{' ...' if len(lb) > 12 else ''} ({len(la)} vs {len(lb)} rows)")
    boundary = min(la) if la else 0
    strict = sorted({k for k, t in ta.items() if t > boundary} | {k for k, t in tb.items() if t > boundary}, key=str)
    tied_both = [k for k in ta if ta[k] == boundary and k in tb]
    diff = [k for k in strict + tied_both if a.get(k) != b.get(k)]
    if diff:
        ok = False
        sample += [cell_diff(k) for k in diff[:8]]
    ties = sum(1 for t in la if t == boundary)
    summary = (f"top {len(la)} row totals equal, {len(strict)} rows above the boundary total {boundary} "
               f"equal cell by cell ({ties} row(s) tied at it)" if ok else
               f"{len(diff)} row(s) differ" + ("" if la == lb else "; the sorted row totals differ"))
    return {"agree": ok, "summary": summary, "sample": sample}


def check_agreement(q: Query, outs: dict) -> dict:
    """outs: {tool key: (label, csv path or None when the step failed)} -> the verdict for the query."""
    lab, lp_path = outs["logpivot"]
    if lp_path is None or not lp_path.exists():
        return {"verdict": "NOT CHECKED", "lines": ["logpivot failed: nothing to compare"], "problems": [],
                "per_tool": {}}
    a, problems = lp_table(lp_path, q)
    lines, verdict = [], "AGREE"
    per_tool = {"logpivot": "output problem" if problems else "-"}
    for p in problems:
        lines.append(f"logpivot output problem: {p}")
    if problems:
        verdict = "DIFFER"
    peers_seen = 0
    for key in ("duckdb", "polars"):
        if key not in outs:
            continue
        label, path = outs[key]
        if path is None or not path.exists():
            lines.append(f"{label}: failed, not compared")
            per_tool[key] = "failed"
            continue
        b, pp = peer_table(path, q)
        lines += [f"{label} output problem: {p}" for p in pp]
        c = compare_tables(q, a, b, label.split(" ")[0])
        peers_seen += 1
        lines.append(f"logpivot vs {label}: {'equal' if c['agree'] else 'DIFFERENT'}: {c['summary']}")
        lines += [f"    {s}" for s in c["sample"]]
        per_tool[key] = "agrees" if c["agree"] and not pp else "DIFFERS"
        if per_tool[key] != "agrees":
            verdict = "DIFFER"
    if peers_seen == 0 and verdict == "AGREE":
        verdict = "NOT CHECKED"
        if not lines:
            lines.append("peers skipped: nothing to compare")
    return {"verdict": verdict, "lines": lines, "problems": problems, "rows": len(a), "per_tool": per_tool}


# --- the report ------------------------------------------------------------------------------
def fmt_spill(r: StepResult) -> str:
    if not r.runs:
        return "-"
    checks = [run["check"] for run in r.runs]
    if r.key == "logpivot":
        sp = [c.get("spill", {}) for c in checks]
        if any(s.get("spilled") is None for s in sp):
            return "? (no spill line)"
        if not any(s["spilled"] for s in sp):
            return "none"
        w = statistics.median(s["written"] or 0 for s in sp)
        rd = statistics.median(s["read"] or 0 for s in sp)
        runs = statistics.median(s.get("runs", 0) for s in sp)
        return f"{fmt_mb(w)} written, {fmt_mb(rd)} read ({runs:g} runs{spill_rate(r, w + rd)})"
    ws = [c.get("spill_write_bytes") for c in checks if c.get("spill_write_bytes") is not None]
    if not ws:
        return "?"
    w = statistics.median(ws)
    if w < MB:
        return "none"
    w_rate = spill_rate(r, w)
    peaks = [c.get("temp_peak_bytes") for c in checks if c.get("temp_peak_bytes") is not None]
    tail = f" (temp dir peak {fmt_mb(statistics.median(peaks))}{w_rate})" if peaks else (
        f" ({w_rate[2:]})" if w_rate else "")
    return f"{fmt_mb(w)} written{tail}"


def spill_rate(r: StepResult, nbytes: float) -> str:
    """`, N MB/s`: spill bytes over the query's median wall time (the whole query, so a lower
    bound on the spill directory's throughput)."""
    wall = r.summary().get("wall_s_median")
    if not wall or not nbytes:
        return ""
    return f", {nbytes / MB / wall:,.0f} MB/s"


def render_query_table(queries: list, results: dict, agreement: dict) -> str:
    hdr = ("| query | tool | wall s (median, min-max) | CPU s (user+sys) | peak RSS MB | spill "
           "| rows out | result | logpivot wall speed-up |")
    lines = [hdr, "|" + "---|" * 9]
    for q in queries:
        rs = results.get(q.num, [])
        base = next((r for r in rs if r.key == "logpivot" and r.runs), None)
        for i, r in enumerate(rs):
            qlabel = q.title if i == 0 else ""
            if r.failed:
                lines.append(f"| {qlabel} | {r.label} | failed: {r.failed.replace('|', '/')[:200]} | | | | | | |")
                continue
            s = r.summary()
            wall = f"{fmt_s(s['wall_s_median'])} ({fmt_s(s['wall_s_min'])}-{fmt_s(s['wall_s_max'])})"
            speed = (f"{s['wall_s_median'] / base.summary()['wall_s_median']:.2f}x" if base else "-")
            res = agreement.get(q.num, {}).get("per_tool", {}).get(r.key, "-")
            lines.append(f"| {qlabel} | {r.label} | {wall} | {fmt_s(s['cpu_s_median'])} "
                         f"| {s['peak_rss_bytes_median'] / MB:.0f} | {fmt_spill(r)} | {fmt_int(r.rows)} "
                         f"| {res} | {speed} |")
    return "\n".join(lines)


def render_query_md(rep: dict, queries: list, results: dict, agreement: dict) -> str:
    ds, mach = rep["dataset"], rep["machine"]
    fast = sorted({len(r.runs) for rs in results.values() for r in rs if len(r.runs) > rep["runs"]})
    more = (f"; queries whose logpivot median is under {FAST_QUERY_S} s: "
            + "/".join(str(n) for n in fast) + " runs of every tool") if fast else ""
    out = [f"### Queries: {ds['events']:,} events ({rep['cache']} page cache, median of {rep['runs']} "
           f"run{'s' if rep['runs'] != 1 else ''}{more}, each query its own process)", ""]
    out.append(f"Measured {rep['date']} at logpivot commit `{rep['commit']}` (the binaries are those in "
               f"`{rep['bin_dir']}`; their sha256 is under Versions) by `{rep['bench_command']}`; do not "
               f"edit these numbers by hand.")
    out.append("")
    out.append(render_query_table(queries, results, agreement))
    out.append("")
    out.append("Results compared (logpivot's CSV against each peer's, as sets of keys -> numbers; top-N "
               "queries by the totals of their rows, ties at the N-th allowed in any order):")
    out.append("")
    for q in queries:
        ag = agreement.get(q.num, {})
        out.append(f"- **{q.title}: {ag.get('verdict', '-')}**")
        for l in ag.get("lines", []):
            out.append(("    - " if l.startswith(" ") else "  - ") + l.strip().replace("|", "/"))
    out.append("")
    notes = []
    notes.append(f"Dataset: `{ds['command']}` (seed {ds['seed']}): {ds['events']:,} events, "
                 f"{ds['bytes']:,} bytes of NDJSON. Stores queried: " + "; ".join(rep["stores"]) + ".")
    notes.append(
        "Each figure is the median over the runs; every run is a fresh process (logpivot's CLI, or "
        "`python peers.py ...` importing the library), so process start is included as a user "
        "meets it; wall time is taken by the harness, user+sys CPU and peak RSS are the child's, "
        f"measured with {RUSAGE_SOURCE}; MB = 10^6 bytes. The speed-up is the peer's wall time over "
        "logpivot's. Every tool writes its result as CSV to a file (`bench-out/query-N/qK-TOOL.csv`); "
        "rows out counts its data rows: logpivot's pivoted table (without the Total row), the peers' "
        "long form (one row per key combination, as GROUP BY gives it).")
    if rep["cache"] == "warm":
        notes.append("Warm page cache: each run's store (logpivot's data directory, the .duckdb file, the "
                     "Parquet file, the rules CSV) was read once just before it, so every tool reads from "
                     "memory: the repeated-query case.")
    else:
        notes.append("Cold: `sync; echo 3 > /proc/sys/vm/drop_caches` before every run.")
    notes.append(f"Query 2 is the UTC day {rep['day']}; query 3 is RuleID `{rep['rule']['id']}`, the 20th "
                 f"most frequent rule ({rep['rule']['count']:,} events) by `{rep['rule']['command']}`.")
    notes.append(
        f"Spill: logpivot's figures are from its `--explain` line (`-- spilled N runs: X written, Y read`; "
        f"`none` for `-- no spill`). The peers' are the bytes the process wrote to storage apart from its "
        f"result file (/proc/self/io `write_bytes`, which counts temp files deleted before writeback too), "
        f"under 1 MB shown as none; for DuckDB also the largest size of its temp directory seen by a "
        f"20 ms sampler. No tool reports what it read back, except logpivot. MB/s is the spill bytes "
        f"(written plus read for logpivot, written for the peers) over the query's median wall time: "
        f"the whole query, so a lower bound on the spill directory's throughput.")
    notes.append(
        f"Query 6: logpivot `--memory-limit {rep['memory_limit']} --spill-dir {rel(rep['spill_dir'])}`; "
        f"DuckDB `SET memory_limit = '{rep['memory_limit']}'; SET temp_directory = "
        f"'{rel(rep['spill_dir'])}'`; Polars has no memory budget: it runs the same plan with "
        f"`collect(engine='streaming')`, its out-of-core engine (query 5 uses the default engine).")
    for q in queries:
        for r in results.get(q.num, []):
            for run in r.runs:
                left = run["check"].get("spill_dir_left")
                if left:
                    notes.append(f"{q.title}, {r.label}: LEFT {len(left)} entr(y/ies) in the spill "
                                 f"directory after the run: {', '.join(left[:5])}")
                    break
    inner = []
    for q in queries:
        for r in results.get(q.num, []):
            if r.key != "logpivot" and r.runs and r.summary().get("inner_s_median") is not None:
                inner.append(f"{q.title.split('.')[0]} {r.label.split(' ')[0]} {fmt_s(r.summary()['inner_s_median'])}")
    if inner:
        notes.append("Seconds of the peers' wall time inside the library (query and CSV write; the rest is "
                     "interpreter start and import): " + ", ".join(inner) + ".")
    for f in rep.get("failures", []):
        notes.append(f"FAILED: {f['label']} on {f['query']}: `{f['command']}`: {f['output'][:600]}")
    notes.append(
        f"Machine: {mach['nproc']} cores ({mach['cpu_model']}), {(mach['ram_bytes'] or 0) / 2**30:.1f} GiB "
        f"RAM, Linux {mach['kernel']}; load average {rep['loadavg_start']} at the start, "
        f"{rep['loadavg_end']} at the end (a shared machine: expect noise). DuckDB runs with `SET threads "
        f"= {rep['threads']}`; Polars and logpivot use all cores. Versions: {rep['versions_text']}.")
    out += [f"- {n}" for n in notes]
    out += ["", "Commands (run from the repo root; the first run of each):", "", "```"]
    for q in queries:
        for r in results.get(q.num, []):
            out.append(r.cmd)
    out.append("```")
    if rep.get("peer_code"):
        out += ["", "What the peer commands run (tools/bench/peers.py; `{...}` are the parameters above):",
                "", "```"]
        out += rep["peer_code"]
        out.append("```")
    return "\n".join(out) + "\n"


def peer_code_text(queries: list) -> list:
    lines, seen = [], set()
    for q in queries:
        if q.name in seen:
            continue
        seen.add(q.name)
        lines.append(f"-- {q.name} (query {', '.join(str(x.num) for x in queries if x.name == q.name)})")
        lines += ["duckdb: " + l if i == 0 else "        " + l
                  for i, l in enumerate(PEERS.DUCKDB_SQL[q.name].strip().splitlines())]
        lines.append("polars: " + PEERS.POLARS_CODE[q.name])
    return lines


# --- the stores ------------------------------------------------------------------------------
def ensure_stores(a, ds: dict, raw: Path, py, versions: dict, cache: str) -> dict:
    """logpivot's data directory, the DuckDB table and the Parquet file that `ingest` leaves,
    reused when present with the right row count, else made once the way `ingest` makes them."""
    out, N = a.out, a.events
    lp_bin = a.bin / "logpivot"
    lp_dir = out / f"lp-{N}"
    notes = []
    threads = len(os.sched_getaffinity(0))

    def lp_rows():
        r = run_quiet([lp_bin, "inspect", "--json", "--data", rel(lp_dir)])
        if r.returncode != 0:
            return f"inspect failed: {r.stderr.strip()[:300]}"
        return json.loads(r.stdout).get("rows")

    state = lp_rows() if lp_dir.exists() and not a.reingest else None
    if state == ds["events"]:
        notes.append(f"`{rel(lp_dir)}` reused ({state:,} rows)")
    else:
        if state is not None:
            log(f"{rel(lp_dir)} does not hold {ds['events']} rows ({state}): ingesting again")
        res = run_step(lp_ingest_step(lp_bin, lp_dir, raw, ds, None), 1, cache, a.timeout)
        if res.failed:
            raise BenchError(f"logpivot ingest failed: {res.failed}")
        notes.append(f"`{rel(lp_dir)}` made by `{res.cmd}` ({fmt_s(res.summary()['wall_s_median'])} s)")
    db = out / f"duckdb-{N}.duckdb"
    pq = out / f"polars-{N}.parquet"
    if py is None:
        return {"lp_dir": lp_dir, "db": db, "pq": pq, "notes": notes, "threads": threads}

    def peer_rows(sub, path):
        if not path.exists() or a.reingest:
            return None
        r = run_quiet([py, PEERS_PY, sub, rel(path)])
        if r.returncode != 0:
            return f"{sub} failed: {r.stderr.strip()[-300:]}"
        return json.loads(r.stdout.strip().splitlines()[-1]).get("rows")

    need = {}
    for key, sub, path in (("duckdb", "duckdb-count", db), ("polars", "parquet-count", pq)):
        st = peer_rows(sub, path)
        if st == ds["events"]:
            notes.append(f"`{rel(path)}` reused ({st:,} rows)")
        else:
            if st is not None:
                log(f"{rel(path)} does not hold {ds['events']} rows ({st}): making it again")
            need[key] = path
    if need:
        clean = out / "data" / f"events-{N}.clean.ndjson"
        if clean.exists() and count_lines(clean) == ds["events"]:
            kept = ds["events"]
        else:
            holder = {}
            res = run_step(clean_step(raw, clean, holder), 1, cache, a.timeout)
            if res.failed:
                raise BenchError(f"the pre-clean failed: {res.failed}")
            kept = check_clean(clean, holder, ds)["kept"]
        if "duckdb" in need:
            res = run_step(duck_ingest_step(py, db, clean, kept, versions, threads, None), 1, cache, a.timeout)
            if res.failed:
                raise BenchError(f"DuckDB ingest failed: {res.failed}")
            notes.append(f"`{rel(db)}` made by `{res.cmd}`")
        if "polars" in need:
            res = run_step(polars_ingest_step(py, pq, clean, kept, versions, None), 1, cache, a.timeout)
            if res.failed:
                raise BenchError(f"Polars ingest failed: {res.failed}")
            notes.append(f"`{rel(pq)}` made by `{res.cmd}`")
    return {"lp_dir": lp_dir, "db": db, "pq": pq, "notes": notes, "threads": threads}


def pick_rule(lp_bin: Path, lp_dir: Path, nth: int = 20) -> dict:
    """The nth most frequent RuleID, by logpivot (an unmeasured run)."""
    cmd = [lp_bin, "pivot", "--data", rel(lp_dir), "--rows", "RuleID", "--top", nth, "--format", "csv"]
    r = run_quiet(cmd)
    shown = shlex.join(map(str, cmd))
    if r.returncode != 0:
        raise BenchError(f"`{shown}` failed (exit {r.returncode}):\n{r.stderr.strip()[:2000]}")
    rows = read_csv_rows_text(r.stdout)[1:]
    if not rows:
        raise BenchError(f"`{shown}` printed no rows:\n{r.stdout[:500]}")
    row = rows[min(nth, len(rows)) - 1]
    return {"id": row[0], "count": int(norm_num(row[1])), "rank": min(nth, len(rows)), "command": shown}


def read_csv_rows_text(text: str) -> list:
    import csv
    import io
    return list(csv.reader(io.StringIO(text, newline="")))


def cmd_query(a) -> int:
    if a.update_docs and a.skip_peers:
        raise BenchError("--update-docs needs the peers in the table: drop --skip-peers")
    out = a.out
    out.mkdir(parents=True, exist_ok=True)
    bin_dir = a.bin
    for b in ("logpivot", "loggen"):
        if not os.access(bin_dir / b, os.X_OK):
            raise BenchError(f"{bin_dir / b} is missing or not executable (--bin DIR)")
    lp_bin = bin_dir / "logpivot"
    N = a.events
    start_load = loadavg()
    date = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
    cache_req = getattr(a, "query_cache", None) or a.cache
    spill_dir = a.spill_dir or (out / "spill")

    ds = ensure_dataset(bin_dir, out, N, a.seed, a.regen)
    raw = REPO / ds["file"] if not Path(ds["file"]).is_absolute() else Path(ds["file"])
    py, versions = None, {}
    if not a.skip_peers:
        py = ensure_venv(out, a.upgrade_peers)
        versions = peer_versions(py)
    lpv = run_quiet([lp_bin, "--version"]).stdout.strip().removeprefix("logpivot").strip()
    versions["logpivot"] = f"{lpv} (binary {bin_dir}/logpivot, sha256 {sha256_short(lp_bin)})"
    cache = choose_cache_mode(cache_req)
    log(f"cache mode: {cache}")

    stores = ensure_stores(a, ds, raw, py, versions, cache)
    qdir = out / f"query-{N}"
    qdir.mkdir(parents=True, exist_ok=True)
    # The map's file name is the key prefix (rules.csv -> rules.category): a copy named rules.csv.
    rules = qdir / "rules.csv"
    shutil.copyfile(REPO / ds["rules"] if not Path(ds["rules"]).is_absolute() else ds["rules"], rules)
    rule = pick_rule(lp_bin, stores["lp_dir"])
    log(f"query 3 uses RuleID {rule['id']} ({rule['count']} events, rank {rule['rank']})")
    queries = build_queries(rules, a.day, rule["id"], a.memory_limit, spill_dir)
    if a.queries:
        want = {int(x) for x in a.queries.split(",") if x.strip()}
        queries = [q for q in queries if q.num in want]
    ctx = {"lp_bin": lp_bin, "lp_dir": stores["lp_dir"], "db": stores["db"], "pq": stores["pq"],
           "py": py, "versions": versions, "threads": stores["threads"], "qdir": qdir,
           "spill_dir": spill_dir, "rules": rules}

    results, agreement, failures = {}, {}, []
    for q in queries:
        rs = []
        runs = a.runs
        for step in query_steps(q, ctx):
            r = run_step(step, runs, cache, a.timeout)
            fast = (step.key == "logpivot" and not r.failed and a.fast_runs > runs
                    and (r.summary().get("wall_s_median") or FAST_QUERY_S) < FAST_QUERY_S)
            if fast:
                # Milliseconds of scheduling noise are a large share of a query this fast: every
                # tool of it is measured over more runs (logpivot's again, from the start).
                runs = a.fast_runs
                log(f"{q.title}: logpivot under {FAST_QUERY_S} s: {runs} runs for every tool")
                r = run_step(step, runs, cache, a.timeout)
            rs.append(r)
            if r.failed:
                # The whole output, for the report: a failing logpivot query is a bug to fix.
                m = measure(step.cmd, timeout=a.timeout)
                text = (m.stderr.strip() + "\n" + m.stdout.strip()).strip()
                failures.append({"query": q.title, "label": r.label, "command": r.cmd,
                                 "exit": m.returncode, "output": text[:4000]})
                bar = "!" * 78
                print(f"\n{bar}\n{q.title}: {r.label} FAILED\ncommand: {r.cmd}\nexit {m.returncode}, output:\n"
                      f"{text[:4000]}\n{bar}\n", file=sys.stderr, flush=True)
        results[q.num] = rs
        outs = {r.key: (r.label, (qdir / f"q{q.num}-{r.key}.csv") if not r.failed else None) for r in rs}
        ag = check_agreement(q, outs)
        agreement[q.num] = ag
        if ag["verdict"] == "DIFFER":
            bar = "!" * 78
            print(f"\n{bar}\n{q.title}: RESULTS DIFFER\n" + "\n".join(ag["lines"]) + f"\n{bar}\n",
                  file=sys.stderr, flush=True)
        else:
            log(f"{q.title}: {ag['verdict']}: " + " / ".join(l for l in ag["lines"] if not l.startswith(" ")))

    bench_cmd = "python3 tools/bench/bench.py query " + shlex.join(
        [f"--events={N}", f"--seed={a.seed}", f"--runs={a.runs}"]
        + ([f"--fast-runs={a.fast_runs}"] if a.fast_runs != 11 else [])
        + (["--skip-peers"] if a.skip_peers else [])
        + ([f"--cache={cache_req}"] if cache_req != "warm" else [])
        + ([f"--memory-limit={a.memory_limit}"] if a.memory_limit != "256MiB" else [])
        + ([f"--day={a.day}"] if a.day != "2024-06-05" else [])
        + ([f"--queries={a.queries}"] if a.queries else []))
    vt = ", ".join(f"{k} {v}" for k, v in versions.items())
    rep = {
        "benchmark": "query", "date": date, "commit": git_commit(), "bench_command": bench_cmd,
        "argv": sys.argv, "bin_dir": str(bin_dir), "rusage_source": RUSAGE_SOURCE, "runs": a.runs,
        "cache": cache, "machine": machine_info(), "loadavg_start": start_load, "loadavg_end": loadavg(),
        "versions": versions, "versions_text": vt, "dataset": ds, "stores": stores["notes"],
        "threads": stores["threads"], "day": a.day, "rule": rule, "memory_limit": a.memory_limit,
        "spill_dir": str(spill_dir), "failures": failures,
        "peer_code": None if a.skip_peers else peer_code_text(queries),
    }
    md = render_query_md(rep, queries, results, agreement)
    rep["queries"] = [dict(asdict(q), agreement=agreement.get(q.num),
                           results=[dict(asdict(r), summary=r.summary()) for r in results.get(q.num, [])])
                      for q in queries]
    rep["markdown"] = md
    md_path, json_path = out / f"query-{N}.md", out / f"query-{N}.json"
    md_path.write_text(md)
    json_path.write_text(json.dumps(rep, indent=2, default=str) + "\n")
    print(md)
    log(f"wrote {rel(md_path)} and {rel(json_path)}")
    for q in queries:
        log(f"{q.title}: {agreement[q.num]['verdict']}")
    if failures:
        log(f"FAILED step(s): " + ", ".join(f"{f['label']} on {f['query']}" for f in failures))
    if a.update_docs:
        update_docs("query", md)
    return 0


# ============================================================================================
# bench.py inprocess: one Python process per tool, open handles, warm (issue 17 point 6)
# ============================================================================================
INPROC_PY = HERE / "inproc.py"
INPROC_TOOLS = ("logpivot", "duckdb", "polars")
INPROC_LABEL = {"logpivot": "logpivot", "duckdb": "DuckDB", "polars": "Polars"}
# Issue 17 point 5: logpivot's speed-up over an open DuckDB connection it must reach.
INPROC_TARGETS = {3: 20.0, 1: 5.0, 2: 5.0}
# `logpivot pivot` flag -> keyword of logpivot.Store.pivot (list: the keyword takes a list).
LP_KWARGS = {"--join": ("join", list), "--rows": ("rows", "split"), "--cols": ("cols", str),
             "--totals": ("totals", bool), "--from": ("time_from", str), "--to": ("time_to", str),
             "--where": ("where", list), "--top": ("top", int), "--value": ("values", list),
             "--memory-limit": ("memory_limit", str), "--spill-dir": ("spill_dir", str)}


def lp_kwargs(lp_args: list) -> dict:
    """The CLI arguments of a query (after `logpivot pivot --data DIR`) as Store.pivot keywords."""
    kw, i = {}, 0
    while i < len(lp_args):
        flag = str(lp_args[i])
        if flag not in LP_KWARGS:
            raise BenchError(f"inprocess: no Store.pivot keyword for {flag} (add it to LP_KWARGS)")
        name, kind = LP_KWARGS[flag]
        if kind is bool:
            kw[name] = True
            i += 1
            continue
        v = str(lp_args[i + 1])
        if kind == "split":
            kw[name] = [x for x in v.split(",") if x]
        elif kind is list:
            kw.setdefault(name, []).append(v)
        else:
            kw[name] = kind(v)
        i += 2
    return kw


def peer_params(args: list) -> dict:
    """`--rules X --top 20 ...` (peers.py's query flags) -> {"rules": X, "top": 20, ...}."""
    out = {}
    for k, v in zip(args[::2], args[1::2]):
        out[str(k).lstrip("-").replace("-", "_")] = v if not isinstance(v, Path) else str(v)
    return out


def inproc_spec(q: Query) -> dict:
    p = peer_params(q.peer_args)
    d = peer_params(q.duckdb_args)
    pol = peer_params(q.polars_args)
    return {"num": q.num, "name": q.name, "title": q.title, "lp_kwargs": lp_kwargs(q.lp_args),
            "params": {k: (int(v) if k in ("top", "from_ns", "to_ns") else str(v)) for k, v in p.items()},
            "memory_limit": d.get("memory_limit"), "temp_dir": d.get("temp_dir"),
            "engine": pol.get("engine")}


def lp_call_text(kw: dict) -> str:
    return "store.pivot(" + ", ".join(f"{k}={v!r}" for k, v in kw.items()) + ")"


def inproc_python(a) -> Path:
    """The interpreter that runs the children: --python, else this one or /work/venv's or
    OUT/venv's, the first that imports logpivot, duckdb, polars and pyarrow."""
    cands = [a.python] if a.python else [Path(sys.executable), REPO / ".venv" / "bin" / "python",
                                         a.out / "venv" / "bin" / "python"]
    tried = []
    for py in cands:
        py = Path(py)
        if not py.exists():
            continue
        r = run_quiet([py, "-c", "import logpivot, duckdb, polars, pyarrow"])
        if r.returncode == 0:
            return py
        tried.append(f"{py}: {(r.stderr.strip().splitlines() or ['?'])[-1]}")
    raise BenchError("inprocess needs a python that imports logpivot, duckdb, polars and pyarrow "
                     "(`pip install ./tools/python duckdb polars pyarrow` in a venv, then --python "
                     "VENV/bin/python); tried: " + "; ".join(tried or ["nothing found"]))


def fmt_ms(s) -> str:
    if s is None:
        return "-"
    ms = s * 1000
    return f"{ms:.2f}" if ms < 10 else (f"{ms:.1f}" if ms < 100 else f"{ms:,.0f}")


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return None
    k = (len(xs) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def inproc_summary(per_round: list) -> dict:
    """The runs of one tool on one query over all rounds -> medians and spread."""
    ok = [r for r in per_round if r and "error" not in r]
    if not ok:
        errs = [r.get("error") for r in per_round if r and r.get("error")]
        return {"error": errs[0] if errs else "not run"}
    walls = [w for r in ok for w in r["wall_s"]]
    cpus = [c for r in ok for c in r["cpu_s"]]
    return {"runs": len(walls), "rounds": len(ok), "wall_s_median": statistics.median(walls),
            "wall_s_p10": pct(walls, 0.1), "wall_s_p90": pct(walls, 0.9),
            "wall_s_min": min(walls), "wall_s_max": max(walls),
            "round_medians_s": [statistics.median(r["wall_s"]) for r in ok],
            "cpu_s_median": statistics.median(cpus),
            "peak_rss_kib": max(r["peak_rss_kib"] or 0 for r in ok),
            "rows": ok[-1]["rows"], "first_s": ok[0]["first_s"]}


def render_inproc_table(queries: list, summ: dict, agreement: dict) -> str:
    L = [("| query | logpivot ms | DuckDB ms | Polars ms | logpivot speed-up vs DuckDB | vs Polars "
          "| CPU ms per query (logpivot / DuckDB / Polars) | peak RSS MB (logpivot / DuckDB / Polars) "
          "| results |"), "|" + "---|" * 9]
    for q in queries:
        s = summ.get(q.num, {})
        cells, cpu, rss = [], [], []
        for t in INPROC_TOOLS:
            x = s.get(t, {})
            if "error" in x or not x:
                cells.append(f"failed: {x.get('error', 'not run')[:80]}".replace("|", "/"))
                cpu.append("-")
                rss.append("-")
                continue
            cells.append(f"{fmt_ms(x['wall_s_median'])} ({fmt_ms(x['wall_s_p10'])}-{fmt_ms(x['wall_s_p90'])})")
            cpu.append(fmt_ms(x["cpu_s_median"]))
            rss.append(f"{x['peak_rss_kib'] * 1024 / MB:.0f}")
        lp = s.get("logpivot", {}).get("wall_s_median")
        ratios = []
        for t in ("duckdb", "polars"):
            x = s.get(t, {}).get("wall_s_median")
            r = f"{x / lp:.2f}x" if lp and x else "-"
            if t == "duckdb" and q.num in INPROC_TARGETS and lp and x:
                goal = INPROC_TARGETS[q.num]
                r += f" (goal {goal:g}x: {'met' if x / lp >= goal else 'NOT met'})"
            ratios.append(r)
        ag = agreement.get(q.num, {}).get("verdict", "-")
        L.append(f"| {q.title} | {cells[0]} | {cells[1]} | {cells[2]} | {ratios[0]} | {ratios[1]} "
                 f"| {' / '.join(cpu)} | {' / '.join(rss)} | {ag} |")
    return "\n".join(L)


def render_inproc_md(rep: dict, queries: list, summ: dict, agreement: dict) -> str:
    ds, mach = rep["dataset"], rep["machine"]
    out = [(f"### In-process: {ds['events']:,} events (one Python process per tool, open handle, warm; "
           f"median of at least {rep['min_runs']} calls and {rep['min_seconds']:g} s per query and tool, "
           f"over {rep['rounds']} round{'s' if rep['rounds'] != 1 else ''})"), ""]
    out.append(f"Measured {rep['date']} at logpivot commit `{rep['commit']}` by `{rep['bench_command']}`; "
               "do not edit these numbers by hand.")
    out += ["", render_inproc_table(queries, summ, agreement), ""]
    out.append("Milliseconds per call: the median of every timed call (in brackets the 10th-90th "
               "percentile). The speed-up is the peer's median over logpivot's. Results compared "
               "(the last call's result of each tool, written as CSV after the timing, with the rules "
               "of the process benchmark: sets of keys -> numbers, timestamps in UTC, zero cells "
               "dropped; top-N queries by their row totals, ties at the N-th in any order):")
    out.append("")
    for q in queries:
        ag = agreement.get(q.num, {})
        out.append(f"- **{q.title}: {ag.get('verdict', '-')}**")
        for l in ag.get("lines", []):
            out.append(("    - " if l.startswith(" ") else "  - ") + l.strip().replace("|", "/"))
    out.append("")
    notes = [
        ("How: each tool runs in its own Python process (`tools/bench/inproc.py TOOL`, started by "
         "bench.py; the tools take turns, round after round, in a rotating order). The process opens "
         "its handle once: `logpivot.open(dir)`; `duckdb.connect(db, read_only=True)` with `SET threads "
         f"= {rep['threads']}` and `SET TimeZone = 'UTC'`; `pl.scan_parquet(file)`. Then, per query, "
         "warm-up calls (1, or up to 5 within 0.5 s for calls under 0.1 s) and timed calls until both "
         f"{rep['min_runs']} calls and {rep['min_seconds']:g} s are reached (or {rep['max_seconds']:g} s, "
         "with at least 5 calls), in every round. A call returns the result to Python: logpivot a "
         "pyarrow.Table (`store.pivot(...)`), DuckDB a pyarrow.Table (`con.sql(sql)"
         ".to_arrow_table()`), Polars a DataFrame (`lazy_plan.collect(engine=...)`)."),
        ("CPU ms per query: the median over the calls of `time.process_time()` after minus before: "
         "user+sys CPU of every thread of the process (the engines' worker threads included). "
         f"logpivot uses all {rep['threads']} cores by default, DuckDB is set to {rep['threads']} "
         "threads, Polars' pool has "
         f"{rep.get('polars_threads', '?')} threads."),
        ("Peak RSS MB (10^6 bytes): the process's `VmHWM` after the query's calls, with the high-water "
         "mark reset (`/proc/self/clear_refs` = 5) before its warm-up; so it includes what the process "
         "already holds (interpreter, the tool's libraries, its open handle and caches). After import "
         "and open, before any query: " + ", ".join(
         f"{INPROC_LABEL[t]} {v * 1024 / MB:.0f} MB" for t, v in rep["rss_after_open_kib"].items())
         + ". Open (first call's setup) took " + ", ".join(
         f"{INPROC_LABEL[t]} {fmt_ms(v)} ms" for t, v in rep["open_s"].items()) + "."),
        ("The same data as the process benchmark: logpivot's data directory, DuckDB's native table "
         "`ev` made by `read_json` of the cleaned copy, Polars on the zstd Parquet file; the peers' SQL "
         "and Polars plans are those of `bench.py query` (peers.py `DUCKDB_SQL`, `polars_plan`)"
         + (". The rules map of queries 1 and 7 is read by every call, by all three tools (logpivot's "
            "`join`, DuckDB's `read_csv` in the SQL, Polars' `scan_csv`)." if rep["maps_per_call"] else
            ", except the rules map of queries 1 and 7: the peers load it once when they open, as a "
            "notebook user would (DuckDB: `CREATE TEMP TABLE rules_map_0 AS SELECT * FROM read_csv(rules, "
            "all_varchar = true, header = true)`, joined in place of the `read_csv`; Polars: "
            "`pl.read_csv(rules, infer_schema=False).lazy()` in place of `scan_csv`); logpivot reads "
            "and hashes the CSV in every call (`join=['rules.csv:RuleID=rule_id']`), so its figures "
            "include that.")),
        (f"Warm page cache: the stores were read once before each round. Query 2 is the UTC day "
         f"{rep['day']}; query 3 is RuleID `{rep['rule']['id']}` ({rep['rule']['count']:,} events, the "
         f"20th most frequent)."),
        (f"The memory-budget query: logpivot `memory_limit='{rep['memory_limit']}', spill_dir="
         f"'{rel(rep['spill_dir'])}'`; DuckDB `SET memory_limit = '{rep['memory_limit']}'` for that "
         f"query's calls only and `SET temp_directory = '{rel(rep['spill_dir'])}'` when the "
         "connection opens (DuckDB cannot switch it once a query has used it); Polars has no "
         "budget and runs it with `collect(engine='streaming')`. Spill volumes are not measured in "
         "this mode (see the process benchmark)."),
        ("Goals (issue 17 point 5): logpivot at least 20x an open DuckDB connection on the single "
         "rule, 5x on join+pivot and the time series."),
    ]
    for f in rep.get("failures", []):
        notes.append(f"FAILED: {f}")
    notes.append(
        f"Machine: {mach['nproc']} cores ({mach['cpu_model']}), {(mach['ram_bytes'] or 0) / 2**30:.1f} GiB "
        f"RAM, Linux {mach['kernel']}; load average {rep['loadavg_start']} at the start, "
        f"{rep['loadavg_end']} at the end (a shared machine: expect noise; per-round medians are in "
        f"the JSON). Versions: {rep['versions_text']}.")
    out += [f"- {n}" for n in notes]
    out += ["", "The calls (logpivot; the peers' code is under the process benchmark's query table):", "", "```"]
    for q in queries:
        out.append(f"{q.num}: {lp_call_text(inproc_spec(q)['lp_kwargs'])}")
    out.append("```")
    return "\n".join(out) + "\n"


INPROC_H2 = "## In-process (one Python process, warm, open handles)"
PROCESS_H2 = "## Process against process (our process vs interpreter start + import + query)"
SCALE_H2 = "## logpivot alone at growing N (processes)"
PROCESS_INTRO = ("Each run below is a fresh process: logpivot's CLI against `python` starting, importing "
                 "DuckDB or Polars and running the query. That is what a shell user meets; a notebook "
                 "user with an open connection meets the in-process figures above.")


def update_docs_inprocess(md: str, events: int, docs: Path = DOCS) -> None:
    """Put the in-process section of this size at the top of docs/BENCHMARKS.md (before the
    process sections, under its own heading; one section per event count, smaller first), and
    head the process sections for what they measure."""
    text = docs.read_text() if docs.exists() else (
        "# Benchmarks\n\nEvery number on this page is written by `tools/bench/bench.py "
        "... --update-docs` (see tools/bench/README.md); none is typed by hand.\n")
    begin, end = f"<!-- inprocess-{events}:begin -->", f"<!-- inprocess-{events}:end -->"
    block = f"{begin}\n{md.rstrip()}\n{end}"
    others = [(int(m.group(1)), m.start(), text.index(f"<!-- inprocess-{m.group(1)}:end -->")
               + len(f"<!-- inprocess-{m.group(1)}:end -->"))
              for m in re.finditer(r"<!-- inprocess-(\d+):begin -->", text)]
    if begin in text and end in text:
        a, b = text.index(begin), text.index(end) + len(end)
        text = text[:a] + block + text[b:]
    elif others:
        after = [o for o in others if o[0] > events]
        if after:
            i = after[0][1]
            text = text[:i] + block + "\n\n" + text[i:]
        else:
            i = others[-1][2]
            text = text[:i] + "\n\n" + block + text[i:]
    else:
        first = min((text.index(m) for m in ("<!-- ingest:begin -->", "<!-- query:begin -->",
                                              "<!-- scale:begin -->") if m in text), default=None)
        ins = f"{INPROC_H2}\n\n{block}\n\n"
        if first is None:
            text = text.rstrip() + "\n\n" + ins
        else:
            text = text[:first] + ins + text[first:]
    if PROCESS_H2 not in text:
        anchor = next((m for m in ("<!-- ingest:begin -->", "<!-- query:begin -->") if m in text), None)
        if anchor:
            i = text.index(anchor)
            text = text[:i] + f"{PROCESS_H2}\n\n{PROCESS_INTRO}\n\n" + text[i:]
    if SCALE_H2 not in text and "<!-- scale:begin -->" in text:
        # The scale section (logpivot alone) is not a comparison: its own heading.
        i = text.index("<!-- scale:begin -->")
        text = text[:i] + f"{SCALE_H2}\n\n" + text[i:]
    docs.write_text(text)
    log(f"updated {rel(docs)}: the in-process section ({events:,} events) and the process headings")


def cmd_inprocess(a) -> int:
    out = a.out
    out.mkdir(parents=True, exist_ok=True)
    bin_dir = a.bin
    for b in ("logpivot", "loggen"):
        if not os.access(bin_dir / b, os.X_OK):
            raise BenchError(f"{bin_dir / b} is missing or not executable (--bin DIR)")
    lp_bin = bin_dir / "logpivot"
    N = a.events
    start_load = loadavg()
    date = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
    spill_dir = a.spill_dir or (out / "spill")
    py = inproc_python(a)
    log(f"inprocess: children run {py}")
    ds = ensure_dataset(bin_dir, out, N, a.seed, a.regen)
    raw = REPO / ds["file"] if not Path(ds["file"]).is_absolute() else Path(ds["file"])
    versions = peer_versions(py)
    stores = ensure_stores(a, ds, raw, py, versions, "warm")
    qdir = out / f"inprocess-{N}"
    qdir.mkdir(parents=True, exist_ok=True)
    rules = qdir / "rules.csv"
    shutil.copyfile(REPO / ds["rules"] if not Path(ds["rules"]).is_absolute() else ds["rules"], rules)
    rule = pick_rule(lp_bin, stores["lp_dir"])
    queries = build_queries(rules, a.day, rule["id"], a.memory_limit, spill_dir)
    if a.queries:
        want = {int(x) for x in a.queries.split(",") if x.strip()}
        queries = [q for q in queries if q.num in want]
    spill_dir.mkdir(parents=True, exist_ok=True)
    threads = stores["threads"]
    spec = {"lp_dir": str(stores["lp_dir"]), "db": str(stores["db"]), "pq": str(stores["pq"]),
            "threads": threads, "csv_dir": str(qdir), "min_runs": max(1, -(-a.runs // a.rounds)),
            "min_seconds": a.min_seconds / a.rounds, "max_seconds": a.max_seconds,
            "preload_maps": not a.maps_per_call, "queries": [inproc_spec(q) for q in queries]}
    spec_path = qdir / "spec.json"
    spec_path.write_text(json.dumps(spec, indent=2) + "\n")
    inputs = files_under(stores["lp_dir"], stores["db"], stores["pq"], rules)
    raw_runs = {t: [] for t in INPROC_TOOLS}
    failures = []
    for rnd in range(a.rounds):
        order = INPROC_TOOLS[rnd % 3:] + INPROC_TOOLS[:rnd % 3]
        for t in order:
            read_through(inputs)
            res_path = qdir / f"{t}-round{rnd + 1}.json"
            remove(res_path)
            cmd = [py, INPROC_PY, t, spec_path, res_path]
            log(f"round {rnd + 1}/{a.rounds}: {t}: {shlex.join(map(str, cmd))}")
            m = measure(cmd, timeout=a.timeout)
            if not m.ok() or not res_path.exists():
                failures.append(f"{t}, round {rnd + 1}: {m.brief_error()}")
                log(f"{t} FAILED: {m.brief_error()}")
                continue
            r = json.loads(res_path.read_text())
            r["child_wall_s"], r["child_cpu_s"], r["child_rss_bytes"] = m.wall_s, m.cpu_s, m.rss_bytes
            raw_runs[t].append(r)
            log(f"{t}: " + ", ".join(f"q{k} {fmt_ms(v.get('wall_s_median'))} ms" for k, v in r["queries"].items()))
    summ, agreement = {}, {}
    for q in queries:
        summ[q.num] = {t: inproc_summary([r["queries"].get(str(q.num)) for r in raw_runs[t]])
                       for t in INPROC_TOOLS}
        for t in INPROC_TOOLS:
            if "error" in summ[q.num][t]:
                failures.append(f"{INPROC_LABEL[t]} on {q.title}: {summ[q.num][t]['error']}")
        outs = {t: (INPROC_LABEL[t], (qdir / f"q{q.num}-{t}.csv") if "error" not in summ[q.num][t] else None)
                for t in INPROC_TOOLS}
        agreement[q.num] = check_agreement(q, outs)
        if agreement[q.num]["verdict"] == "DIFFER":
            bar = "!" * 78
            print(f"\n{bar}\n{q.title}: RESULTS DIFFER\n" + "\n".join(agreement[q.num]["lines"]) + f"\n{bar}\n",
                  file=sys.stderr, flush=True)
    vers = {}
    for t in INPROC_TOOLS:
        for r in raw_runs[t][:1]:
            vers.update({k: v for k, v in r["versions"].items() if k != "threads"})
    vers["python"] = versions.get("python", "?")
    bench_cmd = "python3 tools/bench/bench.py inprocess " + shlex.join(
        [f"--events={N}", f"--seed={a.seed}", f"--runs={a.runs}", f"--rounds={a.rounds}",
         f"--min-seconds={a.min_seconds:g}"]
        + ([f"--max-seconds={a.max_seconds:g}"] if a.max_seconds != 30 else [])
        + (["--maps-per-call"] if a.maps_per_call else [])
        + ([f"--memory-limit={a.memory_limit}"] if a.memory_limit != "256MiB" else [])
        + ([f"--day={a.day}"] if a.day != "2024-06-05" else [])
        + ([f"--queries={a.queries}"] if a.queries else []))
    first = {t: raw_runs[t][0] for t in INPROC_TOOLS if raw_runs[t]}
    rep = {
        "benchmark": "inprocess", "date": date, "commit": git_commit(), "bench_command": bench_cmd,
        "argv": sys.argv, "python": str(py), "machine": machine_info(), "loadavg_start": start_load,
        "loadavg_end": loadavg(), "versions": vers,
        "versions_text": ", ".join(f"{k} {v}" for k, v in vers.items()), "dataset": ds,
        "stores": stores["notes"], "threads": threads, "day": a.day, "rule": rule,
        "memory_limit": a.memory_limit, "spill_dir": str(spill_dir), "failures": failures,
        "min_runs": a.runs, "min_seconds": a.min_seconds, "max_seconds": a.max_seconds, "rounds": a.rounds,
        "maps_per_call": a.maps_per_call,
        "polars_threads": first.get("polars", {}).get("versions", {}).get("threads"),
        "rss_after_open_kib": {t: r["rss_after_open_kib"] for t, r in first.items()},
        "open_s": {t: r["open_s"] for t, r in first.items()},
    }
    md = render_inproc_md(rep, queries, summ, agreement)
    rep["summary"] = {str(k): v for k, v in summ.items()}
    rep["agreement"] = {str(k): v for k, v in agreement.items()}
    rep["raw"] = raw_runs
    rep["markdown"] = md
    md_path, json_path = out / f"inprocess-{N}.md", out / f"inprocess-{N}.json"
    md_path.write_text(md)
    json_path.write_text(json.dumps(rep, indent=2, default=str) + "\n")
    print(md)
    log(f"wrote {rel(md_path)} and {rel(json_path)}")
    if a.update_docs:
        if failures or any(ag["verdict"] != "AGREE" for ag in agreement.values()):
            log("NOT updating the docs: a step failed or results differ (see above)")
            return 1
        update_docs_inprocess(md, N)
    return 1 if failures else 0


# ============================================================================================
# bench.py scale: logpivot alone at growing N (ingest from a pipe, then the query set)
# ============================================================================================
# Peak RSS growth below this many bytes counts as flat (see render_scale_md).
RSS_SLACK = 64 * 10**6

SCALE_QUERY_ORDER = (1, 2, 3, 4, 7, 6)  # the cheap ones first: a deadline cuts the slow ones


def measure_pipe(producer: list, consumer: list, producer_err: Path,
                 timeout: Optional[float] = None) -> Measurement:
    """`producer 2>producer_err | consumer` under bash (pipefail). Wall time is the harness's,
    around the whole pipeline (the consumer cannot end before the producer); user/sys CPU and
    peak RSS are the consumer's alone, from GNU time put around it inside the pipeline."""
    with tempfile.NamedTemporaryFile(prefix="bench-time-pipe-", suffix=".txt") as tf:
        timed = ([GNU_TIME, "-f", "%e %U %S %M", "-o", tf.name] if GNU_TIME else []) + [str(c) for c in consumer]
        script = (f"set -o pipefail; {shlex.join(str(c) for c in producer)} "
                  f"2>{shlex.quote(str(producer_err))} | {shlex.join(timed)}")
        m = measure(["bash", "-c", script], timeout=timeout)
        m.cmd = [script]
        if GNU_TIME:
            lines = [l for l in Path(tf.name).read_text(errors="replace").splitlines() if l.strip()]
            try:
                e, u, sy, mr = lines[-1].split()
                m.user_s, m.sys_s, m.maxrss_kib = float(u), float(sy), int(mr)
                m.stdout += f"\n{{\"consumer_wall_s\": {float(e)}}}\n"
            except (IndexError, ValueError):
                pass
    return m


def steal_s() -> Optional[float]:
    """The host's steal time so far, all CPUs (the `cpu` line of /proc/stat, in USER_HZ ticks):
    time this virtual machine was ready to run but the hypervisor ran someone else. It is noise
    that no tool here controls, so each scale ingest reports how much of it fell in its run."""
    try:
        f = Path("/proc/stat").read_text().split("\n", 1)[0].split()
        return int(f[8]) / os.sysconf("SC_CLK_TCK") if f[0] == "cpu" and len(f) > 8 else None
    except (OSError, ValueError):
        return None


def mem_available() -> Optional[int]:
    try:
        m = re.search(r"^MemAvailable:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.M)
        return int(m.group(1)) * 1024 if m else None
    except OSError:
        return None


def parse_deadline(text: Optional[str]) -> Optional[float]:
    """--deadline: HH:MM (UTC, the next such time) or an ISO date-time -> epoch seconds."""
    if not text:
        return None
    now = _dt.datetime.now(_dt.timezone.utc)
    if re.fullmatch(r"\d{1,2}:\d{2}", text):
        h, mi = map(int, text.split(":"))
        t = now.replace(hour=h, minute=mi, second=0, microsecond=0)
        if t <= now:
            t += _dt.timedelta(days=1)
        return t.timestamp()
    t = _dt.datetime.fromisoformat(text)
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.timezone.utc)
    return t.timestamp()


def scale_ingest(a, lp_bin: Path, loggen: Path, N: int, sdir: Path, lp_dir: Path, timeout) -> dict:
    remove(lp_dir)
    sdir.mkdir(parents=True, exist_ok=True)
    rules_src = sdir / "rules-loggen.csv"
    err = sdir / "loggen.stderr"
    producer = [loggen, "--events", N, "--seed", a.seed, "--rules", rel(rules_src)]
    consumer = [lp_bin, "ingest", "--quiet", "--data", rel(lp_dir), "-"]
    shown = f"{shlex.join(map(str, producer))} | {shlex.join(map(str, consumer))}"
    log(f"scale {N:,}: ingest: {shown}")
    st0 = steal_s()
    m = measure_pipe(producer, consumer, err, timeout=timeout)
    st1 = steal_s()
    gen = err.read_text(errors="replace") if err.exists() else ""
    if not m.ok():
        raise BenchError(f"scale ingest of {N} events failed: {m.brief_error()}\nloggen: {gen[-1000:]}")
    mt = LOGGEN_SUMMARY.search(gen)
    if not mt:
        raise BenchError(f"cannot read loggen's summary line:\n{gen[-2000:]}")
    r = run_quiet([lp_bin, "inspect", "--json", "--data", rel(lp_dir)])
    if r.returncode != 0:
        raise BenchError(f"logpivot inspect failed: {r.stderr.strip()[:500]}")
    j = json.loads(r.stdout)
    rows = j.get("rows")
    if rows != N:
        raise CountMismatch(f"scale ingest: logpivot holds {rows} rows, expected {N} (`{shown}`)")
    in_bytes = int(mt.group(4))
    res = {
        "command": shown, "wall_s": m.wall_s, "consumer_wall_s": m.last_json().get("consumer_wall_s"),
        "user_s": m.user_s, "sys_s": m.sys_s, "cpu_s": m.cpu_s, "rss_bytes": m.rss_bytes,
        "input_bytes": in_bytes, "malformed": int(mt.group(3)), "rows": rows, "rejects": j.get("rejects"),
        "segments": len(j.get("segments", [])), "segments_bytes": path_bytes(lp_dir / "segments"),
        "dir_bytes": path_bytes(lp_dir), "mb_per_s": in_bytes / MB / m.wall_s, "events_per_s": N / m.wall_s,
        "rules_src": rel(rules_src),
        "steal_s": None if st0 is None or st1 is None else round(st1 - st0, 2),
    }
    if res["rejects"] != res["malformed"]:
        log(f"note: logpivot rejected {res['rejects']} lines, loggen says {res['malformed']} malformed")
    log(f"scale {N:,}: ingest wall {m.wall_s:.1f}s cpu {m.cpu_s:.1f}s rss {m.rss_bytes / MB:.0f}MB "
        f"segments {fmt_mb(res['segments_bytes'])} ({res['mb_per_s']:.0f} MB/s)")
    return res


def fmt_ratio(x):
    return "-" if x is None else f"{x:.2f}x"


def render_scale_md(rep: dict) -> str:
    sizes = rep["sizes"]
    L = []
    done = [s for s in sizes if s.get("ingest")]
    L.append(f"### Scale: logpivot from {fmt_int(done[0]['events']) if done else '-'} to "
             f"{fmt_int(done[-1]['events']) if done else '-'} events (ingest from a pipe, then the query set)\n")
    L.append(f"Measured {rep['date']} at logpivot commit `{rep['commit']}` (binaries in `{rep['bin_dir']}`, "
             f"logpivot sha256 `{rep['lp_sha']}`) by `{rep['bench_command']}`; do not edit these numbers by hand. "
             f"Machine: {rep['machine_text']}.\n")
    L.append("logpivot only: DuckDB and Polars are not run at these sizes (see the ingest and query sections "
             "for them at 1M). Each size is ingested from loggen's stdout through a pipe, with no input file, "
             f"into a fresh data directory: `{rep['ingest_template']}`"
             + (f", {rep['ingest_runs']} times per size; the ingest figures are the run of median wall "
                f"time's, with the range of all runs beside wall and CPU" if rep.get("ingest_runs", 1) > 1 else "")
             + ". Wall time is the whole pipeline's "
             "(logpivot cannot finish before loggen, which shares the cores); CPU and peak RSS are the "
             f"logpivot process's alone ({rep['rusage_source']} inside the pipeline). MB/s is loggen's output "
             "(10^6 bytes) over the wall time; on disk is the data directory's `segments/`. Every ingest is "
             "checked: `logpivot inspect --json` `rows` equals N. Host steal is the time, summed over "
             "the CPUs, that the hypervisor gave this machine's CPUs to other guests during each run "
             "(/proc/stat): a noisy neighbour shows there, and in wall and CPU time. "
             f"The queries are `bench.py query`'s logpivot commands, every one with `--memory-limit "
             f"{rep['memory_limit']} --spill-dir {rep['spill_dir']}` (so query 5, query 6 without the "
             f"budget, is left out), warm page cache, median of "
             f"{rep['runs']} run(s); query 3 filters RuleID `{rep['rule']}` at every size. "
             "Spill is from `--explain`'s `-- spilled N runs` line. logpivot reads segments through mmap, so a "
             "query's peak RSS includes the file-backed segment pages it touched (page cache, reclaimable), "
             "not only its heap: a full scan's RSS grows with the data even when its working set does not.\n")
    if rep.get("status"):
        L.append(f"**{rep['status']}**\n")
    for s in sizes:
        N = s["events"]
        ing = s.get("ingest")
        L.append(f"#### {fmt_int(N)} events\n")
        if not ing:
            L.append(f"Not measured: {s.get('skipped', 'not reached')}.\n")
            continue
        L.append("| ingest | wall s | MB/s | events/s | CPU s (user+sys) | peak RSS MB | on disk (segments/) | input NDJSON "
                 "| host steal s (each run) |")
        L.append("|---|---|---|---|---|---|---|---|---|")
        steals = [x for x in (ing.get("runs_steal_s") or [ing.get("steal_s")]) if x is not None]
        def spread(x, key):
            xs = ing.get(key) or []
            return fmt_s(x) if len(xs) < 2 else f"{fmt_s(x)} ({fmt_s(min(xs))}-{fmt_s(max(xs))})"
        L.append(f"| logpivot ingest - | {spread(ing['wall_s'], 'runs_wall_s')} | {ing['mb_per_s']:.0f} | "
                 f"{fmt_int(ing['events_per_s'])} | "
                 f"{spread(ing['cpu_s'], 'runs_cpu_s')} | {ing['rss_bytes'] / MB:.0f} | {fmt_mb(ing['segments_bytes'])} | "
                 f"{fmt_mb(ing['input_bytes'])} | {', '.join(f'{x:.1f}' for x in steals) or '-'} |")
        L.append("")
        L.append("| query | wall s (median) | CPU s | peak RSS MB | spill | rows out |")
        L.append("|---|---|---|---|---|---|")
        for q in s.get("queries", []):
            if q.get("skipped"):
                L.append(f"| {q['title']} | skipped: {q['skipped']} | - | - | - | - |")
            elif q.get("failed"):
                L.append(f"| {q['title']} | FAILED: {q['failed']} | - | - | - | - |")
            else:
                L.append(f"| {q['title']} | {fmt_s(q['wall_s'])} | {fmt_s(q['cpu_s'])} | {q['rss_bytes'] / MB:.0f} | "
                         f"{q['spill']} | {fmt_int(q['rows'])} |")
        L.append("")
    if len(done) >= 2:
        pairs = list(zip(done, done[1:]))
        def short(n):
            for div, suf in ((10**9, "G"), (10**6, "M"), (10**3, "k")):
                if n >= div and n % div == 0:
                    return f"{n // div}{suf}"
            return fmt_int(n)
        hdr = " | ".join(f"{short(b['events'])} / {short(a_['events'])}" for a_, b in pairs)
        L.append("#### Growth\n")
        L.append(f"Ratio of each figure to the one at the size before. Time and disk: linear or better when the ratio "
                 f"is at most 1.05x the growth in N (10.5 per 10x); peak RSS: flat when within 1.5x, or less than "
                 f"{RSS_SLACK // 10**6} MB more (the process and the segment metadata pages it maps; the "
                 f"figures are in the tables above).\n")
        L.append(f"| figure | {hdr} | verdict |")
        L.append("|---|" + "---|" * len(pairs) + "---|")

        budget = parse_size(str(rep.get("memory_limit") or ""))

        def row(label, get, kind):
            rs, verdicts = [], []
            for a_, b in pairs:
                x, y = get(a_), get(b)
                if x is None or y is None or x <= 0:
                    rs.append(None)
                    continue
                r = y / x
                rs.append(r)
                g = b["events"] / a_["events"]
                if kind == "time":
                    verdicts.append("linear or better" if r <= 1.05 * g else "superlinear")
                else:
                    # A few tens of MB are the process itself and its mapped metadata pages,
                    # not growth: flat within 1.5x or within 64 MB.
                    verdicts.append("flat" if r <= 1.5 or y - x < RSS_SLACK else "grows")
            if not verdicts:
                v = "-"
            elif kind == "time":
                v = "linear or better" if all(x == "linear or better" for x in verdicts) else \
                    "SUPERLINEAR (" + ", ".join(verdicts) + ")"
            elif all(x == "flat" for x in verdicts):
                v = "flat"
            else:
                v = "GROWS with N (" + ", ".join(verdicts) + ")"
                # A query run under the budget may grow up to it: say so, beside the growth.
                peaks = [get(x) for x in done if get(x) is not None]
                if budget and label.startswith("query") and peaks and max(peaks) <= budget:
                    v += f"; every size within the {rep.get('memory_limit')} budget ({max(peaks) / 1e6:,.0f} MB at most)"
            L.append(f"| {label} | " + " | ".join(fmt_ratio(r) for r in rs) + f" | {v} |")

        def qget(num, k):
            def f(s):
                for q in s.get("queries", []):
                    if q["num"] == num and not q.get("skipped") and not q.get("failed"):
                        return q[k]
                return None
            return f

        row("ingest wall time", lambda s: s["ingest"]["wall_s"], "time")
        titles = {q["num"]: q["title"] for s in done for q in s.get("queries", [])}
        for num in sorted(titles):
            row(f"query {titles[num]}: wall time", qget(num, "wall_s"), "time")
        row("on disk (segments/)", lambda s: s["ingest"]["segments_bytes"], "time")
        row("ingest peak RSS", lambda s: s["ingest"]["rss_bytes"], "rss")
        for num in sorted(titles):
            row(f"query {titles[num]}: peak RSS", qget(num, "rss_bytes"), "rss")
        L.append("")
    if rep.get("plot"):
        L.append("![scale](scale.png)\n")
    for n in rep.get("notes", []):
        L.append(f"- {n}")
    return "\n".join(L).rstrip() + "\n"


SCALE_PLOT = r'''
import json, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
rep = json.load(open(sys.argv[1]))
sizes = [s for s in rep["sizes"] if s.get("ingest")]
N = [s["events"] for s in sizes]
fig, (a1, a2) = plt.subplots(1, 2, figsize=(13, 5.2))
a1.plot(N, [s["ingest"]["wall_s"] for s in sizes], "o-", lw=2.5, color="black", label="ingest (pipe)")
titles = {}
for s in sizes:
    for q in s.get("queries", []):
        titles[q["num"]] = q["title"]
def series(num, k):
    xs, ys = [], []
    for s in sizes:
        for q in s.get("queries", []):
            if q["num"] == num and q.get(k) is not None and not q.get("skipped") and not q.get("failed"):
                xs.append(s["events"]); ys.append(max(q[k], 1e-3))
    return xs, ys
for num in sorted(titles):
    xs, ys = series(num, "wall_s")
    if xs:
        a1.plot(xs, ys, "o--", label="query " + titles[num])
if len(N) >= 1:
    ref = sizes[0]["ingest"]["wall_s"]
    a1.plot(N, [ref * n / N[0] for n in N], ":", color="grey", label="linear from first ingest")
a1.set_xscale("log"); a1.set_yscale("log"); a1.set_xlabel("events (N)"); a1.set_ylabel("wall time, s")
a1.set_title("logpivot: time vs N (log-log)"); a1.grid(True, which="both", alpha=0.3); a1.legend(fontsize=7)
a2.plot(N, [s["ingest"]["rss_bytes"] / 1e6 for s in sizes], "o-", lw=2.5, color="black", label="ingest")
for num in sorted(titles):
    xs, ys = series(num, "rss_bytes")
    if xs:
        a2.plot(xs, [y / 1e6 for y in ys], "o--", label="query " + titles[num])
a2.set_xscale("log"); a2.set_yscale("log"); a2.set_xlabel("events (N)"); a2.set_ylabel("peak RSS, MB")
a2.set_title("logpivot: peak RSS vs N"); a2.grid(True, which="both", alpha=0.3); a2.legend(fontsize=7)
fig.suptitle("bench.py scale (" + rep["date"] + ", commit " + rep["commit"] + ")", fontsize=9)
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=110)
'''


def scale_plot(out: Path, json_path: Path, png: Path) -> bool:
    py = out / "venv" / "bin" / "python"
    try:
        if not py.exists():
            ensure_venv(out, False)
        if run_quiet([py, "-c", "import matplotlib"]).returncode != 0:
            log("installing matplotlib into the bench venv")
            r = run_quiet([py, "-m", "pip", "install", "--quiet", "matplotlib"])
            if r.returncode != 0:
                log(f"pip install matplotlib failed: {r.stderr.strip()[-500:]}")
                return False
        r = run_quiet([py, "-c", SCALE_PLOT, json_path, png])
        if r.returncode != 0:
            log(f"plot failed: {r.stderr.strip()[-1500:]}")
            return False
        log(f"wrote {rel(png)}")
        return True
    except Exception as e:  # a plot is not worth losing the numbers for
        log(f"plot failed: {e}")
        return False


def cmd_scale(a) -> int:
    out = a.out
    out.mkdir(parents=True, exist_ok=True)
    bin_dir = a.bin
    for b in ("logpivot", "loggen"):
        if not os.access(bin_dir / b, os.X_OK):
            raise BenchError(f"{bin_dir / b} is missing or not executable (--bin DIR)")
    lp_bin, loggen = bin_dir / "logpivot", bin_dir / "loggen"
    sizes = [int(x.replace("_", "")) for x in a.sizes.split(",") if x.strip()]
    deadline = parse_deadline(a.deadline)
    spill_dir = a.spill_dir or (out / "spill")
    runs = a.runs
    date = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
    mi = machine_info()
    bench_cmd = "python3 tools/bench/bench.py scale " + shlex.join(
        [f"--sizes={','.join(map(str, sizes))}", f"--seed={a.seed}", f"--runs={runs}",
         f"--memory-limit={a.memory_limit}"] + ([f"--ingest-runs={a.ingest_runs}"] if a.ingest_runs > 1 else [])
        + ([f"--deadline={a.deadline}"] if a.deadline else []))
    rep = {
        "benchmark": "scale", "date": date, "commit": git_commit(), "bench_command": bench_cmd,
        "argv": sys.argv, "bin_dir": str(bin_dir), "lp_sha": sha256_short(lp_bin),
        "loggen_sha": sha256_short(loggen), "rusage_source": RUSAGE_SOURCE, "runs": runs,
        "ingest_runs": a.ingest_runs,
        "machine": mi, "machine_text": ", ".join(f"{k} {v}" for k, v in mi.items() if not isinstance(v, (dict, list))),
        "memory_limit": a.memory_limit, "spill_dir": rel(spill_dir), "rule": None,
        "ingest_template": f"loggen --events N --seed {a.seed} | logpivot ingest --quiet --data "
                           f"{rel(out)}/scale-N -",
        "sizes": [{"events": n} for n in sizes], "notes": [], "status": None, "plot": False,
    }
    tag = "-".join(map(str, sizes))
    json_path, md_path = out / f"scale-{tag}.json", out / f"scale-{tag}.md"
    png = DOCS.parent / "scale.png"

    def left():
        return None if deadline is None else deadline - time.time()

    def tmo():
        l = left()
        return a.timeout if l is None else max(1.0, min(a.timeout, l))

    def write(final: bool):
        rep["loadavg_end"] = loadavg()
        measured = [s for s in rep["sizes"] if s.get("ingest")]
        if not final:
            rep["status"] = "Partial: the run is still going; sizes below without figures are not done yet."
        json_path.write_text(json.dumps(rep, indent=2, default=str) + "\n")
        if a.update_docs and len(measured) >= 1:
            rep["plot"] = scale_plot(out, json_path, png)
        md = render_scale_md(rep)
        md_path.write_text(md)
        json_path.write_text(json.dumps(dict(rep, markdown=md), indent=2, default=str) + "\n")
        if a.update_docs:
            update_docs("scale", md)
        return md

    prev = prev2 = None  # the sizes before: their figures extrapolate this one's (deadline, memory)
    rule = None
    for s in rep["sizes"]:
        N = s["events"]
        lp_dir = out / f"scale-{N}"
        sdir = out / f"scale-work-{N}"
        if prev and left() is not None:
            est = prev["ingest"]["wall_s"] * a.ingest_runs * N / prev["events"] * 1.1
            if est > left():
                s["skipped"] = (f"the ingest would take ~{est / 60:.0f} min (10x the size before, +10%) "
                                f"and only {max(0, left()) / 60:.0f} min were left before --deadline {a.deadline}")
                log(f"scale {N:,}: skipped: {s['skipped']}")
                rep["notes"].append(f"{fmt_int(N)} events skipped: {s['skipped']}.")
                continue
        ingests = []
        for k in range(a.ingest_runs):
            if a.ingest_runs > 1:
                log(f"scale {N:,}: ingest run {k + 1}/{a.ingest_runs}")
            ingests.append(scale_ingest(a, lp_bin, loggen, N, sdir, lp_dir, tmo()))
            log(f"scale {N:,}: host steal during the run: {ingests[-1]['steal_s']} s")
        # The median-wall run's figures (its data directory is the last one only when that run
        # was last, but every run holds the same rows: the queries read the last).
        by_wall = sorted(ingests, key=lambda r: r["wall_s"])
        s["ingest"] = dict(by_wall[len(by_wall) // 2],
                           runs_wall_s=[r["wall_s"] for r in ingests],
                           runs_cpu_s=[r["cpu_s"] for r in ingests],
                           runs_steal_s=[r.get("steal_s") for r in ingests])
        s["queries"] = []
        write(False)
        # The rule map loggen wrote beside the stream, copied as rules.csv (keys rules.category).
        rules = sdir / "rules.csv"
        shutil.copyfile(REPO / s["ingest"]["rules_src"], rules)
        if rule is None:
            rule = pick_rule(lp_bin, lp_dir)
            rep["rule"] = f"{rule['id']} (rank {rule['rank']} at {fmt_int(N)} events)"
            log(f"query 3 uses RuleID {rule['id']} at every size")
        queries = {q.num: q for q in build_queries(rules, a.day, rule["id"], a.memory_limit, spill_dir,
                                                   limit_all=True)}
        want = [n for n in SCALE_QUERY_ORDER if n in queries]
        if a.queries:
            keep = {int(x) for x in a.queries.split(",") if x.strip()}
            want = [n for n in want if n in keep]
        ctx = {"lp_bin": lp_bin, "lp_dir": lp_dir, "db": None, "pq": None, "py": None, "versions": {},
               "threads": None, "qdir": sdir, "spill_dir": spill_dir, "rules": rules}
        for num in want:
            q = queries[num]
            entry = {"num": num, "title": q.title.split(". ", 1)[-1] if False else q.title}
            pq_ = next((x for x in (prev or {}).get("queries", []) if x["num"] == num and x.get("wall_s")), None)
            if pq_ and left() is not None:
                est = pq_["wall_s"] * runs * N / prev["events"] * 1.2
                if est > left():
                    entry["skipped"] = (f"~{est / 60:.0f} min expected, {max(0, left()) / 60:.0f} min left "
                                        f"before --deadline {a.deadline}")
                    log(f"scale {N:,}: {q.title}: skipped: {entry['skipped']}")
                    rep["notes"].append(f"{fmt_int(N)} events, query {q.title}: skipped ({entry['skipped']}).")
                    s["queries"].append(entry)
                    continue
            # Memory guard: a query whose peak RSS, grown as it grew between the two sizes before
            # (or with N when there is one size before), would pass 80% of MemAvailable is skipped
            # rather than run into the OOM killer of a machine without swap.
            if pq_ and pq_.get("rss_bytes"):
                pp = next((x for x in (prev2 or {}).get("queries", [])
                           if x["num"] == num and x.get("rss_bytes")), None)
                growth = max(1.0, pq_["rss_bytes"] / pp["rss_bytes"]) if pp else N / prev["events"]
                est_rss, avail = pq_["rss_bytes"] * growth, mem_available()
                if avail and est_rss > 0.8 * avail:
                    entry["skipped"] = (f"peak RSS expected ~{est_rss / 1e9:.0f} GB ({pq_['rss_bytes'] / MB:.0f} MB "
                                        f"at {fmt_int(prev['events'])} x {growth:.1f}), over 80% of the "
                                        f"{avail / 1e9:.0f} GB available")
                    log(f"scale {N:,}: {q.title}: skipped: {entry['skipped']}")
                    rep["notes"].append(f"{fmt_int(N)} events, query {q.title}: skipped ({entry['skipped']}).")
                    s["queries"].append(entry)
                    continue
            step = query_steps(q, ctx)[0]
            r = run_step(step, runs, "warm", tmo())
            entry["command"] = r.cmd
            if r.failed:
                entry["failed"] = r.failed
                rep["notes"].append(f"{fmt_int(N)} events, query {q.title}: FAILED ({r.failed}): `{r.cmd}`")
            else:
                sm = r.summary()
                entry.update(wall_s=sm["wall_s_median"], wall_min=sm["wall_s_min"], wall_max=sm["wall_s_max"],
                             cpu_s=sm["cpu_s_median"], rss_bytes=sm["peak_rss_bytes_median"], rows=r.rows,
                             spill=fmt_spill(r), explain=r.runs[-1]["check"].get("explain"),
                             spill_dir_left=r.runs[-1]["check"].get("spill_dir_left"))
            s["queries"].append(entry)
            write(False)
        s["queries"].sort(key=lambda e: e["num"])
        prev2, prev = prev, s
        write(False)
    rep["status"] = None
    md = write(True)
    print(md)
    log(f"wrote {rel(md_path)} and {rel(json_path)}")
    return 0


def cmd_all(a) -> int:
    """ingest, then query on what ingest left (the query part runs warm unless --query-cache)."""
    rc = cmd_ingest(a)
    if rc != 0:
        return rc
    return cmd_query(a)


# ============================================================================================
# ============================================================================================
# Ray: logpivot.ray on a two-node cluster on loopback against one process (raybench.py)
# ============================================================================================
RAYBENCH_PY = HERE / "raybench.py"


def cmd_ray(a) -> int:
    out = a.out
    N = a.events
    lp_bin = a.bin / "logpivot"
    py = a.python or Path(sys.executable)
    start_load = loadavg()
    date = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
    ds = ensure_dataset(a.bin, out, N, a.seed, a.regen)
    raw = REPO / ds["file"] if not Path(ds["file"]).is_absolute() else Path(ds["file"])
    work = out / f"ray-{N}"
    inputs = work / "inputs"
    # The events as FILES files (whole lines), as a day of log batches would arrive: the
    # unit of work of a distributed ingest is a file.
    have = sorted(inputs.glob("part-*")) if inputs.exists() else []
    if len(have) != a.files:
        shutil.rmtree(inputs, ignore_errors=True)
        inputs.mkdir(parents=True)
        log(f"ray: splitting {rel(raw)} into {a.files} files")
        subprocess.run(["split", "-n", f"l/{a.files}", "-d", "-a", "3", str(raw),
                        str(inputs / "part-")], check=True)
        have = sorted(inputs.glob("part-*"))
    qdir = work / "queries"
    qdir.mkdir(parents=True, exist_ok=True)
    rules = qdir / "rules.csv"
    shutil.copyfile(REPO / ds["rules"] if not Path(ds["rules"]).is_absolute() else ds["rules"], rules)
    spill_dir = a.spill_dir or (out / "spill")
    spill_dir.mkdir(parents=True, exist_ok=True)
    lp_dir = out / f"lp-{N}"
    if not (lp_dir / "MANIFEST").exists():
        raise BenchError(f"{rel(lp_dir)} is missing: run `bench.py query --events {N}` first "
                         "(the single rule of query 3 is picked from it)")
    rule = pick_rule(lp_bin, lp_dir)
    queries = build_queries(rules, a.day, rule["id"], a.memory_limit, spill_dir)
    if a.queries:
        want = {int(x) for x in a.queries.split(",") if x.strip()}
        queries = [q for q in queries if q.num in want]
    spec = {"work": str(work), "files": [str(f) for f in have], "shards": a.shards,
            "runs": a.runs, "queries": [inproc_spec(q) for q in queries]}
    spec_path = work / "spec.json"
    spec_path.write_text(json.dumps(spec, indent=2) + "\n")
    res_path = work / "result.json"
    log(f"ray: {py} {rel(RAYBENCH_PY)} {rel(spec_path)}")
    subprocess.run([str(py), str(RAYBENCH_PY), str(spec_path), str(res_path)], check=True,
                   cwd=REPO, timeout=a.timeout)
    res = json.loads(res_path.read_text())
    res.update(events=N, date=date, commit=git_commit(), load_start=start_load, load_end=loadavg(),
               machine=machine_info(), argv=" ".join(sys.argv[1:]), queries=spec["queries"])
    (out / f"ray-{N}.json").write_text(json.dumps(res, indent=2) + "\n")
    md = render_ray_md(res)
    (out / f"ray-{N}.md").write_text(md)
    print(md)
    if a.update_docs:
        update_docs(f"ray-{N}", md)
    bad = [q["num"] for c in res["configs"] for q in c["queries"] if q.get("agree") is False]
    return 1 if bad else 0


def render_ray_md(res: dict) -> str:
    confs = res["configs"]
    titles = {q["num"]: q["title"] for q in res["queries"]}
    calls = {q["num"]: q["lp_kwargs"] for q in res["queries"]}
    one1 = next(c for c in confs if c["kind"] == "process" and c["cpus"] == 1)
    r1 = next(c for c in confs if c["kind"] == "ray" and c["cpus"] == 1)
    r2 = next(c for c in confs if c["kind"] == "ray" and c["cpus"] == 2)
    L = [f"Measured {res['date']} at logpivot commit `{res['commit']}` by `python3 tools/bench/bench.py "
         f"{res['argv']}`; do not edit these numbers by hand.", ""]
    L.append(f"{res['events']:,} events in {res['files']} input files; the Ray store has "
             f"{res['shards']} shards. Every process and every Ray node runs on this one 2-core "
             "machine: a node is given 1 CPU, so `2 nodes` is the most this machine can show "
             "(two workers on two cores); `one process, 2 threads` uses the same two cores in one "
             "process. Ray times are the driver's wall time, from the call to the pyarrow.Table "
             "(the Ray figures include its scheduling and object transfers); the process figures "
             "are `Store.pivot` on an open handle (in-process, warm).")
    L.append("")
    L.append("| ingest | wall s | events/s | speed-up vs 1 CPU |")
    L.append("|---|---|---|---|")
    for c in confs:
        base = one1 if c["kind"] == "process" else r1
        ing = c["ingest"]
        L.append(f"| {c['name']} | {ing['wall_s']:.1f} | {ing['events'] / ing['wall_s']:,.0f} | "
                 f"{base['ingest']['wall_s'] / ing['wall_s']:.2f}x |")
    L.append("")
    L.append("| query | " + " | ".join(c["name"] + " (s)" for c in confs)
             + " | Ray 2 nodes vs 1 node | Ray 1 node vs one process, 1 thread "
               "| Ray 2 nodes: map / reduce / finish s | results |")
    L.append("|---|" + "---|" * (len(confs) + 4))
    for i, q in enumerate(one1["queries"]):
        n = q["num"]
        cells = [f"{c['queries'][i]['wall_s']:.3f}" for c in confs]
        a, b = r1["queries"][i], r2["queries"][i]
        agree = all(c["queries"][i].get("agree", True) for c in confs)
        L.append(f"| {titles[n]} | " + " | ".join(cells)
                 + f" | {a['wall_s'] / b['wall_s']:.2f}x | {a['wall_s'] / q['wall_s']:.2f}x "
                   f"| {b['map_s']:.3f} / {b['reduce_s']:.3f} / {b['finish_s']:.3f} "
                   f"| {'AGREE' if agree else 'DIFFER'} |")
    L.append("")
    L.append("Model of N nodes (on paper, from the 2-node phases): a query's time is about "
             "`map(1 node) / N + reduce + finish + overhead`, where map is the slowest map task (the "
             "shards' segments split evenly), reduce merges one partition per reduce task in "
             "parallel (its work per task shrinks as 1/N, its inputs grow with the map count N) and "
             "finish runs on the driver (fixed: the result's rows). Predicted seconds:")
    L.append("")
    Ns = (1, 2, 4, 8, 16)
    L.append("| query | " + " | ".join(f"N={n}" for n in Ns) + " |")
    L.append("|---|" + "---|" * len(Ns))
    for i, _ in enumerate(one1["queries"]):
        a, b = r1["queries"][i], r2["queries"][i]
        n = a["num"]
        map1 = a["map_s"]
        fixed = b["finish_s"]
        red2 = b["reduce_s"]
        over = max(0.0, b["wall_s"] - b["map_s"] - b["reduce_s"] - b["finish_s"])
        preds = [map1 / k + red2 * 2 / k + fixed + over for k in Ns]
        L.append(f"| {titles[n]} | " + " | ".join(f"{p:.3f}" for p in preds) + " |")
    L.append("")
    L.append("- Phases (logpivot.ray.LAST, medians): map = from submitting the tasks until every "
             "map task's output exists; reduce = from then until every reduce task is done; finish "
             "= the driver builds the table. The rest of the wall time is planning (opening the "
             "pinned view) and Ray's scheduling.")
    L.append(f"- Machine: {res['machine'].get('nproc')} cores, load average {res['load_start']} at "
             f"the start, {res['load_end']} at the end (a shared machine: expect noise).")
    L.append("")
    L.append("The calls (`lpray.pivot(root, ...)` and `store.pivot(...)` with these arguments):")
    L.append("")
    L.append("```")
    for n, kw in calls.items():
        L.append(f"{n}: " + ", ".join(f"{k}={v!r}" for k, v in kw.items()))
    L.append("```")
    return "\n".join(L) + "\n"


# ============================================================================================
# compact: a store fed by many small ingests, before and after `logpivot compact`
# ============================================================================================
def _store_shape(lp_dir: Path) -> dict:
    m = json.loads((lp_dir / "MANIFEST").read_text())
    segs = [e for e in m["segments"] if e.get("file")]
    return {"segments": len(segs), "rows": sum(e["rows"] for e in segs),
            "segment_bytes": sum(e["bytes"] for e in segs), "disk_bytes": path_bytes(lp_dir)}


def _query_set_times(lp_bin: Path, lp_dir: Path, queries: list, runs: int, timeout: float) -> dict:
    """Each query as a CLI process, `runs` times, taking turns: median wall, CPU, peak RSS and
    the CSV of the first run."""
    walls = {q.num: [] for q in queries}
    cpus = {q.num: [] for q in queries}
    rss = {q.num: [] for q in queries}
    outs = {}
    for _ in range(runs):
        for q in queries:
            m = measure([lp_bin, "pivot", "--data", rel(lp_dir), *q.lp_args, "--format", "csv"],
                        timeout=timeout)
            if not m.ok():
                raise BenchError(f"query {q.num} on {rel(lp_dir)}: {m.brief_error()}")
            walls[q.num].append(m.wall_s)
            cpus[q.num].append(m.cpu_s)
            rss[q.num].append(m.rss_bytes)
            outs.setdefault(q.num, m.stdout)
    med = statistics.median
    return {q.num: {"wall_s": med(walls[q.num]), "cpu_s": med(cpus[q.num]),
                    "rss_bytes": med(rss[q.num]), "csv": outs[q.num]} for q in queries}


def cmd_compact(a) -> int:
    out = a.out
    N = a.events
    lp_bin = a.bin / "logpivot"
    start_load = loadavg()
    date = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
    ds = ensure_dataset(a.bin, out, N, a.seed, a.regen)
    raw = REPO / ds["file"] if not Path(ds["file"]).is_absolute() else Path(ds["file"])
    work = out / f"compact-{N}-{a.batches}"
    batches = work / "batches"
    have = sorted(batches.glob("b-*")) if batches.exists() else []
    if len(have) != a.batches:
        shutil.rmtree(batches, ignore_errors=True)
        batches.mkdir(parents=True)
        log(f"compact: splitting {rel(raw)} into {a.batches} batches")
        subprocess.run(["split", "-n", f"l/{a.batches}", "-d", "-a", "5", str(raw),
                        str(batches / "b-")], check=True)
        have = sorted(batches.glob("b-*"))
    # The map as rules.csv: its columns are then rules.category, ... as in the query set.
    rules = work / "rules.csv"
    shutil.copyfile(REPO / ds["rules"] if not Path(ds["rules"]).is_absolute() else ds["rules"], rules)
    spill_dir = a.spill_dir or (out / "spill")
    spill_dir.mkdir(parents=True, exist_ok=True)
    # The same events ingested at once: what a compacted store should look like.
    whole = work / "whole"
    shutil.rmtree(whole, ignore_errors=True)
    m = measure([lp_bin, "ingest", "-q", "--data", rel(whole), rel(raw)], timeout=a.timeout)
    if not m.ok():
        raise BenchError(f"ingest at once: {m.brief_error()}")
    rule = pick_rule(lp_bin, whole)
    queries = build_queries(rules, a.day, rule["id"], a.memory_limit, spill_dir)
    if a.queries:
        want = {int(x) for x in a.queries.split(",") if x.strip()}
        queries = [q for q in queries if q.num in want]
    small = work / "small"
    shutil.rmtree(small, ignore_errors=True)
    log(f"compact: {len(have)} ingests of about {N // len(have):,} events each")
    t0 = time.perf_counter()
    ingest_cpu = 0.0
    for i, b in enumerate(have):
        m = measure([lp_bin, "ingest", "-q", "--data", rel(small), rel(b)], timeout=a.timeout)
        if not m.ok():
            raise BenchError(f"ingest of {rel(b)}: {m.brief_error()}")
        ingest_cpu += m.cpu_s
        if (i + 1) % 100 == 0:
            log(f"  {i + 1} ingests")
    ingest_wall = time.perf_counter() - t0
    shapes = {"whole": _store_shape(whole), "before": _store_shape(small)}
    log("compact: the query set on the store of small ingests")
    times = {"whole": _query_set_times(lp_bin, whole, queries, a.runs, a.timeout),
             "before": _query_set_times(lp_bin, small, queries, a.runs, a.timeout)}
    log("compact: logpivot compact")
    cm = measure([lp_bin, "compact", "--json", "--data", rel(small)], timeout=a.timeout)
    if not cm.ok():
        raise BenchError(f"compact: {cm.brief_error()}")
    csum = json.loads(cm.stdout)
    shapes["after"] = _store_shape(small)
    times["after"] = _query_set_times(lp_bin, small, queries, a.runs, a.timeout)
    agree = {q.num: times["after"][q.num]["csv"] == times["before"][q.num]["csv"] for q in queries}
    if not all(agree.values()):
        raise BenchError(f"answers changed by compaction: {agree}")
    res = {"date": date, "commit": git_commit(), "machine": machine_info(), "events": N,
           "batches": len(have), "ingest_wall_s": ingest_wall, "ingest_cpu_s": ingest_cpu,
           "compact": {"wall_s": cm.wall_s, "cpu_s": cm.cpu_s, "rss_bytes": cm.rss_bytes,
                       "summary": csum},
           "shapes": shapes,
           "queries": {q.num: {k: {f: v for f, v in times[k][q.num].items() if f != "csv"}
                               for k in times} for q in queries},
           "titles": {q.num: q.title for q in queries}, "runs": a.runs,
           "load_start": start_load, "load_end": loadavg(), "rusage": RUSAGE_SOURCE}
    (work / "result.json").write_text(json.dumps(res, indent=2) + "\n")
    md = render_compact_md(res)
    (work / "compact.md").write_text(md)
    print(md)
    if a.update_docs:
        update_docs("compact", md)
    return 0


def render_compact_md(r: dict) -> str:
    sh, c = r["shapes"], r["compact"]
    mb = sh["before"]["segment_bytes"] / 1e6
    L = [f"{r['events']:,} events (loggen, seed as `bench.py`'s dataset) ingested as "
         f"{r['batches']:,} batches, one `logpivot ingest` each ({r['ingest_wall_s']:.1f} s wall, "
         f"{r['ingest_cpu_s']:.1f} CPU-s in all), then `logpivot compact`; beside the same events "
         f"ingested at once. Measured {r['date']}, commit {r['commit']}, with "
         f"`python3 tools/bench/bench.py compact --events {r['events']} --batches {r['batches']} "
         f"--runs {r['runs']} --update-docs`.", ""]
    L.append("| store | segments | segment files | on disk |")
    L.append("|---|---:|---:|---:|")
    for k, label in (("before", "1 ingest per batch"), ("after", "after `compact`"),
                     ("whole", "ingested at once")):
        L.append(f"| {label} | {sh[k]['segments']:,} | {fmt_mb(sh[k]['segment_bytes'])} | "
                 f"{fmt_mb(sh[k]['disk_bytes'])} |")
    L.append("")
    L.append(f"`compact`: {c['wall_s']:.2f} s wall, {c['cpu_s']:.2f} CPU-s, peak RSS "
             f"{fmt_mb(c['rss_bytes'])}; {mb / max(c['wall_s'], 1e-9):.1f} MB/s of segment files "
             f"read and {sh['before']['rows'] / max(c['wall_s'], 1e-9) / 1e6:.2f} M rows/s; "
             f"{c['summary']['groups']} merge groups.")
    L.append("")
    L.append("The query set, each a `logpivot pivot` process (wall seconds, median of "
             f"{r['runs']} runs taking turns; answers identical before and after). logpivot "
             "against itself, process against process: the same store before and after "
             "`compact` and the same events ingested at once. No peer ratio: DuckDB and Polars "
             "have no segments to compact; their figures for these queries are in the "
             "process and in-process sections above.")
    L.append("")
    L.append("| query | batches | after `compact` | at once | CPU-s batches / after |")
    L.append("|---|---:|---:|---:|---:|")
    for n, q in r["queries"].items():
        L.append(f"| {r['titles'][str(n)] if str(n) in r['titles'] else r['titles'][n]} | "
                 f"{q['before']['wall_s']:.3f} | {q['after']['wall_s']:.3f} | "
                 f"{q['whole']['wall_s']:.3f} | {q['before']['cpu_s']:.2f} / "
                 f"{q['after']['cpu_s']:.2f} |")
    L.append("")
    L.append(f"- Machine: {r['machine'].get('nproc')} cores, load average {r['load_start']} at the "
             f"start, {r['load_end']} at the end (a shared machine). Process figures: "
             f"{r['rusage']}.")
    return "\n".join(L) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="bench.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    def common(s, cache_default="auto"):
        s.add_argument("--events", type=int, default=1_000_000, help="events loggen generates (default 1000000)")
        s.add_argument("--seed", type=int, default=42, help="loggen seed (default 42)")
        s.add_argument("--runs", type=int, default=3, help="runs per step; figures are medians (default 3)")
        s.add_argument("--bin", type=Path, default=REPO / "target" / "release",
                       help="directory holding logpivot and loggen (default: target/release)")
        s.add_argument("--out", type=Path, default=Path("bench-out"),
                       help="output directory; relative to the repo root (default bench-out)")
        s.add_argument("--skip-peers", action="store_true", help="measure logpivot only")
        s.add_argument("--update-docs", action="store_true",
                       help="replace the marked section of docs/BENCHMARKS.md with the result")
        s.add_argument("--cache", choices=("auto", "cold", "warm"), default=cache_default,
                       help="auto: cold when the page cache can be dropped, else warm "
                            f"(default {cache_default})")
        s.add_argument("--regen", action="store_true", help="regenerate the dataset even if cached")
        s.add_argument("--upgrade-peers", action="store_true", help="pip install --upgrade the peers")
        s.add_argument("--timeout", type=float, default=3600, help="seconds per run before it is killed")

    s = sub.add_parser("ingest", help="ingest benchmark: logpivot vs DuckDB vs Polars")
    common(s)
    s.set_defaults(fn=cmd_ingest)

    def query_opts(s):
        s.add_argument("--spill-dir", type=Path, default=None,
                       help="where query 6 spills (logpivot --spill-dir, DuckDB temp_directory); "
                            "relative to the repo root (default OUT/spill)")
        s.add_argument("--memory-limit", default="256MiB",
                       help="query 6's budget: logpivot --memory-limit and DuckDB memory_limit (default 256MiB)")
        s.add_argument("--day", default="2024-06-05",
                       help="query 2's UTC day, inside the data (default 2024-06-05)")
        s.add_argument("--queries", default="", help="run only these queries, e.g. 1,5,6 (default all)")
        s.add_argument("--fast-runs", type=int, default=11,
                       help=f"runs per step of a query whose logpivot median is under {FAST_QUERY_S} s "
                            "(every tool of that query; a few milliseconds of noise are a large share "
                            "of such a query) (default 11)")
        s.add_argument("--reingest", action="store_true",
                       help="make logpivot's data directory and the peers' stores again even if present")

    s = sub.add_parser("query", help="query benchmark: 7 pivot queries, logpivot vs DuckDB vs Polars")
    common(s, cache_default="warm")
    query_opts(s)
    s.set_defaults(fn=cmd_query)

    s = sub.add_parser("all", help="ingest, then query")
    common(s)
    query_opts(s)
    s.add_argument("--query-cache", choices=("auto", "cold", "warm"), default="warm",
                   help="cache mode of the query part (default warm; --cache is the ingest part's)")
    s.set_defaults(fn=cmd_all)

    s = sub.add_parser("inprocess", help="in one Python process per tool, open handles, warm: "
                       "the query set on logpivot.Store, a DuckDB connection, Polars on Parquet")
    common(s, cache_default="warm")
    query_opts(s)
    s.set_defaults(fn=cmd_inprocess, runs=31)
    s.add_argument("--rounds", type=int, default=3,
                   help="processes per tool, taking turns with the other tools; each does "
                        "runs/rounds calls per query at least (default 3)")
    s.add_argument("--min-seconds", type=float, default=2.0,
                   help="timed seconds per query and tool at least, over all rounds (default 2)")
    s.add_argument("--max-seconds", type=float, default=30.0,
                   help="stop a query's calls in a round after this many seconds, at least 5 calls "
                        "(default 30)")
    s.add_argument("--maps-per-call", action="store_true",
                   help="the peers read the rules map in every query (as in `query`) instead of "
                        "loading it once when they open")
    s.add_argument("--python", type=Path, default=None,
                   help="the python that imports logpivot, duckdb, polars, pyarrow (default: this "
                        "one, else .venv or OUT/venv)")

    s = sub.add_parser("scale", help="logpivot alone at growing N: ingest from a pipe, then the query set")
    common(s, cache_default="warm")
    query_opts(s)
    s.set_defaults(fn=cmd_scale, runs=1, memory_limit="512MiB")
    s.add_argument("--sizes", default="1000000,10000000,100000000",
                   help="comma-separated event counts (default 1000000,10000000,100000000)")
    s.add_argument("--deadline", default=None,
                   help="HH:MM UTC (or ISO date-time): skip a size or query whose time, extrapolated "
                        "from the size before, would run past it")
    s.add_argument("--ingest-runs", type=int, default=1,
                   help="ingests per size, each into a fresh data directory; the figures are the "
                        "median-wall run's, with the range beside them (default 1)")

    s = sub.add_parser("ray", help="logpivot.ray on a two-node Ray cluster on loopback against "
                       "one process: ingest and the query set")
    common(s, cache_default="warm")
    query_opts(s)
    s.set_defaults(fn=cmd_ray, runs=3)
    s.add_argument("--files", type=int, default=8, help="input files the events are split into "
                   "(default 8)")
    s.add_argument("--shards", type=int, default=2, help="shards of the Ray store (default 2)")
    s.add_argument("--python", type=Path, default=None,
                   help="the python that imports logpivot, ray and pyarrow (default: this one)")

    s = sub.add_parser("compact", help="a store of many small ingests before and after "
                       "`logpivot compact`: segments, disk, the query set, compaction throughput")
    common(s, cache_default="warm")
    query_opts(s)
    s.set_defaults(fn=cmd_compact, runs=3)
    s.add_argument("--batches", type=int, default=1000,
                   help="ingests the events are split into (default 1000)")

    a = p.parse_args(argv)
    if a.runs < 1 or a.events < 1 or getattr(a, "ingest_runs", 1) < 1:
        p.error("--runs, --ingest-runs and --events must be at least 1")
    a.bin = a.bin.expanduser().resolve()
    a.out = a.out.expanduser()
    a.out = (a.out if a.out.is_absolute() else REPO / a.out).resolve()
    if getattr(a, "spill_dir", None) is not None:
        a.spill_dir = a.spill_dir.expanduser()
        a.spill_dir = (a.spill_dir if a.spill_dir.is_absolute() else REPO / a.spill_dir).resolve()
    try:
        return a.fn(a)
    except CountMismatch as e:
        bar = "!" * 78
        print(f"\n{bar}\nROW COUNT MISMATCH: {e}\n{bar}\n", file=sys.stderr, flush=True)
        return 2
    except BenchError as e:
        print(f"\nbench: error: {e}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
