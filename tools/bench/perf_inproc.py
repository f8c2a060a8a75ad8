#!/usr/bin/env python3
"""What logpivot spends per query on a warm handle (issue 17 point 5): a loop to profile.

    python tools/bench/perf_inproc.py DATA QUERY [--seconds S] [--rule ID] [--day D] [--threads N]
    perf record -F 999 --call-graph dwarf,16384 -o q3.data -- \\
        python tools/bench/perf_inproc.py bench-out/lp-1000000 rule --rule ID --seconds 20

QUERY: `rule` (bench.py's query 3: one RuleID per hour, answered from the index), `hourly`
(query 2: a day's hourly x Source pivot), `empty` (a time range outside the data: what a query
costs when it has nothing to scan: plan, segment pruning, the worker thread, an empty Arrow
table), or `breakdown`: no loop for perf, but the median of 200 calls of each of these, with the
default threads and with threads=1, and of `store.info()`, printed as one JSON object.
"""
import argparse
import datetime as _dt
import json
import statistics
import time

import logpivot


def calls(a):
    day0 = a.day
    day1 = (_dt.date.fromisoformat(day0) + _dt.timedelta(days=1)).isoformat()
    return {
        "rule": {"rows": ["Datetime:1h"], "where": [f"RuleID={a.rule}"]},
        "hourly": {"rows": ["Datetime:1h"], "cols": "Source", "time_from": day0, "time_to": day1},
        "empty": {"rows": ["Datetime:1h"], "cols": "Source", "time_from": "2031-01-01",
                  "time_to": "2031-01-02"},
    }


def med_ms(fn, n):
    fn()
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return round(statistics.median(ts) * 1000, 3)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data")
    p.add_argument("query", choices=("rule", "hourly", "empty", "breakdown"))
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--rule", default="985a591302b45378bcde44a385dd63f7")
    p.add_argument("--day", default="2024-06-05")
    p.add_argument("--threads", type=int, default=None)
    a = p.parse_args()
    store = logpivot.open(a.data)
    qs = calls(a)
    if a.query == "breakdown":
        out = {}
        for name, kw in qs.items():
            out[name] = med_ms(lambda kw=kw: store.pivot(**kw), 200)
            out[name + " threads=1"] = med_ms(lambda kw=kw: store.pivot(**kw, threads=1), 200)
            t = store.pivot(**kw)
            out[name + " rows x cols"] = f"{t.num_rows} x {t.num_columns}"
        out["store.info()"] = med_ms(store.info, 50)
        print(json.dumps(out, indent=1))
        return
    kw = {**qs[a.query], **({"threads": a.threads} if a.threads else {})}
    store.pivot(**kw)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < a.seconds:
        store.pivot(**kw)
        n += 1
    dt = time.perf_counter() - t0
    print(json.dumps({"query": a.query, "calls": n, "seconds": round(dt, 3), "ms_per_call": round(dt / n * 1000, 4)}))


if __name__ == "__main__":
    main()
