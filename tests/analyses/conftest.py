"""Synthetic runs (planted signal, written through the real run store) shared by the analysis tests."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.analyses.synthetic import make_run


@pytest.fixture(scope="session")
def synthetic_run(tmp_path_factory):
    """120 examples, 36 correct; correctness planted at layer 2, role confidence_slot; a planted bottleneck."""
    return make_run(tmp_path_factory.mktemp("synthetic") / "run", n=120, accuracy=0.3)


@pytest.fixture(scope="session")
def one_class_run(tmp_path_factory):
    """40 examples, all incorrect."""
    return make_run(tmp_path_factory.mktemp("one_class") / "run", n=40, correct=np.zeros(40, dtype=bool))


@pytest.fixture(scope="session")
def synthetic_probes(synthetic_run):
    """A two-seed probes result on every layer and two roles of the synthetic run."""
    from workbench.analyses.probe_layers import probe_layers

    return probe_layers(synthetic_run, ["confidence_slot", "answer_last"], seeds=(0, 1), n_boot=300)


def check_verdict_rules(claims) -> None:
    """Each row of a claims table follows the verdict rule of ``workbench.analyses.claims``: reproduced iff the
    interval lies above the claim's threshold, refuted iff below, otherwise inconclusive with a reason."""
    from workbench.analyses.claims import CLAIMS

    thresholds = {claim.name: claim.threshold for claim in CLAIMS}
    by_test = {claim.name for claim in CLAIMS if claim.pooled}  # decided by a test's own rule, no interval
    for row in claims.itertuples():
        t = thresholds[row.claim]
        if row.claim in by_test and not np.isfinite(row.low):
            assert row.verdict in ("reproduced", "refuted", "inconclusive") and len(row.why) > 5, row
        elif row.verdict == "reproduced":
            assert row.low > t and row.why.startswith(f"interval above {t:g}"), row
        elif row.verdict == "refuted":
            assert row.high < t and row.why.startswith(f"interval below {t:g}"), row
        elif row.why.startswith("interval holds"):
            assert row.verdict == "inconclusive" and row.low <= t <= row.high, row
        else:  # blocked: a reason instead of a decision
            assert row.verdict == "inconclusive" and len(row.why) > 5, row


@pytest.fixture(scope="session")
def verdict_rules():
    """``check_verdict_rules``: assert that every row of a claims table follows the verdict rule."""
    return check_verdict_rules
