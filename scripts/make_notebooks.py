"""Write notebooks/*.ipynb from the cell sources below (no outputs), so the notebooks are reviewed as code.

    python scripts/make_notebooks.py           # (re)write notebooks/
    python scripts/make_notebooks.py --check   # exit 1 if notebooks/ differs from what this script writes
    python scripts/make_notebooks.py --execute runs/notebooks   # also run them headless, in order, and keep
                                                                # the executed copies (with outputs) there

Every notebook reads its sizes from the environment, so the test suite runs them small on SmolLM2:
``WORKBENCH_NOTEBOOK_LIMIT`` (items to collect), ``WORKBENCH_NOTEBOOK_OUT`` (where runs, sweeps and figures go).
They call the public API only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"

SETTINGS = '''import os
import sys
from pathlib import Path

LIMIT = int(os.environ.get("WORKBENCH_NOTEBOOK_LIMIT", "{limit}"))  # items to collect (the tests use a handful)
OUT = Path(os.environ.get("WORKBENCH_NOTEBOOK_OUT", "runs/notebooks"))
print(f"python: {{sys.executable}}\\nLIMIT={{LIMIT}}, OUT={{OUT}}")'''

EXPLORE = [
    new_markdown_cell("""# Explore layers: where does the model know it is wrong?

