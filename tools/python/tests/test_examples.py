"""The seed workflow runs top to bottom, and docs/notebook.ipynb holds exactly its cells."""

import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_seed_workflow_runs_top_to_bottom(tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg")
    env.setdefault("LOGGEN_BIN", str(Path(__file__).resolve().parents[3] / "target/release/loggen"))
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / "seed_workflow.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    assert (tmp_path / "hourly.png").stat().st_size > 1000
    assert "(unmatched)" in out.stdout


def test_notebook_is_made_from_the_script():
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / "make_notebook.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
