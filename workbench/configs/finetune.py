"""The fine-tuning stage's configs: ``FinetuneConfig`` (what one adapter is trained on, hashed into its folder's
header, so a re-run resumes) and ``FinetuneExperiment`` (the seeds, evaluation runs, baselines and checks of
``workbench finetune``). The verb and the CLI take the fields of both.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from workbench.configs import kinds as k
from workbench.configs import registries as reg
from workbench.configs.base import ConfigError, option
from workbench.configs.stages import AnalysisConfig, Bootstrapped, Count, Execution, Flag, MaybeText, Positive

NonNegative = Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)]


class FinetuneConfig(Execution):
    """What a fine-tuning run does (hashed) and how it is executed (``execution_keys``, not hashed)."""

    SECTION: ClassVar[str] = "finetune"
    UNHASHED_AT: ClassVar[dict[str, str]] = {"strategy": "standard"}  # so earlier adapters keep their hash
    objective: Literal[*reg.objectives()] = option(
        "confidence", "confidence (match the target) or answer (standard fine-tuning on gold answers)")
    target: Literal[*reg.targets()] = option("probe", "what the confidence is tuned toward")
    strategy: Literal[*reg.strategies()] = option(
        "standard", "standard, or knowledge-aware (CogCalib: familiar items first, with a confidence penalty; the "
                    "answer objective only)")
    probe: MaybeText = option(None, "LAYER/ROLE of the run's saved probe (e.g. 18/confidence_slot) or a probe file")
    probe_kind: Literal[*reg.probes()] = option("logistic", "which saved probe kind")
    width: NonNegative = option(5.0, "sd of the target Gaussian in points (0: one-hot)")
    constant: Annotated[float | None, Field(strict=True, ge=0, le=1)] = option(
        None, "value of the constant target (default: the training accuracy)")
    rank: Count = option(8, "LoRA rank")
    alpha: Annotated[float | None, Field(strict=True, gt=0, allow_inf_nan=False)] = option(
        None, "LoRA scale numerator (default: 2 x rank)")
    target_modules: Annotated[tuple[str, ...], k.names()] = option(
        ("q_proj", "v_proj"), "LoRA target modules", flags=("--modules", "--target-modules"))
    steps: Count = option(50, "optimiser steps")
    batch_size: Count = option(8, "examples per step")
    lr: Positive = option(2e-3, "learning rate")
    weight_decay: NonNegative = option(0.0, "AdamW weight decay")
    answer_kl: NonNegative = option(1.0, "weight of the keep-the-answer KL term")
    seed: Annotated[int, Field(strict=True, ge=0)] = option(0, "training seed", cli=False)  # the CLI's --seed: seeds
    min_per_class: Annotated[int, Field(strict=True, ge=0)] = option(
        5, "fewest correct and incorrect training examples")
    dtype: Literal[*reg.dtypes()] = option("float32", "weights' dtype while training")
    checkpoint_every: Count = option(25, "steps between checkpoints", execution=True)

    @model_validator(mode="after")
    def _objective_has_what_it_needs(self) -> "FinetuneConfig":
        if self.strategy != "standard" and self.objective != "answer":
            raise ConfigError("finetune.strategy", f"the {self.strategy} strategy tunes the answer objective; add "
                              "--objective answer", has_value=False)
        if self.objective == "confidence" and self.target == "probe" and not self.probe:
            raise ConfigError("finetune.probe", "the probe target needs probe = LAYER/ROLE (or a probe file), "
                              "e.g. --probe 18/confidence_slot", has_value=False)
        return self

    @property
    def name(self) -> str:
        """A short label: ``probe``, ``correctness``, ``constant``, ``standard`` or ``knowledge-aware``."""
        return self.target if self.objective != "answer" else self.strategy


class FinetuneExperiment(AnalysisConfig, Bootstrapped):
    """Around the adapters: the training seeds, the held-out runs to evaluate on, baselines, cross-model patching.

    Without ``eval`` only the adapters are trained (one per seed)."""

    SECTION: ClassVar[str] = "finetune"
    HELP: ClassVar[dict[str, str]] = {"n_boot": "bootstrap resamples of the comparisons"}
    seeds: Annotated[tuple[int, ...], k.integers(0)] = option(
        (0,), "training seed(s); several also write the replication summary", flags=("--seed", "--seeds"))
    eval: Annotated[dict[str, str], k.splits()] = option(
        {}, "base-model runs of held-out items to evaluate on: SPLIT=RUN (repeat: heldout=..., ood=...)")
    baselines: Annotated[tuple[str, ...], k.names(reg.baselines, empty=True)] = option(
        ("correctness", "constant", "standard"), "baseline variants trained beside the main one")
    tolerance: NonNegative = option(0.02, "largest accepted accuracy drop (absolute)")
    patch: Flag = option(True, "cross-model patching of the tuned model into the base")
    patch_pairs: Count = option(24, "pairs of the cross-model patching")
