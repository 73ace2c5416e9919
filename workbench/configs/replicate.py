"""The study's config: ``ReplicateConfig``, the seed study's claims across a ladder of registry models.

What each model's sweep computes (items, seeds, pairs, read-outs and blocks, bootstrap) is hashed; how it runs
(executor, workers, batch size, progress, figures, ``report_only``) is not. Whether a model's weights are installed
is checked when the study runs (``workbench.replicate.check_installed``), so the stored claims of a model no
longer installed can still be written with ``report_only``.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, model_validator

from workbench.configs import kinds as k
from workbench.configs import registries as reg
from workbench.configs.base import ConfigError, option
from workbench.configs.stages import Bootstrapped, Count, Flag, MaybeText, Progress
from workbench.errors import did_you_mean

DEFAULT_LADDER = ("smollm2-135m-instruct", "gemma-3-270m", "qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct")
N_FINETUNED = 3  # default: fine-tune the three smallest models of the study (the seed tunes instruct models; the
# ladder's three smallest are SmolLM2 and Qwen 0.5B, both instruct, and gemma-3-270m, the base-model contrast)


def registry_models(path: str, *, empty: bool = False) -> k.Kind:
    """Registry model names (``workbench models``) of the field at ``path``; ``empty``: none allowed (the text
    ``none``). An unknown name is one error that lists the known ones."""
    def check(v: Any) -> tuple[str, ...]:
        if empty and v == "none":
            return ()
        v = k.split(v)
        if not isinstance(v, (list, tuple)) or not all(isinstance(x, str) for x in v):
            raise ValueError("must be a list of registry model names")
        known = reg.models()
        for name in v:
            if name not in known:
                raise ConfigError(path, f"unknown model {name!r}.{did_you_mean(name, known)} Known: {', '.join(known)}",
                                  has_value=False)
        if duplicated := [x for i, x in enumerate(v) if x in v[:i]]:
            raise ConfigError(path, f"{duplicated[0]!r} is listed twice", has_value=False)
        if not v and not empty:
            raise ValueError("must name at least one model; the default ladder is " + " ".join(DEFAULT_LADDER))
        return tuple(v)
    return k.Kind(check, "MODEL", many=True, empty=empty, words=("none",) if empty else (), optional=empty,
                  choices=reg.models)


class ReplicateConfig(Bootstrapped, Progress):
    """The ladder study (``workbench.replicate``): per model a sweep of every stage, then the claims."""

    SECTION: ClassVar[str] = "replicate"
    RENAMED: ClassVar[dict[str, tuple[str, ...]]] = {"layers": ("readouts", "blocks")}
    models: Annotated[tuple[str, ...], registry_models("replicate.models")] = option(
        DEFAULT_LADDER, "registry models, smallest first (see `workbench models`)")
    dataset: Annotated[str, k.dataset_name()] = option(
        "all", "built-in family, part of one (elements/symbol), a mix (capitals+elements/symbol) or a file")
    limit: Count = option(300, "items per model and seed (seeded, family-stratified)")
    seeds: Annotated[tuple[int, ...], k.integers(0)] = option(
        (0, 1, 2), "seeds of each model's collect (the item sample) and analyses; intervals span items and seeds")
    n_pairs: Count = option(24, "patching pairs per model and seed")
    readouts: Annotated[str | tuple[int, ...], k.layers("read-out")] = option(
        "all", "residual read-outs probed: 'all' or indices such as 0,8,-1 or 10-20")
    blocks: Annotated[str | tuple[int, ...], k.layers("block")] = option(
        "all", "decoder blocks patched: 'all' or indices such as 0,8,-1 or 10-20")
    finetune: Annotated[tuple[str, ...] | None, registry_models("replicate.finetune", empty=True)] = option(
        None, "models whose probe-targeted LoRA fine-tuning tests claims 7 and 9, then the seed's cross-model "
              "patching of claims 4 and 5, or 'none' (default: the three smallest of --models)")
    finetune_steps: Count = option(30, "optimiser steps of each fine-tuning (batch 8, LoRA rank 8 on q_proj/v_proj)")
    finetune_items: Annotated[int, Field(strict=True, ge=20)] = option(
        100, "held-out items (not among the study's) on which fine-tuning is evaluated, collected before and after")
    tuning: Annotated[tuple[str, ...], registry_models("replicate.tuning", empty=True)] = option(
        (), "models whose standard fine-tuning on known-only, unknown-only and mixed items, and the knowledge-aware "
            "strategy, test claim 6, and (on a base model) the alignment before/after of claim 8, or 'none'")
    tuning_items: Annotated[int, Field(strict=True, ge=2)] = option(
        24, "training items of each knowledge set (known-only, unknown-only, mix); its steps are --finetune-steps")
    batch_size: Count = option(16, "prompts per forward", execution=True)
    executor: Literal[*reg.executors()] = option(
        "local", "where the sweep's units run: local, or ray (fine-tuning runs here)", execution=True)
    workers: Count = option(1, "units at once", execution=True)
    address: MaybeText = option(None, "Ray cluster address", execution=True)
    figures: Flag = option(True, "draw each model's figures into report.html", execution=True)
    report_only: Flag = option(False, "run nothing: write the claims and report from what is stored so far",
                               execution=True)
    evidence: MaybeText = option(
        None, "folder of the per-item evidence tables the claims read (default: OUT/evidence); a unit's tables are "
              "added, never replaced without --overwrite", execution=True)
    from_evidence: MaybeText = option(
        None, "run no model: recompute claims.csv, ladder.md and report.html from this evidence folder alone",
        execution=True)
    overwrite: Flag = option(False, "replace evidence tables already written", execution=True)

    @model_validator(mode="after")
    def _consistent(self) -> "ReplicateConfig":
        from workbench.datasets import load_dataset

        if not self.seeds:
            raise ConfigError("replicate.seeds", "needs at least one seed", has_value=False)
        size = len(load_dataset(self.dataset, limit=None))
        if self.limit > size:
            raise ConfigError("replicate.limit", f"{self.limit} is larger than the dataset {self.dataset!r} "
                              f"({size} items); give {size} or less", has_value=False)
        for field in ("finetune", "tuning"):
            for name in getattr(self, field) or ():
                if name not in self.models:
                    raise ConfigError(f"replicate.{field}", f"{name!r} is not one of the study's models "
                                      f"({', '.join(self.models)})", has_value=False)
        return self

    def evidence_config(self) -> dict[str, Any]:
        """What every (model, seed) unit of the study computes: units of equal evidence config combine, whatever
        models and seeds each run named."""
        content = self.content()
        return {key: content[key] for key in ("dataset", "limit", "n_pairs", "layers", "readouts", "blocks", "n_boot",
                                              "finetune_steps", "finetune_items") if key in content}

    @property
    def finetuned(self) -> tuple[str, ...]:
        """The models fine-tuned: ``finetune``, or by default the ``N_FINETUNED`` smallest of ``models``."""
        if self.finetune is not None:
            return self.finetune
        smallest = [m for m in reg.models() if m in self.models][:N_FINETUNED]  # the registry: smallest first
        return tuple(m for m in self.models if m in smallest)
