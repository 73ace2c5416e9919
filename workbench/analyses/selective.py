"""Selective prediction: the risk-coverage curve, its area (AURC) and the prediction-rejection ratio (PRR).

Answer only the examples the confidence ranks highest and drop the rest: at coverage k / n (the k most
confident answers kept) the selective risk is the error rate among those k. Definitions, as LM-Polygraph
computes them for a 0/1 target (``ue_metrics/risk_cov_curve.py``, ``pred_rej_area.py``, ``utils/manager.py``):

- AURC = mean over k = 1..n of the selective risk (LM-Polygraph's normalised ``rcc-auc``); lower is better.
  A random order has expected AURC = 1 - accuracy; the oracle (every correct answer first) has
  1 - mean_k min(k, n_correct) / k.
- PRR = (AURC_random - AURC) / (AURC_random - AURC_oracle): the share of the oracle's gain over random order
  that the confidence achieves; 1 = oracle, 0 = random, negative = worse than random. LM-Polygraph's
  prediction-rejection area is 1 - AURC, so this is its ``prr_normalized``; it estimates the random area with
  1000 shuffles, whose expectation is exactly the accuracy used here.

Ties: examples with equal confidence are kept in a random order, so each k uses the expected error count
among the tied block (the block's mean correctness per slot). LM-Polygraph breaks ties by ``np.argsort``'s
order instead; the two agree whenever the confidences are distinct. PRR is undefined with one class (the
oracle is no better than random) and for a constant confidence (it ranks nothing); AURC is always defined.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def expected_hits(confidence: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """[B, n] expected number of correct answers among the k most confident, k = 1..n, for each row of
    confidence [B, n] and correct [B, n]; ties in a row are averaged over their orders."""
    conf, corr = np.atleast_2d(confidence), np.atleast_2d(correct).astype(float)
    rows, n = conf.shape
    order = np.argsort(-conf, axis=1, kind="stable")
    ranked = np.take_along_axis(conf, order, axis=1)
    hits = np.take_along_axis(corr, order, axis=1)
    new_block = np.ones((rows, n), dtype=bool)
    new_block[:, 1:] = np.diff(ranked, axis=1) != 0
    block = (np.cumsum(new_block, axis=1) - 1 + n * np.arange(rows)[:, None]).ravel()  # [B * n] block id
    with np.errstate(invalid="ignore"):  # ids left unused between rows count 0
        mean = np.bincount(block, hits.ravel()) / np.bincount(block)
    return np.cumsum(mean[block].reshape(rows, n), axis=1)


def risk_coverage_rows(confidence: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """[B, n] selective risk at coverage k / n, k = 1..n, for each row."""
    n = np.atleast_2d(confidence).shape[1]
    return 1 - expected_hits(confidence, correct) / np.arange(1, n + 1)


def aurc_rows(confidence: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """[B] area under the risk-coverage curve of each row."""
    return risk_coverage_rows(confidence, correct).mean(axis=1)


def prr_rows(confidence: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """[B] prediction-rejection ratio of each row (NaN where the oracle gains nothing over random order)."""
    corr = np.atleast_2d(correct).astype(float)
    n = corr.shape[1]
    k = np.arange(1, n + 1)
    n_correct = corr.sum(axis=1, keepdims=True)
    random = 1 - corr.mean(axis=1)
    oracle = 1 - (np.minimum(k, n_correct) / k).mean(axis=1)
    gain = random - oracle
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(gain > 0, (random - aurc_rows(confidence, correct)) / np.where(gain > 0, gain, 1), np.nan)


def aurc(confidence, correct) -> float:
    """Area under the risk-coverage curve (mean selective risk over coverages), in [0, 1]; lower is better."""
    return float(aurc_rows(np.asarray(confidence, dtype=float), np.asarray(correct))[0])


def prr(confidence, correct) -> float:
    """Prediction-rejection ratio (LM-Polygraph's normalised PRR): 1 oracle, 0 random; NaN when undefined."""
    return float(prr_rows(np.asarray(confidence, dtype=float), np.asarray(correct))[0])


def risk_coverage(confidence, correct) -> pd.DataFrame:
    """The risk-coverage curve: one row per coverage k / n (columns coverage, risk, n_kept)."""
    conf = np.asarray(confidence, dtype=float)
    n = len(conf)
    return pd.DataFrame({"coverage": np.arange(1, n + 1) / n, "risk": risk_coverage_rows(conf, correct)[0],
                         "n_kept": np.arange(1, n + 1)})
