"""The stage configs: round trips (dict and sweep file), stable hashes that ignore execution fields, and one
error naming the key path for every bad value."""

from __future__ import annotations

import numpy as np
import pytest
import tomli_w

from workbench.configs import (STAGE_CONFIGS, BottleneckConfig, CalibrateConfig, CollectConfig, ConfigError,
                               FinetuneConfig, FinetuneExperiment, PatchConfig, PlanConfig, ProbeConfig, SampleConfig,
                               SteerConfig)
from workbench.errors import WorkbenchError
from workbench.store import config_hash
from workbench.sweeps import SweepConfig
from workbench.sweeps.config import SET_BY_SWEEP

CHANGED = {  # one config per stage with most fields away from their defaults
    CollectConfig: dict(dataset="capitals", limit=12, seed=3, template="confidence_only", vocabulary="digits",
                        backend="nnsight", dtype="bfloat16", store_dtype="float16", max_answer_tokens=8, batch_size=4,
                        device="cpu", progress=False),
    ProbeConfig: dict(roles=("answer_last",), readouts=(0, -1), folds=3, seeds=2, seed=4, probes=("diffmeans",),
                      n_boot=50, save_weights=False, overwrite=True),
    CalibrateConfig: dict(n_bins=5, strategy="quantile", n_boot=40, validity="strict", prior_knowledge=False,
                          known_threshold=0.7, seed=2, allow_incomplete=True),
    BottleneckConfig: dict(n_boot=100, logit_lens=False, lens_readouts=(1, 2), seed=1, device="cpu"),
    PatchConfig: dict(pairs="random", site="mlp_out", blocks=(0, 4, 8), roles=("confidence_slot", "answer_last"),
                      metric="logit_diff", levels=("90", "10"), n_pairs=6, seed=2, method="reference", controls=(),
                      attribution=False, n_boot=50, chunk_pairs=2, backend="nnsight", figures=False),
    SampleConfig: dict(k=3, temperature=0.7, seed=2, max_answer_tokens=4, p_true=False, batch_size=2, device="cpu",
                       progress=False),
    SteerConfig: dict(direction="mean_diff", probe="diffmeans", readouts=(1, 2), alphas=(-1.0, 1.0), alpha_unit="absolute",
                      n_random=2, limit=5, seed=1, n_boot=50, batch_size=2, rows_per_forward=4, backend="nnsight",
                      device="cpu", figures=False, progress=False),
    FinetuneConfig: dict(objective="confidence", target="correctness", rank=4, alpha=16.0,
                         target_modules=("q_proj", "k_proj"), steps=3, lr=1e-3, width=0.0, constant=0.5,
                         checkpoint_every=1, device="cpu"),
    FinetuneExperiment: dict(seeds=(0, 1), eval={"heldout": "runs/heldout"}, baselines=("constant",), tolerance=0.05,
                             patch=False, patch_pairs=4, n_boot=100),
    PlanConfig: dict(model="data/model_configs/qwen2.5-7b-instruct", items=500, batch_size=32, dtype="float16",
                     store_dtype="float16", vocabulary="digits", max_answer_tokens=8, prompt_tokens=200,
                     blocks=(0, 4), roles=("answer_last",), n_pairs=10, controls=(), attribution=False, device="a100"),
}


@pytest.mark.parametrize("cls", list(CHANGED), ids=lambda c: c.__name__)
def test_every_stage_config_round_trips_through_a_dict(cls):
    for config in (cls(**CHANGED[cls]) if cls is not FinetuneConfig else FinetuneConfig(probe="18/confidence_slot"),
                   cls(**CHANGED[cls])):
        again = cls.from_dict(config.to_dict())
        assert again == config and again.hash() == config.hash()
    assert cls(**CHANGED[cls]).to_dict() != (cls().to_dict() if cls is not FinetuneConfig else None)


def test_sweep_sections_are_the_stage_configs_and_round_trip_through_the_file(tmp_path):
    sections = {name: {k: v for k, v in CHANGED[cls].items() if k not in SET_BY_SWEEP[name]}
                for name, cls in STAGE_CONFIGS.items()}
    data = {"sweep": {"models": ["smollm2-135m-instruct"], "datasets": ["capitals"], "seeds": [0, 1],
                      "analyses": list(STAGE_CONFIGS), "workers": 2}, **sections}
    config = SweepConfig.from_dict(data)
    for name, cls in STAGE_CONFIGS.items():
        assert isinstance(config.params(name), cls)
        assert config.params(name) == cls(**sections[name])  # the section IS the stage's config
    path = tmp_path / "sweep.toml"
    path.write_text(tomli_w.dumps(config.to_dict()))
    again = SweepConfig.from_file(path)
    assert again == config and again.hash() == config.hash() and again.workers == 2


