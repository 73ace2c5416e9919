"""The choice lists of ``workbench.configs.registries`` are data, so each implementation's registry must hold exactly
the names its list gives, in the same order (the order the CLI's help and the "must be one of" errors show)."""

from __future__ import annotations

import importlib

import pytest

from workbench.configs import registries as reg

IMPLEMENTATIONS = [  # choice list, module, its registry (a tuple of names, or a dict keyed by name)
    ("templates", "workbench.prompts", "TEMPLATES"),
    ("vocabularies", "workbench.prompts", "VOCABULARIES"),
    ("roles", "workbench.prompts", "ROLES"),
    ("probes", "workbench.analyses.probes", "ESTIMATORS"),
    ("validity_presets", "workbench.analyses.validity", "PRESETS"),
    ("sites", "workbench.analyses.patching.job", "PATCH_SITES"),
    ("controls", "workbench.analyses.patching.controls", "CONTROLS"),
    ("metrics", "workbench.analyses.patching.metrics", "METRICS"),
    ("methods", "workbench.analyses.patching.sweep", "METHODS"),
    ("backends", "workbench.backends.loading", "BACKENDS"),
    ("dtypes", "workbench.backends.loading", "DTYPES"),
    ("models", "workbench.backends.loading", "MODELS"),
    ("gradings", "workbench.datasets.grading", "GRADINGS"),
    ("objectives", "workbench.finetune.train", "OBJECTIVES"),
    ("strategies", "workbench.finetune.knowledge_aware", "STRATEGIES"),
    ("targets", "workbench.finetune.targets", "TARGETS"),
    ("baselines", "workbench.finetune.runner", "BASELINES"),
    ("executors", "workbench.sweeps.executors", "EXECUTORS"),
    ("directions", "workbench.analyses.steering.directions", "DIRECTIONS"),
    ("plan_devices", "workbench.planning.devices", "DEVICES"),
]


@pytest.mark.parametrize("choices, module, registry", IMPLEMENTATIONS, ids=[c for c, _, _ in IMPLEMENTATIONS])
def test_each_implementation_covers_its_choice_list(choices, module, registry):
    assert list(getattr(importlib.import_module(module), registry)) == getattr(reg, choices)()


def test_pair_kinds_are_the_one_run_kinds_and_cross_model():
    from workbench.analyses.patching.pairs import PAIR_KINDS

    assert reg.pair_kinds() == [*PAIR_KINDS, "cross-model"]  # cross-model pairs two runs: no one-run builder


def test_every_choice_list_is_covered_or_named_here():
    lists = {name for name, value in vars(reg).items()
             if callable(value) and value.__module__ == reg.__name__ and not name.startswith("_")}
    covered = {choices for choices, _, _ in IMPLEMENTATIONS} | {"pair_kinds"}
    assert lists - covered == {"store_dtypes"}  # the run store writes either dtype; it keeps no registry of them
