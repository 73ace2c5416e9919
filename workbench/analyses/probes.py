"""Linear probes for "is this answer correct?", as scikit-learn estimators.

- ``LogisticProbe``: standardised, L2-regularised logistic regression whose strength C is chosen by an
  inner cross-validation on AUROC (the seed study's probe). Residual streams have more dimensions than a
  run has examples, so the data are always separable and C is what matters.
- ``DiffMeansProbe``: the difference of the class means as the direction (no fitting beyond two means),
  with a one-dimensional logistic fit on the projection to turn scores into probabilities. A baseline:
  when it matches the logistic probe, the signal is a mean shift.

Both follow the estimator contract (keyword-only parameters stored as given, fitted attributes end in
``_``, ``fit`` returns self, unfitted use raises ``NotFittedError``) and expose the same linear read-out
on raw (unstandardised) activations: ``decision_function(X) = X @ coef_[0] + intercept_[0]``, which is
what ``workbench.analyses.probe_weights`` saves. Class 1 (``classes_[1]``) is "correct".

The logistic fit is a Newton method on the row space of the training data (n << d_model makes this an
n-dimensional problem), warm-started along the C grid: a few milliseconds per fit, where a generic solver
takes tens, which is what makes probing every layer of every role fast on a laptop.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from workbench.analyses.calibration import auroc_rows


def standardizer(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean [d] and scale [d] (constant features get scale 1 so they stay 0)."""
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale[scale < 1e-12 * max(1.0, float(np.abs(mean).max(initial=0.0)))] = 1.0
    return mean, scale


def logistic_path(X: np.ndarray, y: np.ndarray, Cs, *, max_iter: int = 100,
                  tol: float = 1e-10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """L2 logistic regression at each C (ascending order recommended): weights [n_C, d], intercepts [n_C]
    and Newton steps taken [n_C].

    Minimises sum_i log(1 + exp(-s_i (x_i.w + b))) + |w|^2 / (2C) with an unpenalised intercept, as
    scikit-learn's ``LogisticRegression(C=C)`` does. When n < d the solution lies in the row space of X,
    so Newton runs on Z = U S (n x r) from the thin SVD X = U S Vt (via the eigendecomposition of the
    n x n Gram matrix) and maps back with w = V beta.
    """
    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
    n, d = X.shape
    if n < d:
        eigvals, U = np.linalg.eigh(X @ X.T)  # X X^T = U diag(s^2) U^T, so X = U S Vt with Vt = S^-1 U^T X
        keep = eigvals > 1e-10 * max(float(eigvals[-1]), 1e-300)
        S, U = np.sqrt(eigvals[keep]), U[:, keep]
        Z, back = U * S, X.T @ (U / S)  # [n, r], [d, r] (back = V)
    else:
        Z, back = X, None
    Z1 = np.hstack([Z, np.ones((n, 1))])  # [n, r + 1]
    theta = np.zeros(Z1.shape[1])
    weights, intercepts, steps = [], [], []
    for C in Cs:
        penalty = np.r_[np.full(Z.shape[1], 1.0 / C), 0.0]  # [r + 1], intercept unpenalised
        theta, n_steps = _newton(Z1, y, penalty, theta, max_iter=max_iter, tol=tol)
        beta = theta[:-1]
        weights.append(back @ beta if back is not None else beta.copy())
        intercepts.append(theta[-1])
        steps.append(n_steps)
    return np.array(weights), np.array(intercepts), np.array(steps)


def _objective(Z1: np.ndarray, y: np.ndarray, penalty: np.ndarray, theta: np.ndarray) -> float:
    margin = Z1 @ theta
    return float(np.sum(np.logaddexp(0.0, margin) - y * margin) + 0.5 * np.sum(penalty * theta**2))


def _newton(Z1, y, penalty, theta, *, max_iter: int, tol: float) -> tuple[np.ndarray, int]:
    """Damped Newton steps (backtracking line search) from ``theta`` until the Newton decrement is below tol:
    the solution and the number of steps taken (at least 1: the first checks convergence)."""
    value = _objective(Z1, y, penalty, theta)
    ridge = np.diag(penalty + 1e-10)
    step_count = 0
    for step_count in range(1, max_iter + 1):
        p = 1.0 / (1.0 + np.exp(-(Z1 @ theta)))  # [n]
        grad = Z1.T @ (p - y) + penalty * theta  # [r + 1]
        hess = (Z1 * (p * (1 - p))[:, None]).T @ Z1 + ridge  # [r + 1, r + 1]
        step = np.linalg.solve(hess, grad)
        decrement = float(grad @ step)  # twice the predicted decrease of the objective
        if decrement < 2 * tol:
            break
        t = 1.0
        while True:
            candidate = theta - t * step
            new_value = _objective(Z1, y, penalty, candidate)
            if new_value <= value - 0.25 * t * decrement or t < 1e-10:
                break
            t *= 0.5
        theta, value = candidate, new_value
    return theta, step_count


class _LinearProbe(ClassifierMixin, BaseEstimator):
    """Shared read-out of a fitted linear probe: decision_function, predict_proba, predict."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False  # "correct or not" is binary
        return tags

    def _check_targets(self, X, y):
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        classes, y_index = np.unique(y, return_inverse=True)
        if len(classes) != 2:
            raise ValueError(f"Only binary classification is supported: a probe needs exactly 2 classes (correct and "
                             f"incorrect); got {len(classes)} class(es)")
        return X, y_index.astype(float), classes

    def decision_function(self, X) -> np.ndarray:
        """[n] logit of class 1 on raw activations X [n, d]."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return X @ self.coef_[0] + self.intercept_[0]

    def predict_proba(self, X) -> np.ndarray:
        """[n, 2] probabilities of classes_[0] and classes_[1]."""
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1 - p, p])

    def predict(self, X) -> np.ndarray:
        """[n] predicted class (classes_[1] where the logit is positive)."""
        logits = self.decision_function(X)  # checks fitted before classes_ is read
        return self.classes_[(logits > 0).astype(int)]


