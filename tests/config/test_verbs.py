"""The verbs of ``import workbench as wb``: their keyword arguments are their configs' fields with the same
defaults, and a verb and its CLI subcommand store the same result config for the same inputs."""

from __future__ import annotations

import inspect

import pytest

import workbench as wb
from workbench import api, studies
from workbench.analyses.synthetic import make_run
from workbench.cli import main
from workbench.configs import (BottleneckConfig, CalibrateConfig, CollectConfig, ConfigError, FinetuneConfig,
                               FinetuneExperiment, PatchConfig, PlanConfig, ProbeConfig, ReplicateConfig, SampleConfig,
                               SteerConfig)
from workbench.store.results import read_result
from workbench.sweeps.config import SweepConfig


@pytest.mark.parametrize("verb, configs, skip", [
    (wb.collect, [CollectConfig], ()), (wb.probe, [ProbeConfig], ()), (wb.calibrate, [CalibrateConfig], ()),
    (wb.bottleneck, [BottleneckConfig], ()), (wb.patch, [PatchConfig], ()), (wb.steer, [SteerConfig], ()),
    (wb.sample, [SampleConfig], ()),
    (wb.finetune, [FinetuneConfig, FinetuneExperiment], ("seed",)),
    (wb.sweep, [SweepConfig], tuple(n for n in SweepConfig.model_fields if n not in SweepConfig.execution_keys())),
    (wb.replicate, [ReplicateConfig], ()), (wb.plan, [PlanConfig], ()),
], ids=lambda v: getattr(v, "__name__", ""))
def test_each_verb_takes_its_config_fields_with_their_defaults(verb, configs, skip):
    params = inspect.signature(verb).parameters
    for cls in configs:
        for name, info in cls.model_fields.items():
            if name in skip:
                assert name not in params
                continue
            assert params[name].kind is inspect.Parameter.KEYWORD_ONLY, (verb.__name__, name)
            assert params[name].default == info.default, (verb.__name__, name)
    assert verb is getattr(studies if verb in (wb.sweep, wb.replicate) else api, verb.__name__)


def test_verbs_refuse_bad_fields_before_reading_the_run(tmp_path):
    with pytest.raises(ConfigError, match="probe.folds: must be"):
        wb.probe(tmp_path / "no-run", folds=1)
    with pytest.raises(ConfigError, match="unknown key 'calibrate.bins'. Did you mean 'n_bins'?"):
        wb.calibrate(tmp_path / "no-run", bins=5)
    with pytest.raises(ConfigError, match="steer.alphas: the alpha grid is empty"):
        wb.steer(tmp_path / "no-run", alphas=())
    with pytest.raises(ConfigError, match="sample.k: must be an integer >= 2"):
        wb.sample(tmp_path / "no-run", k=1)
    with pytest.raises(ConfigError, match="sweep.workers: must be an integer >= 1, got 0"):
        wb.sweep({"sweep": {"models": ["smollm2-135m-instruct"], "datasets": ["capitals"]}}, tmp_path, workers=0)


def twin_runs(tmp_path):
    """Two identical synthetic runs: one for the verb, one for the CLI."""
    return (make_run(tmp_path / "api", n=60, accuracy=0.4), make_run(tmp_path / "cli", n=60, accuracy=0.4))


def stored(run, analysis):
    result = read_result(run.path / "results" / analysis)
    return result.config, result.manifest["config_hash"]


def test_probe_verb_and_cli_store_the_same_config(tmp_path):
    by_api, by_cli = twin_runs(tmp_path)
    result = wb.probe(by_api, roles="confidence_slot", readouts=(1, 2), probes=("diffmeans",), seeds=2, n_boot=50)
    assert main(["probe", str(by_cli.path), "--roles", "confidence_slot", "--readouts", "1,2", "--probes", "diffmeans",
                 "--seeds", "2", "--boot", "50"]) == 0
    assert result.path.parent == by_api.path / "results" / "probes"  # keyed by config: the same key in both runs
    assert read_result(by_cli.path / "results" / "probes").path.name == result.path.name
    assert stored(by_api, "probes") == stored(by_cli, "probes")
    replicated = [stored(run, "replication")[0] for run in (by_api, by_cli)]
    assert replicated[0]["probes_config"] == replicated[1]["probes_config"]  # (the rest names the run's path)
    assert result.config["seeds"] == [0, 1] and result.config["layers"] == [1, 2]


def test_calibrate_verb_and_cli_store_the_same_config(tmp_path):
    by_api, by_cli = twin_runs(tmp_path)
    result = wb.calibrate(by_api, n_bins=5, strategy="quantile", n_boot=50, validity="strict", known_threshold=0.6)
    assert main(["calibrate", str(by_cli.path), "--bins", "5", "--strategy", "quantile", "--boot", "50",
                 "--validity", "strict", "--known-threshold", "0.6"]) == 0
    assert result.config["n_bins"] == 5 and result.config["strategy"] == "quantile"
    for analysis in ("channels", "prior_knowledge"):
        assert stored(by_api, analysis) == stored(by_cli, analysis)
    assert read_result(by_api.path / "results" / "prior_knowledge").config["threshold"] == 0.6


def test_bottleneck_verb_and_cli_store_the_same_config(tmp_path):
    by_api, by_cli = twin_runs(tmp_path)
    result = wb.bottleneck(by_api, logit_lens=False, n_boot=100, seed=3)
    assert main(["bottleneck", str(by_cli.path), "--no-lens", "--boot", "100", "--seed", "3"]) == 0
    assert result.config["n_boot"] == 100 and result.config["logit_lens"] is False
    assert stored(by_api, "bottleneck") == stored(by_cli, "bottleneck")


def test_a_config_object_and_fields_compose(tmp_path):
    run = make_run(tmp_path / "run", n=60, accuracy=0.4)
    base = ProbeConfig(readouts=(1,), probes=("diffmeans",), seeds=1, n_boot=50)
    result = wb.probe(run, base, readouts=(2,))  # fields override the given config
    assert result.config["layers"] == [2] and result.config["probes"] == ["diffmeans"]


@pytest.mark.slow
def test_patch_verb_and_cli_store_the_same_config(tmp_path, tiny_checkpoint):
    model = wb.load_model(str(tiny_checkpoint), device="cpu")
    runs = [wb.collect(tmp_path / name, model=str(tiny_checkpoint), loaded=model, dataset="capitals", limit=4,
                       max_answer_tokens=2, progress=False) for name in ("api", "cli")]
    options = dict(pairs="random", n_pairs=2, blocks=(0, 1), controls=(), attribution=False, figures=False,
                   progress=False, n_boot=50)
    result = wb.patch(runs[0], model, **options)
    assert main(["patch", str(runs[1].path), "--pairs", "random", "--n-pairs", "2", "--blocks", "0-1", "--controls",
                 "none", "--no-attribution", "--no-figures", "--no-progress", "--n-boot", "50"]) == 0
    analysis = "patching-random-resid_pre"
    assert stored(runs[0], analysis) == stored(runs[1], analysis)
    assert result.config["layers"] == [0, 1] and result.config["controls"] == []
    again = wb.patch(runs[0], **options)  # no model given: the run's model is loaded; the stored result is found
    assert again.manifest["config_hash"] == result.manifest["config_hash"]


def test_the_verbs_keep_their_names_when_their_namesake_modules_are_imported():
    import importlib

    for module in ("workbench.collect", "workbench.finetune", "workbench.finetune.train", "workbench.finetune.runner"):
        importlib.import_module(module)
    assert wb.collect is api.collect and wb.finetune is api.finetune
