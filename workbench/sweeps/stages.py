"""What each stage of a sweep runs: a registry, stage name -> function(unit, inputs, out) -> headline metrics.

Each function fills ``out`` (for ``collect``, the run store; for an analysis, a view of the run whose
``results/`` receives the analysis's results) by calling the public analysis functions, and returns a few
headline numbers for the sweep's summary table. A new stage is one ``register_stage`` call.

Models are loaded once per process and kept while consecutive units use the same model.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.store import open_run
from workbench.store.results import Result, read_result
from workbench.sweeps.config import SweepModel
from workbench.sweeps.units import Unit


@dataclass(frozen=True)
class Inputs:
    """What a running unit reads: the runs and results of the units it depends on, and its model."""

    unit: Unit
    units_dir: Path
    progress: bool = False

    def dep_result(self, stage: str, analysis: str) -> Result:
        return read_result(self.units_dir / self.unit.deps[stage] / "run" / "results" / analysis)

    def model(self):
        return load_cached(self.unit.model)


StageFn = Callable[[Unit, Inputs, Path], dict[str, Any]]


@dataclass(frozen=True)
class Stage:
    """``run(unit, inputs, out) -> headline metrics``; ``resumable`` stages continue in ``out`` after a kill
    (the others restart from scratch); ``headline`` formats the metrics for the summary table."""

    name: str
    run: StageFn
    headline: Callable[[Mapping[str, Any]], str]
    resumable: bool = False


STAGES: dict[str, Stage] = {}


def register_stage(stage: Stage) -> Stage:
    STAGES[stage.name] = stage
    return stage


# --- models, one per process --------------------------------------------------------------------------------

_MODELS: dict[str, Any] = {}


def preload(loaded: Mapping[str, Any] | None) -> list[str]:
    """Make already loaded backends (by model name) available to units run in this process; returns their keys
    (for ``forget``)."""
    given = {f"loaded:{name}:{backend.name}": backend for name, backend in (loaded or {}).items()}
    _MODELS.update(given)
    return list(given)


def forget(keys: list[str]) -> None:
    for key in keys:
        _MODELS.pop(key, None)


def load_cached(model: SweepModel):
    """The model's backend, loaded once per process; a different model replaces it (one in memory at a time)."""
    from workbench.backends import load_model

    if (given := _MODELS.get(f"loaded:{model.name}:{model.backend}")) is not None:
        return given
    key = json.dumps(model.to_dict(), sort_keys=True, default=str)
    if key not in _MODELS:
        for old in [k for k in _MODELS if not k.startswith("loaded:")]:
            del _MODELS[old]
        _MODELS[key] = load_model(model.name, **model.load_kwargs())
    return _MODELS[key]


# --- the stages -----------------------------------------------------------------------------------------------

def _collect(unit: Unit, inputs: Inputs, out: Path) -> dict[str, Any]:
    import numpy as np

    from workbench.collect import collect

    config = unit.params.replace(model=unit.model.name, dataset=unit.dataset, seed=unit.seed,
                                 backend=unit.model.backend, dtype=unit.model.dtype, device=unit.model.device)
    manifest = out / "manifest.json"
    if out.exists() and not manifest.exists():
        shutil.rmtree(out)  # killed during the run store's first write: nothing is stored yet but a temp file
    finished = manifest.exists() and json.loads(manifest.read_text()).get("complete")
    run = collect(config, out, loaded=None if finished else inputs.model(), progress=inputs.progress)
    frame = run.records
    return {"n": int(run.n_examples), "accuracy": float(frame["correct"].mean()),
            "mean_verbal": float(np.nanmean(frame["verbal_confidence"])) if frame["verbal_confidence"].notna().any()
            else math.nan}


def _probe(unit: Unit, inputs: Inputs, out: Path) -> dict[str, Any]:
    from workbench import api

    result = api.probe(open_run(out), unit.params, seed=unit.seed)
    best = max(result.manifest["best"], key=lambda b: b["auroc"])
    return {"folds": int(result.config["folds"]), "best_probe": best["probe"], "best_role": best["role"],
            "best_layer": int(best["layer"]), "best_auroc": float(best["auroc"]), "best_low": float(best["low"]),
            "best_high": float(best["high"])}


def _calibrate(unit: Unit, inputs: Inputs, out: Path) -> dict[str, Any]:
    from workbench import api

    probes = inputs.dep_result("probe", "probes") if "probe" in unit.deps else None
    sampling = inputs.dep_result("sample", "sampling") if "sample" in unit.deps else None
    result = api.calibrate(open_run(out), unit.params, probes=probes, sampling=sampling, seed=unit.seed)
    table = result["channels"].set_index("channel")
    return {f"{metric}_{channel}": float(table.loc[channel, metric])
            for channel in ("verbal", "softmax_expected", "probe") for metric in ("auroc", "ece", "smece", "prr")
            if channel in table.index and metric in table.columns}


