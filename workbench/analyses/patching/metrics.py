"""Effect metrics of a patch, computed from exact confidence-vocabulary distributions.

All read the distribution over the run's confidence vocabulary, renormalised to sum to one:

- ``expected``: the patched expected confidence, value / 100 (in [0, 1]).
- ``shift``: patched minus target expected confidence.
- ``normalised_shift``: (patched - target) / (source - target), clipped to +-5 as in the seed study
  (NaN where source and target agree to 1e-6: there is nothing to restore).
- ``logit_diff``: change in log p(high) - log p(low) between two confidence levels, patched minus target.
- ``kl``: KL(target || patched), in nats.

Every metric but ``expected`` is 0 when the patch changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.errors import WorkbenchError, did_you_mean
from workbench.prompts.vocabulary import ConfidenceVocabulary

METRICS: tuple[str, ...] = ("shift", "normalised_shift", "logit_diff", "kl", "expected")
CLIP = 5.0
EPS = 1e-12


@dataclass(frozen=True, kw_only=True)
class MetricSpec:
    """Which metric is the sweep's ``effect``, and the two confidence levels of ``logit_diff``."""

    name: str = "shift"
    levels: tuple[str, str] | None = None  # (high, low) strings; None: the vocabulary's highest and lowest

    @classmethod
    def resolve(cls, metric: "str | MetricSpec", vocabulary: ConfidenceVocabulary,
                levels: tuple[str, str] | None = None) -> "MetricSpec":
        """A checked spec: a known metric, and levels that are strings of the run's vocabulary."""
        spec = metric if isinstance(metric, MetricSpec) else cls(name=check_metric_name(metric), levels=levels)
        chosen = spec.levels or default_levels(vocabulary)
        missing = [s for s in chosen if s not in vocabulary.strings]
        if len(chosen) != 2 or missing or chosen[0] == chosen[1]:
            why = f"{', '.join(map(repr, missing))} not in it" if missing else "they must be two different strings"
            raise WorkbenchError(
                f"logit_diff levels {tuple(chosen)} are not two levels of the run's confidence vocabulary "
                f"{vocabulary.name!r} ({_preview(vocabulary)}): {why}")
        return cls(name=spec.name, levels=(str(chosen[0]), str(chosen[1])))

    def to_dict(self) -> dict:
        return {"name": self.name, "levels": list(self.levels) if self.levels else None}


def check_metric_name(name: str) -> str:
    if name not in METRICS:
        raise WorkbenchError(f"unknown metric {name!r}.{did_you_mean(name, METRICS)} "
                             f"Choose one of {', '.join(METRICS)}")
    return name


def _preview(vocabulary: ConfidenceVocabulary) -> str:
    strings = vocabulary.strings
    return ", ".join(strings) if len(strings) <= 6 else f"{', '.join(strings[:3])}, ..., {strings[-1]}"


def default_levels(vocabulary: ConfidenceVocabulary) -> tuple[str, str]:
    """The highest- and lowest-valued strings."""
    values = np.asarray(vocabulary.values)
    return vocabulary.strings[int(values.argmax())], vocabulary.strings[int(values.argmin())]


def normalise(probs: np.ndarray) -> np.ndarray:
    """[..., V] probabilities renormalised over the vocabulary."""
    mass = probs.sum(-1, keepdims=True)
    return probs / np.where(mass > 0, mass, 1.0)


def expected(probs: np.ndarray, vocabulary: ConfidenceVocabulary) -> np.ndarray:
    """Expected confidence / 100 of [..., V] probabilities."""
    return normalise(probs) @ (np.asarray(vocabulary.values, dtype=float) / 100.0)


def normalised_shift(patched: np.ndarray, target: np.ndarray, source: np.ndarray) -> np.ndarray:
    """(patched - target) / (source - target) clipped to +-CLIP; NaN where source == target."""
    gap = source - target
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(np.abs(gap) > 1e-6, (patched - target) / gap, np.nan)
    return np.clip(ratio, -CLIP, CLIP)


def compute(patched: np.ndarray, target: np.ndarray, source: np.ndarray, vocabulary: ConfidenceVocabulary,
            spec: MetricSpec) -> dict[str, np.ndarray]:
    """Every metric for patched [..., V] against target and source [..., V] (broadcast), plus read-outs."""
    e_patched, e_target, e_source = (expected(p, vocabulary) for p in (patched, target, source))
    hi, lo = (vocabulary.strings.index(s) for s in spec.levels or default_levels(vocabulary))
    lp, lt = np.log(np.clip(patched, EPS, None)), np.log(np.clip(target, EPS, None))
    pn, tn = normalise(patched), normalise(target)
    kl = (tn * (np.log(np.clip(tn, EPS, None)) - np.log(np.clip(pn, EPS, None)))).sum(-1)
    values = np.asarray(vocabulary.values)
    out = {
        "patched_expected": e_patched, "target_expected": np.broadcast_to(e_target, e_patched.shape),
        "source_expected": np.broadcast_to(e_source, e_patched.shape),
        "expected": e_patched, "shift": e_patched - e_target,
        "normalised_shift": normalised_shift(e_patched, e_target, e_source),
        "logit_diff": (lp[..., hi] - lp[..., lo]) - (lt[..., hi] - lt[..., lo]),
        "kl": np.maximum(kl, 0.0),
        "patched_argmax": values[patched.argmax(-1)],
        "target_argmax": np.broadcast_to(values[target.argmax(-1)], e_patched.shape),
    }
    out["argmax_unchanged"] = out["patched_argmax"] == out["target_argmax"]
    out["effect"] = out[spec.name]
    return out
