"""The layer gradient: does patching matter more in later layers?

Spearman's rho between layer index and the mean effect over pairs, over *all* swept layers, with a
percentile bootstrap interval that resamples pairs (the unit that was sampled). For comparability with
the seed study, the same over its 8 evenly spaced layers. And a Mann-Whitney U test of the late third
of the layers against the early third, on the per-layer mean effects (one value per layer, as the
gradient itself uses).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

from workbench.errors import WorkbenchError


@dataclass(frozen=True)
class LayerGradient:
    """rho over all layers and over 8 evenly spaced ones, with bootstrap intervals; per-layer means and bands."""

    layers: tuple[int, ...]
    mean: tuple[float, ...]  # mean effect per layer
    band_low: tuple[float, ...]  # bootstrap interval of each layer's mean
    band_high: tuple[float, ...]
    rho: float
    rho_low: float
    rho_high: float
    rho_p: float
    layers8: tuple[int, ...]
    rho8: float
    rho8_low: float
    rho8_high: float
    mannwhitney_u: float
    mannwhitney_p: float
    late_minus_early: float  # mean effect of the late third minus the early third
    n_pairs: int
    n_boot: int
    level: float
    value: str

    def summary(self) -> dict:
        """One flat row (no per-layer arrays)."""
        skip = {"layers", "mean", "band_low", "band_high", "layers8"}
        return {k: v for k, v in asdict(self).items() if k not in skip} | {"layers8": list(self.layers8)}

    def per_layer(self) -> pd.DataFrame:
        return pd.DataFrame({"layer": self.layers, "mean": self.mean, "band_low": self.band_low,
                             "band_high": self.band_high})

    def describe(self) -> str:
        pct = int(round(self.level * 100))
        return (f"rho(layer, {self.value}) = {self.rho:+.2f} [{pct}% CI {self.rho_low:+.2f}, {self.rho_high:+.2f}] "
                f"over {len(self.layers)} layers, {self.n_pairs} pairs; 8 layers: {self.rho8:+.2f} "
                f"[{self.rho8_low:+.2f}, {self.rho8_high:+.2f}]; late - early = {self.late_minus_early:+.3f} "
                f"(Mann-Whitney p = {self.mannwhitney_p:.3g})")


def effect_matrix(effects: pd.DataFrame, value: str = "effect") -> tuple[np.ndarray, np.ndarray]:
    """[n_pairs, n_layers] mean effect of each pair at each layer (over roles/sites present), and the layers."""
    if effects.empty:
        raise WorkbenchError("no effects to summarize: the sweep is empty")
    if value not in effects.columns:
        raise WorkbenchError(f"effects have no column {value!r}")
    wide = effects.pivot_table(index="pair_id", columns="layer", values=value, aggfunc="mean", dropna=False)
    return wide.to_numpy(dtype=float), wide.columns.to_numpy()


def _rank_rows(x: np.ndarray) -> np.ndarray:
    return stats.rankdata(x, axis=-1, nan_policy="omit")


def spearman_rows(layers: np.ndarray, means: np.ndarray) -> np.ndarray:
    """Spearman's rho of layers [L] against each row of means [B, L] (NaN rows give NaN)."""
    rl = stats.rankdata(layers)
    rm = _rank_rows(means)
    rl, rm = rl - rl.mean(), rm - rm.mean(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rm @ rl) / np.sqrt((rm ** 2).sum(-1) * (rl ** 2).sum())


def evenly_spaced(layers: np.ndarray, k: int = 8) -> np.ndarray:
    """k evenly spaced entries of the swept layers (all of them when there are at most k)."""
    if len(layers) <= k:
        return np.asarray(layers)
    return np.asarray(layers)[np.unique(np.round(np.linspace(0, len(layers) - 1, k)).astype(int))]


def layer_gradient(effects: pd.DataFrame, *, value: str = "effect", n_boot: int = 1000, seed: int = 0,
                   level: float = 0.95) -> LayerGradient:
    """rho between layer and mean ``value`` over pairs, with a bootstrap over pairs; see the module docstring."""
    matrix, layers = effect_matrix(effects, value)
    if len(layers) < 3:
        raise WorkbenchError(f"a layer gradient needs at least 3 layers; the sweep has {len(layers)}")
    rng = np.random.default_rng(seed)
    n_pairs = matrix.shape[0]
    with warnings.catch_warnings():  # a layer where every pair's effect is NaN has no mean
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(matrix, axis=0)  # [L]
        boot = np.nanmean(matrix[rng.integers(0, n_pairs, size=(n_boot, n_pairs))], axis=1)  # [B, L]
    tail = (1 - level) / 2 * 100
    band_low, band_high = np.nanpercentile(boot, [tail, 100 - tail], axis=0)
    rho, rho_p = stats.spearmanr(layers, mean, nan_policy="omit")
    rho_low, rho_high = np.nanpercentile(spearman_rows(layers, boot), [tail, 100 - tail])
    eight = np.isin(layers, evenly_spaced(layers))
    rho8 = float(spearman_rows(layers[eight], mean[eight][None])[0])
    rho8_low, rho8_high = np.nanpercentile(spearman_rows(layers[eight], boot[:, eight]), [tail, 100 - tail])
    third = max(1, len(layers) // 3)
    early, late = mean[:third], mean[-third:]
    u, p = stats.mannwhitneyu(late[~np.isnan(late)], early[~np.isnan(early)], alternative="two-sided")
    return LayerGradient(
        layers=tuple(int(x) for x in layers), mean=tuple(map(float, mean)), band_low=tuple(map(float, band_low)),
        band_high=tuple(map(float, band_high)), rho=float(rho), rho_low=float(rho_low), rho_high=float(rho_high),
        rho_p=float(rho_p), layers8=tuple(int(x) for x in layers[eight]), rho8=rho8, rho8_low=float(rho8_low),
        rho8_high=float(rho8_high), mannwhitney_u=float(u), mannwhitney_p=float(p),
        late_minus_early=float(np.nanmean(late) - np.nanmean(early)), n_pairs=int(n_pairs), n_boot=int(n_boot),
        level=float(level), value=value)
