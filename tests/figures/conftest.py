"""Stored results of a synthetic run, for the figure tests (figures read results only)."""

from __future__ import annotations

import pytest

from workbench.analyses.synthetic import make_run


@pytest.fixture(scope="session")
def stored(tmp_path_factory):
    """A synthetic run with probes (2 seeds), channels, prior knowledge, replication and bottleneck stored."""
    from workbench.analyses.bottleneck import bottleneck
    from workbench.analyses.channels import channels
    from workbench.analyses.prior_knowledge import prior_knowledge
    from workbench.analyses.probe_layers import probe_layers
    from workbench.analyses.replication import replication

    run = make_run(tmp_path_factory.mktemp("figures") / "run", n=80, accuracy=0.35)
    probes = probe_layers(run, ["confidence_slot", "answer_last"], seeds=(0, 1), n_boot=100)
    return {"run": run, "probes": probes, "channels": channels(run, probes=probes, n_boot=100),
            "prior_knowledge": prior_knowledge(run, probes=probes, n_boot=100),
            "replication": replication(run, probes), "bottleneck": bottleneck(run, n_boot=100, logit_lens=False)}
