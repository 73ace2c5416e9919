"""Where the names a config may hold come from: each a function, so a registry loads only when it is asked."""

from __future__ import annotations


def templates() -> list[str]:
    from workbench.prompts import TEMPLATES
    return list(TEMPLATES)


def vocabularies() -> list[str]:
    from workbench.prompts import VOCABULARIES
    return list(VOCABULARIES)


def roles() -> list[str]:
    from workbench.prompts import ROLES
    return list(ROLES)


def probes() -> list[str]:
    from workbench.analyses.probes import ESTIMATORS
    return list(ESTIMATORS)


def validity_presets() -> list[str]:
    from workbench.analyses.validity import PRESETS
    return list(PRESETS)


def pair_kinds() -> list[str]:
    from workbench.analyses.patching.pairs import PAIR_KINDS
    return [*PAIR_KINDS, "cross-model"]  # cross-model pairs two runs, so it is not one of the one-run kinds


def sites() -> list[str]:
    from workbench.analyses.patching.job import PATCH_SITES
    return list(PATCH_SITES)


def controls() -> list[str]:
    from workbench.analyses.patching.controls import CONTROLS
    return list(CONTROLS)


def metrics() -> list[str]:
    from workbench.analyses.patching.metrics import METRICS
    return list(METRICS)


def methods() -> list[str]:
    from workbench.analyses.patching.sweep import METHODS
    return list(METHODS)


def backends() -> list[str]:
    from workbench.backends.loading import BACKENDS
    return list(BACKENDS)


def dtypes() -> list[str]:
    from workbench.backends.loading import DTYPES
    return list(DTYPES)


def gradings() -> list[str]:
    from workbench.datasets.grading import GRADINGS
    return list(GRADINGS)


def store_dtypes() -> list[str]:
    return ["float32", "float16"]


def objectives() -> list[str]:
    from workbench.finetune.train import OBJECTIVES
    return list(OBJECTIVES)


def targets() -> list[str]:
    from workbench.finetune.targets import TARGETS
    return list(TARGETS)


def baselines() -> list[str]:
    from workbench.finetune.runner import BASELINES
    return list(BASELINES)


def executors() -> list[str]:
    from workbench.sweeps.executors import EXECUTORS
    return list(EXECUTORS)


def directions() -> list[str]:
    from workbench.analyses.steering.directions import DIRECTIONS
    return list(DIRECTIONS)


def models() -> list[str]:
    from workbench.backends.loading import MODELS
    return list(MODELS)
