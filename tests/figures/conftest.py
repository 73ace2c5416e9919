"""Stored results for the figure tests (figures read results only): a synthetic run, and a tiny model's run
analysed as the demo analyses its run."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from workbench.analyses.synthetic import make_run


@pytest.fixture(scope="session")
def stored(tmp_path_factory):
    """A synthetic run with probes (2 seeds), channels, prior knowledge, replication and bottleneck stored."""
    from workbench.analyses.bottleneck import bottleneck
    from workbench.analyses.channels import channels
    from workbench.analyses.prior_knowledge import prior_knowledge
    from workbench.analyses.probe_layers import probe_layers
    from workbench.analyses.replication import replication

    run = make_run(tmp_path_factory.mktemp("figures") / "run", n=80, accuracy=0.35)
    probes = probe_layers(run, ["confidence_slot", "answer_last"], seeds=(0, 1), n_boot=100)
    return {"run": run, "probes": probes, "channels": channels(run, probes=probes, n_boot=100),
            "prior_knowledge": prior_knowledge(run, probes=probes, n_boot=100),
            "replication": replication(run, probes), "bottleneck": bottleneck(run, n_boot=100, logit_lens=False)}


@pytest.fixture(scope="session")
def demo_run(tiny4_checkpoint, tmp_path_factory, correct_copy):
    """The demo's run on a tiny 4-block llama: its 300 items (every third marked correct: a random model is never
    right), analysed by the demo's own ``analyse`` (probes, channels, bottleneck with the logit lens, patching: 24
    pairs, every control, attribution), so its page is the demo's size but for the layer count. Its numbers mean
    nothing; every stage is the real one."""
    import workbench as wb
    from workbench.commands.demo import DEMO_LIMIT
    from workbench.demo import analyse

    model = wb.load_model(str(tiny4_checkpoint), device="cpu", progress=False)
    root = tmp_path_factory.mktemp("demo")
    collected = wb.collect(out=root / "collected", model=str(tiny4_checkpoint), loaded=model, limit=DEMO_LIMIT,
                           batch_size=50, max_answer_tokens=3, progress=False)
    run = correct_copy(collected, root / "run", list(range(0, DEMO_LIMIT, 3)))
    assert analyse(run, model) == []  # nothing skipped
    return run


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--enable-logging=stderr", "--v=0", "--hide-scrollbars", "--force-device-scale-factor=1",
                  "--virtual-time-budget=10000"]
# Appended to a copy of a report page: after load, writes into the DOM each figure's box (page coordinates) and how
# many plotly svgs it holds, where the findings end, and the contents links that lead nowhere.
MEASURE = """<script>window.addEventListener('load', function () { setTimeout(function () {
var out = document.createElement('pre'); out.id = 'measured'; out.style.display = 'none';
var findings = document.getElementById('findings').getBoundingClientRect();
out.textContent = JSON.stringify({boxes: Array.from(document.querySelectorAll('.js-plotly-plot')).map(function (d) {
  var r = d.getBoundingClientRect();
  return {id: d.id, x: r.left + window.scrollX, y: r.top + window.scrollY, w: r.width, h: r.height,
          svgs: d.querySelectorAll('.main-svg').length}; }),
  findings_bottom: findings.bottom + window.scrollY,
  dead_links: Array.from(document.querySelectorAll('#contents a')).map(function (a) { return a.hash.slice(1); })
    .filter(function (id) { return !document.getElementById(id); })});
document.body.appendChild(out); }, 200); });</script>"""


@pytest.fixture
def browse():
    """``browse(page, tmp_path, *flags)``: load a report page in one headless Chromium start (the 5 MB page takes
    seconds on a busy machine), check it loaded with no console message, and return what ``MEASURE`` found: each
    figure's box (``boxes``), where the findings end (``findings_bottom``), dead contents links (``dead_links``)."""
    binary = shutil.which("chromium")
    if binary is None:
        pytest.skip("headless Chromium not installed (make chromium)")

    def load(page: Path, tmp_path: Path, *flags: str) -> dict:
        measured = tmp_path / "measured.html"
        measured.write_text(page.read_text().replace("</body>", MEASURE + "</body>"))
        loaded = subprocess.run([binary, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
                                 *flags, measured.as_uri()], capture_output=True, text=True, timeout=240)
        assert loaded.returncode == 0, loaded.stderr[-2000:]
        assert "</html>" in loaded.stdout
        assert [line for line in loaded.stderr.splitlines() if ":CONSOLE" in line] == []  # the page's and MEASURE's
        found = re.search(r'<pre id="measured"[^>]*>([^<]*)</pre>', loaded.stdout)
        assert found, loaded.stdout[-2000:]
        return json.loads(found.group(1).replace("&quot;", '"'))

    return load
