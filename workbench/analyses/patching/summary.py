"""A few-line patching report for ``workbench demo``: rho with its interval, on a handful of pairs, fast path."""

from __future__ import annotations

from workbench.analyses.patching.gradient import layer_gradient
from workbench.analyses.patching.pairs import PairSet, correct_to_incorrect, random_pairs
from workbench.analyses.patching.sweep import patch_sweep
from workbench.backends.base import Backend
from workbench.errors import WorkbenchError
from workbench.store import Run


def demo_pairs(run: Run, n_pairs: int, seed: int) -> tuple[PairSet, str]:
    """Correct-to-incorrect pairs when the run has both classes, else random pairs (and why)."""
    try:
        return correct_to_incorrect(run, n_pairs=n_pairs, seed=seed), ""
    except WorkbenchError:
        n_correct = int(run.records["correct"].sum())
        why = f"the run has {n_correct} correct of {run.n_examples}, so random pairs stand in"
        return random_pairs(run, n_pairs=n_pairs, seed=seed), why


def demo_report(run: Run, backend: Backend, *, n_pairs: int = 8, seed: int = 0) -> str:
    """Patch resid_pre at the confidence slot over all layers for ``n_pairs`` pairs; report rho and its CI."""
    pairs, why = demo_pairs(run, n_pairs, seed)
    effects = patch_sweep(backend, pairs, "resid_pre", "all", ("confidence_slot",), "shift", method="auto")
    gradient = layer_gradient(effects, value="shift", n_boot=500, seed=seed)
    lines = ["patching (resid_pre at the confidence slot, all layers, exact fast path):", f"  {pairs.note}"]
    if why:
        lines.append(f"  ({why})")
    peak = max(range(len(gradient.layers)), key=lambda i: abs(gradient.mean[i]))
    lines += [f"  {gradient.describe()}",
              f"  largest mean shift in expected confidence: {gradient.mean[peak]:+.3f} "
              f"at layer {gradient.layers[peak]}"]
    return "\n".join(lines)
