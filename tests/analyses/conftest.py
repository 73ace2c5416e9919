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
