"""``limit`` above the dataset's size is said, not silent, and the run records the real count."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.collect import collect
from workbench.errors import WorkbenchError, WorkbenchWarning

POPQA = Path(__file__).resolve().parents[1] / "fixtures" / "datasets" / "popqa.tsv"  # 4 items


def test_a_limit_above_the_dataset_size_warns_with_both_numbers_before_the_model_loads(tmp_path):
    with pytest.warns(WorkbenchWarning, match=r"limit 50 is more than dataset .*popqa.tsv' holds: collecting all 4"):
        with pytest.raises(WorkbenchError):  # the model does not exist: the warning came first
            collect(model="no-such-model", dataset=str(POPQA), limit=50, out=tmp_path / "run")


def test_the_cli_prints_the_warning_as_one_line(tmp_path, capsys):
    code = main(["collect", "--model", "no-such-model", "--dataset", str(POPQA), "--limit", "50",
                 "--out", str(tmp_path / "run")])
    assert code == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == (f"workbench collect: warning: limit 50 is more than dataset {str(POPQA)!r} holds: "
                        "collecting all 4 items (the run records n_items=4)")
    assert lines[1].startswith("workbench collect: error:") and len(lines) == 2


def test_a_limit_within_the_dataset_says_nothing(tmp_path, recwarn):
    with pytest.raises(WorkbenchError):
        collect(model="no-such-model", dataset=str(POPQA), limit=3, out=tmp_path / "run")
    assert not [w for w in recwarn if issubclass(w.category, WorkbenchWarning)]


@pytest.mark.slow
def test_the_run_records_the_real_count(smollm2, tmp_path):
    with pytest.warns(WorkbenchWarning, match="collecting all 4"):
        run = collect(out=tmp_path / "run", loaded=smollm2, dataset=str(POPQA), limit=10, progress=False)
    manifest = json.loads((run.path / "manifest.json").read_text())
    assert manifest["n_items"] == 4 and manifest["n_examples"] == 4 and manifest["config"]["limit"] == 10
    assert manifest["complete"] is True
