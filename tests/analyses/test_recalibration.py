"""Cross-fitted recalibration: estimator contract, no example calibrated on itself, and the channels it adds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit
from sklearn.exceptions import NotFittedError
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from workbench.analyses import calibration as cal
from workbench.analyses.recalibration import (IsotonicCalibration, PlattScaling, TemperatureScaling, cross_fit,
                                              folds_by_question, recalibrated_channels)
from workbench.errors import WorkbenchError


def miscalibrated(n=400, seed=0):
    """True probability q; the channel says q ** 0.3 (overconfident), so recalibration has work to do."""
    rng = np.random.default_rng(seed)
    q = rng.uniform(0.05, 0.95, n)
    correct = rng.uniform(size=n) < q
    return q ** 0.3, correct, np.arange(n) // 2  # two examples per question


def test_platt_matches_an_unregularised_logistic_on_the_logit():
    p, y, _ = miscalibrated()
    ours = PlattScaling().fit(p, y)
    # Platt's smoothed targets move the fit a little; with 400 examples the two stay close
    reference = LogisticRegression(C=1e6).fit(logit(p)[:, None], y)
    assert ours.a_ == pytest.approx(reference.coef_[0, 0], rel=0.05)
    np.testing.assert_allclose(ours.predict(p), reference.predict_proba(logit(p)[:, None])[:, 1], atol=0.01)


def test_platt_stays_finite_on_separable_data():
    p = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    y = np.array([0, 0, 0, 1, 1, 1], dtype=bool)
    model = PlattScaling().fit(p, y)
    assert np.isfinite(model.a_) and 0 < model.predict(np.array([0.9]))[0] < 1


def test_isotonic_is_sklearn_isotonic():
    p, y, _ = miscalibrated(seed=1)
    expected = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(p, y).predict(p)
    np.testing.assert_allclose(IsotonicCalibration().fit(p, y).predict(p), expected)


def test_temperature_recovers_a_planted_temperature():
    """Distributions over 0..100 whose temperature-2 version is calibrated: T is found near 2."""
    rng = np.random.default_rng(2)
    values = np.arange(0, 101, 10.0)
    centre = rng.uniform(0, 100, 600)
    logits = -((values[None] - centre[:, None]) / 10) ** 2
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    model = TemperatureScaling(values=values)
    truth = model.expected(probs, 2.0)
    correct = rng.uniform(size=600) < truth
    fitted = model.fit(probs, correct)
    assert fitted is model and 1.5 < model.temperature_ < 2.7
    np.testing.assert_allclose(model.expected(probs, 1.0), probs @ values / 100)


def test_unfitted_calibrators_refuse_to_predict():
    for model in (PlattScaling(), IsotonicCalibration(), TemperatureScaling(values=[0, 100])):
        with pytest.raises(NotFittedError):
            model.predict(np.array([0.5]))


def test_cross_fit_never_scores_an_example_with_its_own_question():
    p, y, groups = miscalibrated(n=200, seed=3)
    seen = []

    class Recording(IsotonicCalibration):
        def fit(self, X, target):
            seen.append(set(np.round(X, 12)))
            return super().fit(X, target)

    out, fitted = cross_fit(Recording, p, y, groups, folds=5)
    assert len(fitted) == 5 and np.isfinite(out).all()
    for test in folds_by_question(y, groups, 5, 0):
        assert len(set(groups[test]) & set(np.delete(groups, test))) == 0
    for trained, test in zip(seen, folds_by_question(y, groups, 5, 0)):
        assert trained.isdisjoint(np.round(p[test], 12))


def test_recalibration_lowers_ece_out_of_fold():
    p, y, groups = miscalibrated(n=600, seed=4)
    out, _ = cross_fit(PlattScaling, p, y, groups, folds=5)
    assert cal.ece(out, y) < cal.ece(p, y) / 2


def test_recalibrated_channels_named_and_noted():
    p, y, groups = miscalibrated(n=120, seed=5)
    scores = pd.DataFrame({"verbal": np.where(np.arange(120) % 10 == 0, np.nan, p), "correct": y})
    frame, notes = recalibrated_channels(scores, groups, folds=4)
    assert list(frame.columns) == ["verbal+platt", "verbal+isotonic"]
    assert frame["verbal+platt"].isna().sum() == 12  # missing raw values stay missing
    assert notes["verbal+platt"] == "cross-fitted (4 folds by question)"


def test_too_few_questions_is_a_clear_error_or_note():
    y = np.array([True, False, True, False])
    with pytest.raises(WorkbenchError, match="at least 5 distinct questions"):
        folds_by_question(y, np.array([0, 0, 1, 1]), 5, 0)
    scores = pd.DataFrame({"verbal": [0.9, 0.2, 0.8, 0.3], "correct": y})
    _, notes = recalibrated_channels(scores, np.array([0, 0, 1, 1]), folds=3)
    assert notes["verbal+platt"].startswith("not fitted: 3 recalibration folds need at least 3 distinct questions")


def test_channels_result_reports_recalibrated_beside_raw(synthetic_run):
    from workbench.analyses.channels import channels

    result = channels(synthetic_run, n_boot=50)
    table = result["channels"].set_index("channel")
    for name in ("verbal+platt", "verbal+isotonic", "softmax_expected+platt", "softmax+temperature"):
        assert name in table.index and "cross-fitted (5 folds by question)" in table.loc[name, "note"]
    assert table.loc["softmax_expected+platt", "ece"] < table.loc["softmax_expected", "ece"]
    assert {"smooth", "risk_coverage"} <= set(result.tables)
    assert set(result["validity"]["channel"]) == {"verbal", "softmax_expected", "argmax", "answer_prob"}
    for column in ("prr", "aurc", "smece", "ece_mass", "smece_low", "prr_high"):
        assert column in table.columns
