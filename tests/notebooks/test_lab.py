"""`make lab` runs JupyterLab from the venv on the four notebooks, and `notebooks/04_explore` draws its app there:
a real JupyterLab server on localhost, a real headless Chromium, every cell run by JupyterLab's own command."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NO_LAB = importlib.util.find_spec("jupyterlab") is None
# After every cell ran: the app's figures (plotly divs with their SVG drawn, and the traces in them), its slider, and
# the text the notebook's last cell prints once its assertions passed.
STATE = """JSON.stringify({
  plots: Array.from(document.querySelectorAll('.jp-OutputArea .js-plotly-plot')).map(function (d) {
    var r = d.getBoundingClientRect();
    return {w: r.width, h: r.height, svgs: d.querySelectorAll('.main-svg').length,
            traces: d.querySelectorAll('.scatterlayer .trace').length}; }),
  slider: document.querySelectorAll('.jp-OutputArea .widget-slider').length,
  errors: Array.from(document.querySelectorAll('.jp-OutputArea-output')).map(function (o) { return o.innerText; })
    .filter(function (t) { return /Traceback|Error:/.test(t); }),
  printed: document.body.innerText.indexOf('probe score') >= 0})"""


@pytest.mark.skipif(NO_LAB, reason="JupyterLab (the `lab` extra) is not installed; `make lab` installs it")
def test_jupyter_lab_runs_from_the_venv():
    jupyter = Path(sys.executable).parent / "jupyter"
    done = subprocess.run([str(jupyter), "lab", "--version"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"4\.\d+\.\d+\S*", done.stdout.strip()), done.stdout  # the extra pins jupyterlab>=4,<5


def test_make_lab_installs_the_extra_and_opens_the_notebooks():
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile[makefile.index("\nlab:"):].split("\n\n")[0]
    assert '".[dev,lab]"' in recipe and "jupyter lab notebooks/*.ipynb" in recipe
    assert re.search(r'^lab = \["jupyterlab>=4,<5", "ipywidgets>=8", "anywidget>=0.9"\]', (ROOT / "pyproject.toml")
                     .read_text(), re.MULTILINE)
    lock = (ROOT / "requirements.lock").read_text()
    assert all(re.search(rf"^{name}==\d", lock, re.MULTILINE) for name in ("jupyterlab", "ipywidgets", "anywidget"))
    assert len(sorted((ROOT / "notebooks").glob("*.ipynb"))) == 4  # what the recipe opens


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_server(port: int, server: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    start = time.time()
    while time.time() - start < timeout:
        if server.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {server.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=5) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"jupyter lab did not answer on port {port} in {timeout} s")


async def run_all_cells(chromium: str, url: str, timeout: float = 420) -> dict:
    """Open ``url`` in headless Chromium, run every cell through JupyterLab's command, wait for the app to draw."""
    from choreographer import Browser

    async with Browser(path=chromium, headless=True) as browser:
        tab = await browser.create_tab(url, width=1400, height=1200, window=True)

        async def js(expression: str):
            reply = await tab.send_command("Runtime.evaluate", params={"expression": expression,
                                                                       "returnByValue": True, "awaitPromise": True})
            return reply["result"]["result"].get("value")

        async def until(expression: str, what: str) -> None:
            start = time.time()
            while not await js(expression):
                if time.time() - start > timeout:
                    raise TimeoutError(f"{what} after {timeout} s; the page: {json.loads(await js(STATE))}")
                await asyncio.sleep(1)

        kernel = "window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'"
        await until(f"(function () {{ try {{ return {kernel}; }} catch (e) {{ return false; }} }})()",
                    "no idle kernel behind the notebook")
        await js("window.jupyterapp.commands.execute('notebook:run-all-cells').then(function () { return true; })")
        await until("(function () { var s = JSON.parse(" + STATE + "); return s.printed || s.errors.length > 0; })()",
                    "the notebook's last cell printed nothing")
        await until("document.querySelectorAll('.jp-OutputArea .js-plotly-plot .main-svg').length >= 4",
                    "the app's two figures were not drawn")
        return json.loads(await js(STATE))


@pytest.mark.slow
@pytest.mark.skipif(NO_LAB, reason="JupyterLab (the `lab` extra) is not installed; `make lab` installs it")
def test_explore_notebook_draws_its_app_in_jupyterlab(tiny_probed_run, tmp_path):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("headless Chromium not installed (make chromium)")
    shutil.copy(ROOT / "notebooks" / "04_explore.ipynb", tmp_path / "04_explore.ipynb")
    port = free_port()
    env = {**os.environ, "WORKBENCH_NOTEBOOK_RUN": str(tiny_probed_run.path), "WORKBENCH_NOTEBOOK_MODEL": "",
           "OMP_NUM_THREADS": "1", "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
                               f"--ServerApp.port={port}", "--ServerApp.port_retries=0", "--IdentityProvider.token=",
                               "--ServerApp.password=", f"--ServerApp.root_dir={tmp_path}", "--expose-app-in-browser", "--allow-root"],
                              env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        wait_for_server(port, server, tmp_path / "server.log")
        state = asyncio.run(run_all_cells(chromium, f"http://127.0.0.1:{port}/lab/tree/04_explore.ipynb"))
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()
    assert not state["errors"], state["errors"]
    assert state["printed"] and state["slider"] == 1
    plots = state["plots"]
    assert len(plots) == 2 and all(p["w"] > 400 and p["h"] > 300 and p["svgs"] >= 2 for p in plots), plots
    assert [p["traces"] for p in plots] == [2, 2], plots  # probe + marker; final + lens (no model: no patched line)
