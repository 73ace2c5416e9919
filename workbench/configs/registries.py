"""The names a config field may hold, as data: each list imports nothing, so configs stand below what they name.

Each list is a function returning the names; each implementation keeps its own registry (prompt templates, probe
estimators, model specs, ...), and ``tests/config/test_choice_lists.py`` checks it holds exactly these, in order.
"""

from __future__ import annotations

from collections.abc import Callable


def _listed(*names: str) -> Callable[[], list[str]]:
    return lambda: list(names)


templates = _listed("answer_then_confidence", "confidence_only")
vocabularies = _listed("percent", "digits", "letters")
roles = _listed("pre_answer", "answer_last", "post_answer", "confidence_slot")
probes = _listed("logistic", "diffmeans")
validity_presets = _listed("default", "strict")
pair_kinds = _listed("correct-to-incorrect", "incorrect-to-correct", "random", "cross-model")  # cross-model: two runs
sites = _listed("resid_pre", "resid_post", "attn_out", "mlp_out")
controls = _listed("reverse", "off_position", "random")
metrics = _listed("shift", "normalised_shift", "logit_diff", "kl", "expected")
methods = _listed("auto", "fast", "reference")
backends = _listed("transformer_lens", "nnsight")
dtypes = _listed("float32", "float16", "bfloat16")
gradings = _listed("exact", "flex")
store_dtypes = _listed("float32", "float16", "bfloat16")
objectives = _listed("confidence", "answer")
strategies = _listed("standard", "knowledge-aware")  # how the answer objective treats familiar items
targets = _listed("probe", "correctness", "constant")
baselines = _listed("correctness", "constant", "standard")
executors = _listed("local", "ray")
directions = _listed("probe", "mean_diff")
plan_devices = _listed("h100", "h200", "a100", "cpu")  # the accelerators `workbench plan` times a run on
models = _listed("smollm2-135m-instruct", "gemma-3-270m", "qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct")
