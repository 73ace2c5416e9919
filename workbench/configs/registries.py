"""The names a config field may hold, as data: each list imports nothing, so configs stand below what they name.

Each implementation keeps its own registry (prompt templates, probe estimators, patch metrics, model specs, ...);
``tests/config/test_choice_lists.py`` checks that it holds exactly these names, in this order. Each list is a
function (``configs.kinds.name`` takes one).
"""

from __future__ import annotations


def templates() -> list[str]:
    return ["answer_then_confidence", "confidence_only"]


def vocabularies() -> list[str]:
    return ["percent", "digits", "letters"]


def roles() -> list[str]:
    return ["pre_answer", "answer_last", "post_answer", "confidence_slot"]


def probes() -> list[str]:
    return ["logistic", "diffmeans"]


def validity_presets() -> list[str]:
    return ["default", "strict"]


def pair_kinds() -> list[str]:
    return ["correct-to-incorrect", "incorrect-to-correct", "random", "cross-model"]  # cross-model pairs two runs


def sites() -> list[str]:
    return ["resid_pre", "resid_post", "attn_out", "mlp_out"]


def controls() -> list[str]:
    return ["reverse", "off_position", "random"]


def metrics() -> list[str]:
    return ["shift", "normalised_shift", "logit_diff", "kl", "expected"]


def methods() -> list[str]:
    return ["auto", "fast", "reference"]


def backends() -> list[str]:
    return ["transformer_lens", "nnsight"]


def dtypes() -> list[str]:
    return ["float32", "float16", "bfloat16"]


def gradings() -> list[str]:
    return ["exact", "flex"]


def store_dtypes() -> list[str]:
    return ["float32", "float16"]


def objectives() -> list[str]:
    return ["confidence", "answer"]


def targets() -> list[str]:
    return ["probe", "correctness", "constant"]


def baselines() -> list[str]:
    return ["correctness", "constant", "standard"]


def executors() -> list[str]:
    return ["local", "ray"]


def directions() -> list[str]:
    return ["probe", "mean_diff"]


def models() -> list[str]:
    return ["smollm2-135m-instruct", "gemma-3-270m", "qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct"]
