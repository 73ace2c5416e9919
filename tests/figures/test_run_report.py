"""The one report page: self-contained, offline, every figure drawn in a real (headless Chromium) browser."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import workbench as wb
from workbench.analyses.bottleneck import bottleneck
from workbench.analyses.channels import channels
from workbench.analyses.synthetic import make_run
from workbench.cli import main
from workbench.errors import WorkbenchError
from workbench.figures.run_report import FIGURE_SIZE, report_sections
from workbench.store import open_run, write_json_atomic

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--enable-logging=stderr", "--v=0", "--hide-scrollbars", "--force-device-scale-factor=1",
                  "--virtual-time-budget=10000"]
# Appended to a copy of the page: after load, writes each figure's box (page coordinates) into the DOM.
MEASURE = """<script>window.addEventListener('load', function () { setTimeout(function () {
var out = document.createElement('pre'); out.id = 'figure-boxes'; out.style.display = 'none';
out.textContent = JSON.stringify(Array.from(document.querySelectorAll('.js-plotly-plot')).map(function (d) {
  var r = d.getBoundingClientRect();
  return {id: d.id, x: r.left + window.scrollX, y: r.top + window.scrollY, w: r.width, h: r.height,
          svgs: d.querySelectorAll('.main-svg').length}; }));
document.body.appendChild(out); }, 200); });</script>"""


@pytest.fixture(scope="module")
def analysed_run(stored):
    """The figure tests' synthetic run (tests/figures/conftest.py): probes (two seeds, so replication), channels,
    prior knowledge and the bottleneck stored."""
    return stored["run"]


def chromium(*args: str, user_data: Path) -> subprocess.CompletedProcess:
    binary = shutil.which("chromium")
    if binary is None:
        pytest.skip("headless Chromium not installed (make chromium)")
    return subprocess.run([binary, *CHROMIUM_FLAGS, f"--user-data-dir={user_data}", *args], capture_output=True,
                          text=True, timeout=240)


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


def test_headless_chromium_draws_every_figure_with_no_console_errors(analysed_run, tmp_path):
    """One Chromium start (each loads the 5 MB page, seconds on a busy machine): the page with a script that
    reports where the figures are, its DOM dumped and a screenshot taken after load."""
    page = wb.report(analysed_run, tmp_path / "report.html")
    measured = tmp_path / "measured.html"
    measured.write_text(page.read_text().replace("</body>", MEASURE + "</body>"))
    shot, height = tmp_path / "shot.png", 8000  # taller than the page: the whole page is in the screenshot
    loaded = chromium("--dump-dom", f"--window-size=1000,{height}", f"--screenshot={shot}", measured.as_uri(),
                      user_data=tmp_path / "profile")
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert "</html>" in loaded.stdout
    assert [line for line in loaded.stderr.splitlines() if ":CONSOLE" in line] == []  # the page's and MEASURE's

    found = re.search(r'<pre id="figure-boxes"[^>]*>([^<]*)</pre>', loaded.stdout)
    assert found, loaded.stdout[-2000:]
    boxes = json.loads(found.group(1).replace("&quot;", '"'))
    assert len(boxes) == 6 and all(box["svgs"] >= 1 for box in boxes)
    assert all((box["w"], box["h"]) == FIGURE_SIZE for box in boxes)

    assert shot.exists(), loaded.stderr[-2000:]
    pixels = read_png(shot)
    assert pixels.shape[:2] == (height, 1000)
    assert max(box["y"] + box["h"] for box in boxes) <= height, "a figure lies below the screenshot"
    for box in boxes:
        x, y = int(box["x"]), int(box["y"])
        inside = pixels[y:y + int(box["h"]), x:x + int(box["w"])]
        drawn = (inside < 235).any(axis=2).mean()  # share of pixels that are not (near) white
        assert drawn > 0.02, f"{box['id']}: only {drawn:.1%} of its box is drawn"
        assert (inside.std(axis=(0, 1)) > 10).all()  # not one flat colour either


def test_an_unreadable_result_is_named_on_the_page_and_the_rest_still_shown(tmp_path):
    run = make_run(tmp_path / "run", n=40)
    result = channels(run, n_boot=20)
    manifest = result.path / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "format": 99}))
    bottleneck(run, n_boot=20, logit_lens=False)
    sections = {s.title: s for s in report_sections(run)}
    assert "another result format" in sections["channels"].note and not sections["channels"].figures
    assert sections["bottleneck"].figures