def _bottleneck(unit: Unit, inputs: Inputs, out: Path) -> dict[str, Any]:
    from workbench import api

    p = unit.params
    result = api.bottleneck(open_run(out), p, model=inputs.model() if p.logit_lens else None, seed=unit.seed,
                            progress=inputs.progress)
    s = result["summary"].iloc[0]
    return {"verdict": str(s["verdict"]), "difference": float(s["difference"]),
            "difference_low": float(s["difference_low"]), "difference_high": float(s["difference_high"])}


def _patch(unit: Unit, inputs: Inputs, out: Path) -> dict[str, Any]:
    from workbench import api

    p = unit.params
    model = inputs.model()
    result = api.patch(open_run(out), model, p, seed=unit.seed, figures=False, progress=False)  # blocks: checked there
    headline: dict[str, Any] = {"n_pairs": int(result["pairs"].shape[0]) if "pairs" in result.tables else None}
    if "gradient_summary" in result.tables:
        s = result["gradient_summary"].iloc[0]
        headline.update(rho=float(s["rho"]), rho_low=float(s["rho_low"]), rho_high=float(s["rho_high"]))
    return headline


def _sample(unit: Unit, inputs: Inputs, out: Path) -> dict[str, Any]:
    """Resumable: its finished batches wait in ``out/results/sampling/<key>/partial/``."""
    from workbench import api

    result = api.sample(open_run(out), unit.params, model=inputs.model(), seed=unit.seed, device=unit.model.device,
                        progress=inputs.progress)
    table = result["samples"]
    return {"n": len(table), "k": int(result.config["k"]), "mean_n_clusters": float(table["n_clusters"].mean()),
            **{f"mean_{channel}": float(table[channel].mean())
               for channel in ("self_consistency", "semantic_entropy", "p_true") if channel in table}}


def _steer(unit: Unit, inputs: Inputs, out: Path) -> dict[str, Any]:
    """Resumable: its finished batches wait in the result's ``partial/``. A probe direction comes from the probe
    unit of the same run (its weights at the confidence slot)."""
    from workbench import api

    p = unit.params
    probe_run = str((inputs.units_dir / unit.deps["probe"] / "run").resolve()) \
        if p.direction == "probe" and "probe" in unit.deps else None
    result = api.steer(open_run(out), p, model=inputs.model(), seed=unit.seed, probe_run=probe_run,
                       backend=unit.model.backend, device=unit.model.device, progress=False)
    layers = result["layers"]
    best = layers.loc[layers["slope_minus_random"].abs().idxmax()]
    return {"layers": [int(x) for x in layers["layer"]], "n_beyond_random": int(layers["beyond_random"].sum()),
            "layer": int(best["layer"]), "slope_minus_random": float(best["slope_minus_random"]),
            "slope_minus_random_low": float(best["slope_minus_random_low"]),
            "slope_minus_random_high": float(best["slope_minus_random_high"])}


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


register_stage(Stage("collect", _collect, lambda m: f"n={m['n']} accuracy {_fmt(m['accuracy'])}", resumable=True))
register_stage(Stage("probe", _probe, lambda m: (
    f"{m['best_probe']} {m['best_role']} L{m['best_layer']} AUROC {_fmt(m['best_auroc'])} "
    f"[{_fmt(m['best_low'])}, {_fmt(m['best_high'])}]")))
register_stage(Stage("calibrate", _calibrate, lambda m: " ".join(
    f"{k} {_fmt(v)}" for k, v in m.items() if k.startswith(("auroc_verbal", "ece_verbal", "auroc_softmax")))))
register_stage(Stage("bottleneck", _bottleneck, lambda m: (
    f"{m['verdict']} {m['difference']:+.3f} [{m['difference_low']:+.3f}, {m['difference_high']:+.3f}]")))
register_stage(Stage("patch", _patch, lambda m: (
    f"{m['n_pairs']} pairs, rho {m['rho']:+.2f} [{m['rho_low']:+.2f}, {m['rho_high']:+.2f}]" if "rho" in m
    else f"{m['n_pairs']} pairs"), resumable=True))
register_stage(Stage("sample", _sample, lambda m: f"k={m['k']} " + " ".join(
    f"{k.removeprefix('mean_')} {_fmt(v)}" for k, v in m.items() if k.startswith("mean_")), resumable=True))
register_stage(Stage("steer", _steer, lambda m: (
    f"{m['n_beyond_random']}/{len(m['layers'])} layers beyond random; L{m['layer']} slope - random "
    f"{m['slope_minus_random']:+.3f} [{m['slope_minus_random_low']:+.3f}, {m['slope_minus_random_high']:+.3f}]"),
    resumable=True))
