"""The seed study's patching formulas, exactly as its scripts compute them, on stored per-item read-outs.

Sources (github.com/synthiumjp/metacog-engineering, ``phase1/scripts/``):

- ``activation_patching.py``: ``gap = pt_conf - bl_conf``; ``shift = (pa_conf - bl_conf) / (gap + 1e-10)`` when
  ``abs(gap) > 0.01``, else no shift; stored as ``round(shift, 4) if shift else None`` (a shift of exactly 0 is
  dropped too); layers ``range(0, n_layers, max(1, n_layers // 8))``; shifts clipped to [-5, 5] when summarized.
- ``parse_patching_results.py``: per layer the mean of the clipped shifts; rho = Spearman's rho between the layer
  and that mean; early shifts are the pooled clipped item shifts of layers ``<= max(layers) // 4``, late those of
  layers ``>= 3 * max(layers) // 4``; ``mannwhitneyu(late, early, alternative="greater")``.
- ``patching_controls.py`` at ``PATCH_LAYER = n_layers - 4``: reverse (base state into the tuned model,
  ``shift = (rev - pt) / (bl - pt + 1e-10)``) is bidirectional when mean > 0.2 and the share > 0 is > 0.6;
  position-specific when the mean shift at the read position > 2 x the mean |shift| at the middle token;
  answer-selective when the share of unchanged next tokens > 0.8 and the share with |patched - base| > 0.02
  is > 0.3 (over every item).

All functions are pure numpy on arrays of expected confidence (0-1 scale).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

MIN_GAP = 0.01  # |tuned - base| at or below this: no shift
EPS = 1e-10
CLIP = 5.0
REVERSE_MEAN, REVERSE_SHARE = 0.2, 0.6
POSITION_RATIO = 2.0
ANSWER_SAME, ANSWER_SHIFTED, ANSWER_DELTA = 0.8, 0.3, 0.02


def seed_layers(n_blocks: int) -> list[int]:
    """The seed's sweep layers: ``range(0, n_layers, max(1, n_layers // 8))`` (8 of Llama 8B's 32; 10 of 30)."""
    return list(range(0, n_blocks, max(1, n_blocks // 8)))


def seed_shift(patched, start, end) -> np.ndarray:
    """(patched - start) / (end - start + 1e-10) where |end - start| > 0.01, rounded to 4 places; NaN where the
    seed stores None (a small gap, or a shift of exactly 0). Not clipped (the seed clips when it summarizes)."""
    patched, start, end = (np.asarray(x, dtype=float) for x in (patched, start, end))
    gap = end - start
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = (patched - start) / (gap + EPS)
    keep = (np.abs(gap) > MIN_GAP) & (shift != 0)
    return np.where(keep, np.round(shift, 4), np.nan)


def clipped(shifts) -> np.ndarray:
    """The defined shifts (NaN dropped), clipped to [-5, 5], as the seed summarizes them."""
    shifts = np.asarray(shifts, dtype=float)
    return np.clip(shifts[np.isfinite(shifts)], -CLIP, CLIP)


def layer_means(matrix: np.ndarray) -> np.ndarray:
    """Mean clipped shift per layer of an [items, layers] matrix of shifts (NaN = no shift) -> [layers]."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.clip(matrix, -CLIP, CLIP), axis=-2)


def gradient_rho(layers, means) -> float:
    """Spearman's rho between the layers and their mean shifts (``stats.spearmanr(layer_ids, layer_means)``)."""
    means = np.asarray(means, dtype=float)
    if np.isnan(means).any() or np.ptp(means) == 0:
        return float("nan")
    return float(stats.spearmanr(layers, means)[0])


def early_late(layers, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(early, late) pooled clipped shifts: layers <= max // 4 and >= 3 * max // 4 of the swept ``layers``."""
    layers = np.asarray(layers)
    top = int(layers.max())
    early = clipped(matrix[:, layers <= top // 4])
    late = clipped(matrix[:, layers >= 3 * top // 4])
    return early, late


def late_vs_early(early: np.ndarray, late: np.ndarray) -> dict[str, float]:
    """The seed's one-sided Mann-Whitney U (late > early), its reverse, and the size U / (n_late * n_early)."""
    u, p = stats.mannwhitneyu(late, early, alternative="greater")
    _, p_reverse = stats.mannwhitneyu(early, late, alternative="greater")
    return {"u": float(u), "p": float(p), "p_reverse": float(p_reverse), "size": float(u / (len(late) * len(early))),
            "median_late": float(np.median(late)), "median_early": float(np.median(early)),
            "mean_late": float(np.mean(late)), "mean_early": float(np.mean(early))}


def reverse_control(base, tuned, reversed_conf) -> dict[str, float]:
    """Bidirectional? mean clipped reverse shift > 0.2 and share > 0 above 0.6."""
    s = clipped(seed_shift(reversed_conf, tuned, base))
    mean, share = (float(np.mean(s)), float(np.mean(s > 0))) if len(s) else (np.nan, np.nan)
    return {"n": len(s), "mean": mean, "share_positive": share,
            "passes": bool(len(s) and mean > REVERSE_MEAN and share > REVERSE_SHARE)}


def position_control(base, tuned, at_read, at_middle) -> dict[str, float]:
    """Position-specific? mean clipped shift at the read position > 2 x mean |clipped shift| at the middle token."""
    conf, ctrl = clipped(seed_shift(at_read, base, tuned)), clipped(seed_shift(at_middle, base, tuned))
    if not len(conf) or not len(ctrl):
        return {"n": 0, "mean_read": np.nan, "mean_abs_middle": np.nan, "passes": False}
    mean_read, mean_abs_middle = float(np.mean(conf)), float(np.mean(np.abs(ctrl)))
    return {"n": len(conf), "mean_read": mean_read, "mean_abs_middle": mean_abs_middle,
            "passes": bool(mean_read > POSITION_RATIO * mean_abs_middle)}


def answer_control(base, patched, next_token_unchanged) -> dict[str, float]:
    """Answer-selective? share of unchanged next tokens > 0.8 and share with |patched - base| > 0.02 above 0.3."""
    same = np.asarray(next_token_unchanged, dtype=float)
    shifted = np.abs(np.asarray(patched, dtype=float) - np.asarray(base, dtype=float)) > ANSWER_DELTA
    share_same, share_shifted = float(np.mean(same == 1)), float(np.mean(shifted))
    return {"n": len(same), "share_unchanged": share_same, "share_shifted": share_shifted,
            "passes": bool(share_same > ANSWER_SAME and share_shifted > ANSWER_SHIFTED)}
