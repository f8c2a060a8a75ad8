"""logpivot.ray on a real two-node Ray cluster on loopback, against one process: run by
`bench.py ray` (which prepares the data and the query set and renders the result) in the
interpreter that imports logpivot, ray and pyarrow.

    python raybench.py SPEC.json RESULT.json

Configurations, each timed on the same input files and query set:
- one process, 1 thread and 2 threads: `logpivot.ingest(threads=T)` into one data directory,
  `Store.pivot(threads=T)` (an open handle, warm);
- Ray, 1 node of 1 CPU, and 2 nodes of 1 CPU each (a head on 127.0.0.1, a second node on
  127.0.0.2): `logpivot.ray.ingest(shards=S, cpus_per_task=1)` into a sharded root,
  `logpivot.ray.pivot(..., cpus_per_task=1)` from the driver (this process), with the phase
  times of `logpivot.ray.LAST`.
Every Ray answer is compared with `Store.pivot` on the same sharded root (cell for cell).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path


def log(msg: str) -> None:
    print(f"[raybench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def cpu_self_children() -> float:
    a = resource.getrusage(resource.RUSAGE_SELF)
    b = resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """`ray start --block` nodes, each in its own session, killed as process groups."""

    def __init__(self, nodes: int, tmp: str):
        self.ray = str(Path(sys.executable).parent / "ray")
        self.env = dict(os.environ, RAY_AUTH_MODE="disabled")
        self.port = free_port()
        self.procs = []
        self.procs.append(self._start(["--head", "--node-ip-address=127.0.0.1", f"--port={self.port}",
                                       "--num-cpus=1", "--include-dashboard=false",
                                       f"--temp-dir={tmp}"]))
        self._wait_status()
        for i in range(1, nodes):
            self.procs.append(self._start([f"--address=127.0.0.1:{self.port}",
                                           f"--node-ip-address=127.0.0.{i + 1}", "--num-cpus=1"]))
        import ray

        ray.init(address=f"127.0.0.1:{self.port}", log_to_driver=False)
        deadline = time.monotonic() + 90
        while len([n for n in ray.nodes() if n["Alive"]]) < nodes:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the {nodes}-node cluster did not come up")
            time.sleep(0.5)

    def _start(self, args):
        return subprocess.Popen([self.ray, "start", "--block", "--disable-usage-stats", *args],
                                env=self.env, start_new_session=True, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)

    def _wait_status(self):
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            r = subprocess.run([self.ray, "status", f"--address=127.0.0.1:{self.port}"],
                               env=self.env, capture_output=True)
            if r.returncode == 0:
                return
            time.sleep(1)
        raise RuntimeError("the Ray head did not come up")

    def stop(self):
        import ray

        if ray.is_initialized():
            ray.shutdown()
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()


def timed(fn, runs: int):
    walls, cpus, out = [], [], None
    for _ in range(runs):
        c0, t0 = cpu_self_children(), time.perf_counter()
        out = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(cpu_self_children() - c0)
    return out, walls, cpus


def main(argv) -> int:
    spec = json.loads(Path(argv[1]).read_text())
    os.environ["RAY_AUTH_MODE"] = "disabled"
    import logpivot
    import logpivot.ray as lpray

    work = Path(spec["work"])
    files = spec["files"]
    queries = spec["queries"]
    runs = spec["runs"]
    result = {"configs": [], "files": len(files), "shards": spec["shards"]}

    # One process.
    for threads in (1, 2):
        d = work / f"one-{threads}"
        shutil.rmtree(d, ignore_errors=True)
        log(f"one process, {threads} thread(s): ingest")
        summary, walls, cpus = timed(
            lambda d=d, threads=threads: logpivot.ingest(files, data=d, threads=threads,
                                                         progress=False), 1)
        store = logpivot.open(d)
        conf = {"name": f"one process, {threads} thread{'s' if threads > 1 else ''}",
                "kind": "process", "cpus": threads,
                "ingest": {"wall_s": walls[0], "events": summary["events"]}, "queries": []}
        for q in queries:
            kw = dict(q["lp_kwargs"], threads=threads)
            store.pivot(**kw)  # warm
            _, w, c = timed(lambda kw=kw, store=store: store.pivot(**kw), runs)
            conf["queries"].append({"num": q["num"], "wall_s": statistics.median(w), "walls": w})
            log(f"  q{q['num']}: {statistics.median(w):.3f} s")
        result["configs"].append(conf)

    # Ray, 1 node and 2 nodes.
    for nodes in (1, 2):
        tmp = f"/tmp/lprb{nodes}"
        shutil.rmtree(tmp, ignore_errors=True)
        log(f"Ray, {nodes} node(s): starting")
        t0 = time.perf_counter()
        cl = Cluster(nodes, tmp)
        up = time.perf_counter() - t0
        try:
            d = work / f"ray-{nodes}"
            shutil.rmtree(d, ignore_errors=True)
            log(f"Ray, {nodes} node(s): ingest")
            summary, walls, _ = timed(
                lambda d=d: lpray.ingest(files, data=d, shards=spec["shards"], cpus_per_task=1), 1)
            local = logpivot.open(d)
            conf = {"name": f"Ray, {nodes} node{'s' if nodes > 1 else ''} of 1 CPU",
                    "kind": "ray", "cpus": nodes, "cluster_up_s": up,
                    "ingest": {"wall_s": walls[0], "events": summary["events"],
                               "tasks": summary["tasks"]}, "queries": []}
            for q in queries:
                kw = q["lp_kwargs"]
                lpray.pivot(d, **kw)  # warm: workers started, pages cached
                phases = []

                def call(kw=kw, d=d, phases=phases):
                    t = lpray.pivot(d, **kw)
                    phases.append(dict(lpray.LAST))
                    return t

                got, w, _ = timed(call, runs)
                agree = got.equals(local.pivot(**kw))
                med = statistics.median(w)
                ph = {k: statistics.median(p[k] for p in phases)
                      for k in ("map_s", "reduce_s", "finish_s")}
                conf["queries"].append({"num": q["num"], "wall_s": med, "walls": w, "agree": agree,
                                        "maps": phases[-1]["maps"], "reducers": phases[-1]["reducers"],
                                        **ph})
                log(f"  q{q['num']}: {med:.3f} s (map {ph['map_s']:.3f}, reduce {ph['reduce_s']:.3f}, "
                    f"finish {ph['finish_s']:.3f}) {'AGREE' if agree else 'DIFFER'}")
            result["configs"].append(conf)
        finally:
            cl.stop()
            shutil.rmtree(tmp, ignore_errors=True)
    Path(argv[2]).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
