"""The one report page: opens on the findings, self-contained and offline, every figure drawn in a real (headless
Chromium) browser, every table folded and downloadable."""

from __future__ import annotations

import base64
import html
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import workbench as wb
from workbench.analyses.bottleneck import bottleneck
from workbench.analyses.channels import channels
from workbench.analyses.synthetic import make_run
from workbench.cli import main
from workbench.errors import WorkbenchError
from workbench.figures.findings import run_findings
from workbench.figures.page import FIGURE_SIZE, ROWS_SHOWN, anchor
from workbench.figures.run_report import report_sections
from workbench.store.results import read_result
from workbench.store import open_run, write_json_atomic

MAX_BYTES = 6_000_000  # the demo's page: plotly.js (4.8 MB) and everything else under 1.2 MB


@pytest.fixture(scope="module")
def analysed_run(stored):
    """The figure tests' synthetic run (tests/figures/conftest.py): probes (two seeds, so replication), channels,
    prior knowledge and the bottleneck stored."""
    return stored["run"]


def read_png(path: Path) -> np.ndarray:
    """[height, width, 3] uint8 of a PNG (what Chromium writes), decoded by Pillow."""
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def test_the_page_holds_every_figure_and_table_of_the_run(analysed_run):
    sections = {s.title: s for s in report_sections(analysed_run)}
    assert set(sections) == {"probes", "replication", "channels", "prior_knowledge", "bottleneck", "Not run yet",
                             "Examples"}
    assert set(sections["probes"].figures) == {"auroc_per_layer"} and "layers" in sections["probes"].tables
    assert set(sections["channels"].figures) == {"reliability"} and "channels" in sections["channels"].tables
    assert "softmax_vs_argmax" in sections["bottleneck"].figures
    assert "patching" in sections["Not run yet"].note
    assert [f.analysis for f in run_findings(analysed_run)] == ["run", "probes", "channels", "bottleneck"]  # no patching
    examples = sections["Examples"].tables["examples"]
    assert len(examples) == analysed_run.n_examples
    assert {"question", "answer", "correct", "verbal_confidence", "softmax_expected", "answer_prob",
            "probe"} <= set(examples.columns)


def test_the_page_is_self_contained_with_plotly_inlined_once(analysed_run, tmp_path):
    path = wb.report(analysed_run, tmp_path / "moved-alone.html")  # anywhere: it needs nothing beside it
    text = path.read_text()
    assert text.count("Plotly.newPlot") == 6  # six figures, each drawn by the one inlined plotly.js
    assert len(re.findall(r"<script type='text/javascript'>/\*\*\s*\n?\s*\* plotly\.js", text)) == 1
    assert path.stat().st_size < 10_000_000
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", text)  # nothing loaded from anywhere
    assert not list(tmp_path.glob("*.js"))


def test_cli_writes_the_page_beside_the_run_and_refuses_an_incomplete_run(analysed_run, tmp_path, capsys):
    assert main(["report", str(analysed_run.path)]) == 0
    assert (analysed_run.path / "report.html").exists() and "opens offline" in capsys.readouterr().out
    killed = make_run(tmp_path / "killed", n=40)
    write_json_atomic(killed.path / "manifest.json", {**killed.manifest, "complete": False})
    assert main(["report", str(killed.path)]) == 2
    assert "incomplete run" in capsys.readouterr().err
    path = wb.report(open_run(killed.path), allow_incomplete=True)
    assert "This run is incomplete" in path.read_text()
    with pytest.raises(WorkbenchError, match="is a folder"):
        wb.report(analysed_run, tmp_path)


def test_headless_chromium_draws_every_figure_below_the_findings_with_no_console_errors(demo_run, browse, tmp_path):
    """The page of a run analysed as the demo analyses its own (every analysis, patching too), loaded once: its DOM
    measured and a screenshot taken after load."""
    page = wb.report(demo_run, tmp_path / "report.html")
    assert page.stat().st_size <= MAX_BYTES
    n_figures = sum(len(section.figures) for section in report_sections(demo_run))
    assert n_figures >= 7  # probes, reliability, bottleneck and logit lens, patching's heatmap, gradient, controls
    shot, height = tmp_path / "shot.png", 9000  # taller than the page's figures: they are all in the screenshot
    measures = browse(page, tmp_path, f"--window-size=1000,{height}", f"--screenshot={shot}")
    boxes = measures["boxes"]
    assert len(boxes) == n_figures and all(box["svgs"] >= 1 for box in boxes)  # each figure drawn by plotly
    assert all((box["w"], box["h"]) == FIGURE_SIZE for box in boxes)
    assert measures["findings_bottom"] < min(box["y"] for box in boxes)  # the findings come first
    assert measures["dead_links"] == []

    assert shot.exists()
    pixels = read_png(shot)
    assert pixels.shape[:2] == (height, 1000)
    assert max(box["y"] + box["h"] for box in boxes) <= height, "a figure lies below the screenshot"
    for box in boxes:
        x, y = int(box["x"]), int(box["y"])
        inside = pixels[y:y + int(box["h"]), x:x + int(box["w"])]
        drawn = (inside < 235).any(axis=2).mean()  # share of pixels that are not (near) white
        assert drawn > 0.02, f"{box['id']}: only {drawn:.1%} of its box is drawn"
        assert (inside.std(axis=(0, 1)) > 10).all()  # not one flat colour either


