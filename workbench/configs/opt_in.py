"""The configs of the two opt-in stages outside the sweep: steering (``SteerConfig``) and sampling channels
(``SampleConfig``). Their hashed fields keep the names and defaults of the dataclasses they replace, so stored
results keep their hashes (numbers are floats: ``alphas=(-1, 1)`` hashes as ``(-1.0, 1.0)``).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from workbench.configs import kinds
from workbench.configs import registries as reg
from workbench.configs.base import ConfigError, option
from workbench.configs.stages import (AnalysisConfig, Count, Execution, Flag, MaybeText, OnRunModel, Positive, Seeded,
                                      Statistics)

ALPHA_UNITS = ("residual_norm", "absolute")


class SteerConfig(AnalysisConfig, Statistics, OnRunModel):
    """Steering along a direction at the confidence slot (``workbench.analyses.steering``): what decides the
    result (hashed) and how it runs (``execution_keys``)."""

    SECTION: ClassVar[str] = "steer"
    HELP: ClassVar[dict[str, str]] = {"seed": "seed of the random directions and the bootstrap",
                                      "n_boot": "bootstrap resamples over examples"}
    RENAMED: ClassVar[dict[str, tuple[str, ...]]] = {"layers": ("readouts",)}
    direction: Literal[*reg.directions()] = option(
        "probe", "probe: the saved probe's weights (run `workbench probe` first); mean_diff: the difference of "
                 "class means of the stored residuals")
    probe: Literal[*reg.probes()] = option("logistic", "which saved probe gives the direction")
    probe_run: MaybeText = option(None, "the run whose probe or class means give the direction (default: this run)")
    readouts: Annotated[tuple[int, ...] | None, kinds.integers(optional=True)] = option(
        None, "residual read-outs steered, indices such as 5,15,-1 (default: four evenly spaced)")
    alphas: Annotated[tuple[float, ...], kinds.numbers()] = option(
        (-1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0),
        "alpha grid, comma-separated, in units of the mean residual norm at the slot (write --alphas=-1,0,1 "
        "when the first is negative)")
    alpha_unit: Literal[*ALPHA_UNITS] = option(
        "residual_norm", "residual_norm: alpha x the mean residual norm at (layer, slot); absolute: alpha itself")
    n_random: Count = option(4, "random control directions per layer (same norm, seeded)")
    limit: Annotated[int | None, kinds.integer(1, none_word="all")] = option(
        None, "steer the first N examples only (default: all)")
    batch_size: Count = option(8, "examples per stored chunk (resume granularity)", execution=True)
    rows_per_forward: Count = option(64, "(example, condition) rows per forward: memory for speed", execution=True)
    figures: Flag = option(True, "write the dose-response figure beside the result", execution=True)

    @model_validator(mode="after")
    def _a_grid_that_steers(self) -> "SteerConfig":
        if not self.alphas:
            raise ConfigError("steer.alphas", "the alpha grid is empty: give at least one non-zero alpha, "
                              "e.g. -0.5,0,0.5", has_value=False)
        if not any(a != 0 for a in self.alphas):
            raise ConfigError("steer.alphas", "the alpha grid needs at least one of them non-zero (alpha 0 is the "
                              "unsteered read-out)", list(self.alphas))
        return self

    @property
    def name(self) -> str:
        return f"steering-{self.direction}"


class SampleConfig(AnalysisConfig, Seeded, Execution):
    """Sampling channels (``workbench.sampling``): self-consistency, semantic entropy and P(True)."""

    SECTION: ClassVar[str] = "sample"
    HELP: ClassVar[dict[str, str]] = {
        "seed": "seed of the samples (per example and sample, so batching does not matter)"}
    k: Annotated[int, Field(strict=True, ge=2)] = option(5, "samples per example (agreement and entropy need two)")
    temperature: Positive = option(1.0, "sampling temperature (1.0 samples the model as is)")
    max_answer_tokens: Annotated[int | None, Field(strict=True, ge=1)] = option(
        None, "longest sampled answer, in tokens (default: the run's)")
    p_true: Flag = option(True, "also P(True): one forward per example")
    batch_size: Count = option(8, "examples per forward and per stored chunk", execution=True)
