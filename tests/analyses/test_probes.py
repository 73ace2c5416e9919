"""Probe estimators: the scikit-learn contract, the solver against scikit-learn, planted signal vs noise."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.utils.estimator_checks import parametrize_with_checks

from workbench.analyses.calibration import auroc
from workbench.analyses.probes import DiffMeansProbe, LogisticProbe, logistic_path


@parametrize_with_checks([LogisticProbe(), DiffMeansProbe()])
def test_sklearn_contract(estimator, check):
    check(estimator)


@pytest.mark.parametrize("shape", [(60, 200), (200, 8)])  # n < d (row-space Newton) and n > d
@pytest.mark.parametrize("C", [1e-3, 1e-1, 1.0])
def test_logistic_path_matches_sklearn(shape, C):
    rng = np.random.default_rng(0)
    X = rng.normal(size=shape)
    y = (X[:, 0] + rng.normal(size=shape[0]) > 0.5).astype(float)
    reference = LogisticRegression(C=C, tol=1e-12, max_iter=100_000).fit(X, y)
    weights, intercepts, _ = logistic_path(X, y, [C])
    np.testing.assert_allclose(weights[0], reference.coef_[0], atol=1e-5 * max(1, np.abs(reference.coef_).max()))
    assert intercepts[0] == pytest.approx(reference.intercept_[0], abs=1e-4)


def planted(n, d=40, strength=3.0, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.uniform(size=n) < 0.25
    X = rng.normal(size=(n, d)) * rng.uniform(0.5, 20, d)  # unequal feature scales: standardisation matters
    X[:, 3] += strength * X[:, 3].std() * (y - 0.5)
    return X, y


@pytest.mark.parametrize("probe", [LogisticProbe(), DiffMeansProbe()])
def test_planted_signal_is_found_and_noise_is_not(probe):
    X, y = planted(400)
    fitted = probe.fit(X[:200], y[:200])
    assert auroc(fitted.predict_proba(X[200:])[:, 1], y[200:]) > 0.9
    rng = np.random.default_rng(1)
    noise = probe.fit(rng.normal(size=(200, 40)), y[:200])
    assert abs(auroc(noise.predict_proba(rng.normal(size=(200, 40)))[:, 1], y[200:]) - 0.5) < 0.15


def test_logistic_probe_choices_and_readout():
    X, y = planted(150, d=300)
    probe = LogisticProbe(Cs=(1e-3, 1e-2, 1e-1), inner_folds=3).fit(X, y, groups=np.arange(150) // 2)
    assert probe.C_ in (1e-3, 1e-2, 1e-1) and probe.cv_auroc_.shape == (3,)
    assert probe.inner_folds_ == 3 and probe.coef_.shape == (1, 300)
    # the raw-feature read-out equals the standardised model it came from
    w, b, _ = logistic_path((X - probe.mean_) / probe.scale_, y, [probe.C_])
    np.testing.assert_allclose(probe.decision_function(X), ((X - probe.mean_) / probe.scale_) @ w[0] + b[0], atol=1e-8)


def test_probe_errors_are_clear():
    with pytest.raises(NotFittedError):
        LogisticProbe().predict_proba(np.zeros((2, 3)))
    X = np.random.default_rng(0).normal(size=(20, 5))
    with pytest.raises(ValueError, match="Only binary classification"):
        LogisticProbe().fit(X, np.zeros(20))
    with pytest.raises(ValueError, match="at least 2 examples of each class"):
        LogisticProbe().fit(X, np.r_[1, np.zeros(19)])
    with pytest.raises(ValueError, match="NaN|infinity"):
        DiffMeansProbe().fit(np.r_[X[:19], np.full((1, 5), np.nan)], np.r_[np.ones(10), np.zeros(10)])
