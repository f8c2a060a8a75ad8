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

Only the standard library is needed to run this file. The peers run in a venv at OUT/venv
(created on first use, `pip install duckdb polars pyarrow`) through tools/bench/peers.py.

Layout, so that the query and spill benchmarks can join later as `bench.py query ...`:
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
        tail = (self.stderr.strip() or self.stdout.strip()).splitlines()
        # The last lines usually carry the exception; keep them short.
        text = " | ".join(l.strip() for l in tail[-4:] if l.strip())
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
def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="bench.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    def common(s):
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
        s.add_argument("--cache", choices=("auto", "cold", "warm"), default="auto",
                       help="auto: cold when the page cache can be dropped, else warm")
        s.add_argument("--regen", action="store_true", help="regenerate the dataset even if cached")
        s.add_argument("--upgrade-peers", action="store_true", help="pip install --upgrade the peers")
        s.add_argument("--timeout", type=float, default=3600, help="seconds per run before it is killed")

    s = sub.add_parser("ingest", help="ingest benchmark: logpivot vs DuckDB vs Polars")
    common(s)
    s.set_defaults(fn=cmd_ingest)
    # Later: sub.add_parser("query", ...) with pivot query Steps on the ingested outputs
    # (bench-out/lp-N, duckdb-N.duckdb, polars-N.parquet), and a spill variant taking
    # --memory-limit and --spill-dir PATH.

    a = p.parse_args(argv)
    if a.runs < 1 or a.events < 1:
        p.error("--runs and --events must be at least 1")
    a.bin = a.bin.expanduser().resolve()
    a.out = a.out.expanduser()
    a.out = (a.out if a.out.is_absolute() else REPO / a.out).resolve()
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
