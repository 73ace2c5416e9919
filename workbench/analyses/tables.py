"""Calibration of any table of (confidence, correct) pairs, one row per confidence column and group.

The DataFrame entry point beside ``validity.screen_table``: results from other pipelines can be scored
exactly as ours are. Missing confidences (NaN, e.g. unparsed verbal text) are dropped per column and
counted in ``n_missing``; a column with nothing left, or with one class for AUROC/AUPRC, gets NaN and a
``note`` saying why; fewer than ``FEW`` examples of a class flags the intervals as rough.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from workbench.analyses.calibration import check_pairs, reliability, summarize
from workbench.analyses.selective import risk_coverage
from workbench.analyses.smooth_ece import smooth_curve
from workbench.errors import WorkbenchError

FEW = 5  # below this many examples of a class, bootstrap intervals are flagged as rough


def table_columns(frame: pd.DataFrame, confidence, correct: str, by) -> tuple[list[str], list[str]]:
    """Checked confidence column names and grouping keys, with a clear error for a missing column."""
    columns = [confidence] if isinstance(confidence, str) else list(confidence)
    keys = [] if by is None else [by] if isinstance(by, str) else list(by)
    missing = [c for c in [*columns, correct, *keys] if c not in frame.columns]
    if missing:
        raise WorkbenchError(f"table has no column(s) {', '.join(missing)}; it has {', '.join(map(str, frame.columns))}")
    return columns, keys


def _pairs(part: pd.DataFrame, column: str, correct: str, scale: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Checked (confidence / scale, correct) with missing confidences dropped, and how many were dropped."""
    conf = part[column].to_numpy(dtype=float)
    keep = ~np.isnan(conf)
    if not keep.any():
        return np.empty(0), np.empty(0, dtype=bool), len(conf)
    c, y = check_pairs(conf[keep] / scale, part[correct].to_numpy()[keep], what=f"column {column!r}")
    return c, y, int((~keep).sum())


def table_groups(frame: pd.DataFrame, keys: list[str]):
    """(key tuple, rows) per group of ``keys``; the whole table as one group when there are none."""
    if not keys:
        return [((), frame)]
    return [(k if isinstance(k, tuple) else (k,), part) for k, part in frame.groupby(keys, sort=True, dropna=False)]


def calibration_table(frame: pd.DataFrame, confidence: str | Sequence[str] = "confidence", correct: str = "correct", *,
                      by: str | Sequence[str] | None = None, scale: float = 1.0, n_bins: int = 10,
                      strategy: str = "uniform", n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Discrimination and calibration per confidence column (and ``by`` group), side by side; ``scale`` is the
    confidence's full scale (1 for probabilities, 100 for percentages). Columns: channel, n, n_missing, accuracy,
    mean_confidence, overconfidence, then each metric of ``calibration.METRICS`` with its low and high, note."""
    columns, keys = table_columns(frame, confidence, correct, by)
    rows = []
    for key, part in table_groups(frame, keys):
        for column in columns:
            conf, corr, n_missing = _pairs(part, column, correct, scale)
            row = {**dict(zip(keys, key)), "channel": column, "n": len(conf), "n_missing": n_missing}
            if len(conf) == 0:
                rows.append({**row, "note": "no confidences (all missing)"})
                continue
            summary = summarize(conf, corr, n_bins=n_bins, strategy=strategy, n_boot=n_boot, level=level, seed=seed)
            row.update(accuracy=float(corr.mean()), mean_confidence=float(conf.mean()),
                       overconfidence=float(conf.mean() - corr.mean()))
            for s in summary.itertuples():
                row.update({s.metric: s.value, f"{s.metric}_low": s.low, f"{s.metric}_high": s.high})
            notes = [n for n in summary["note"] if n]
            minority = int(min(corr.sum(), len(corr) - corr.sum()))
            if 0 < minority < FEW:
                notes.append(f"only {minority} of one class: intervals are rough")
            row["note"] = "; ".join(dict.fromkeys(notes))
            rows.append(row)
    return pd.DataFrame(rows)


def reliability_table(frame: pd.DataFrame, confidence: str | Sequence[str] = "confidence", correct: str = "correct", *,
                      by: str | Sequence[str] | None = None, scale: float = 1.0, n_bins: int = 10,
                      strategy: str = "uniform") -> pd.DataFrame:
    """Reliability-diagram bins per confidence column (and group): the rows of ``calibration.reliability``."""
    return _per_column(frame, confidence, correct, by, scale,
                       lambda conf, corr: reliability(conf, corr, n_bins=n_bins, strategy=strategy))


def _per_column(frame: pd.DataFrame, confidence, correct: str, by, scale: float, compute) -> pd.DataFrame:
    """``compute(conf, corr)`` -> DataFrame for each non-empty confidence column (and group), stacked."""
    columns, keys = table_columns(frame, confidence, correct, by)
    parts = []
    for key, part in table_groups(frame, keys):
        for column in columns:
            conf, corr, _ = _pairs(part, column, correct, scale)
            if len(conf):
                parts.append(compute(conf, corr).assign(**dict(zip(keys, key)), channel=column))
    if not parts:
        raise WorkbenchError("no confidences to score: every selected column is empty")
    return pd.concat(parts, ignore_index=True)


def smooth_table(frame: pd.DataFrame, confidence: str | Sequence[str] = "confidence", correct: str = "correct", *,
                 by: str | Sequence[str] | None = None, scale: float = 1.0, points: int = 101) -> pd.DataFrame:
    """Smoothed reliability curve per column (relplot's kernel smoother at smECE's bandwidth): columns
    confidence, accuracy, density (of the confidences, integrating to 1), sigma, channel."""
    def compute(conf, corr):
        mesh, curve, density, sigma = smooth_curve(conf, corr, points)
        return pd.DataFrame({"confidence": mesh, "accuracy": curve, "density": density, "sigma": sigma})
    return _per_column(frame, confidence, correct, by, scale, compute)


def risk_coverage_table(frame: pd.DataFrame, confidence: str | Sequence[str] = "confidence", correct: str = "correct",
                        *, by: str | Sequence[str] | None = None, scale: float = 1.0) -> pd.DataFrame:
    """The risk-coverage curve per column (``selective.risk_coverage``): coverage, risk, n_kept, channel."""
    return _per_column(frame, confidence, correct, by, scale, risk_coverage)
