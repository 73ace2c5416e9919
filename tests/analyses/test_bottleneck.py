"""The bottleneck test: verdicts on planted cases, the run-level result, and one-class input."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.analyses.bottleneck import bottleneck, bottleneck_test
from workbench.errors import WorkbenchError


def planted(n=300, seed=0):
    rng = np.random.default_rng(seed)
    correct = rng.uniform(size=n) < 0.3
    softmax = 50 + 20 * correct + rng.normal(0, 8, n)  # separates the classes
    argmax = np.where(rng.uniform(size=n) < 0.9, 100.0, 0.0)  # degenerate: says 100 for ~90%
    return softmax, argmax, correct


def test_verdicts():
    softmax, argmax, correct = planted()
    out = bottleneck_test(softmax, argmax, correct, n_boot=500)
    assert out["verdict"] == "bottleneck" and out["difference_low"] > 0
    assert out["argmax_modal_value"] == 100 and 0.85 < out["argmax_modal_share"] < 0.95
    assert bottleneck_test(argmax, softmax, correct, n_boot=500)["verdict"] == "reverse"
    same = bottleneck_test(softmax, softmax, correct, n_boot=200)
    assert same["verdict"] == "inconclusive" and same["difference"] == 0


def test_too_few_of_a_class_gives_no_verdict():
    softmax, argmax, correct = planted()
    few = correct & (np.cumsum(correct) <= 3)  # keep 3 correct answers
    out = bottleneck_test(softmax, argmax, few, n_boot=200)
    assert out["verdict"] == "too few examples" and out["n_correct"] == 3 and np.isfinite(out["difference_low"])


def test_run_level_result(synthetic_run):
    result = bottleneck(synthetic_run, n_boot=300, logit_lens=False)
    summary = result["summary"].iloc[0]
    assert summary["verdict"] == "bottleneck"
    assert summary["auroc_softmax_low"] <= summary["auroc_softmax"] <= summary["auroc_softmax_high"]
    assert len(result["scores"]) == synthetic_run.n_examples and "lens" not in result.tables


def test_one_class_is_a_clear_error(one_class_run):
    with pytest.raises(WorkbenchError, match="needs both correct and incorrect"):
        bottleneck(one_class_run, logit_lens=False)