Load SmolLM2, collect a small run (answers, graded, confidence read out four ways, residual stream at every
read-out for four position roles), then look read-out by read-out: held-out **probe AUROC**, the **logit lens** at the
confidence slot, and one example's **residual norms** and **confidence distribution**.
Sizes come from the environment (`WORKBENCH_NOTEBOOK_LIMIT`, `WORKBENCH_NOTEBOOK_OUT`)."""),
    new_code_cell(SETTINGS.format(limit=64)),
    new_code_cell('''import numpy as np
import pandas as pd
import plotly.graph_objects as go

import workbench as wb

model = wb.load_model("smollm2-135m-instruct")  # the TransformerLens backend; backend="nnsight" works the same
print(model.info["name"], model.n_layers, "blocks, d_model", model.d_model)'''),
    new_markdown_cell("## Collect a run\nResumable: re-running this cell continues (or reuses) the stored run."),
    new_code_cell('''run = wb.collect(out=OUT / "explore", dataset="capitals", limit=LIMIT, seed=0, loaded=model, batch_size=16)
records = run.records
print(run, f"accuracy {records['correct'].mean():.2f}")
records[["question", "answer", "gold", "correct", "verbal_confidence", "softmax_expected"]].head(8)'''),
    new_code_cell('''assert run.n_examples == LIMIT and run.manifest["complete"]
assert records["correct"].nunique() == 2, "the probes below need both correct and incorrect answers"
assert run.n_blocks == model.n_layers  # one layer vocabulary: blocks
assert len(run.readouts) == model.n_layers + 1  # stored: resid_pre of every block, then the last resid_post'''),
    new_markdown_cell("## Probe AUROC per layer\nOne logistic probe per layer at the confidence slot, "
                      "cross-validated by question; the band is a bootstrap 95% interval."),
    new_code_cell('''# folds="auto": as many grouped folds (up to 5) as the class counts allow
probes = wb.probe(run, roles=["confidence_slot"], readouts="all", folds="auto", probes=["logistic"], n_boot=200)
best = probes.summary  # a wb.ProbeSummary, read from the stored tables
print(best)
wb.figure(probes, "auroc_per_layer")'''),
    new_code_cell('''per_layer = probes["layers"]
ok = per_layer[per_layer["status"] == "ok"]
assert len(ok) == len(run.readouts)
assert ok["auroc"].between(0, 1).all() and (ok["low"] <= ok["auroc"]).all() and (ok["auroc"] <= ok["high"]).all()
assert best.auroc == ok["auroc"].max() and best.hook == run.readouts[best.best_layer]'''),
    new_markdown_cell("## Logit lens at the confidence slot\nEach layer's residual read through the final norm and "
                      "unembedding: how well its expected confidence separates correct from incorrect answers, "
                      "beside the probe; and the text bottleneck test (softmax expected value vs argmax)."),
    new_code_cell('''lens_result = wb.bottleneck(run, model=model, n_boot=200)
lens = lens_result["lens"]
print(lens_result.summary)  # a wb.BottleneckSummary: verdict, AUROC softmax - argmax with its interval
wb.figure(lens_result, "logit_lens")  # beside the probe stored in the same run'''),
    new_code_cell('''assert len(lens) == len(run.readouts)
finite = lens[lens["status"] == "ok"]
assert finite["auroc"].between(0, 1).all() and finite["first_token_mass"].between(0, 1 + 1e-6).all()
wb.figure(lens_result, "softmax_vs_argmax")'''),
    new_markdown_cell("## One example, layer by layer\nThe residual norm at each position role through the layers, "
                      "and the confidence distribution the model read out at the confidence slot. Pick another "
                      "example from the menu."),
    new_code_cell('''EXAMPLES = list(range(min(8, run.n_examples)))
norms = {role: np.stack([np.linalg.norm(run.residuals(layer, role), axis=1) for layer in range(len(run.readouts))])
         for role in run.roles}  # role -> [layer, example]
fig = go.Figure()
for e in EXAMPLES:
    for role in run.roles:
        fig.add_trace(go.Scatter(x=list(range(len(run.readouts))), y=norms[role][:, e], mode="lines+markers",
                                 name=role, visible=(e == 0), legendgroup=role))
n_roles = len(run.roles)
fig.update_layout(
    title="residual norm per layer", xaxis_title="layer", yaxis_title="L2 norm",
    updatemenus=[dict(buttons=[dict(label=f"example {e}: {records['question'][e][:40]}", method="update",
                                    args=[{"visible": [i // n_roles == e for i in range(len(fig.data))]}])
                               for e in EXAMPLES])])
fig'''),
    new_code_cell('''EXAMPLE = 0
probs = run.confidence_probs()[EXAMPLE]  # exact probability of each confidence string
vocabulary = run.vocabulary
live = model.confidence(run.prompt_ids(EXAMPLE), vocabulary=vocabulary)  # the same read-out, recomputed
row = records.iloc[EXAMPLE]
print(f"Q: {row['question']}  A: {row['answer']} ({'correct' if row['correct'] else 'wrong'}); "
      f"says {row['verbal_confidence']}, softmax expected {row['softmax_expected']:.1f}")
go.Figure(go.Bar(x=list(vocabulary.strings), y=probs)).update_layout(
    title=f"confidence distribution, example {EXAMPLE}", xaxis_title="confidence string", yaxis_title="probability")'''),
    new_code_cell('''assert all(np.isfinite(n).all() and (n > 0).all() for n in norms.values())
assert probs.shape == (len(vocabulary),) and (probs >= 0).all() and probs.sum() <= 1 + 1e-4
assert vocabulary.values[int(probs.argmax())] == row["argmax_confidence"] == live.argmax[0]
assert abs(live.expected[0] - row["softmax_expected"]) < 1e-3
expected = float(np.dot(probs / probs.sum(), vocabulary.values))
assert abs(expected - row["softmax_expected"]) < 1e-3 * max(1.0, abs(expected))'''),
]

PATCHING = [
    new_markdown_cell("""# Patching: correct runs into incorrect ones, block by block

