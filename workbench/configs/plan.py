"""``PlanConfig``: what ``workbench plan`` / ``wb.plan`` sizes before a run, from the model's config.json alone.

Its fields are the settings of collect and patch that decide sizes and costs, with those stages' defaults (read
from ``CollectConfig`` and ``PatchConfig``, the one home of every default), plus what only a plan needs: the
device to time the run on and the prompt length to assume (a config.json has no tokenizer). Two defaults differ
from collect's on purpose: ``dtype`` is bfloat16 (the dtype large models run in, and the throughput the device
table holds) and ``items`` is collect's ``limit`` under the name a plan asks for.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from workbench.configs import kinds as k
from workbench.configs import registries as reg
from workbench.configs.base import StageConfig, option
from workbench.configs.stages import CollectConfig, Count, Flag, PatchConfig, Text


def _default(cls: type[StageConfig], name: str) -> Any:
    return cls.model_fields[name].default


class PlanConfig(StageConfig):
    """A run to size: the model, how many items and how they are collected, what patching sweeps, on which device."""

    SECTION: ClassVar[str] = "plan"
    RENAMED: ClassVar[dict[str, tuple[str, ...]]] = {"layers": ("blocks",)}
    model: Text = option(
        _default(CollectConfig, "model"), "registry name (its converted checkpoint's config), a directory holding "
        "config.json (weights not needed), a config.json file, or a Hugging Face id in the local cache")
    items: Count = option(_default(CollectConfig, "limit"), "items collected (collect's --limit)")
    batch_size: Count = option(_default(CollectConfig, "batch_size"), "prompts per forward of collect")
    dtype: Literal[*reg.dtypes()] = option("bfloat16", "weights' dtype (collect's --dtype)")
    store_dtype: Literal[*reg.store_dtypes()] = option(
        _default(CollectConfig, "store_dtype"), "dtype of the stored residuals")
    store_readouts: Annotated[str | tuple[int, ...], k.layers("read-out")] = option(
        _default(CollectConfig, "store_readouts"), "read-outs stored (collect's --store-readouts)")
    store_roles: Annotated[str | tuple[str, ...], k.names(reg.roles, word="all")] = option(
        _default(CollectConfig, "store_roles"), "roles stored (collect's --store-roles)")
    vocabulary: Literal[*reg.vocabularies()] = option(_default(CollectConfig, "vocabulary"), "confidence vocabulary")
    max_answer_tokens: Count = option(
        _default(CollectConfig, "max_answer_tokens"), "longest greedy answer; the plan counts every batch generating "
        "this many tokens (an upper bound: short answers stop after 2-5)")
    prompt_tokens: Annotated[int, Field(strict=True, ge=16)] = option(
        128, "tokens of a prompt up to the answer (chat template, worked examples, question): 92-125 on the registry "
             "models' tokenizers with the default template; a config.json holds no tokenizer")
    blocks: Annotated[str | tuple[int, ...], k.layers("block")] = option(
        _default(PatchConfig, "blocks"), "blocks patched: 'all' or indices such as 0,8,-1 or 10-20")
    roles: Annotated[tuple[str, ...], k.names(reg.roles)] = option(
        _default(PatchConfig, "roles"), "position roles patched")
    n_pairs: Annotated[int | None, k.integer(1, none_word="all")] = option(
        _default(PatchConfig, "n_pairs"), "patching pairs; 'all': one per item")
    controls: Annotated[tuple[str, ...], k.names(reg.controls, empty=True)] = option(
        _default(PatchConfig, "controls"), "patching controls, or 'none'")
    attribution: Flag = option(_default(PatchConfig, "attribution"), "patching also runs attribution patching")
    device: Literal[*reg.plan_devices()] = option("h100", "device the run is timed and fitted on")
