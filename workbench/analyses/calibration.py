"""Calibration and discrimination of a confidence, on plain arrays: ECE (equal-width and equal-mass), smooth
ECE, MCE, Brier, AUROC, AUPRC, AURC, PRR, reliability-diagram data, and stratified bootstrap intervals.

Conventions (one place, used by every analysis):

- ``confidence`` is a probability in [0, 1] that the answer is correct; ``correct`` is 0/1 (bool).
  "Correct" is the positive class for AUROC and AUPRC (AUPRC's chance level is the accuracy).
- Bins are ``[lower, upper)``, the last one closed (``[lower, 1]``). ``uniform`` bins have equal width
  (edges at k / n_bins, compared after rounding to 9 decimals so that 0.3 lands in [0.3, 0.4) and not
  below it); ``quantile`` bins hold equal mass (edges at the confidence quantiles; tied values share a
  bin, so masses are equal only up to ties). scikit-learn's ``calibration_curve`` uses ``(lower, upper]``
  and torchmetrics puts a confidence of exactly 1.0 in a bin of its own: away from the edges the three agree.
- ECE = sum over non-empty bins of (n_b / n) |accuracy_b - mean confidence_b|; MCE = the largest such gap.
- ``ece_mass`` is the ECE over equal-mass bins that never split a tie (``equal_mass_ids``): verbal
  confidences on a 0-100 grid pile up at 90-100, and a bin edge through a pile would give identical
  confidences different bins depending on the order of the examples.
- ``smece`` is the smooth ECE of Błasiok & Nakkiran, as relplot computes it (``smooth_ece``); ``aurc`` and
  ``prr`` rank answers by confidence (``selective``).
- Undefined, never a number: AUROC, AUPRC and PRR with one class, and for a constant confidence (it ranks
  nothing; AUROC would read 0.5). Their rows hold NaN and a ``note`` saying why; the calibration metrics
  (ECEs, MCE, Brier) and AURC stay defined.
- Intervals are percentile intervals of a bootstrap that resamples within each class (as pROC does), so
  that every resample has both classes and AUROC is always defined; they are conditional on the
  observed class counts.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from workbench.analyses.selective import aurc_rows, prr_rows
from workbench.analyses.smooth_ece import smece_rows
from workbench.errors import WorkbenchError

STRATEGIES = ("uniform", "quantile")


def check_pairs(confidence, correct, *, what: str = "confidence") -> tuple[np.ndarray, np.ndarray]:
    """Validated float [n] confidences in [0, 1] and bool [n] correctness; a clear error otherwise."""
    conf = np.asarray(confidence, dtype=float)
    corr = np.asarray(correct)
    if conf.ndim != 1 or corr.shape != conf.shape:
        raise WorkbenchError(f"{what} and correct must be 1-d of the same length, got {conf.shape} and {corr.shape}")
    if conf.size == 0:
        raise WorkbenchError(f"no {what} values to score")
    if not np.isfinite(conf).all():
        raise WorkbenchError(f"{what} holds {int((~np.isfinite(conf)).sum())} NaN or infinite values; drop them first")
    if conf.min() < 0 or conf.max() > 1:
        raise WorkbenchError(f"{what} must lie in [0, 1] (got {conf.min():.4g}..{conf.max():.4g}); "
                             "divide a 0-100 confidence by 100")
    if corr.dtype != bool:
        if not np.isin(corr, (0, 1)).all():
            raise WorkbenchError("correct must be boolean or 0/1")
        corr = corr.astype(bool)
    return conf, corr


def require_both_classes(correct: np.ndarray, metric: str) -> None:
    n_pos = int(np.sum(correct))
    if n_pos == 0 or n_pos == len(correct):
        state = "correct" if n_pos else "incorrect"
        raise WorkbenchError(f"{metric} needs both correct and incorrect examples; all {len(correct)} are {state}")


# ---- binning --------------------------------------------------------------------------------------------

def bin_edges(confidence: np.ndarray, n_bins: int = 10, strategy: str = "uniform") -> np.ndarray:
    """[n_bins + 1] bin edges on [0, 1]: equal width, or at the confidence quantiles."""
    if not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise WorkbenchError(f"n_bins must be a positive integer, got {n_bins!r}")
    if strategy == "uniform":
        return np.linspace(0.0, 1.0, n_bins + 1)
    if strategy == "quantile":
        return np.quantile(np.asarray(confidence, dtype=float), np.linspace(0.0, 1.0, n_bins + 1))
    raise WorkbenchError(f"unknown binning strategy {strategy!r}: choose one of {', '.join(STRATEGIES)}")


def bin_ids(confidence: np.ndarray, n_bins: int = 10, strategy: str = "uniform") -> np.ndarray:
    """[n] bin index in 0..n_bins-1 of each confidence (see the module docstring for the edges)."""
    conf = np.asarray(confidence, dtype=float)
    edges = bin_edges(conf, n_bins, strategy)  # validates n_bins and strategy
    if strategy == "uniform":
        return np.clip(np.floor(np.round(conf * n_bins, 9)), 0, n_bins - 1).astype(int)
    return np.searchsorted(edges[1:-1], conf, side="right")


def equal_mass_ids(confidence, n_bins: int = 10) -> np.ndarray:
    """[n] bin index (0-based, consecutive) of each confidence for equal-mass bins that never split a tie.

    Rule: sort the confidences; the k-th cut (k = 1..n_bins-1) falls after the first round(k n / n_bins)
    examples; a cut that would fall inside a block of tied values moves to the nearer end of that block
    (the end after it when both are as near); cuts that coincide or fall at either end are dropped. So
    every distinct value lies in one bin, bins hold n / n_bins examples when there are no ties, and a pile
    of ties yields fewer, unequal bins instead of an arbitrary split.
    """
    bin_edges(confidence, n_bins, "uniform")  # validates n_bins
    conf = np.asarray(confidence, dtype=float)
    n = len(conf)
    order = np.argsort(conf, kind="stable")
    ranked = conf[order]
    starts = np.flatnonzero(np.r_[True, np.diff(ranked) != 0])  # first index of each tie block
    ends = np.r_[starts[1:], n]
    cuts = set()
    for k in range(1, n_bins):
        cut = int(np.floor(k * n / n_bins + 0.5))
        b = np.searchsorted(starts, cut, side="right") - 1  # block holding position `cut`
        if 0 <= b < len(starts) and starts[b] < cut:
            cut = int(starts[b]) if cut - starts[b] < ends[b] - cut else int(ends[b])
        if 0 < cut < n:
            cuts.add(cut)
    ids = np.empty(n, dtype=int)
    ids[order] = np.searchsorted(np.array(sorted(cuts), dtype=int), np.arange(n), side="right")
    return ids


def ece_mass(confidence, correct, *, n_bins: int = 10) -> float:
    """ECE over equal-mass bins that never split a tie (``equal_mass_ids``), in [0, 1]."""
    conf, corr = check_pairs(confidence, correct)
    ids = equal_mass_ids(conf, n_bins)
    gap = np.abs(np.bincount(ids, weights=corr) - np.bincount(ids, weights=conf))
    return float(np.sum(gap) / len(conf))


def reliability(confidence, correct, *, n_bins: int = 10, strategy: str = "uniform") -> pd.DataFrame:
    """Reliability-diagram data, one row per bin (empty bins kept, with NaN means): bin, lower, upper, count,
    mean_confidence, accuracy, acc_low, acc_high (95% Wilson interval of the bin's accuracy, for error bars)."""
    conf, corr = check_pairs(confidence, correct)
    edges = bin_edges(conf, n_bins, strategy)
    ids = bin_ids(conf, n_bins, strategy)
    count = np.bincount(ids, minlength=n_bins)  # [n_bins]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(ids, weights=conf, minlength=n_bins) / count
        acc = np.bincount(ids, weights=corr, minlength=n_bins) / count
    low, high = wilson_interval(acc, count)
    return pd.DataFrame({"bin": np.arange(n_bins), "lower": edges[:-1], "upper": edges[1:], "count": count,
                         "mean_confidence": mean_conf, "accuracy": acc, "acc_low": low, "acc_high": high})


def wilson_interval(p: np.ndarray, n: np.ndarray, z: float = 1.959963984540054) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of proportions p from n trials (NaN where n == 0)."""
    p, n = np.asarray(p, dtype=float), np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def _gaps(conf: np.ndarray, corr: np.ndarray, n_bins: int, strategy: str) -> tuple[np.ndarray, np.ndarray]:
    """|accuracy - mean confidence| and weight n_b / n of each non-empty bin."""
    ids = bin_ids(conf, n_bins, strategy)
    count = np.bincount(ids, minlength=n_bins)
    keep = count > 0
    gap = np.abs(np.bincount(ids, weights=corr, minlength=n_bins)[keep]
                 - np.bincount(ids, weights=conf, minlength=n_bins)[keep]) / count[keep]
    return gap, count[keep] / len(conf)


# ---- metrics --------------------------------------------------------------------------------------------

def ece(confidence, correct, *, n_bins: int = 10, strategy: str = "uniform") -> float:
    """Expected calibration error: bin-weighted mean |accuracy - confidence|, in [0, 1]."""
    conf, corr = check_pairs(confidence, correct)
    gap, weight = _gaps(conf, corr, n_bins, strategy)
    return float(np.sum(gap * weight))


def mce(confidence, correct, *, n_bins: int = 10, strategy: str = "uniform") -> float:
    """Maximum calibration error: the largest |accuracy - confidence| over non-empty bins."""
    conf, corr = check_pairs(confidence, correct)
    return float(np.max(_gaps(conf, corr, n_bins, strategy)[0]))


def brier(confidence, correct) -> float:
    """Mean squared error of the confidence against correctness, in [0, 1]."""
    conf, corr = check_pairs(confidence, correct)
    return float(np.mean((conf - corr) ** 2))


def auroc(score, correct) -> float:
    """Area under the ROC curve of ``score`` (any real number) for separating correct from incorrect: the
    Mann-Whitney form on average ranks, so ties count one half."""
    score, corr = np.asarray(score, dtype=float), np.asarray(correct).astype(bool)
    if score.ndim != 1 or corr.shape != score.shape:
        raise WorkbenchError(f"score and correct must be 1-d of the same length, got {score.shape} and {corr.shape}")
    if not np.isfinite(score).all():
        raise WorkbenchError("score holds NaN or infinite values; drop them first")
    require_both_classes(corr, "AUROC")
    return float(auroc_rows(score[None], corr[None])[0])


def auroc_rows(scores: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """AUROC of each row of scores [B, n] against correct [B, n] (unchecked; for bootstrap resamples)."""
    ranks = rankdata(scores, axis=-1)  # [B, n], ties get their average rank
    n_pos = correct.sum(-1)
    n_neg = correct.shape[-1] - n_pos
    return (np.sum(ranks * correct, axis=-1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def auprc(score, correct) -> float:
    """Average precision (area under the precision-recall curve, step-wise as scikit-learn computes it)."""
    score, corr = np.asarray(score, dtype=float), np.asarray(correct).astype(bool)
    if not np.isfinite(score).all():
        raise WorkbenchError("score holds NaN or infinite values; drop them first")
    require_both_classes(corr, "AUPRC")
    order = np.argsort(-score, kind="mergesort")
    s, y = score[order], corr[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # last index of each distinct threshold
    tps = np.cumsum(y)[last]
    precision = tps / (last + 1)
    recall = tps / tps[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def metric_value(name: str, confidence: np.ndarray, correct: np.ndarray, n_bins: int, strategy: str) -> float:
    """One metric by name (see ``METRICS``) on checked arrays."""
    if name == "auroc":
        return auroc(confidence, correct)
    if name == "auprc":
        return auprc(confidence, correct)
    if name == "ece":
        return ece(confidence, correct, n_bins=n_bins, strategy=strategy)
    if name == "mce":
        return mce(confidence, correct, n_bins=n_bins, strategy=strategy)
    if name == "brier":
        return brier(confidence, correct)
    if name == "ece_mass":
        return ece_mass(confidence, correct, n_bins=n_bins)
    if name in ROW_METRICS:
        return float(ROW_METRICS[name](confidence[None], correct[None])[0])
    raise WorkbenchError(f"unknown metric {name!r}; known: {', '.join(METRICS)}")


# metrics computed on [B, n] rows at once (bootstrap resamples), by name
ROW_METRICS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "auroc": lambda c, y: auroc_rows(c, y.astype(bool)), "prr": prr_rows, "aurc": aurc_rows,
    "smece": lambda c, y: smece_rows(c, y)[0]}
METRICS = ("auroc", "auprc", "prr", "aurc", "ece", "ece_mass", "smece", "mce", "brier")
DISCRIMINATION = ("auroc", "auprc", "prr")  # undefined with one class or a constant confidence


def undefined_reason(confidence: np.ndarray, correct: np.ndarray) -> str:
    """Why the ranking metrics (``DISCRIMINATION``) are undefined on these data, or "" when they are defined."""
    if correct.all() or not correct.any():
        return f"undefined: all {len(correct)} answers are {'correct' if correct.all() else 'incorrect'}"
    if np.ptp(confidence) == 0:
        return f"undefined: the confidence is constant (all {len(confidence)} are {confidence[0]:.4g}), it ranks nothing"
    return ""


# ---- bootstrap ------------------------------------------------------------------------------------------

def bootstrap_indices(correct, *, n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    """[n_boot, n] example indices, resampled with replacement within each class (class counts fixed)."""
    corr = np.asarray(correct).astype(bool)
    if n_boot < 1:
        raise WorkbenchError(f"n_boot must be at least 1, got {n_boot}")
    rng = np.random.default_rng(seed)
    parts = [members[rng.integers(0, len(members), size=(n_boot, len(members)))]
             for members in (np.flatnonzero(corr), np.flatnonzero(~corr)) if len(members)]
    return np.concatenate(parts, axis=1)


def percentile_interval(samples, level: float = 0.95) -> tuple[float, float]:
    """(low, high) percentile interval of bootstrap samples, ignoring NaN; NaN when none is finite."""
    samples = np.asarray(samples, dtype=float)
    if not 0 < level < 1:
        raise WorkbenchError(f"level must be in (0, 1), got {level}")
    samples = samples[np.isfinite(samples)]
    if samples.size == 0:
        return float("nan"), float("nan")
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(samples, [tail, 100 - tail])
    return float(low), float(high)


def summarize(confidence, correct, *, n_bins: int = 10, strategy: str = "uniform", n_boot: int = 1000,
              level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Every metric with its bootstrap interval: one row per metric (metric, value, low, high, note); the
    undefined ones (module docstring) hold NaN and say why in ``note``."""
    conf, corr = check_pairs(confidence, correct)
    reason = undefined_reason(conf, corr)
    idx = bootstrap_indices(corr, n_boot=n_boot, seed=seed)  # [n_boot, n]
    rows = []
    for name in METRICS:
        if reason and name in DISCRIMINATION:
            rows.append({"metric": name, "value": np.nan, "low": np.nan, "high": np.nan, "note": reason})
            continue
        value = metric_value(name, conf, corr, n_bins, strategy)
        if name in ROW_METRICS:
            samples = ROW_METRICS[name](conf[idx], corr[idx])
        else:
            samples = [metric_value(name, conf[i], corr[i], n_bins, strategy) for i in idx]
        low, high = percentile_interval(samples, level)
        rows.append({"metric": name, "value": value, "low": low, "high": high, "note": ""})
    return pd.DataFrame(rows)
