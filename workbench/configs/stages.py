"""One config per stage (collect, probe, calibrate, bottleneck, patch; sample and steer in ``opt_in``): the single
home of every default.

The Python verbs (``workbench.api``), the CLI and the sweep file's sections all build these classes. Fields many
stages share are declared once, in mixins (``Execution``: device and progress, ``OnRunModel`` adds the backend;
``Statistics``: seed and n_boot). ``CollectConfig`` and ``PatchConfig`` keep the names and content of earlier
versions (renamed fields hash under their old names, ``RENAMED``), so stored runs and results keep their hashes.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field, model_validator

from workbench.configs import kinds as k
from workbench.configs import registries as reg
from workbench.configs.base import ConfigError, StageConfig, option

DEFAULT_MODEL = "smollm2-135m-instruct"  # = workbench.backends.loading.DEFAULT_MODEL (checked in the tests)

Count = Annotated[int, Field(strict=True, ge=1)]
Positive = Annotated[float, Field(strict=True, gt=0, allow_inf_nan=False)]
Text = Annotated[str, Field(strict=True, min_length=1), BeforeValidator(k.path_text)]
MaybeText = Annotated[str | None, Field(strict=True, min_length=1), BeforeValidator(k.path_text)]
Boot = Annotated[int, Field(strict=True, ge=10)]
Flag = Annotated[bool, Field(strict=True)]
BOOT_FLAGS = ("--boot", "--n-boot")


# --- shared fields, each declared once: a config composes the mixins it needs (listed after its own fields) ----

class Progress(StageConfig):
    SHARED: ClassVar[bool] = True
    progress: Flag = option(True, "show progress", execution=True)


class Execution(Progress):
    """Where a stage's model runs, and whether it says what it does (not hashed)."""

    SHARED: ClassVar[bool] = True
    device: MaybeText = option(
        None, "device of the model: cpu, cuda, cuda:1, mps, ... (default: the best available)", execution=True)


class OnRunModel(Execution):
    """A stage that loads a stored run's model again: its backend defaults to the run's."""

    SHARED: ClassVar[bool] = True
    backend: Literal[*reg.backends()] | None = option(None, "model backend (default: the run's)", execution=True)


class Seeded(StageConfig):
    SHARED: ClassVar[bool] = True
    seed: Annotated[int, Field(strict=True, ge=0)] = option(0, "bootstrap seed")


class Bootstrapped(StageConfig):
    SHARED: ClassVar[bool] = True
    n_boot: Boot = option(1000, "bootstrap resamples for the intervals", flags=BOOT_FLAGS)


class Statistics(Seeded, Bootstrapped):
    """The seed and the bootstrap of an analysis (hashed)."""

    SHARED: ClassVar[bool] = True


class AnalysisConfig(StageConfig):
    """What every analysis of a stored run shares: refusing incomplete runs and stored results by default."""

    allow_incomplete: Flag = option(False, "analyse a run whose collect did not finish (the result records it)",
                                    execution=True)
    overwrite: Flag = option(False, "recompute and replace the stored result of this same config (results of other "
                             "configs are kept either way)", execution=True)


class CollectConfig(Execution, Seeded):
    """Everything that decides a run's contents (hashed) plus how it is executed (``batch_size``, ``device``)."""

    SECTION: ClassVar[str] = "collect"
    HELP: ClassVar[dict[str, str]] = {"seed": "seed of the item sample"}
    UNHASHED_AT: ClassVar[dict[str, str]] = {"store_readouts": "all", "store_roles": "all"}  # earlier runs' hashes
    model: Annotated[str, k.model_name()] = option(DEFAULT_MODEL, "registry name, Hugging Face id or checkpoint dir")
    dataset: Annotated[str, k.dataset_name()] = option(
        "all", "built-in family, 'all', a part (elements/symbol), a mix (capitals+elements/symbol), or a file")
    limit: Annotated[int | None, k.integer(1, none_word="all")] = option(
        200, "number of items (seeded, family-stratified); 'all' for every item")
    template: Literal[*reg.templates()] = option("answer_then_confidence", "prompt template")
    vocabulary: Literal[*reg.vocabularies()] = option(
        "percent", "confidence vocabulary: percent (0..100), digits (0..9) or letters (A..E)")
    backend: Literal[*reg.backends()] = option("transformer_lens", "model backend")
    dtype: Literal[*reg.dtypes()] = option("float32", "weights' dtype")
    store_dtype: Literal[*reg.store_dtypes()] = option(
        "float32", "dtype of the stored residuals (float16 halves the store and is refused where a value overflows it; "
                   "bfloat16 keeps float32's range with an 8-bit mantissa)")
    store_readouts: Annotated[str | tuple[int, ...], k.layers("read-out")] = option(
        "all", "residual read-outs stored (0..n_blocks, -1 the last): 'all' or indices such as 0,40,-1 or 60-80")
    store_roles: Annotated[str | tuple[str, ...], k.names(reg.roles, word="all")] = option(
        "all", "position roles whose residuals are stored, or 'all'")
    max_answer_tokens: Count = option(24, "longest greedy answer, in tokens")
    grading: Literal[*reg.gradings()] = option(
        "exact", "exact: normalised match; flex: also a substring either way (>= 2 characters); decides `correct`")
    batch_size: Count = option(16, "prompts per forward", execution=True)
    fast: Flag = option(True, "exact speed-ups: the shared template prefix once, logits only where read "
                              "(--no-fast runs the plain path)", flags=("--no-fast",), execution=True)


