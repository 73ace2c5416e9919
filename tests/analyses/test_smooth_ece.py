"""Smooth ECE and its reliability curve against relplot 1.0.3 (the reference implementation), to 1e-6."""

from __future__ import annotations

import numpy as np
import pytest

relplot = pytest.importorskip("relplot")

from relplot.diagrams import reliability_diagram  # noqa: E402
from relplot.estimators import KernelSmoother  # noqa: E402
from relplot.kernels import ReflectedGaussianKernel  # noqa: E402

from workbench.analyses import calibration as cal  # noqa: E402
from workbench.analyses.smooth_ece import smece, smece_rows, smooth_curve  # noqa: E402


def cases():
    rng = np.random.default_rng(0)
    for i in range(12):
        n = int(rng.integers(5, 250))
        conf = rng.uniform(size=n) ** rng.uniform(0.3, 3)
        if i % 3 == 0:
            conf = np.round(conf * 20) / 20  # verbal-style ties on a coarse grid
        correct = rng.uniform(size=n) < conf ** rng.uniform(0.5, 2)
        yield conf, correct
    yield np.full(30, 0.9), np.zeros(30, dtype=bool)  # constant and one class: defined, = 0.9
    yield np.r_[np.zeros(10), np.ones(10)], np.r_[np.zeros(10), np.ones(10)].astype(bool)  # perfect


@pytest.mark.parametrize("conf,correct", list(cases()))
def test_smece_equals_relplot(conf, correct):
    expected, width = relplot.smECE(conf, correct.astype(float), return_width=True)
    value, sigma = smece_rows(conf[None], correct[None].astype(float))
    assert value[0] == pytest.approx(expected, abs=1e-6)
    assert sigma[0] == width
    assert smece(conf, correct) == pytest.approx(expected, abs=1e-6)


def test_bootstrap_rows_equal_one_at_a_time():
    conf, correct = next(cases())
    idx = np.random.default_rng(1).integers(0, len(conf), size=(6, len(conf)))
    rows, _ = smece_rows(conf[idx], correct[idx].astype(float))
    np.testing.assert_allclose(rows, [relplot.smECE(conf[i], correct[i].astype(float)) for i in idx], atol=1e-6)


def test_smooth_curve_equals_relplot_kernel_smoother():
    rng = np.random.default_rng(2)
    conf = rng.uniform(size=150)
    correct = rng.uniform(size=150) < conf ** 2
    _, width = relplot.smECE(conf, correct.astype(float), return_width=True)
    mesh, expected = reliability_diagram(conf, correct.astype(float), KernelSmoother(ReflectedGaussianKernel(width)))
    ours_mesh, curve, density, sigma = smooth_curve(conf, correct, points=len(mesh))
    np.testing.assert_allclose(ours_mesh, mesh)
    np.testing.assert_allclose(curve, expected, atol=1e-6)
    assert sigma == width
    assert np.trapezoid(density, mesh) == pytest.approx(1.0)
    assert density[mesh > 0.5].mean() == pytest.approx(density[mesh < 0.5].mean(), rel=0.5)  # uniform-ish data


def test_smece_in_summary_with_interval():
    conf, correct = next(cases())
    table = cal.summarize(conf, correct, n_boot=100).set_index("metric")
    assert table.loc["smece", "value"] == pytest.approx(relplot.smECE(conf, correct.astype(float)), abs=1e-6)
    assert table.loc["smece", "low"] <= table.loc["smece", "value"] <= table.loc["smece", "high"]


@pytest.mark.parametrize("sigma", [0.003, 0.05, 0.3])
def test_fixed_bandwidth_equals_relplot(sigma):
    from workbench.analyses.smooth_ece import smece_at

    conf, correct = next(cases())
    expected = relplot.smECE_sigma(conf, correct.astype(float), sigma)
    assert smece_at(conf[None], correct[None].astype(float), sigma)[0] == pytest.approx(expected, abs=1e-6)
