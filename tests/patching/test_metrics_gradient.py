"""Effect metrics and layer-gradient statistics on synthetic numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.analyses.patching.gradient import evenly_spaced, layer_gradient, spearman_rows
from workbench.analyses.patching.metrics import MetricSpec, compute, expected, normalised_shift
from workbench.errors import WorkbenchError
from workbench.prompts import get_vocabulary

PERCENT = get_vocabulary("percent")
DIGITS = get_vocabulary("digits")


def point(vocabulary, string: str, mass: float = 1.0) -> np.ndarray:
    probs = np.full(len(vocabulary), (1 - mass) / (len(vocabulary) - 1))
    probs[vocabulary.strings.index(string)] = mass
    return probs


def test_expected_is_value_over_100_of_the_renormalised_distribution():
    probs = np.zeros(len(PERCENT))
    probs[PERCENT.strings.index("80")] = 0.3
    probs[PERCENT.strings.index("20")] = 0.1  # mass 0.4: renormalised to 0.75 / 0.25
    assert expected(probs, PERCENT) == pytest.approx(0.75 * 0.8 + 0.25 * 0.2)


def test_metrics_of_a_patch():
    spec = MetricSpec.resolve("shift", PERCENT, ("90", "10"))
    target, source = point(PERCENT, "20"), point(PERCENT, "80")
    patched = 0.5 * target + 0.5 * source
    m = compute(patched[None], target[None], source[None], PERCENT, spec)
    assert m["shift"][0] == pytest.approx(0.3)
    assert m["normalised_shift"][0] == pytest.approx(0.5)
    assert m["kl"][0] > 0 and m["effect"][0] == m["shift"][0]
    none = compute(target[None], target[None], source[None], PERCENT, spec)
    assert none["shift"][0] == 0 and none["kl"][0] == pytest.approx(0, abs=1e-12)
    assert none["logit_diff"][0] == 0 and none["argmax_unchanged"][0]


def test_logit_diff_between_two_levels():
    spec = MetricSpec.resolve("logit_diff", DIGITS, ("9", "0"))
    target = np.full(10, 0.1)
    patched = target.copy()
    patched[9], patched[0] = 0.2, 0.05
    m = compute(patched[None], target[None], target[None], DIGITS, spec)
    assert m["logit_diff"][0] == pytest.approx(np.log(0.2 / 0.05))
    assert m["effect"][0] == m["logit_diff"][0]


def test_normalised_shift_clips_and_is_nan_without_a_gap():
    out = normalised_shift(np.array([0.9, 0.5, 0.3]), np.array([0.5, 0.5, 0.5]), np.array([0.51, 0.5, 0.6]))
    assert out[0] == 5.0  # 40x the gap, clipped to +5
    assert np.isnan(out[1])  # source == target: nothing to restore
    assert out[2] == pytest.approx(-2.0)


def test_metric_errors():
    with pytest.raises(WorkbenchError, match="Did you mean 'normalised_shift'"):
        MetricSpec.resolve("normalized_shift", PERCENT)
    with pytest.raises(WorkbenchError, match="'high' not in it"):
        MetricSpec.resolve("logit_diff", PERCENT, ("high", "10"))
    with pytest.raises(WorkbenchError, match="confidence vocabulary 'digits'.*'90', '10' not in it"):
        MetricSpec.resolve("logit_diff", DIGITS, ("90", "10"))  # a percent level asked of a digits run
    assert MetricSpec.resolve("kl", DIGITS).levels == ("9", "0")  # default: highest and lowest value


def effects_table(per_layer: np.ndarray, n_pairs: int, noise: float, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    layers = np.arange(len(per_layer))
    rows = [{"pair_id": p, "layer": layer, "effect": per_layer[layer] + noise * rng.standard_normal()}
            for p in range(n_pairs) for layer in layers]
    return pd.DataFrame(rows)


def test_rising_effects_give_positive_rho_with_tight_interval():
    g = layer_gradient(effects_table(np.linspace(0, 1, 30), n_pairs=12, noise=0.1), n_boot=300, seed=0)
    assert g.rho > 0.95 and 0.8 < g.rho_low <= g.rho <= g.rho_high <= 1.0
    assert g.rho8 > 0.9 and g.layers8 == (0, 4, 8, 12, 17, 21, 25, 29)
    assert g.mannwhitney_p < 0.01 and g.late_minus_early > 0.5
    assert all(lo <= m <= hi for lo, m, hi in zip(g.band_low, g.mean, g.band_high))
    assert "rho(layer, effect) = +" in g.describe()


def test_falling_and_flat_effects():
    falling = layer_gradient(effects_table(np.linspace(1, 0, 12), n_pairs=8, noise=0.05), n_boot=200)
    assert falling.rho < -0.9 and falling.rho_high < 0
    flat = layer_gradient(effects_table(np.zeros(30), n_pairs=10, noise=1.0, seed=4), n_boot=400)
    assert flat.rho_low < 0 < flat.rho_high  # no gradient: the interval covers zero
    assert flat.mannwhitney_p > 0.01


def test_bootstrap_is_seeded_and_resamples_pairs():
    table = effects_table(np.linspace(0, 1, 10), n_pairs=6, noise=0.5, seed=1)
    a, b = layer_gradient(table, n_boot=200, seed=7), layer_gradient(table, n_boot=200, seed=7)
    c = layer_gradient(table, n_boot=200, seed=8)
    assert (a.rho_low, a.rho_high) == (b.rho_low, b.rho_high) != (c.rho_low, c.rho_high)
    assert a.n_pairs == 6 and a.layers == tuple(range(10))


def test_gradient_helpers_and_errors():
    assert list(evenly_spaced(np.arange(5))) == [0, 1, 2, 3, 4]
    assert list(evenly_spaced(np.arange(30))) == [0, 4, 8, 12, 17, 21, 25, 29]
    rho = spearman_rows(np.arange(4), np.array([[1.0, 2, 3, 4], [4.0, 3, 2, 1]]))
    assert rho == pytest.approx([1.0, -1.0])
    with pytest.raises(WorkbenchError, match="at least 3 layers"):
        layer_gradient(effects_table(np.zeros(2), n_pairs=3, noise=0.1))
    with pytest.raises(WorkbenchError, match="empty"):
        layer_gradient(pd.DataFrame(columns=["pair_id", "layer", "effect"]))