class LogisticProbe(_LinearProbe):
    """Standardised L2 logistic regression, C chosen by inner cross-validation on AUROC.

    Parameters: ``Cs`` the grid of inverse regularisation strengths; ``inner_folds`` the inner folds
    (reduced to the minority-class count when smaller; at least 2 of each class are needed). ``fit`` takes
    optional ``groups`` (e.g. question ids) so the inner folds, too, never split a question.

    Fitted: ``C_``, ``cv_auroc_`` [n_Cs] (mean inner AUROC per C), ``inner_folds_``, ``mean_`` and
    ``scale_`` [d] of the standardisation, ``coef_`` [1, d] and ``intercept_`` [1] on raw features, and
    ``n_iter_`` (Newton steps of the final fit).
    """

    def __init__(self, *, Cs=(1e-4, 1e-3, 1e-2, 1e-1, 1.0), inner_folds: int = 3, max_iter: int = 100,
                 random_state: int = 0):
        self.Cs = Cs
        self.inner_folds = inner_folds
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(self, X, y, groups=None) -> "LogisticProbe":
        X, y, self.classes_ = self._check_targets(X, y)
        Cs = np.sort(np.asarray(self.Cs, dtype=float))
        if Cs.size == 0 or not np.all(Cs > 0):
            raise ValueError(f"Cs must be positive numbers, got {self.Cs!r}")
        if not isinstance(self.inner_folds, (int, np.integer)) or self.inner_folds < 2:
            raise ValueError(f"inner_folds must be an integer >= 2, got {self.inner_folds!r}")
        minority = int(min(y.sum(), len(y) - y.sum()))
        if Cs.size == 1:
            self.inner_folds_, self.cv_auroc_ = 0, np.full(1, np.nan)
        else:
            if minority < 2:
                raise ValueError(f"choosing C by inner cross-validation needs at least 2 examples of each class; "
                                 f"the smaller class has {minority}")
            self.inner_folds_ = min(self.inner_folds, minority)
            self.cv_auroc_ = self._inner_cv(X, y, Cs, groups)  # [n_Cs]
        self.C_ = float(Cs[int(np.nanargmax(self.cv_auroc_))]) if Cs.size > 1 else float(Cs[0])
        self.mean_, self.scale_ = standardizer(X)
        w, b, steps = logistic_path((X - self.mean_) / self.scale_, y, [self.C_], max_iter=self.max_iter)
        self.n_iter_ = int(steps[0])
        self.coef_ = (w[0] / self.scale_)[None, :]  # [1, d] on raw features
        self.intercept_ = np.array([b[0] - float(self.coef_[0] @ self.mean_)])
        return self

    def _inner_cv(self, X, y, Cs, groups) -> np.ndarray:
        """Mean held-out AUROC of each C over the inner folds; ties go to the smaller C (more regularised)."""
        if groups is None or len(np.unique(groups)) == len(groups):  # one example per group: plain folds (faster)
            splits = StratifiedKFold(self.inner_folds_, shuffle=True, random_state=self.random_state).split(X, y)
        else:
            splitter = StratifiedGroupKFold(self.inner_folds_, shuffle=True, random_state=self.random_state)
            splits = splitter.split(X, y, groups)
        scores = []
        for train, test in splits:
            if len(np.unique(y[test])) < 2 or len(np.unique(y[train])) < 2:
                continue
            mean, scale = standardizer(X[train])
            W, b, _ = logistic_path((X[train] - mean) / scale, y[train], Cs, max_iter=self.max_iter)
            logits = ((X[test] - mean) / scale) @ W.T + b  # [n_test, n_Cs]
            scores.append(auroc_rows(logits.T, np.broadcast_to(y[test], logits.T.shape)))
        if not scores:
            raise ValueError("no inner fold held both classes; too few examples of the smaller class")
        return np.mean(scores, axis=0)


class DiffMeansProbe(_LinearProbe):
    """Difference-of-means direction (mean of class 1 minus mean of class 0) with Platt scaling.

    The projection s = (x - midpoint) . direction is mapped to a probability by a one-dimensional
    logistic fit with a weak penalty (``C``). Fitted: ``direction_`` [d], ``midpoint_`` [d], ``coef_`` [1, d]
    and ``intercept_`` [1] on raw features.
    """

    def __init__(self, *, C: float = 1.0):
        self.C = C

    def fit(self, X, y, groups=None) -> "DiffMeansProbe":
        X, y, self.classes_ = self._check_targets(X, y)
        if not self.C > 0:
            raise ValueError(f"C must be positive, got {self.C!r}")
        positive, negative = X[y == 1].mean(axis=0), X[y == 0].mean(axis=0)
        self.direction_ = positive - negative  # [d]
        self.midpoint_ = (positive + negative) / 2  # [d]
        projection = (X - self.midpoint_) @ self.direction_  # [n]
        spread = float(projection.std()) or 1.0
        a, b, _ = logistic_path((projection / spread)[:, None], y, [self.C])
        self.coef_ = (a[0, 0] / spread * self.direction_)[None, :]
        self.intercept_ = np.array([b[0] - float(self.coef_[0] @ self.midpoint_)])
        return self


ESTIMATORS = {"logistic": LogisticProbe, "diffmeans": DiffMeansProbe}
