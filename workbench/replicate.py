"""The seed study's claims across a ladder of models, as one resumable command.

``replicate(models, limit=, seeds=, out=)`` runs a sweep per model (collect -> probes -> channels and prior
knowledge -> bottleneck -> patching; resumable, local or Ray) into ``out/models/<model>/``, one model at a
time so progress and wall time are per model, then reads the stored results into ``Evidence`` and writes:

- ``out/claims.csv``: one row per (claim, model), columns of ``workbench.analyses.claims.CLAIM_COLUMNS``;
- ``out/accuracy.csv``: accuracy per model, seed and family (with n), and ``out/wall_times.csv``: each
  finished stage's wall time (model, seed, stage, seconds);
- ``out/ladder.md``: the claims as a markdown table for the README;
- ``out/report.html``: the claims table and each model's figures (probes, channels, bottleneck, patching).

A re-run does only what is missing; the tables are rewritten from the stored results each time.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.analyses.claims import Evidence, claims_table, markdown_table
from workbench.errors import WorkbenchError, did_you_mean
from workbench.store.provenance import write_bytes_atomic

DEFAULT_LADDER = ("smollm2-135m-instruct", "gemma-3-270m", "qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct")
STAGES = ("collect", "probe", "calibrate", "bottleneck", "patch")


def check_models(models: Sequence[str]) -> None:
    """Every model is a registry model whose weight packages are installed; one clear error otherwise."""
    from workbench.backends.loading import MODELS, is_installed

    if not models:
        raise WorkbenchError(f"no models given; the default ladder is {' '.join(DEFAULT_LADDER)}")
    for name in models:
        if name not in MODELS:
            raise WorkbenchError(f"unknown model {name!r} in --models.{did_you_mean(name, MODELS)} "
                                 f"Known: {', '.join(MODELS)}")
        if not is_installed(MODELS[name]):
            raise WorkbenchError(f"model {name!r} is not installed; install it with:\n    {MODELS[name].install}\n"
                                 "(or every model at once: make models)")


def check_limit(dataset: str, limit: int) -> None:
    from workbench.datasets import load_dataset

    size = len(load_dataset(dataset, limit=None))
    if limit < 1:
        raise WorkbenchError(f"--limit must be a positive number of items, got {limit}")
    if limit > size:
        raise WorkbenchError(f"--limit {limit} is larger than the dataset {dataset!r} ({size} items); "
                             f"pass --limit {size} or less")


def sweep_config(model: str, *, dataset: str, limit: int, seeds: Sequence[int], n_pairs: int, batch_size: int,
                 n_boot: int):
    """The sweep of one model: every stage of the study, patching measured as the normalised shift."""
    from workbench.configs import BottleneckConfig, CalibrateConfig, CollectConfig, PatchConfig, ProbeConfig
    from workbench.sweeps.config import SweepConfig, SweepModel

    return SweepConfig(
        models=(SweepModel(name=model),), datasets=(dataset,), seeds=tuple(seeds), analyses=STAGES,
        collect=CollectConfig(limit=limit, batch_size=batch_size),
        probe=ProbeConfig(n_boot=n_boot, seeds=1, save_weights=False),
        calibrate=CalibrateConfig(n_boot=n_boot, prior_knowledge=True),
        bottleneck=BottleneckConfig(n_boot=n_boot, logit_lens=False),
        patch=PatchConfig(metric="normalised_shift", n_pairs=n_pairs, attribution=False, n_boot=n_boot),
    )


def _results(run_dir: Path) -> dict[str, Any]:
    """The results stored in a run view by analysis (a patching result's folder also names its pairs and site)."""
    from workbench.store.results import latest_dir, read_result

    found = {}
    for path in sorted((run_dir / "results").glob("*")):
        if (latest := latest_dir(path)) is not None:  # keyed results: the latest through latest.json
            analysis = "patching" if path.name.startswith("patching") else path.name
            found[analysis] = read_result(latest)
    return found


def model_evidence(config, sweep_dir: Path) -> tuple[list[Evidence], dict[int, dict[str, Path]], list[dict]]:
    """Evidence per seed from a model's sweep folder, the run view of each finished stage (for figures), and
    each finished unit's wall time (model, seed, stage, seconds) as its marker recorded it."""
    from workbench.backends.loading import MODELS
    from workbench.store import open_run
    from workbench.sweeps.ledger import read_marker, unit_dir
    from workbench.sweeps.units import plan_units

    views: dict[int, dict[str, Path]] = {}
    times = []
    for unit in plan_units(config):
        if (marker := read_marker(sweep_dir, unit.hash)) is not None:
            views.setdefault(unit.seed, {})[unit.analysis] = unit_dir(sweep_dir, unit.hash) / "run"
            times.append({"model": unit.model.name, "seed": unit.seed, "stage": unit.analysis,
                          "seconds": round(float(marker["seconds"]), 1)})
    evidence = []
    model = config.models[0].name
    for seed, stages in sorted(views.items()):
        if "collect" not in stages:
            continue
        records = open_run(stages["collect"]).records
        found: dict[str, Any] = {}
        for stage in ("probe", "patch"):
            if stage in stages:
                found.update(_results(stages[stage]))
        patching = found.get("patching")
        tables = patching.tables if patching is not None else {}
        evidence.append(Evidence(
            model=model, seed=seed, records=records,
            oof=found["probes"]["oof"] if "probes" in found else None,
            effects=patching["effects"] if "effects" in tables else None,
            controls=patching["controls_summary"] if "controls_summary" in tables else None,
            gradient=patching["gradient_summary"] if "gradient_summary" in tables else None,
            instruct=MODELS[model].instruct if model in MODELS else True))
    return evidence, views, times


def accuracy_table(evidence: Sequence[Evidence]) -> pd.DataFrame:
    """Accuracy per model, seed and family, and over all families ("all")."""
    rows = []
    for ev in evidence:
        frame = ev.records
        for family, part in [("all", frame), *frame.groupby("family")]:
            rows.append({"model": ev.model, "seed": ev.seed, "family": family, "n": len(part),
                         "accuracy": float(part["correct"].mean())})
    return pd.DataFrame(rows, columns=["model", "seed", "family", "n", "accuracy"])


def replicate(models: Sequence[str] = DEFAULT_LADDER, *, limit: int = 300, seeds: Sequence[int] = (0, 1, 2),
              out: str | Path = "ladder", dataset: str = "all", n_pairs: int = 24, batch_size: int = 16,
              n_boot: int = 1000, executor: str = "local", workers: int = 1, address: str | None = None,
              progress: bool = True, figures: bool = True, run: bool = True) -> pd.DataFrame:
    """Run (or resume) the study on each model and write the claims; returns the claims table.

    ``run=False`` runs nothing: the claims are written from what is stored so far (units not done give
    ``inconclusive`` claims), e.g. while a long ladder is still running.
    """
    from workbench.sweeps import run_sweep

    check_models(models)
    check_limit(dataset, limit)
    if not seeds:
        raise WorkbenchError("--seeds needs at least one seed")
    out = Path(out)
    evidence, views, walls = [], {}, []
    for model in models:
        config = sweep_config(model, dataset=dataset, limit=limit, seeds=seeds, n_pairs=n_pairs,
                              batch_size=batch_size, n_boot=n_boot)
        sweep_dir = out / "models" / model
        if progress:
            print(f"replicate: {model} ({len(seeds)} seed(s), {limit} items of {dataset!r})", flush=True)
        if run:
            run_sweep(config, sweep_dir, executor=executor, workers=workers, address=address, progress=progress)
        found, views[model], times = model_evidence(config, sweep_dir)
        evidence += found
        walls += times
    claims = claims_table(evidence)
    accuracy = accuracy_table(evidence)
    overall = accuracy[accuracy["family"] == "all"].groupby("model", sort=False).agg(accuracy=("accuracy", "mean"),
                                                                                      n=("n", "sum")).reset_index()
    write_bytes_atomic(out / "claims.csv", claims.to_csv(index=False).encode())
    write_bytes_atomic(out / "accuracy.csv", accuracy.to_csv(index=False).encode())
    write_bytes_atomic(out / "wall_times.csv", pd.DataFrame(walls, columns=["model", "seed", "stage", "seconds"])
                       .to_csv(index=False).encode())
    write_bytes_atomic(out / "ladder.md", (markdown_table(claims, overall) + "\n").encode())
    if figures:
        write_report(out / "report.html", claims, accuracy, views)
    return claims


def write_report(path: Path, claims: pd.DataFrame, accuracy: pd.DataFrame, views: dict[str, dict[int, dict[str, Path]]]):
    """The offline page: the claims table, accuracy per family, then each model's figures (first seed)."""
    from workbench.figures.patching import ControlsDisplay, LayerGradientDisplay
    from workbench.figures.report import page_figures
    from workbench.store import open_run

    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>Seed-study claims across the ladder</title>"
             "<style>body{font-family:Helvetica,Arial,sans-serif} td,th{padding:2px 8px;text-align:left}"
             ".reproduced{color:#1a7f37}.refuted{color:#b42318}.inconclusive{color:#6e7781}</style></head><body>",
             "<h1>Seed-study claims across the ladder</h1>"]
    rows = "".join(
        f"<tr><td>{html.escape(r.claim)}</td><td>{html.escape(r.model)}</td><td>{html.escape(r.statement)}</td>"
        f"<td>{html.escape(str(r.seed_value))}</td><td>{r.value:+.3f} [{r.low:+.3f}, {r.high:+.3f}]</td>"
        f"<td class='{r.verdict}'>{r.verdict}</td><td>{html.escape(r.why)}</td></tr>" for r in claims.itertuples())
    parts.append("<table><tr><th>claim</th><th>model</th><th>statement</th><th>seed</th><th>value [95% CI]</th>"
                 f"<th>verdict</th><th>why</th></tr>{rows}</table>")
    parts.append("<h2>Accuracy per model and family</h2>" + accuracy.to_html(index=False, float_format="%.3f"))
    first = True
    for model, seeds in views.items():
        if not seeds:
            continue
        stages = seeds[min(seeds)]
        figures = {}
        for page, stage in (("probe", "probe"), ("calibrate", "calibrate"), ("bottleneck", "bottleneck")):
            if stage in stages:
                figures.update(page_figures(open_run(stages[stage]), page))
        result = _results(stages["patch"]).get("patching") if "patch" in stages else None
        if result is not None:
            if "gradient" in result.tables:
                figures["Layer gradient"] = LayerGradientDisplay.from_result(result).figure()
            if "controls_summary" in result.tables:
                figures["Patching controls"] = ControlsDisplay.from_result(result).figure()
        parts.append(f"<h2>{html.escape(model)} (seed {min(seeds)})</h2>")
        for heading, fig in figures.items():
            parts.append(f"<h3>{html.escape(heading)}</h3>")
            parts.append(fig.to_html(full_html=False, include_plotlyjs="inline" if first else False))
            first = False
    parts.append("</body></html>")
    write_bytes_atomic(path, "\n".join(parts).encode())
    return path
