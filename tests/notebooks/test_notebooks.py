"""The notebooks: stored without outputs, equal to what scripts/make_notebooks.py writes, and run top to bottom
headless (nbclient) on SmolLM2 at small sizes, their own assertions included."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest


ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ("01_explore_layers", "02_patching", "03_paper_figures", "04_explore")


def read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)


def test_notebooks_are_stored_without_outputs_and_match_their_script(script, capsys):
    for name in NOTEBOOKS:
        for cell in read(name).cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{name}: outputs not stripped"
    assert script("make_notebooks").main(["--check"]) == 0, capsys.readouterr().err


@pytest.mark.slow
def test_notebooks_run_top_to_bottom_on_smollm2(tmp_path, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("WORKBENCH_NOTEBOOK_LIMIT", "12")  # small, yet both classes for the probes
    monkeypatch.setenv("WORKBENCH_NOTEBOOK_OUT", str(tmp_path / "out"))
    monkeypatch.delenv("WORKBENCH_NOTEBOOK_RESULTS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # one torch thread in the kernel: far faster on a busy 2-core machine
    for name in NOTEBOOKS:  # in order: 03 draws what 01 and 02 stored, 04 opens 01's run
        notebook = read(name)
        client = NotebookClient(notebook, kernel_name="python3", timeout=900, resources={"metadata": {"path": tmp_path}})
        client.execute()  # raises CellExecutionError, with the cell and its traceback, if any cell fails
        settings = "".join(o.get("text", "") for o in notebook.cells[1].outputs)
        assert f"python: {sys.executable}" in settings  # the kernel runs this environment's python
    figures = sorted(p.name for p in (tmp_path / "out" / "figures").rglob("*.svg"))
    assert {"probes-auroc_per_layer.svg", "bottleneck-logit_lens.svg"} <= set(figures)
    assert any(name.startswith("patching-") and name.endswith("-heatmap.svg") for name in figures)