Collect a run, then patch the residual stream of correct answers into incorrect ones at the confidence slot,
block by block (`wb.patch`): the effect heatmap, Spearman's rho between block and effect, the controls, and
one patched forward recomputed by hand with `model.confidence`. Re-running a cell reuses what is stored;
`wb.sweep` runs the same stages headless over models x datasets x seeds."""),
    new_code_cell(SETTINGS.format(limit=48)),
    new_code_cell('''import workbench as wb

small = LIMIT < 32
model = wb.load_model("smollm2-135m-instruct")
run = wb.collect(out=OUT / "patching", dataset="capitals", limit=LIMIT, seed=0, loaded=model, batch_size=16)
blocks = [0, 6, 12, 18, 24, 29] if small else "all"
result = wb.patch(run, model=model, pairs="correct-to-incorrect", n_pairs=4 if small else 16, site="resid_pre",
                  blocks=blocks, controls=["random"] if small else ["reverse", "off_position", "random"],
                  attribution=not small, n_boot=200)
print(result.summary)  # a wb.PatchSummary
effects = result["effects"]
effects[["pair_id", "layer", "role", "site", "effect", "answer_unchanged"]].head()'''),
    new_code_cell('''assert isinstance(result.summary, wb.PatchSummary)
assert sorted(effects["layer"].unique()) == (blocks if blocks != "all" else list(range(model.n_layers)))
wb.figure(result, "heatmap")'''),
    new_code_cell('''s = result.summary
print(f"rho = {s.rho:+.2f} [{s.rho_low:+.2f}, {s.rho_high:+.2f}] over {s.n_layers_patched} layers, {s.n_pairs} pairs")
wb.figure(result, "gradient")'''),
    new_code_cell('''assert -1 <= s.rho <= 1 and s.rho_low <= s.rho_high
mean = effects.groupby("layer")["effect"].mean()
assert abs(result["gradient"].set_index("layer")["mean"] - mean).max() < 1e-9
wb.figure(result, "controls")'''),
    new_markdown_cell("## One patch by hand\nThe first row of the sweep again: the source's stored residual written "
                      "into the target at the confidence slot, and the exact confidence of that patched forward."),
    new_code_cell('''row = effects.iloc[0]
source, target, layer = int(row["source_id"]), int(row["target_id"]), int(row["layer"])
patch = wb.Patch.from_run(run, source, run, target, layer=layer, role="confidence_slot")
ids = run.prompt_ids(target)
clean, patched = model.confidence(ids), model.confidence(ids, patches=[patch])
print(f"layer {layer}: target {clean.expected[0]:.2f} -> patched {patched.expected[0]:.2f} "
      f"(stored: {100 * row['patched_expected']:.2f})")
assert abs(patched.expected[0] / 100 - row["patched_expected"]) < 1e-4'''),
]

FIGURES = [
    new_markdown_cell("""# Paper figures from stored results

Every figure of every stored result under a folder (runs, sweeps), in the paper style (one font, fixed sizes,
the Okabe-Ito colour-blind-safe palette, intervals as bands), drawn here and exported as SVG and PNG.
No model is run. Point `WORKBENCH_NOTEBOOK_RESULTS` at any results folder (default: what notebooks 01 and 02
stored)."""),
    new_code_cell(SETTINGS.format(limit=64) + '''
RESULTS = Path(os.environ.get("WORKBENCH_NOTEBOOK_RESULTS", OUT))'''),
    new_code_cell('''import workbench as wb

found = wb.find_results(RESULTS)
print(f"{len(found)} stored results:", ", ".join(sorted({r.path.name for r in found})))'''),
    new_code_cell('''assert found, f"no stored results under {RESULTS}: run notebooks 01 and 02 first"
for result in found:
    names = wb.figure_names(result)
    assert names, result.path
    for name in names:
        wb.figure(result, name, paper=True).show()'''),
    new_code_cell('''done = wb.export_figures(RESULTS, OUT / "figures", "svg,png")
print(f"{len(done.paths)} files in {OUT / 'figures'}")
assert not done.skipped, done.skipped
assert {p.suffix for p in done.paths} == {".svg", ".png"}
assert all(p.stat().st_size > 1000 for p in done.paths)
sorted(str(p.relative_to(OUT / "figures")) for p in done.paths)'''),
]


APP = [
    new_markdown_cell("""# Explore one example at a time