class ProbeConfig(AnalysisConfig, Statistics):
    """Layer-wise probes (``workbench.analyses.probe_layers``) and, with 2+ seeds, their replication."""

    SECTION: ClassVar[str] = "probe"
    HELP: ClassVar[dict[str, str]] = {"seed": "first split seed (the seeds are seed, seed+1, ...)"}
    RENAMED: ClassVar[dict[str, tuple[str, ...]]] = {"layers": ("readouts",)}
    roles: Annotated[str | tuple[str, ...], k.names(reg.roles, word="all")] = option(
        ("confidence_slot", "answer_last"), "position roles to probe, or 'all'")
    readouts: Annotated[str | tuple[int, ...], k.layers("read-out")] = option(
        "all", "residual read-outs probed (0..n_blocks, -1 the last): 'all' or indices such as 0,8,-1 or 10-20")
    folds: Annotated[int | str, k.folds()] = option(
        "auto", "grouped (by question) cross-validation folds; 'auto': the most (up to 5) the class counts allow")
    seeds: Count = option(
        5, "number of split seeds; 2 or more also writes the replication result (AUROC sd and distribution "
           "shape across seeds); 1 is five times faster")
    probes: Annotated[tuple[str, ...], k.names(reg.probes)] = option(("logistic", "diffmeans"), "probe kinds")
    save_weights: Flag = option(True, "save probe weights", flags=("--no-weights",))


class CalibrateConfig(AnalysisConfig, Statistics):
    """Every confidence channel side by side (``channels``) and, with ``prior_knowledge``, known vs unknown."""

    SECTION: ClassVar[str] = "calibrate"
    n_bins: Annotated[int, Field(strict=True, ge=2)] = option(10, "number of calibration bins",
                                                              flags=("--bins", "--n-bins"))
    strategy: Literal["uniform", "quantile"] = option("uniform", "equal-width (uniform) or equal-mass (quantile) bins")
    validity: Literal[*reg.validity_presets()] = option("default", "validity-screen preset")
    prior_knowledge: Flag = option(True, "also compare calibration on known vs unknown items")
    known_threshold: Annotated[float, Field(strict=True, gt=0, lt=1)] = option(
        0.5, "P(gold) above which an item counts as known")


class BottleneckConfig(AnalysisConfig, Statistics, Execution):
    """Softmax expected value vs argmax; with ``logit_lens`` the lens per layer (which loads the run's model)."""

    SECTION: ClassVar[str] = "bottleneck"
    RENAMED: ClassVar[dict[str, tuple[str, ...]]] = {"lens_layers": ("lens_readouts",)}
    n_boot: Boot = option(2000, "paired bootstrap resamples", flags=BOOT_FLAGS)
    logit_lens: Flag = option(True, "run the logit lens (loads the run's model)", flags=("--no-lens",))
    lens_readouts: Annotated[str | tuple[int, ...], k.layers("read-out")] = option("all", "read-outs of the logit lens")


class PatchConfig(AnalysisConfig, Statistics, OnRunModel):
    """Everything that decides a patching result (hashed), plus how it is executed."""

    SECTION: ClassVar[str] = "patch"
    HELP: ClassVar[dict[str, str]] = {"seed": "seed of the pairing and the controls",
                                      "n_boot": "bootstrap resamples of the layer gradient"}
    RENAMED: ClassVar[dict[str, tuple[str, ...]]] = {"layers": ("blocks",)}
    UNHASHED_AT: ClassVar[dict[str, Any]] = {"attribution_tolerance": None}  # earlier results keep their hash
    pairs: Literal[*reg.pair_kinds()] = option("correct-to-incorrect", "which (source, target) pairs")
    site: Literal[*reg.sites()] = option("resid_pre", "the hook site patched in each block")
    blocks: Annotated[str | tuple[int, ...], k.layers("block")] = option(
        "all", "decoder blocks patched (hook points blocks.{L}.*, -1 the last): 'all', '5', '0,4,8' or '10-20'")
    roles: Annotated[tuple[str, ...], k.names(reg.roles)] = option(("confidence_slot",), "position roles to patch")
    metric: Literal[*reg.metrics()] = option("shift", "headline metric (the table holds all of them)")
    levels: Annotated[tuple[str, str] | None, k.pair()] = option(
        None, "two confidence strings for logit_diff, e.g. '90,10'")
    n_pairs: Annotated[int | None, k.integer(1, none_word="all")] = option(
        None, "number of pairs; 'all': one pair per target example")
    method: Literal[*reg.methods()] = option("auto", "fast (cached prefix) or reference patching")
    controls: Annotated[tuple[str, ...], k.names(reg.controls, empty=True)] = option(
        ("reverse", "off_position", "random"), "controls, comma-separated, or 'none'")
    attribution: Flag = option(True, "also estimate the effects by attribution patching")
    attribution_tolerance: Annotated[float | None, Field(strict=True, ge=0, allow_inf_nan=False)] = option(
        None, "extension: refine attribution block by block until its linear tail agrees within this relative "
              "tolerance, e.g. 0.1 (default: linear only)")
    source_run: MaybeText = option(None, "cross-model: the fine-tuned model's run (source)")
    chunk_pairs: Count = option(16, "pairs per stored chunk (resume granularity)", execution=True)
    figures: Flag = option(True, "write the figures beside the result", execution=True)

    @model_validator(mode="after")
    def _cross_model_needs_a_source(self) -> "PatchConfig":
        if self.pairs == "cross-model" and not self.source_run:
            raise ConfigError("patch.source_run", "pairs 'cross-model' needs source_run (the fine-tuned model's run)",
                              has_value=False)
        return self

    @property
    def name(self) -> str:
        return f"patching-{self.pairs}-{self.site}"

