"""Write docs/notebook.ipynb from the cells of seed_workflow.py (`# %%` code cells,
`# %% [markdown]` text cells), so the notebook and the script CI runs are one text.

    python tools/python/examples/make_notebook.py            # rewrite docs/notebook.ipynb
    python tools/python/examples/make_notebook.py --check    # exit 1 if it is out of date
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "seed_workflow.py"
NOTEBOOK = HERE.parents[2] / "docs" / "notebook.ipynb"


def cells(text: str) -> list[dict]:
    out: list[dict] = []
    kind, lines = None, []

    def flush() -> None:
        body = "\n".join(lines).strip("\n")
        if kind is not None and body:
            source = [line + "\n" for line in body.split("\n")]
            source[-1] = source[-1].rstrip("\n")
            cell = {"cell_type": kind, "metadata": {}, "source": source}
            if kind == "code":
                cell.update(execution_count=None, outputs=[])
            out.append(cell)

    for line in text.split("\n"):
        if line.startswith("# %%"):
            flush()
            kind, lines = ("markdown" if "[markdown]" in line else "code"), []
        elif kind == "markdown":
            lines.append(line[2:] if line.startswith("# ") else line.lstrip("#"))
        else:
            lines.append(line)
    flush()
    return out


def notebook() -> str:
    nb = {
        "cells": cells(SCRIPT.read_text()),
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(nb, indent=1) + "\n"


if __name__ == "__main__":
    text = notebook()
    if "--check" in sys.argv[1:]:
        current = NOTEBOOK.read_text() if NOTEBOOK.exists() else ""
        if current != text:
            print(f"{NOTEBOOK} is out of date: run {Path(__file__).name}", file=sys.stderr)
            sys.exit(1)
    else:
        NOTEBOOK.write_text(text)