`wb.explore(run, model)`: choose an example (right or wrong answers, a search in the question), a block (the
slider), a role and a site. The left figure is the stored probe's score for that example at every read-out; the
right one the logit lens's confidence distribution at that block beside the final one, and, with a model, the exact
distribution after the chosen source example's state is written there (computed live). Without a model
(`WORKBENCH_NOTEBOOK_MODEL=""`) it reads stored data only. The run is notebook 01's (`WORKBENCH_NOTEBOOK_RUN`
names another); it needs JupyterLab (`make lab`)."""),
    new_code_cell(SETTINGS.format(limit=64) + '''
RUN = Path(os.environ.get("WORKBENCH_NOTEBOOK_RUN", OUT / "explore"))  # with a stored probes result
MODEL = os.environ.get("WORKBENCH_NOTEBOOK_MODEL", "smollm2-135m-instruct")  # "" = stored data only'''),
    new_code_cell('''import numpy as np

import workbench as wb

run = wb.open_run(RUN)
model = wb.load_model(MODEL) if MODEL else None
app = wb.explore(run, model=model)
app'''),
    new_markdown_cell("The controls are plain widgets: setting one from Python redraws as the slider does."),
    new_code_cell('''oof = wb.open_result(run.path, "probes")["oof"].query("probe == 'logistic'")
target = app.example.value
app.block.value = run.n_blocks - 1
probe, marker = app.probe_figure.data
stored = oof[(oof["role"] == app.role.value) & (oof["example_id"] == target)].groupby("layer")["score"].mean()
assert marker.x == (run.n_blocks - 1,) and np.isclose(marker.y[0], stored[run.n_blocks - 1])
final = app.confidence_figure.data[0]
assert np.allclose(final.y, run.confidence_probs()[run.example(target).row])
print(f"example {target}, block {app.block.value}: probe score {marker.y[0]:.3f}")'''),
]

def build() -> dict[str, nbformat.NotebookNode]:
    meta = {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
            "language_info": {"name": "python"}}
    notebooks = {}
    for name, cells in (("01_explore_layers", EXPLORE), ("02_patching", PATCHING), ("03_paper_figures", FIGURES),
                        ("04_explore", APP)):
        notebook = new_notebook(cells=cells, metadata=meta)
        for i, cell in enumerate(notebook.cells):
            cell["id"] = f"{name[:2]}-{i:02d}"  # stable ids: a rebuild is byte-identical
        notebooks[name] = notebook
    return notebooks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that notebooks/ is up to date")
    parser.add_argument("--execute", metavar="DIR", help="then run every notebook headless (nbclient), in order, "
                        "writing the executed copies and everything they compute to DIR")
    args = parser.parse_args(argv)
    stale = []
    for name, notebook in build().items():
        path = NOTEBOOKS / f"{name}.ipynb"
        text = nbformat.writes(notebook) + "\n"
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path}")
    for path in stale:
        print(f"{path} is not what scripts/make_notebooks.py writes; run it", file=sys.stderr)
    if stale:
        return 1
    if args.execute:
        execute(Path(args.execute))
    return 0


def execute(out: Path) -> None:
    """Run the notebooks top to bottom in one folder (03 draws what 01 and 02 stored, 04 opens 01's run),
    outputs kept."""
    import os

    from nbclient import NotebookClient

    out.mkdir(parents=True, exist_ok=True)
    os.environ["WORKBENCH_NOTEBOOK_OUT"] = str(out.resolve())
    for name in ("01_explore_layers", "02_patching", "03_paper_figures", "04_explore"):
        notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        NotebookClient(notebook, kernel_name="python3", timeout=1800,
                       resources={"metadata": {"path": str(out)}}).execute()
        nbformat.write(notebook, out / f"{name}.ipynb")
        print(f"ran {name}: {out / f'{name}.ipynb'}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
