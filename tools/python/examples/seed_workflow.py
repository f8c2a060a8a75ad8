# %% [markdown]
# # The seed workflow, in-process
#
# A security engineer's notebook, with logpivot doing the work out of core: generate Cloudflare
# firewall events, ingest them, enrich rule IDs from a CSV map, pivot categories by action,
# value counts, an hourly series plotted with pandas, the events of one rule scanned into
# pandas, then what is over-represented in the attack window, and the events that look most
# like the attack.
#
# Run it as a script (`python seed_workflow.py [WORKDIR]`, which CI does through
# `tools/python/tests/test_examples.py`) or open `docs/notebook.ipynb`, made from these cells by
# `make_notebook.py`. It needs the `loggen` binary (`cargo build --release`; `LOGGEN_BIN`
# names another path) and matplotlib.

# %%
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib

import logpivot

matplotlib.use(os.environ.get("MPLBACKEND", "Agg"))
work = Path(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="logpivot-seed-"))
work.mkdir(parents=True, exist_ok=True)
loggen = os.environ.get("LOGGEN_BIN", "target/release/loggen")
events, rules = work / "events.ndjson", work / "rules.csv"
subprocess.run(
    [loggen, "--events", "200000", "--output", str(events), "--rules", str(rules)], check=True
)

# %% [markdown]
# ## Ingest: NDJSON, `.gz`, `.zst`, arrays, CloudTrail envelopes, whole directories

# %%
summary = logpivot.ingest([events], data=work / "lp-data", progress=False)
print(f"{summary['events']:,} events, {summary['rejects']} rejects, {summary['segments']} segments")
store = logpivot.open(work / "lp-data")

# %% [markdown]
# ## Enrichment and the category-by-action pivot
# `df["category"] = df.RuleID.map(rules)` then `pivot_table(index="category", columns="Action")`,
# with unmatched rule IDs counted under `(unmatched)`.

# %%
join = f"{rules}:RuleID=rule_id"
by_action = store.pivot(rows="rules.category", cols="Action", join=join, totals=True).to_pandas()
print(by_action.head(12).to_string())
assert by_action["Total"].iloc[-1] == summary["events"]

# %% [markdown]
# ## Value counts

# %%
countries = store.pivot(rows="ClientCountry", top=10).to_pandas()
print(countries.to_string())

# %% [markdown]
# ## An hourly series of one day, plotted

# %%
series = store.pivot(
    rows="Datetime:1h", cols="Action", time_from="2024-06-05", time_to="2024-06-06"
).to_pandas()
series = series.set_index("Datetime:1h").sort_index()
ax = series.plot(title="events per hour by action, 2024-06-05 (UTC)", figsize=(9, 4))
ax.figure.savefig(work / "hourly.png")
print(series.sum(numeric_only=True).to_string())

# %% [markdown]
# ## The events of one rule, scanned into pandas
# Filters are pushed down to the rule-ID bitmap index; strings arrive as categoricals.

# %%
top_rule = store.pivot(rows="RuleID", top=1).column("RuleID")[0].as_py()
reader = store.scan(
    columns=["_time", "ClientIP", "ClientRequestPath", "Action"], where=f"RuleID = {top_rule}"
)
one_rule = reader.read_all().to_pandas()
print(f"rule {top_rule}: {len(one_rule):,} events")
print(one_rule.head().to_string())

# %% [markdown]
# ## Contrast: what is over-represented in the attack window?

# %%
suspect = "Datetime >= 2024-06-05T19:12:00Z and Datetime < 2024-06-05T21:12:00Z"
contrast = store.contrast(suspect=suspect, top=15).to_pandas()
print(contrast[["field", "value", "suspect", "baseline", "f"]].to_string())

# %% [markdown]
# ## Score: the events that look most like the attack

# %%
scored = store.score(
    suspect=suspect, fields=["ClientRequestUserAgent", "ClientASN", "ClientIP"], top=10
).to_pandas()
print(scored.head(10).to_string())
