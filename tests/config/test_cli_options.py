"""The CLI generated from the configs: every flag has help and shows its default, existing flag spellings still
parse to the same config as the Python call, and a bad value is one error worded with its flag."""

from __future__ import annotations

import argparse

import pytest

from workbench.cli import build_parser, main
from workbench.cli_options import config_fields
from workbench.configs import (BottleneckConfig, CalibrateConfig, CollectConfig, FinetuneConfig, FinetuneExperiment,
                               PatchConfig, PlanConfig, ProbeConfig, SampleConfig, SteerConfig)
from workbench.sweeps.config import SweepConfig


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_flag_of_every_subcommand_has_help_and_shows_its_default():
    commands = subparsers(build_parser())
    assert {"collect", "probe", "calibrate", "bottleneck", "patch", "finetune", "sweep", "steer", "sample", "demo",
            "figures"} <= set(commands)
    for name, parser in commands.items():
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction) or action.help == argparse.SUPPRESS:  # help, old names
                continue
            assert action.help, f"{name} {action.dest}: no help"
            if action.option_strings:
                assert "(default: " in action.help or "(required)" in action.help, f"{name} {action.option_strings}"


def test_every_config_field_is_a_flag():
    commands = subparsers(build_parser())
    for command, configs, skip in (("collect", [CollectConfig], set()), ("probe", [ProbeConfig], set()),
                                   ("calibrate", [CalibrateConfig], set()), ("bottleneck", [BottleneckConfig], set()),
                                   ("patch", [PatchConfig], set()), ("steer", [SteerConfig], set()),
                                   ("sample", [SampleConfig], set()), ("plan", [PlanConfig], set()),
                                   ("finetune", [FinetuneConfig, FinetuneExperiment], {"seed"}),
                                   ("sweep", [SweepConfig], set(SweepConfig.model_fields) -
                                    set(SweepConfig.execution_keys()))):
        dests = {a.dest for a in commands[command]._actions}
        for cls in configs:
            assert set(cls.model_fields) - skip <= dests, (command, set(cls.model_fields) - skip - dests)


def parsed(argv: list[str], *configs) -> dict:
    return config_fields(build_parser().parse_args(argv), *configs)


def test_existing_flag_spellings_give_the_python_config():
    assert CollectConfig(**parsed(["collect", "--out", "x", "--limit", "5", "--store-dtype", "float16",
                                   "--batch-size", "2", "--device", "cpu"], CollectConfig)) == \
        CollectConfig(limit=5, store_dtype="float16", batch_size=2, device="cpu")
    assert CollectConfig(**parsed(["collect", "--out", "x", "--store-dtype", "bfloat16", "--store-readouts", "0,40,-1",
                                   "--store-roles", "confidence_slot", "answer_last"], CollectConfig)) == \
        CollectConfig(store_dtype="bfloat16", store_readouts=(0, 40, -1), store_roles=("confidence_slot", "answer_last"))
    assert ProbeConfig(**parsed(["probe", "r", "--roles", "confidence_slot", "answer_last", "--readouts", "0,8,-1",
                                 "--folds", "3", "--seeds", "2", "--probes", "diffmeans", "--boot", "50",
                                 "--no-weights"], ProbeConfig)) == \
        ProbeConfig(roles=("confidence_slot", "answer_last"), readouts=(0, 8, -1), folds=3, seeds=2,
                    probes=("diffmeans",), n_boot=50, save_weights=False)
    assert ProbeConfig(**parsed(["probe", "r", "--roles", "all"], ProbeConfig)).roles == "all"
    assert CalibrateConfig(**parsed(["calibrate", "r", "--bins", "5", "--strategy", "quantile", "--validity", "strict",
                                     "--known-threshold", "0.7", "--seed", "2"], CalibrateConfig)) == \
        CalibrateConfig(n_bins=5, strategy="quantile", validity="strict", known_threshold=0.7, seed=2)
    assert BottleneckConfig(**parsed(["bottleneck", "r", "--no-lens", "--boot", "100"], BottleneckConfig)) == \
        BottleneckConfig(logit_lens=False, n_boot=100)
    assert PatchConfig(**parsed(["patch", "r", "--pairs", "random", "--blocks", "10-12", "--roles",
                                 "confidence_slot,answer_last", "--levels", "90,10", "--metric", "logit_diff",
                                 "--n-pairs", "4", "--controls", "none", "--no-attribution", "--overwrite",
                                 "--no-figures", "--chunk-pairs", "2"], PatchConfig)) == \
        PatchConfig(pairs="random", blocks=(10, 11, 12), roles=("confidence_slot", "answer_last"), levels=("90", "10"),
                    metric="logit_diff", n_pairs=4, controls=(), attribution=False, overwrite=True, figures=False,
                    chunk_pairs=2)
    fields = parsed(["finetune", "r", "--out", "o", "--probe", "18/confidence_slot", "--seed", "0", "1",
                     "--modules", "q_proj", "k_proj", "--eval", "heldout=runs/h", "--eval", "runs/ood",
                     "--baselines", "constant", "--no-patch", "--lr", "1e-3"], FinetuneConfig, FinetuneExperiment)
    assert fields == {"probe": "18/confidence_slot", "seeds": (0, 1), "target_modules": ("q_proj", "k_proj"),
                      "eval": ("heldout=runs/h", "runs/ood"), "baselines": ("constant",), "patch": False, "lr": 1e-3}
    assert FinetuneExperiment(**{k: v for k, v in fields.items() if k in FinetuneExperiment.model_fields}).eval == \
        {"heldout": "runs/h", "ood": "runs/ood"}
    assert parsed(["finetune", "r", "--out", "o", "--baselines"], FinetuneExperiment) == {"baselines": ()}
    assert SteerConfig(**parsed(["steer", "r", "--direction", "mean_diff", "--readouts", "1,-1", "--alphas=-1,0,1",
                                 "--n-random", "1", "--boot", "20", "--limit", "4", "--no-figures"], SteerConfig)) == \
        SteerConfig(direction="mean_diff", readouts=(1, -1), alphas=(-1.0, 0.0, 1.0), n_random=1, n_boot=20, limit=4,
                    figures=False)
    assert SampleConfig(**parsed(["sample", "r", "--k", "3", "--temperature", "0.5", "--max-answer-tokens", "2",
                                  "--no-p-true", "--batch-size", "2"], SampleConfig)) == \
        SampleConfig(k=3, temperature=0.5, max_answer_tokens=2, p_true=False, batch_size=2)
    assert parsed(["sweep", "s.toml", "--workers", "3", "--no-progress", "--executor", "ray"], SweepConfig) == \
        {"workers": 3, "progress": False, "executor": "ray"}


