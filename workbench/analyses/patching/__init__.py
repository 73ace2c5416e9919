"""Activation patching: swap a state from one run into another, layer by layer, and measure the spoken confidence.

- ``pairs``: (source, target) pairs: correct -> incorrect, incorrect -> correct, random, cross-model.
- ``patch_sweep``: effects per pair, layer, role and site, by the exact fast path (``fast``) or the
  reference hook loop (``reference``); ``metrics`` defines the effects.
- ``layer_gradient``: Spearman's rho of layer against mean effect, bootstrap interval, 8-layer variant.
- ``controls``, ``attribution``, ``runner`` (what ``workbench patch`` and ``workbench demo`` run).
"""

from workbench.analyses.patching.gradient import LayerGradient, layer_gradient
from workbench.analyses.patching.metrics import METRICS, MetricSpec
from workbench.analyses.patching.pairs import (PAIR_KINDS, PairSet, build_pairs, correct_to_incorrect,
                                               cross_model_pairs, incorrect_to_correct, random_pairs)
from workbench.analyses.patching.runner import PatchConfig, run_patching
from workbench.analyses.patching.sweep import check_same_architecture, patch_sweep

__all__ = ["LayerGradient", "layer_gradient", "METRICS", "MetricSpec", "PAIR_KINDS", "PairSet", "build_pairs",
           "correct_to_incorrect", "cross_model_pairs", "incorrect_to_correct", "random_pairs", "PatchConfig",
           "run_patching", "check_same_architecture", "patch_sweep"]