def test_the_page_opens_on_the_findings_the_demo_prints_read_from_the_stored_results(demo_run):
    findings = run_findings(demo_run)
    assert [f.analysis.split("-")[0] for f in findings] == ["run", "probes", "channels", "bottleneck", "bottleneck",
                                                            "patching"]
    text = wb.report(demo_run).read_text()
    said = re.search(r"<section id='findings'><h2>Findings</h2><ul class='findings'>(.*?)</ul>", text).group(1)
    assert re.findall(r"<li>(.*?)</li>", said) == [html.escape(f.text) for f in findings]
    assert text.index("<section id='findings'>") < text.index("<nav id='contents'>") < text.index("Plotly.newPlot")
    results = {f.analysis: read_result(demo_run.path / "results" / f.analysis) for f in findings[1:]}
    s = results["bottleneck"]["summary"].iloc[0]
    bottleneck_line = findings[3].text
    assert f"({s['verdict']}): AUROC softmax {s['auroc_softmax']:.3f} - argmax {s['auroc_argmax']:.3f} = " \
           f"{s['difference']:+.3f} [{s['difference_low']:+.3f}, {s['difference_high']:+.3f}]" in bottleneck_line
    patching = next(r for name, r in results.items() if name.startswith("patching"))
    g = patching["gradient_summary"].iloc[0]
    assert f"= {g['rho']:+.3f} [{g['rho_low']:+.3f}, {g['rho_high']:+.3f}]" in findings[-1].text
    assert all(f"{name} " in findings[-1].text for name in ("reverse", "off_position", "random"))
    best = results["probes"].manifest["best"][0]
    assert f"{best['auroc']:.3f} [{best['low']:.3f}, {best['high']:.3f}]" in findings[1].text
    assert f"{demo_run.records['correct'].mean():.3f}" in findings[0].text
    for finding in findings[1:]:  # and again at the top of its own section
        section = text.split(f"<section id='{anchor(finding.analysis)}'>")[1].split("</section>")[0]
        assert f"<p>{html.escape(finding.text)}</p>" in section


def test_every_table_is_folded_with_its_first_rows_and_the_whole_table_as_csv(demo_run):
    text = wb.report(demo_run).read_text()
    folded = re.findall(r"<details(?: open)?><summary>(.*?)</summary>(.*?)</details>", text, re.DOTALL)
    sections = report_sections(demo_run)
    tables = {name: frame for section in sections for name, frame in section.tables.items()}
    assert len(folded) == 1 + sum(len(section.tables) for section in sections)  # the run's own table, then these
    by_name = {summary.split(" (")[0]: body for summary, body in folded}
    examples = by_name["examples"]
    assert len(demo_run.records) > ROWS_SHOWN and examples.count("<tr") == ROWS_SHOWN + 1  # header + first rows
    link = re.search(r"href='data:text/csv;base64,([^']+)'", examples).group(1)
    csv = pd.read_csv(io.StringIO(base64.b64decode(link).decode()))
    assert len(csv) == demo_run.n_examples and list(csv.columns) == list(tables["examples"].columns)
    assert csv["question"].tolist() == tables["examples"]["question"].tolist()
    pairs = pd.read_csv(io.StringIO(base64.b64decode(
        re.search(r"href='data:text/csv;base64,([^']+)'", by_name["pairs"]).group(1)).decode()))
    assert len(pairs) == 24


def test_an_unreadable_result_is_named_on_the_page_and_the_rest_still_shown(tmp_path):
    run = make_run(tmp_path / "run", n=40)
    result = channels(run, n_boot=20)
    manifest = result.path / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "format": 99}))
    bottleneck(run, n_boot=20, logit_lens=False)
    sections = {s.title: s for s in report_sections(run)}
    assert "another result format" in sections["channels"].note and not sections["channels"].figures
    assert sections["bottleneck"].figures
