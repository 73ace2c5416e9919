"""The text bottleneck: does the confidence distribution know more than the confidence text it yields?

Per example, the softmax expected confidence (the whole distribution over the confidence vocabulary)
against the argmax (the single most probable string, what greedy text would say). The test is
AUROC(softmax) - AUROC(argmax) with a paired, class-stratified bootstrap interval (both AUROCs on the same
resampled examples). Verdict: ``bottleneck`` when the interval lies above zero (the signal is present and
lost at the text), ``reverse`` below zero, ``inconclusive`` when it holds zero, and ``too few examples`` with
fewer than ``min_per_class`` (default 5) of either class: the numbers are still reported, but a percentile
bootstrap that resamples two or three examples of a class is too optimistic to decide on.

How degenerate the argmax is (the share of its modal value) explains most bottlenecks: an argmax that
says "100" for nearly everything cannot rank anything. Optionally the logit lens adds where, in depth,
the distribution's signal appears and where it is lost (see ``logit_lens``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from workbench.analyses.calibration import auroc_rows, bootstrap_indices, percentile_interval
from workbench.analyses.inputs import labels, require_complete, require_two_classes, run_model
from workbench.analyses.logit_lens import lens_auroc, lens_scores
from workbench.configs import BottleneckConfig
from workbench.store import Run
from workbench.store.results import Result, result_slot

ANALYSIS = "bottleneck"


def bottleneck_test(softmax, argmax, correct, *, n_boot: int = 2000, level: float = 0.95, seed: int = 0,
                    min_per_class: int = 5) -> dict:
    """AUROCs of both read-outs, their difference with a paired bootstrap interval, argmax degeneracy, verdict;
    on any arrays (the scale does not matter for AUROC) with both classes."""
    soft, arg = np.asarray(softmax, dtype=float), np.asarray(argmax, dtype=float)
    correct = np.asarray(correct, dtype=bool)
    require_two_classes(correct, "the bottleneck test", "these data")
    idx = bootstrap_indices(correct, n_boot=n_boot, seed=seed)  # [n_boot, n], the same rows for both
    soft_boot, arg_boot = auroc_rows(soft[idx], correct[idx]), auroc_rows(arg[idx], correct[idx])
    auc_soft = float(auroc_rows(soft[None], correct[None])[0])
    auc_arg = float(auroc_rows(arg[None], correct[None])[0])
    soft_low, soft_high = percentile_interval(soft_boot, level)
    arg_low, arg_high = percentile_interval(arg_boot, level)
    low, high = percentile_interval(soft_boot - arg_boot, level)
    values, counts = np.unique(arg, return_counts=True)
    verdict = "bottleneck" if low > 0 else "reverse" if high < 0 else "inconclusive"
    if min(correct.sum(), (~correct).sum()) < min_per_class:
        verdict = "too few examples"
    return {"n": len(correct), "n_correct": int(correct.sum()),
            "auroc_softmax": auc_soft, "auroc_softmax_low": soft_low, "auroc_softmax_high": soft_high,
            "auroc_argmax": auc_arg, "auroc_argmax_low": arg_low, "auroc_argmax_high": arg_high,
            "difference": auc_soft - auc_arg, "difference_low": low, "difference_high": high,
            "argmax_modal_value": float(values[counts.argmax()]), "argmax_modal_share": float(counts.max() / len(arg)),
            "argmax_distinct": int(len(values)), "verdict": verdict}


def lens_summary(lens: pd.DataFrame) -> dict:
    """Where the lens's signal peaks in depth and how much of it the last layer keeps."""
    ok = lens[lens["status"] == "ok"]
    if ok.empty:
        return {}
    peak, final = ok.loc[ok["auroc"].idxmax()], ok.loc[ok["layer"].idxmax()]
    return {"lens_peak_layer": int(peak["layer"]), "lens_peak_auroc": float(peak["auroc"]),
            "lens_peak_low": float(peak["low"]), "lens_final_auroc": float(final["auroc"]),
            "lens_lost": float(peak["auroc"] - final["auroc"])}


def bottleneck(run: Run, *, n_boot: int = 2000, level: float = 0.95, seed: int = 0, logit_lens: bool = True,
               loaded: Any = None, lens_layers="all", min_per_class: int = 5, allow_incomplete: bool = False,
               overwrite: bool = False) -> Result:
    """Write and return the ``bottleneck`` result: tables ``summary`` (one row: the test, the argmax's degeneracy,
    the verdict, and with the lens its peak layer and what the last layer lost), ``scores`` (per example: correct,
    softmax_expected, argmax_confidence, entropy) and, with ``logit_lens``, ``lens`` (AUROC per layer) and
    ``lens_scores`` (per example and layer). The lens reads ``loaded``, else the run's read-out head alone."""
    require_complete(run, allow_incomplete)
    config = {"n_boot": n_boot, "level": level, "seed": seed, "logit_lens": logit_lens, "min_per_class": min_per_class,
              "lens_layers": lens_layers if isinstance(lens_layers, str) else list(lens_layers),
              "lens_role": "confidence_slot"}
    slot = result_slot(run.path, ANALYSIS, config, run.manifest, overwrite=overwrite)
    if slot.existing is not None:
        return slot.existing
    correct = labels(run)
    require_two_classes(correct, "the bottleneck test")
    records = run.records
    summary = bottleneck_test(records["softmax_expected"], records["argmax_confidence"], correct, n_boot=n_boot,
                              level=level, seed=seed, min_per_class=min_per_class)
    columns = ["example_id", "correct", "softmax_expected", "argmax_confidence", "entropy", "verbal_confidence"]
    tables = {"scores": records[columns].copy()}
    if logit_lens:
        per_example = lens_scores(run, loaded, layers=lens_layers)
        tables["lens"] = lens_auroc(per_example, correct, n_boot=n_boot, level=level, seed=seed)
        tables["lens_scores"] = per_example
        summary.update(lens_summary(tables["lens"]))
    tables["summary"] = pd.DataFrame([summary])
    return slot.write(tables)


def run_bottleneck(run: Run, config: BottleneckConfig, model: Any = None) -> Result:
    """``wb.bottleneck``: the logit lens reads ``model``, else the run's model loaded on ``config.device`` when one is
    named, else the read-out head alone (no model load)."""
    if config.logit_lens and model is None and config.device is not None:
        model = run_model(run, config)
    return bottleneck(run, n_boot=config.n_boot, seed=config.seed, logit_lens=config.logit_lens, loaded=model,
                      lens_layers=config.lens_readouts, allow_incomplete=config.allow_incomplete,
                      overwrite=config.overwrite)