def test_defaults_live_in_one_place():
    """The sweep's sections take the stage configs' defaults (collect's limit was 50 in the sweep and 200 in the
    CLI before); a sweep that sets nothing runs what the CLI runs."""
    config = SweepConfig.from_dict({"sweep": {"models": ["smollm2-135m-instruct"], "datasets": ["capitals"]}})
    for name, cls in STAGE_CONFIGS.items():
        assert config.params(name) == cls()
    assert config.collect.limit == 200


def test_hashes_are_those_of_earlier_versions_and_ignore_execution_fields():
    before = {"model": "smollm2-135m-instruct", "dataset": "all", "limit": 200, "seed": 0,
              "template": "answer_then_confidence", "vocabulary": "percent", "backend": "transformer_lens",
              "dtype": "float32", "store_dtype": "float32", "max_answer_tokens": 24, "grading": "exact"}
    assert CollectConfig().content() == before and CollectConfig().hash() == config_hash(before)
    patch_before = {"pairs": "correct-to-incorrect", "site": "resid_pre", "layers": "all", "roles": ["confidence_slot"],
                    "metric": "shift", "levels": None, "n_pairs": None, "seed": 0, "method": "auto",
                    "controls": ["reverse", "off_position", "random"], "attribution": True, "n_boot": 1000,
                    "source_run": None}
    assert PatchConfig().content() == patch_before
    finetune_before = {"objective": "confidence", "target": "constant", "probe": None, "probe_kind": "logistic",
                       "width": 5.0, "constant": None, "rank": 8, "alpha": None, "target_modules": ["q_proj", "v_proj"],
                       "steps": 50, "batch_size": 8, "lr": 2e-3, "weight_decay": 0.0, "answer_kl": 1.0, "seed": 0,
                       "min_per_class": 5, "dtype": "float32"}
    assert FinetuneConfig(target="constant").hash() == config_hash(finetune_before)
    assert CollectConfig(batch_size=2, device="cpu", progress=False).hash() == CollectConfig().hash()
    assert PatchConfig(chunk_pairs=1, overwrite=True, figures=False, device="cpu").hash() == PatchConfig().hash()
    assert ProbeConfig(allow_incomplete=True, overwrite=True).hash() == ProbeConfig().hash()
    assert CollectConfig(limit=5).hash() != CollectConfig().hash()
    assert set(CollectConfig.execution_keys()) == {"batch_size", "device", "progress", "fast"}


def test_steer_and_sample_hash_as_the_dataclasses_they_replaced():
    """sha256 values of ``content()`` of the earlier ``SteerConfig``/``SampleConfig`` dataclasses (main at 336c311),
    so steering results and sampling tables stored before stay found."""
    assert SteerConfig().hash() == "99b1666f83f2f4dd487363657392e299678e6b5cdc082f7d03f3a274b07af290"
    assert SteerConfig(direction="mean_diff", readouts=(1, 2), alphas=(-2, 0, 2), n_random=2, n_boot=50, limit=5,
                       batch_size=2, rows_per_forward=4, device="cpu", figures=False).hash() == \
        "ce17adf03a38ba009b1e785fb781ee7d4ecb5f50afae28b106ef650d21356ae4"
    assert SampleConfig().hash() == "913c17c2d50f63786c83b7e50e5fd54050d45d51e07a5ad6985692ed659e6c4e"
    assert SampleConfig(k=3, max_answer_tokens=3, p_true=False, temperature=0.5, batch_size=1, progress=False,
                        overwrite=True).hash() == "f274981b43f8451977466725bf5f335fecf5797ba5ccdfebf6764205a95146cf"
    assert set(SteerConfig.execution_keys()) == {"allow_incomplete", "overwrite", "batch_size", "rows_per_forward",
                                                  "backend", "device", "figures", "progress"}
    assert SteerConfig(alphas="-1,0.5") == SteerConfig(alphas=[np.int64(-1), 0.5])  # floats either way


