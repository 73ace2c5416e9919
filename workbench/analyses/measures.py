"""A measured number with its 95% interval over items, and how several seeds' measures combine.

``Measure`` is what a claim (``analyses.claims``) or a summary (``analyses.tuning``) computes on one model and
seed: value, interval, the item-bootstrap replicates behind it, a note, or why it could not be measured.
``combine_seeds`` pools seeds by a two-level bootstrap (seeds, then items within each drawn seed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from workbench.analyses.calibration import percentile_interval

N_BOOT = 1000


def resample(n: int, rng: int | np.random.Generator) -> np.ndarray:
    """[N_BOOT, n] item indices drawn with replacement: the claims' one bootstrap (``rng``: a seed, or a generator
    that several draws share)."""
    return np.random.default_rng(rng).integers(0, n, size=(N_BOOT, n))


@dataclass(frozen=True)
class Measure:
    value: float = np.nan
    low: float = np.nan
    high: float = np.nan
    note: str = ""
    blocked: str | None = None  # why there is no verdict even with a number (e.g. a control failed)
    decided: str | None = None  # a verdict by the claim's own rule (a test's p-value), not by an interval
    samples: np.ndarray | None = field(default=None, repr=False, compare=False)  # [n_boot] item bootstrap replicates

    @classmethod
    def undetermined(cls, why: str) -> "Measure":
        return cls(blocked=why)

    @classmethod
    def bootstrapped(cls, value: float, samples: np.ndarray, note: str = "") -> "Measure":
        """A value with its 95% percentile interval from its item bootstrap replicates ``samples`` [n_boot] (kept,
        so several seeds can be combined)."""
        low, high = percentile_interval(samples)
        return cls(float(value), low, high, note, samples=samples)

    @property
    def determined(self) -> bool:
        return self.blocked is None and np.isfinite([self.value, self.low, self.high]).all()


def seed_draws(m: Measure, rng: np.random.Generator) -> np.ndarray:
    """A measure's bootstrap replicates over items, or normal draws matching its 95% interval when it has none."""
    if m.samples is not None and np.isfinite(m.samples).any():
        return m.samples[np.isfinite(m.samples)]
    return m.value + (m.high - m.low) / (2 * 1.959964) * rng.standard_normal(N_BOOT)


def combine_seeds(measures: Sequence[Measure], seed: int = 0) -> tuple[float, float, float]:
    """(value, low, high) over seeds: the mean of the seeds' values, and the two-level bootstrap interval (draw
    the seeds with replacement, then one item-bootstrap replicate of each drawn seed; percentiles of the mean).
    One seed: its own value and interval."""
    if len(measures) == 1:
        return measures[0].value, measures[0].low, measures[0].high
    rng = np.random.default_rng(seed)
    draws = [seed_draws(m, rng) for m in measures]
    chosen = rng.integers(0, len(measures), size=(N_BOOT, len(measures)))  # [n_boot, S] seeds drawn
    picked = np.zeros(chosen.shape)
    for s, d in enumerate(draws):
        where = chosen == s
        picked[where] = d[rng.integers(0, len(d), size=int(where.sum()))]
    low, high = percentile_interval(picked.mean(axis=1))
    return float(np.mean([m.value for m in measures])), low, high
