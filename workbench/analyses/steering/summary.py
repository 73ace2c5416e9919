"""Steering summaries: dose-response means per (layer, direction, alpha) and slopes per layer, with
bootstrap intervals over examples, beside the seed study's null.

The random control is averaged over its directions per example first, so each example counts once.
The slope of a direction at a layer is, per example, the least-squares slope of the shift in expected
confidence on alpha through the origin (sum a * shift / sum a^2), in expected confidence (0-1) per unit
alpha; ``probe - random`` is paired by example. The intervals are over examples, not over random
directions, and a single random direction has a slope of its own sign: so the direction counts as moving
confidence beyond random (``beyond_random``) only when the interval of the difference excludes 0 *and* its
|slope| exceeds that of every random direction (``random_abs_slope_max``). The seed study found no such
effect (an inference-time steering null).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.analyses.calibration import percentile_interval

SEED_NULL = "the seed study found no effect of inference-time steering (a null)"
MEASURES = ("shift", "verbal_shift", "text_unchanged", "argmax_unchanged", "expected")


def mean_interval(values: np.ndarray, *, n_boot: int, seed: int, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high) of per-example values, NaN ignored, percentile bootstrap over examples."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    samples = values[rng.integers(0, values.size, size=(n_boot, values.size))].mean(1)
    return (float(values.mean()), *percentile_interval(samples, level))


def per_example(effects: pd.DataFrame) -> pd.DataFrame:
    """One row per (example, layer, direction, alpha): random directions averaged per example."""
    frame = effects.assign(**{c: effects[c].astype(float) for c in MEASURES})
    return frame.groupby(["example_id", "layer", "direction", "alpha"], as_index=False, sort=True)[list(MEASURES)].mean()


def dose_table(effects: pd.DataFrame, *, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per (layer, direction, alpha): n and each measure's mean with low and high."""
    rows = []
    for (layer, direction, alpha), part in per_example(effects).groupby(["layer", "direction", "alpha"], sort=True):
        row = {"layer": layer, "direction": direction, "alpha": alpha, "n": len(part)}
        for measure in MEASURES:
            row[measure], row[f"{measure}_low"], row[f"{measure}_high"] = mean_interval(
                part[measure].to_numpy(), n_boot=n_boot, seed=seed)
        rows.append(row)
    return pd.DataFrame(rows)


def _slopes(frame: pd.DataFrame) -> pd.Series:
    """Per example: sum a * shift / sum a^2 over the non-zero alphas."""
    steered = frame[frame["alpha"] != 0]
    num = (steered["alpha"] * steered["shift"]).groupby(steered["example_id"]).sum()
    return num / (steered["alpha"] ** 2).groupby(steered["example_id"]).sum()


def layer_table(effects: pd.DataFrame, direction: str, *, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per layer: slopes of the direction, of the random control and their paired difference, with intervals;
    and at the largest |alpha| the shift and the share of confidence texts unchanged for both."""
    examples = per_example(effects)
    top = examples["alpha"].abs().max()
    rows = []
    for layer, part in examples.groupby("layer", sort=True):
        hook = effects.loc[effects["layer"] == layer, "hook"].iloc[0]
        ours, control = (_slopes(part[part["direction"] == d]) for d in (direction, "random"))
        row = {"layer": layer, "hook": hook, "n": len(ours)}
        for name, values in (("slope", ours), ("random_slope", control), ("slope_minus_random", ours - control)):
            row[name], row[f"{name}_low"], row[f"{name}_high"] = mean_interval(values.to_numpy(), n_boot=n_boot,
                                                                               seed=seed)
        at_top = part[part["alpha"].abs() == top]
        for prefix, d in (("", direction), ("random_", "random")):
            chosen = at_top[at_top["direction"] == d]
            row[f"{prefix}text_unchanged_at_max"] = float(chosen["text_unchanged"].mean())
            row[f"{prefix}abs_shift_at_max"] = float(chosen["shift"].abs().mean())
        randoms = effects[(effects["layer"] == layer) & (effects["direction"] == "random")]
        row["random_abs_slope_max"] = float(max(abs(_slopes(g).mean()) for _, g in randoms.groupby("direction_id")))
        excludes_zero = row["slope_minus_random_low"] > 0 or row["slope_minus_random_high"] < 0
        row["beyond_random"] = bool(excludes_zero and abs(row["slope"]) > row["random_abs_slope_max"])
        rows.append(row)
    return pd.DataFrame(rows)


def summary_text(layers: pd.DataFrame, direction: str, *, n_examples: int) -> dict[str, str]:
    """The headline beside the seed's null, and one line per layer (slopes in confidence points per alpha)."""
    def points(row, name: str) -> str:
        return f"{100 * row[name]:+.2f} [{100 * row[f'{name}_low']:+.2f}, {100 * row[f'{name}_high']:+.2f}]"

    lines = [f"layer {row['layer']} ({row['hook']}): {direction} slope {points(row, 'slope')}, random "
             f"{points(row, 'random_slope')} (largest single random |slope| {100 * row['random_abs_slope_max']:.2f}), "
             f"difference {points(row, 'slope_minus_random')} points per alpha; confidence text unchanged at the "
             f"largest |alpha|: {direction} {row['text_unchanged_at_max']:.0%}, random "
             f"{row['random_text_unchanged_at_max']:.0%}" for row in layers.to_dict("records")]
    beyond = layers.loc[layers["beyond_random"], "layer"].tolist()
    verdict = (f"steering along the {direction} direction moved expected confidence beyond random directions of the "
               f"same norm (and beyond each random direction) at layer(s) {', '.join(map(str, beyond))}" if beyond else
               f"steering along the {direction} direction did not move expected confidence beyond random directions "
               "of the same norm at any layer (consistent with the seed's null)")
    return {"headline": f"{verdict}; {n_examples} examples, 95% bootstrap intervals over examples. Seed: {SEED_NULL}.",
            "layers": "\n".join(lines)}