def test_the_old_layer_names_still_load_with_a_warning_and_hash_as_before():
    """``layers`` was a read-out in the probe and steer configs and a block in the patch config; stored configs
    (sweep files, ledgers, results) name it so, and their hashes must not move."""
    from workbench.configs import ReplicateConfig

    for cls, old, new in [(ProbeConfig, "layers", "readouts"), (SteerConfig, "layers", "readouts"),
                          (PatchConfig, "layers", "blocks"), (PlanConfig, "layers", "blocks"),
                          (BottleneckConfig, "lens_layers", "lens_readouts")]:
        with pytest.warns(FutureWarning, match=rf"{cls.SECTION}\.{old} is now {cls.SECTION}\.{new}"):
            config = cls.from_dict({old: (1, 2)})
        assert config == cls(**{new: (1, 2)}) and config.content()[old] == [1, 2] and new not in config.content()
        with pytest.raises(ConfigError, match=rf"{old}: is the old name of {new}: give {new} only"):
            cls(**{old: (1,), new: (2,)})
    with pytest.warns(FutureWarning, match=r"replicate\.layers is now replicate\.readouts and replicate\.blocks"):
        old = ReplicateConfig(layers=(0, -1))
    assert (old.readouts, old.blocks) == ((0, -1), (0, -1)) and old.hash() == ReplicateConfig(readouts=(0, -1),
                                                                                             blocks=(0, -1)).hash()
    assert ReplicateConfig().evidence_config()["layers"] == "all"  # the committed ladder's study.json
    split = ReplicateConfig(readouts=(0, -1)).evidence_config()
    assert split["readouts"] == [0, -1] and split["blocks"] == "all" and "layers" not in split


def test_numpy_scalars_and_lists_are_normalised_before_hashing():
    assert CollectConfig(seed=np.int64(3), limit=np.int32(7)).hash() == CollectConfig(seed=3, limit=7).hash()
    assert CalibrateConfig(known_threshold=np.float64(0.25)) == CalibrateConfig(known_threshold=0.25)
    assert ProbeConfig(readouts=[np.int64(1), 2]).readouts == (1, 2) == ProbeConfig(readouts="1-2").readouts
    assert PatchConfig(roles=["confidence_slot"]) == PatchConfig(roles="confidence_slot")
    assert CollectConfig(limit="all").limit is None


@pytest.mark.parametrize("cls, values, message", [
    (CollectConfig, {"limit": "abc"}, "collect.limit: must be an integer >= 1 or 'all', got 'abc'"),
    (CollectConfig, {"seed": True}, "collect.seed: must be an integer >= 0, got True"),
    (CollectConfig, {"template": "answer_then_confidense"}, "collect.template: must be one of answer_then_confidence"),
    (CollectConfig, {"dataset": "capitols"}, "collect.dataset: unknown dataset 'capitols'. Did you mean 'capitals'?"),
    (CollectConfig, {"model": "smollm-135m"}, "collect.model: unknown model 'smollm-135m'. Did you mean"),
    (CollectConfig, {"limt": 5}, "unknown key 'collect.limt'. Did you mean 'limit'?"),
    (ProbeConfig, {"folds": "x"}, "probe.folds: must be \"auto\" or an integer >= 2, got 'x'"),
    (ProbeConfig, {"roles": ("confidence_slott",)}, "Did you mean 'confidence_slot'?"),
    (ProbeConfig, {"readouts": "some"}, "probe.readouts: must be \"all\" or a non-empty list of read-out numbers"),
    (CalibrateConfig, {"known_threshold": 1.5}, "calibrate.known_threshold: must be a number in (0, 1), got 1.5"),
    (CalibrateConfig, {"strategy": "quantiles"}, "calibrate.strategy: must be one of uniform, quantile"),
    (BottleneckConfig, {"n_boot": 5}, "bottleneck.n_boot: must be an integer >= 10, got 5"),
    (PatchConfig, {"site": "attn_ou"}, "patch.site: must be one of resid_pre, resid_post, attn_out, mlp_out. Did you "
                                       "mean 'attn_out'?"),
    (PatchConfig, {"pairs": "cross-model"}, "patch.source_run: pairs 'cross-model' needs source_run"),
    (PatchConfig, {"levels": "90"}, "patch.levels: must be two confidence strings"),
    (FinetuneConfig, {}, "finetune.probe: the probe target needs probe = LAYER/ROLE"),
    (FinetuneConfig, {"target": "constant", "lr": 0}, "finetune.lr: must be a number > 0, got 0"),
    (FinetuneExperiment, {"eval": ["=runs/a"]}, "finetune.eval: takes SPLIT=RUN entries, got '=runs/a'"),
])
def test_bad_values_raise_one_error_naming_the_key_path(cls, values, message):
    with pytest.raises(ConfigError) as error:
        cls(**values)
    assert isinstance(error.value, WorkbenchError) and message in str(error.value)
    assert "\n" not in str(error.value) and "pydantic" not in str(error.value).lower()


def test_configs_are_frozen_and_replace_validates():
    config = ProbeConfig()
    with pytest.raises(Exception):
        config.folds = 3  # type: ignore[misc]
    assert config.replace(folds=3).folds == 3 and config.folds == "auto"
    with pytest.raises(ConfigError, match="probe.folds"):
        config.replace(folds=1)


def test_the_default_model_is_the_loaders():
    from workbench.backends.loading import DEFAULT_MODEL

    assert CollectConfig().model == DEFAULT_MODEL
