"""``model.confidence``: the run's own read-outs recomputed from its ids, batched = one row at a time, patched; the
ids ``model.run`` and ``model.confidence`` take (lists, 1-d, 2-d) and refuse (one clear error each); the model's repr."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import workbench as wb
from workbench.errors import WorkbenchError


def test_confidence_of_a_runs_prompt_ids_is_its_stored_readout(tiny_model, tiny_run):
    records = tiny_run.records
    for i in range(tiny_run.n_examples):
        conf = tiny_model.confidence(tiny_run.prompt_ids(i), vocabulary=tiny_run.vocabulary)
        row = records.iloc[i]
        assert conf.probs.shape == (1, 101)
        assert np.allclose(conf.probs[0], row["confidence_probs"], atol=1e-5)
        assert conf.expected[0] == pytest.approx(row["softmax_expected"], abs=1e-3)
        assert conf.argmax[0] == row["argmax_confidence"]
        assert conf.entropy[0] == pytest.approx(row["entropy"], abs=1e-4)
        assert conf.mass[0] == pytest.approx(row["vocab_mass"], rel=1e-4)


def test_a_left_padded_batch_gives_each_rows_own_confidence(tiny_model, tiny_run):
    rows = [tiny_run.prompt_ids(i) for i in range(3)]
    width = max(map(len, rows))
    ids = torch.tensor([[0] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    batch = tiny_model.confidence(ids, attention_mask=mask)
    single = np.concatenate([tiny_model.confidence(r).probs for r in rows])
    assert batch.probs.shape == (3, 101)
    assert np.abs(batch.probs - single).max() < 1e-5
    assert np.allclose(batch.expected, [tiny_model.confidence(r).expected[0] for r in rows], atol=1e-3)


def test_the_readouts_follow_their_definitions(tiny_model, tiny_run):
    conf = tiny_model.confidence(tiny_run.prompt_ids(0), vocabulary="digits")
    q = conf.probs / conf.probs.sum(1, keepdims=True)
    assert np.allclose(conf.values, [100 * i / 9 for i in range(10)])
    assert conf.expected[0] == pytest.approx(float(q[0] @ conf.values))
    assert conf.argmax[0] == conf.values[conf.probs[0].argmax()]
    assert conf.entropy[0] == pytest.approx(float(-(q[0] * np.log(q[0])).sum()))
    assert 0 < conf.mass[0] <= 1


def test_a_patch_moves_the_confidence_and_a_no_op_patch_does_not(tiny_model, tiny_run):
    ids = tiny_run.prompt_ids(1)
    clean = tiny_model.confidence(ids)
    patch = wb.Patch.from_run(tiny_run, 0, tiny_run, 1, layer=1)
    moved = tiny_model.confidence(ids, patches=[patch])
    same = tiny_model.confidence(ids, patches=[wb.Patch.from_run(tiny_run, 1, tiny_run, 1, layer=1)])
    # the random tiny model puts little mass on the vocabulary: compare relative to each probability
    assert np.abs(moved.probs / clean.probs - 1).max() > 1e-3
    assert np.abs(same.probs / clean.probs - 1).max() < 1e-4


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"input_ids": torch.tensor([[1.0, 2.0]])}, "input_ids must be integer token ids"),
    ({"input_ids": torch.tensor([[1, 2]]), "attention_mask": torch.tensor([[1, 0]])}, "pad on the left"),
    ({"input_ids": torch.tensor([[1, 2]]), "attention_mask": torch.tensor([[1, 1, 1]])}, "must match input_ids"),
    ({"input_ids": torch.tensor([[1, 2]]), "vocabulary": "percents"}, "unknown confidence vocabulary 'percents'"),
])
def test_bad_confidence_input_is_one_clear_error(tiny_model, kwargs, message):
    with pytest.raises(WorkbenchError, match=message):
        tiny_model.confidence(**kwargs)


def test_run_and_confidence_take_prompt_ids_as_a_list_1d_or_2d(tiny_model, tiny_run):
    ids = tiny_run.prompt_ids(2)  # a list of ints
    assert isinstance(ids, list)
    as_batch = tiny_model.run(torch.tensor([ids])).logits
    for given in (ids, [ids], torch.tensor(ids), torch.tensor([ids]), np.asarray(ids)):
        assert torch.equal(tiny_model.run(given).logits, as_batch)
        assert np.array_equal(tiny_model.confidence(given).probs, tiny_model.confidence(torch.tensor([ids])).probs)
    patch = wb.Patch.from_run(tiny_run, 0, tiny_run, 2, layer=1)
    assert torch.equal(tiny_model.run(ids, patches=[patch]).logits, tiny_model.run([ids], patches=[patch]).logits)


@pytest.mark.parametrize(("input_ids", "message"), [
    ([[1, 2], [3]], r"must be token ids of one shape: .* pad shorter rows on the left and pass attention_mask"),
    ([], r"input_ids holds no tokens \(shape \(0,\)\); pass at least one token id"),
    ([[]], r"input_ids holds no tokens \(shape \(1, 0\)\)"),
    (torch.ones(1, 2, 3, dtype=torch.long), r"must be one sequence \[pos\] or a batch \[batch, pos\], got shape \(1, 2, 3\)"),
    (torch.tensor(5), r"must be one sequence \[pos\] or a batch \[batch, pos\], got shape \(\)"),
    ([1.0, 2.0], "input_ids must be integer token ids, got dtype torch.float32"),
    ([1, 10**6], r"token id 1000000, outside this model's vocabulary of \d+ \(ids 0\.\.\d+\); tokenize with"),
    ([-1, 2], r"token id -1, outside this model's vocabulary"),
])
@pytest.mark.parametrize("verb", ["run", "confidence"])
def test_bad_ids_are_one_clear_error_in_run_and_confidence(tiny_model, verb, input_ids, message):
    with pytest.raises(WorkbenchError, match=message):
        getattr(tiny_model, verb)(input_ids)


def test_a_models_repr_names_model_backend_dtype_device_and_blocks(tiny_model, tiny_path):
    assert repr(tiny_model) == (f"Backend({tiny_path.name!r}, backend='transformer_lens', dtype='float32', "
                                "device='cpu', blocks=2, d_model=64)")
    assert str(tiny_model) == repr(tiny_model)
