"""Post-hoc recalibration as extra confidence channels, cross-fitted so no example is calibrated on itself.

Calibrators (scikit-learn conventions: ``__init__`` stores keyword arguments, ``fit`` returns self, fitted
attributes end in ``_``, ``predict`` returns [n] probabilities that the answer is correct):

- ``PlattScaling``: a logistic regression on the channel's logit, ``sigmoid(a * logit(p) + b)``, fitted by
  maximum likelihood on Platt's (1999) smoothed targets ((n+ + 1) / (n+ + 2) and 1 / (n- + 2)) so a
  separable fold does not drive a to infinity.
- ``IsotonicCalibration``: scikit-learn's isotonic regression on [0, 1], clipped outside the fitted range.
- ``TemperatureScaling``: one temperature T for the distribution over the confidence vocabulary:
  ``softmax(log p / T)``, read out as its expected value / 100 (T = 1 gives ``softmax_expected``); T
  minimises the log loss of that expected value against correctness.

Cross-fitting (``cross_fit``): K folds grouped by question (stratified by correctness when possible); each
fold's examples are scored by a calibrator fitted on the other folds. A fold whose training part holds one
class cannot be fitted: its examples stay missing (NaN) and the channel's note says how many.
Channel names: ``<channel>+platt``, ``<channel>+isotonic`` and ``softmax+temperature``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize, minimize_scalar
from scipy.special import expit, log_softmax, logit
from sklearn.base import BaseEstimator
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import GroupKFold, StratifiedGroupKFold
from sklearn.utils.validation import check_is_fitted

from workbench.errors import WorkbenchError

CLIP = 1e-6  # probabilities are clipped to [CLIP, 1 - CLIP] before taking a logit or a log
RECALIBRATED = ("verbal", "softmax_expected", "answer_prob")  # channels given +platt and +isotonic


class PlattScaling(BaseEstimator):
    """sigmoid(a * logit(p) + b) fitted on the channel's probability p [n] (see the module docstring)."""

    def fit(self, p, y) -> "PlattScaling":
        x, y = logit(np.clip(np.asarray(p, dtype=float), CLIP, 1 - CLIP)), np.asarray(y, dtype=bool)
        n_pos, n_neg = int(y.sum()), int((~y).sum())
        target = np.where(y, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))

        def loss(ab):
            z = ab[0] * x + ab[1]
            return np.sum(np.logaddexp(0, z) - target * z), np.array([np.sum((expit(z) - target) * x),
                                                                       np.sum(expit(z) - target)])

        start = np.array([1.0, 0.0])
        self.a_, self.b_ = minimize(loss, start, jac=True, method="L-BFGS-B").x
        return self

    def predict(self, p) -> np.ndarray:
        check_is_fitted(self, "a_")
        return expit(self.a_ * logit(np.clip(np.asarray(p, dtype=float), CLIP, 1 - CLIP)) + self.b_)


class IsotonicCalibration(BaseEstimator):
    """Monotone, piecewise-constant map of p [n] to the accuracy, on [0, 1]."""

    def fit(self, p, y) -> "IsotonicCalibration":
        self.isotonic_ = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(
            np.asarray(p, dtype=float), np.asarray(y, dtype=float))
        return self

    def predict(self, p) -> np.ndarray:
        check_is_fitted(self, "isotonic_")
        return self.isotonic_.predict(np.asarray(p, dtype=float))


class TemperatureScaling(BaseEstimator):
    """One temperature for the confidence distribution probs [n, V] over a vocabulary with ``values`` (0-100)."""

    def __init__(self, *, values, bounds: tuple[float, float] = (0.05, 20.0)):
        self.values = values
        self.bounds = bounds

    def expected(self, probs, temperature: float) -> np.ndarray:
        """[n] expected value / 100 of softmax(log probs / T)."""
        logp = np.log(np.clip(np.asarray(probs, dtype=float), 1e-300, None))
        return np.exp(log_softmax(logp / temperature, axis=1)) @ (np.asarray(self.values, dtype=float) / 100)

    def fit(self, probs, y) -> "TemperatureScaling":
        y = np.asarray(y, dtype=float)
        low, high = self.bounds
        if not 0 < low < high:
            raise ValueError(f"bounds must satisfy 0 < low < high, got {self.bounds}")

        def loss(log_t):
            q = np.clip(self.expected(probs, np.exp(log_t)), CLIP, 1 - CLIP)
            return -np.mean(y * np.log(q) + (1 - y) * np.log(1 - q))

        self.temperature_ = float(np.exp(minimize_scalar(loss, bounds=np.log(self.bounds), method="bounded").x))
        return self

    def predict(self, probs) -> np.ndarray:
        check_is_fitted(self, "temperature_")
        return self.expected(probs, self.temperature_)


