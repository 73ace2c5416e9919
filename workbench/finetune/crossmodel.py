"""Cross-model patching: where, in depth, does the fine-tuned model's new confidence live?

For each held-out item, the fine-tuned model's residual state at the confidence slot is written into the
base model's run of the same item, one layer at a time (``blocks.L.hook_resid_pre``), and the base
model's exact confidence distribution is read again. The effect per layer (default: the shift in expected
confidence, patched minus base) and Spearman's rho between layer and mean effect (the seed study's layer
gradient, with a bootstrap interval over pairs) say whether the fine-tuning's change is carried by late
layers (close to the read-out) or written early. The patching engine (``workbench.analyses.patching``)
supplies the pairs, the sweep, the gradient and the controls: ``random`` (random within-base pairs),
``off_position`` (the same pairs patched mid-prompt) and ``reverse`` (base state into the fine-tuned model).
The fine-tuned source states come from its run's store, so the fine-tuned model itself runs only for the
``reverse`` control.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from workbench.layer_selection import select_layers
from workbench.store import Run

DEFAULT_CONTROLS = ("random", "off_position", "reverse")


def cross_model_patching(base_run: Run, finetuned_run: Run, *, base_model: Any = None, finetuned_model: Any = None,
                         blocks: str | Iterable[int] = "all", metric: str = "shift", n_pairs: int | None = None,
                         controls: Sequence[str] = DEFAULT_CONTROLS, n_boot: int = 1000, seed: int = 0,
                         method: str = "auto", progress: bool = False) -> dict[str, pd.DataFrame]:
    """Tables ``gradient`` (one row: rho with its interval, 8-layer rho, late - early), ``per_layer`` (mean
    effect per layer for the sweep and each control, with the sweep's band), ``controls`` (summary per
    control) and ``effects`` (one row per pair and layer, without the patched distributions).

    ``base_model``/``finetuned_model`` are loaded backends (loaded from the runs' configs when omitted; the
    fine-tuned one only for the ``reverse`` control).
    """
    from workbench.analyses.patching.controls import check_controls, run_control, summarize
    from workbench.analyses.patching.gradient import layer_gradient
    from workbench.analyses.patching.metrics import MetricSpec
    from workbench.analyses.patching.pairs import cross_model_pairs
    from workbench.analyses.patching.sweep import patch_sweep
    from workbench.backends import load_model

    check_controls(controls)
    pairs = cross_model_pairs(finetuned_run, base_run, n_pairs=n_pairs, seed=seed)
    if base_model is None:
        base_model = load_model(base_run.config["model"], backend=base_run.config["backend"],
                                device=base_run.config.get("device"))
    if finetuned_model is None and "reverse" in controls:
        finetuned_model = load_model(finetuned_run.config["model"], backend=finetuned_run.config["backend"],
                                     device=finetuned_run.config.get("device"))
    chosen = select_layers(blocks, base_model.n_layers)
    spec = MetricSpec.resolve(metric, base_run.vocabulary)
    roles = ("confidence_slot",)
    effects = patch_sweep(base_model, pairs, "resid_pre", chosen, roles, spec, method=method,
                          source_model=finetuned_model)
    gradient = layer_gradient(effects, n_boot=n_boot, seed=seed)
    tables = {name: run_control(name, base_model, pairs, "resid_pre", chosen, roles, spec, seed=seed, method=method,
                                source_model=finetuned_model) for name in controls}
    per_layer = [gradient.per_layer().assign(control="sweep")] + [
        table.groupby("layer")["effect"].mean().rename("mean").reset_index().assign(control=name)
        for name, table in tables.items() if not table.empty]
    return {"gradient": pd.DataFrame([{**gradient.summary(), "metric": spec.name, "pairs": pairs.note,
                                       "description": gradient.describe()}]),
            "per_layer": pd.concat(per_layer, ignore_index=True),
            "controls": summarize(effects, tables),
            "effects": effects.drop(columns=["patched_probs"], errors="ignore")}
