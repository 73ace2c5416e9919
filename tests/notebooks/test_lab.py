"""`make lab` runs JupyterLab from the venv on notebooks/: the `lab` extra gives the venv a working `jupyter lab`.

Opening the folder as a workspace would need a running server; that `jupyter lab` starts from this venv and
is the pinned major version is what this checks, and the Makefile target is checked to run it on notebooks/."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(importlib.util.find_spec("jupyterlab") is None,
                    reason="JupyterLab (the `lab` extra) is not installed; `make lab` installs it")
def test_jupyter_lab_runs_from_the_venv():
    jupyter = Path(sys.executable).parent / "jupyter"
    done = subprocess.run([str(jupyter), "lab", "--version"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"4\.\d+\.\d+\S*", done.stdout.strip()), done.stdout  # the extra pins jupyterlab>=4,<5


def test_make_lab_installs_the_extra_and_opens_the_notebooks():
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile[makefile.index("\nlab:"):].split("\n\n")[0]
    assert '".[dev,lab]"' in recipe and "jupyter lab notebooks/" in recipe
    assert 'lab = ["jupyterlab>=4,<5"]' in (ROOT / "pyproject.toml").read_text()
    assert re.search(r"^jupyterlab==4\.", (ROOT / "requirements.lock").read_text(), re.MULTILINE)
    assert sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))  # the folder it opens holds notebooks