def folds_by_question(correct: np.ndarray, groups: np.ndarray, folds: int, seed: int) -> list[np.ndarray]:
    """Test indices of each of ``folds`` folds; no question in two folds; stratified when the classes allow."""
    if not isinstance(folds, (int, np.integer)) or folds < 2:
        raise WorkbenchError(f"recalibration folds must be an integer >= 2, got {folds!r}")
    n_groups = len(np.unique(groups))
    if n_groups < folds:
        raise WorkbenchError(f"{folds} recalibration folds need at least {folds} distinct questions; "
                             f"these data have {n_groups}; use fewer folds")
    minority = int(min(correct.sum(), len(correct) - correct.sum()))
    splitter = (StratifiedGroupKFold(folds, shuffle=True, random_state=seed) if minority >= folds
                else GroupKFold(folds))
    return [test for _, test in splitter.split(np.zeros(len(correct)), correct, groups)]


def cross_fit(make, X, correct: np.ndarray, groups: np.ndarray, *, folds: int = 5, seed: int = 0):
    """([n] out-of-fold calibrated probability, NaN where a fold could not be fitted; fitted estimators) of the
    calibrator ``make()`` returns, on ``X``: [n] probabilities or [n, V] distributions."""
    X, correct = np.asarray(X, dtype=float), np.asarray(correct, dtype=bool)
    out = np.full(len(correct), np.nan)
    fitted = []
    for test in folds_by_question(correct, groups, folds, seed):
        train = np.setdiff1d(np.arange(len(correct)), test)
        if correct[train].all() or not correct[train].any():
            continue
        model = make().fit(X[train], correct[train])
        out[test] = model.predict(X[test])
        fitted.append(model)
    return out, fitted


def recalibrated_channels(scores: pd.DataFrame, groups: np.ndarray, *, probs: np.ndarray | None = None,
                          values=None, channels=RECALIBRATED, folds: int = 5,
                          seed: int = 0) -> tuple[pd.DataFrame, dict[str, str]]:
    """(one column per recalibrated channel, a note per channel), cross-fitted on ``scores`` (a column per channel
    in [0, 1], and ``correct``): each of ``channels`` gets ``+platt`` and ``+isotonic`` (fitted on its non-missing
    examples); ``probs`` [n, V] with ``values`` (0-100) adds ``softmax+temperature``."""
    correct = scores["correct"].to_numpy(dtype=bool)
    out, notes = {}, {}

    def add(name: str, make, X, keep: np.ndarray) -> None:
        column, note = np.full(len(correct), np.nan), f"cross-fitted ({folds} folds by question)"
        try:
            column[keep], fitted = cross_fit(make, X[keep], correct[keep], groups[keep], folds=folds, seed=seed)
            if name == "softmax+temperature" and fitted:
                note += "; T per fold " + ", ".join(f"{m.temperature_:.2f}" for m in fitted)
            unscored = int(np.isnan(column[keep]).sum())
            if unscored:
                note += f"; {unscored} examples unscored: their training folds held one class"
        except WorkbenchError as error:
            note = f"not fitted: {error}"
        out[name], notes[name] = column, note

    for channel in [c for c in channels if c in scores.columns]:
        raw = scores[channel].to_numpy(dtype=float)
        add(f"{channel}+platt", PlattScaling, raw, np.isfinite(raw))
        add(f"{channel}+isotonic", IsotonicCalibration, raw, np.isfinite(raw))
    if probs is not None:
        add("softmax+temperature", lambda: TemperatureScaling(values=values), np.asarray(probs, dtype=float),
            np.ones(len(correct), dtype=bool))
    return pd.DataFrame(out, index=scores.index), notes
