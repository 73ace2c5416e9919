"""The figures in figures/ (the README's and the docs') are what the current code draws from the committed results
(``scripts/readme_figures.py``): each export's spec hash equals a fresh drawing's. No model, no kaleido."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from workbench.figures.paper import spec_hash

ROOT = Path(__file__).resolve().parents[2]
DEMO = "smollm2-135m-instruct_all_seed0"


def test_every_exported_figure_is_what_the_code_draws_now(script, capsys):
    assert script("readme_figures").main(["--check"]) == 0, capsys.readouterr().err


def test_the_readme_and_docs_show_checked_figures_only():
    """Every figure linked from the README and docs is exported with its hash, so the check above covers it."""
    shown = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for link in re.findall(r"\]\(((?:\.\./)?figures/[^)]+\.svg)\)", doc.read_text()):
            path = (doc.parent / link).resolve()
            assert path.is_file() and path.with_suffix(".sha256").is_file(), f"{doc.name}: {link}"
            shown.append(path.relative_to(ROOT / "figures").parts[0])
    assert {DEMO, "smollm2-135m-instruct_train_seed0", "ladder"} <= set(shown)


def test_spec_hash_ignores_float_noise_and_sees_a_change():
    fig = go.Figure(go.Scatter(x=[0, 1, 2], y=[0.1, 0.2, -0.0]), layout=dict(title="a"))
    assert spec_hash(fig) == spec_hash(go.Figure(go.Scatter(x=np.arange(3), y=np.array([0.1 + 1e-12, 0.2, 0.0])),
                                                 layout=dict(title="a")))
    assert spec_hash(fig) != spec_hash(go.Figure(go.Scatter(x=[0, 1, 2], y=[0.1, 0.2001, 0.0]), layout=dict(title="a")))
    assert spec_hash(fig) != spec_hash(go.Figure(go.Scatter(x=[0, 1, 2], y=[0.1, 0.2, 0.0]), layout=dict(title="b")))


def test_a_result_drawn_otherwise_fails_the_check(script, tmp_path, monkeypatch, capsys):
    """The demo's committed copy and exports, in a private figures/ (the ladder: one model's evidence): the check
    passes, then fails naming the figure whose stored numbers changed."""
    figures, evidence = tmp_path / "figures", tmp_path / "evidence"
    shutil.copytree(ROOT / "figures" / "sources" / "demo", figures / "sources" / "demo")
    shutil.copytree(ROOT / "figures" / DEMO, figures / DEMO)
    shutil.copytree(ROOT / "figures" / "ladder" / "smollm2-135m-instruct_seed0",
                    figures / "ladder" / "smollm2-135m-instruct_seed0")
    shutil.copytree(ROOT / "docs" / "ladder" / "evidence" / "smollm2-135m-instruct", evidence / "smollm2-135m-instruct")
    shutil.copy(ROOT / "docs" / "ladder" / "evidence" / "study.json", evidence / "study.json")
    module = script("readme_figures")
    monkeypatch.setattr(module, "FIGURES", figures)
    monkeypatch.setattr(module, "SOURCES", figures / "sources")
    monkeypatch.setattr(module, "EVIDENCE", evidence)
    monkeypatch.setattr(module, "TUNING", tmp_path / "no-tuning.csv")  # the knowledge-split figures: not in this copy
    assert module.main(["--check"]) == 0, capsys.readouterr().err
    (table,) = (figures / "sources" / "demo" / "results" / "probes").glob("*/layers.parquet")
    layers = pd.read_parquet(table)
    layers.assign(auroc=layers["auroc"] + 0.01).to_parquet(table, index=False)
    assert module.main(["--check"]) == 1
    stale = set(re.findall(r"figures/(\S+) is not what", capsys.readouterr().err))
    assert stale == {f"{DEMO}/probes-auroc_per_layer.svg", f"{DEMO}/bottleneck-logit_lens.svg"}  # the lens draws the probe


def test_make_figures_runs_the_script_on_the_demo_and_finetuning_runs():
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile[makefile.index("\nfigures:"):].split("\n\n")[0]
    assert "scripts/readme_figures.py $(wildcard runs/demo runs/finetune-smollm2)" in recipe
    assert sorted(p.name for p in (ROOT / "figures" / "sources").iterdir()) == ["demo", "finetune-smollm2"]
