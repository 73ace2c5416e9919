"""Controls reported beside every sweep, so an effect can be told from an artefact.

- ``reverse``: the same pairs the other way round (target state into the source run).
- ``off_position``: the same pairs patched at a mid-prompt token (``mid_prompt``, half-way into the
  question) instead of the role: a confidence effect should not appear there.
- ``random``: as many random pairs of the target run (any two distinct examples), same site and layers.
- the share of runs whose greedy answer is unchanged and whose spoken (argmax) confidence is unchanged,
  for the sweep and every control.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from workbench.analyses.patching.metrics import MetricSpec
from workbench.analyses.patching.pairs import MID_PROMPT, PairSet, random_pairs
from workbench.analyses.patching.sweep import patch_sweep
from workbench.backends.base import Backend
from workbench.errors import WorkbenchError

CONTROLS: tuple[str, ...] = ("reverse", "off_position", "random")


def check_controls(controls: Sequence[str]) -> tuple[str, ...]:
    unknown = [c for c in controls if c not in CONTROLS]
    if unknown:
        raise WorkbenchError(f"unknown control {unknown[0]!r}: choose from {', '.join(CONTROLS)}")
    return tuple(controls)


def control_pairs(name: str, pairs: PairSet, seed: int) -> PairSet:
    """The pairs a control patches."""
    if name == "reverse":
        return pairs.reversed()
    if name == "random":  # random pair k stands beside pair k (same pair_id)
        chosen = random_pairs(pairs.target, n_pairs=len(pairs), seed=seed + 7919)
        return replace(chosen, table=chosen.table.assign(pair_id=pairs.table["pair_id"].to_numpy()))
    return pairs


def run_control(name: str, model: Backend, pairs: PairSet, site: str, blocks: tuple[int, ...],
                roles: Sequence[str], metric: MetricSpec, *, seed: int = 0, method: str = "auto",
                source_model: Backend | None = None, progress: Callable[[int], None] | None = None) -> pd.DataFrame:
    """One control's effects table (as ``patch_sweep``), with a ``control`` column.

    For cross-model pairs the reverse direction runs the targets of the other model, so it needs
    ``source_model``; it is skipped (an empty table) without one.
    """
    chosen = control_pairs(name, pairs, seed)
    target_model, other = model, source_model
    if name == "reverse" and pairs.cross_model:
        if source_model is None:
            return pd.DataFrame()
        target_model, other = source_model, model
    control_roles = (MID_PROMPT,) if name == "off_position" else tuple(roles)
    table = patch_sweep(target_model, chosen, site, blocks, control_roles, metric, method=method,
                        source_model=other if chosen.cross_model else None, progress=progress)
    table.insert(0, "control", name)
    return table


def summarize(main: pd.DataFrame, controls: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per table (the sweep, then each control): mean effect, mean |effect|, unchanged shares."""
    rows = []
    for name, table in {"sweep": main, **controls}.items():
        if table.empty:
            rows.append({"control": name, "n_runs": 0})
            continue
        rows.append({
            "control": name, "n_runs": len(table), "n_pairs": table["pair_id"].nunique(),
            "mean_effect": float(np.nanmean(table["effect"])),
            "mean_abs_effect": float(np.nanmean(np.abs(table["effect"]))),
            "share_answer_unchanged": float(table["answer_unchanged"].mean()),
            "share_argmax_unchanged": float(table["argmax_unchanged"].mean()),
        })
    return pd.DataFrame(rows)


def per_layer(main: pd.DataFrame, controls: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Mean effect per layer for the sweep and each control (long format: control, layer, mean_effect)."""
    frames = []
    for name, table in {"sweep": main, **controls}.items():
        if table.empty:
            continue
        means = table.groupby("layer")["effect"].mean().rename("mean_effect").reset_index()
        means.insert(0, "control", name)
        frames.append(means)
    return pd.concat(frames, ignore_index=True)
