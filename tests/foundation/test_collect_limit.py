"""``limit`` above the dataset's size is said, not silent, and the run records the real count."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.collect import collect
from workbench.errors import WorkbenchError, WorkbenchWarning

POPQA = Path(__file__).resolve().parents[1] / "fixtures" / "datasets" / "popqa.tsv"  # 4 items


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    """A 1-layer randomly initialised llama with a local word-level tokenizer, saved as a checkpoint directory
    (a model name the config accepts that loads in a second; nothing is downloaded)."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    path = tmp_path_factory.mktemp("tiny") / "tiny-llama"
    core = Tokenizer(models.WordLevel({f"t{i}": i for i in range(32)}, unk_token="t3"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    PreTrainedTokenizerFast(tokenizer_object=core, pad_token="t0", bos_token="t1", eos_token="t2",
                            unk_token="t3").save_pretrained(path)
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                 num_attention_heads=2, num_key_value_heads=1, bos_token_id=1, eos_token_id=2,
                                 pad_token_id=0)).save_pretrained(path)
    return path


@pytest.fixture
def not_a_run(tmp_path) -> Path:
    """An output folder collect refuses (it holds something else), so the call stops with one clear error."""
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("not a run")
    return tmp_path / "other"


def test_a_limit_above_the_dataset_size_warns_with_both_numbers(tiny_dir, not_a_run):
    with pytest.warns(WorkbenchWarning, match=r"limit 50 is more than dataset .*popqa.tsv' holds: collecting all 4"):
        with pytest.raises(WorkbenchError, match="is not a run directory"):
            collect(model=str(tiny_dir), dataset=str(POPQA), limit=50, out=not_a_run, progress=False)


def test_the_cli_prints_the_warning_as_one_line(tiny_dir, not_a_run, capsys):
    code = main(["collect", "--model", str(tiny_dir), "--dataset", str(POPQA), "--limit", "50",
                 "--out", str(not_a_run), "--no-progress"])
    assert code == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == (f"workbench collect: warning: limit 50 is more than dataset {str(POPQA)!r} holds: "
                        "collecting all 4 items (the run records n_items=4)")
    assert lines[1].startswith("workbench collect: error:") and "is not a run directory" in lines[1]
    assert len(lines) == 2


def test_a_limit_within_the_dataset_says_nothing(tiny_dir, not_a_run, recwarn):
    with pytest.raises(WorkbenchError, match="is not a run directory"):
        collect(model=str(tiny_dir), dataset=str(POPQA), limit=3, out=not_a_run, progress=False)
    assert not [w for w in recwarn if issubclass(w.category, WorkbenchWarning)]


@pytest.mark.slow
def test_the_run_records_the_real_count(smollm2, tmp_path):
    with pytest.warns(WorkbenchWarning, match="collecting all 4"):
        run = collect(out=tmp_path / "run", loaded=smollm2, dataset=str(POPQA), limit=10, progress=False)
    manifest = json.loads((run.path / "manifest.json").read_text())
    assert manifest["n_items"] == 4 and manifest["n_examples"] == 4 and manifest["config"]["limit"] == 10
    assert manifest["complete"] is True