def test_the_old_layer_flags_still_work_with_a_warning():
    with pytest.warns(FutureWarning, match=r"patch\.layers is now patch\.blocks"):
        assert PatchConfig(**parsed(["patch", "r", "--layers", "0,-1"], PatchConfig)) == PatchConfig(blocks=(0, -1))
    with pytest.warns(FutureWarning, match=r"bottleneck\.lens_layers is now bottleneck\.lens_readouts"):
        assert BottleneckConfig(**parsed(["bottleneck", "r", "--lens-layers", "2"], BottleneckConfig)).lens_readouts == (2,)
    help_text = build_parser()._subparsers._group_actions[0].choices["probe"].format_help()
    assert "--readouts" in help_text and "--layers" not in help_text  # hidden


def test_flags_not_given_are_not_passed_so_the_config_default_applies():
    assert parsed(["probe", "r"], ProbeConfig) == {}
    assert parsed(["demo"], CollectConfig) == {"limit": 300}  # the demo's own default, shown in its help


@pytest.mark.parametrize("argv, message", [
    (["probe", "RUN", "--folds", "x"], "--folds: must be \"auto\" or an integer >= 2, got 'x'"),
    (["probe", "RUN", "--readouts", "some"], "--readouts: must be \"all\" or a non-empty list of read-out numbers"),
    (["calibrate", "RUN", "--bins", "1"], "--bins: must be an integer >= 2, got 1"),
    (["patch", "RUN", "--site", "attn_ou"], "--site: must be one of resid_pre, resid_post, attn_out, mlp_out. Did you "
                                            "mean 'attn_out'?"),
    (["patch", "RUN", "--pairs", "cross-model"], "--source-run: pairs 'cross-model' needs source_run"),
    (["steer", "RUN", "--alphas", "x"], "--alphas: must be comma-separated numbers such as -1,-0.5,0,0.5,1"),
    (["steer", "RUN", "--alphas", ""], "--alphas: the alpha grid is empty"),
    (["steer", "RUN", "--direction", "mean-diff"], "--direction: must be one of probe, mean_diff"),
    (["sample", "RUN", "--k", "1"], "--k: must be an integer >= 2, got 1"),
    (["collect", "--out", "OUT", "--limit", "abc"], "--limit: must be an integer >= 1 or 'all', got 'abc'"),
    (["collect", "--out", "OUT", "--dataset", "capitols"], "--dataset: unknown dataset 'capitols'. Did you mean "
                                                            "'capitals'?"),
])
def test_a_bad_value_is_one_line_naming_the_flag(argv, message, tmp_path, capsys):
    argv = [str(tmp_path / a) if a in ("RUN", "OUT") else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and err.startswith(f"workbench {argv[0]}: error:")


def test_sweep_execution_flags_are_validated_by_the_sweep_config_even_in_a_dry_run(tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text('[sweep]\nmodels = ["smollm2-135m-instruct"]\ndatasets = ["capitals"]\nworkers = 2\n')
    assert main(["sweep", str(path), "--workers", "0", "--dry-run", "--out", str(tmp_path / "out")]) == 2
    assert "--workers: must be an integer >= 1, got 0" in capsys.readouterr().err
    assert main(["sweep", str(path), "--dry-run", "--out", str(tmp_path / "out")]) == 0
    assert "1 units; config valid" in capsys.readouterr().out


@pytest.mark.parametrize("command, config", [
    (["collect", "--out", "o"], CollectConfig(limit=None, seed=3, vocabulary="digits", device="cpu", progress=False,
                                              fast=False)),
    (["probe", "r"], ProbeConfig(roles=("confidence_slot", "answer_last"), readouts=(0, -1), folds=3, seeds=2,
                                 probes=("diffmeans",), n_boot=50, save_weights=False, allow_incomplete=True)),
    (["probe", "r"], ProbeConfig(roles="all", readouts="all")),
    (["patch", "r"], PatchConfig(pairs="random", blocks=(10, 11), levels=("90", "10"), n_pairs=None, controls=(),
                                 attribution=False)),
    (["steer", "r"], SteerConfig(direction="mean_diff", readouts=(1, -1), alphas=(-1.0, 0.0, 0.5), limit=None)),
    (["finetune", "r", "--out", "o"], FinetuneExperiment(seeds=(0, 1), eval={"heldout": "runs/h"}, baselines=())),
])
def test_cli_args_give_the_config_back_through_the_parser(command, config):
    """``cli_args`` (what printed commands are built from) writes each field as the CLI parses it."""
    cls = type(config)
    assert cls(**parsed([*command, *cls.cli_args(config.to_dict())], cls)) == config
