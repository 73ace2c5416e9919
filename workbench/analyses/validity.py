"""Validity screen of a confidence channel (the seed study's definitions), on any (confidence, correct) table.

On confidences c in [0, 100] (rows with a missing confidence are dropped and counted):

- ceiling rate L = share with c >= 95; floor rate = share with c <= 5;
- decile bins = clip(floor(c / 10), 0, 10) (11 bins: 100 has its own); rating-bin sparsity =
  1 - distinct bins used / 11; TRIN = share of the modal bin;
- r = Pearson correlation of c with correctness (0/1), undefined when either is constant.

Tiers, first match wins: Invalid if L >= 0.70 or TRIN >= 0.80 or |r| < 0.05; Indeterminate if L >= 0.40 or
TRIN >= 0.60; else Valid. The ``strict`` preset is the study's later one (Invalid if L > 0.90 or TRIN > 0.80
or |r| < 0.10, comparisons strict); the study names no Indeterminate rule for it, so it keeps 0.40 / 0.60
(also strict). When r is undefined (one class, or constant confidence) and nothing else makes the channel
Invalid, the tier is "Undefined" and ``reasons`` says why: never a verdict on a number that does not exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from workbench.errors import WorkbenchError, did_you_mean

TIERS = ("Valid", "Indeterminate", "Invalid", "Undefined")


@dataclass(frozen=True, kw_only=True)
class ValidityThresholds:
    """Where the tiers start. ``inclusive``: a rate at the threshold counts (>=) or must exceed it (>)."""

    name: str = "default"
    ceiling_at: float = 95.0  # c >= this counts toward the ceiling rate
    floor_at: float = 5.0  # c <= this counts toward the floor rate
    invalid_ceiling: float = 0.70
    invalid_trin: float = 0.80
    invalid_abs_r: float = 0.05  # Invalid when |r| is below this
    indeterminate_ceiling: float = 0.40
    indeterminate_trin: float = 0.60
    inclusive: bool = True

    def __post_init__(self) -> None:
        for field in ("invalid_ceiling", "invalid_trin", "invalid_abs_r", "indeterminate_ceiling", "indeterminate_trin"):
            value = getattr(self, field)
            if not 0 <= value <= 1:
                raise WorkbenchError(f"validity threshold {field} must be in [0, 1], got {value}")
        if not 0 <= self.floor_at < self.ceiling_at <= 100:
            raise WorkbenchError(f"need 0 <= floor_at < ceiling_at <= 100, got {self.floor_at} and {self.ceiling_at}")

    def exceeds(self, value: float, threshold: float) -> bool:
        return value >= threshold if self.inclusive else value > threshold


PRESETS: dict[str, ValidityThresholds] = {
    "default": ValidityThresholds(),
    "strict": ValidityThresholds(name="strict", invalid_ceiling=0.90, invalid_trin=0.80, invalid_abs_r=0.10,
                                 inclusive=False),
}


def get_thresholds(thresholds: str | ValidityThresholds) -> ValidityThresholds:
    if isinstance(thresholds, ValidityThresholds):
        return thresholds
    if thresholds not in PRESETS:
        raise WorkbenchError(f"unknown validity preset {thresholds!r}.{did_you_mean(thresholds, PRESETS)} "
                             f"Known: {', '.join(PRESETS)}")
    return PRESETS[thresholds]


def decile_bins(confidence: np.ndarray) -> np.ndarray:
    """clip(floor(c / 10), 0, 10) for c on 0-100 (rounded to 9 decimals first, so 30.0 is bin 3)."""
    return np.clip(np.floor(np.round(np.asarray(confidence, dtype=float) / 10, 9)), 0, 10).astype(int)


def screen(confidence, correct, *, thresholds: str | ValidityThresholds = "default", scale: float = 100.0) -> dict:
    """The screen of one channel (n, n_missing, ceiling_rate, floor_rate, sparsity, trin, modal_bin, r, tier,
    reasons); ``confidence`` is on [0, ``scale``] (NaN = missing, e.g. unparsed text), rescaled to 0-100."""
    th = get_thresholds(thresholds)
    conf = np.asarray(confidence, dtype=float)
    corr = np.asarray(correct)
    if conf.ndim != 1 or corr.shape != conf.shape:
        raise WorkbenchError(f"confidence and correct must be 1-d of the same length, got {conf.shape} and {corr.shape}")
    if np.isinf(conf).any():
        raise WorkbenchError("confidence holds infinite values")
    if not np.isin(corr, (0, 1)).all():
        raise WorkbenchError("correct must be boolean or 0/1 (missing correctness cannot be screened)")
    keep = ~np.isnan(conf)
    conf, corr = conf[keep] * (100.0 / scale), corr[keep].astype(float)
    out = {"n": int(keep.sum()), "n_missing": int((~keep).sum()), "thresholds": th.name}
    if out["n"] == 0:
        return {**out, "ceiling_rate": np.nan, "floor_rate": np.nan, "sparsity": np.nan, "trin": np.nan,
                "modal_bin": -1, "r": np.nan, "tier": "Undefined", "reasons": "no confidences (all missing)"}
    if conf.min() < -1e-9 or conf.max() > 100 + 1e-9:
        raise WorkbenchError(f"confidence must lie in [0, {scale:g}] (got {conf.min() * scale / 100:.4g}.."
                             f"{conf.max() * scale / 100:.4g}); pass scale=1 for probabilities")
    bins = np.bincount(decile_bins(conf), minlength=11)  # [11]
    ceiling, floor = float(np.mean(conf >= th.ceiling_at)), float(np.mean(conf <= th.floor_at))
    trin = float(bins.max() / out["n"])
    r = float(np.corrcoef(conf, corr)[0, 1]) if conf.std() > 0 and corr.std() > 0 else np.nan
    out.update(ceiling_rate=ceiling, floor_rate=floor, sparsity=float(1 - np.count_nonzero(bins) / 11), trin=trin,
               modal_bin=int(bins.argmax()), r=r)
    return {**out, **_tier(th, ceiling, trin, r, corr)}


def _tier(th: ValidityThresholds, ceiling: float, trin: float, r: float, corr) -> dict:
    def crossed(ceiling_limit: float, trin_limit: float) -> list[str]:
        op = ">=" if th.inclusive else ">"
        return [f"{name}={value:.2f} {op} {limit}" for name, value, limit in
                (("L", ceiling, ceiling_limit), ("TRIN", trin, trin_limit)) if th.exceeds(value, limit)]

    invalid = crossed(th.invalid_ceiling, th.invalid_trin)
    if np.isfinite(r) and abs(r) < th.invalid_abs_r:
        invalid.append(f"|r|={abs(r):.3f} < {th.invalid_abs_r}")
    undefined = "" if np.isfinite(r) else \
        f"r undefined: {'correctness has one class' if corr.std() == 0 else 'confidence is constant'}"
    if invalid:
        return {"tier": "Invalid", "reasons": "; ".join([*invalid, *([undefined] if undefined else [])])}
    if undefined:
        return {"tier": "Undefined", "reasons": undefined}
    indeterminate = crossed(th.indeterminate_ceiling, th.indeterminate_trin)
    if indeterminate:
        return {"tier": "Indeterminate", "reasons": "; ".join(indeterminate)}
    return {"tier": "Valid", "reasons": ""}


def screen_table(frame: pd.DataFrame, confidence: str | Sequence[str] = "confidence", correct: str = "correct", *,
                 by: str | Sequence[str] | None = None, thresholds: str | ValidityThresholds = "default",
                 scale: float = 100.0) -> pd.DataFrame:
    """Screen any table of (confidence, correct) pairs: one row per confidence column (a channel) and ``by``
    group (e.g. "model", "seed"), so results of other pipelines can be screened and compared side by side."""
    from workbench.analyses.tables import table_columns, table_groups

    columns, keys = table_columns(frame, confidence, correct, by)
    rows = []
    for key, part in table_groups(frame, keys):
        for column in columns:
            result = screen(part[column].to_numpy(dtype=float), part[correct].to_numpy(), thresholds=thresholds,
                            scale=scale)
            rows.append({**dict(zip(keys, key)), "channel": column, **result})
    return pd.DataFrame(rows)
