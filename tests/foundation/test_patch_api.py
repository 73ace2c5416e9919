"""``Patch`` validates on construction and against the model; ``hook_name`` names only real sites; add mode adds."""

from __future__ import annotations

import pytest
import torch

import workbench as wb
from workbench.errors import WorkbenchError

HOOK = "blocks.1.hook_resid_pre"


def values(n: int = 1, d: int = 64) -> torch.Tensor:
    return torch.ones(n, d)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"positions": torch.tensor([1.0])}, r"Patch.positions: must hold integers, got dtype torch.float32"),
    ({"positions": torch.tensor([-1])}, r"Patch.positions: holds a negative index \(-1\)"),
    ({"positions": torch.tensor([[1]])}, r"Patch.positions: must be 1-d"),
    ({"positions": [3]}, r"Patch.positions: must be a torch tensor, got list"),
    ({"values": torch.ones(64)}, r"Patch.values: must be 2-d \[n_positions, d_model\], got shape \(64,\)"),
    ({"values": torch.ones(1, 64, dtype=torch.long)}, r"Patch.values: must be a floating-point"),
    ({"values": torch.ones(2, 64)}, r"Patch.values: has 2 rows but positions has 1"),
    ({"rows": torch.tensor([0, 1])}, r"Patch.rows: has 2 entries but positions has 1"),
    ({"rows": torch.tensor([0.5])}, r"Patch.rows: must hold integers"),
    ({"mode": "replace"}, r"Patch.mode: unknown mode 'replace'; use 'set' \(overwrite\) or 'add'"),
    ({"hook": "blocks.1.hook_bogus"}, r"Patch.hook: unknown hook point 'blocks.1.hook_bogus'"),
])
def test_a_bad_patch_is_one_clear_error_on_construction(kwargs, message):
    with pytest.raises(WorkbenchError, match=message):
        wb.Patch(**{"hook": HOOK, "positions": torch.tensor([3]), "values": values(), **kwargs})


@pytest.mark.parametrize(("patch", "message"), [
    (wb.Patch(HOOK, torch.tensor([3]), torch.ones(1, 8)), r"Patch.values: has d_model 8 but the model's is 64"),
    (wb.Patch(HOOK, torch.tensor([7]), values()), r"Patch.positions: holds position 7 but the input has 5 tokens"),
    (wb.Patch(HOOK, torch.tensor([1]), values(), rows=torch.tensor([2])),
     r"Patch.rows: patches batch row 2 but the input has 1 rows"),
    (wb.Patch(HOOK, torch.tensor([1, 2]), values(2)), r"Patch.values: patches batch row 1 but the input has 1 rows"),
    (wb.Patch("blocks.9.hook_resid_pre", torch.tensor([1]), values()), r"layer 9 out of range"),
])
def test_a_patch_that_does_not_fit_the_model_is_one_clear_error(tiny_model, patch, message):
    ids = torch.tensor([[1, 2, 3, 4, 5]])
    with pytest.raises(WorkbenchError, match=message):
        tiny_model.run(ids, patches=[patch])
    with pytest.raises(WorkbenchError, match=message):
        tiny_model.confidence(ids, patches=[patch])


def test_patches_must_be_a_list(tiny_model):
    with pytest.raises(WorkbenchError, match=r"pass patches=\[patch\]"):
        tiny_model.run(torch.tensor([[1, 2, 3]]), patches=wb.Patch(HOOK, torch.tensor([0]), values()))


def test_add_mode_adds_to_the_activation_and_set_overwrites(tiny_model):
    ids = torch.tensor([[5, 6, 7, 8]])
    clean = tiny_model.run(ids, cache=[HOOK])
    act = clean.activations[HOOK]  # [1, 4, 64]
    delta = torch.randn(1, 64, generator=torch.Generator().manual_seed(0))
    added = tiny_model.run(ids, patches=[wb.Patch(HOOK, torch.tensor([2]), delta, mode="add")], cache=[HOOK])
    overwritten = tiny_model.run(ids, patches=[wb.Patch(HOOK, torch.tensor([2]), act[:, 2] + delta)], cache=[HOOK])
    assert torch.allclose(added.activations[HOOK][0, 2], act[0, 2] + delta[0], atol=1e-6)
    assert torch.allclose(added.logits, overwritten.logits, atol=1e-5)
    assert not torch.allclose(added.logits, clean.logits, atol=1e-3)  # the patch did something
    zero = tiny_model.run(ids, patches=[wb.Patch(HOOK, torch.tensor([2]), torch.zeros(1, 64), mode="add")])
    assert torch.allclose(zero.logits, clean.logits, atol=1e-6)


def test_hook_name_checks_its_site_and_counts_negative_layers_only_with_n_layers():
    assert wb.hook_name(5, "resid_pre") == "blocks.5.hook_resid_pre"
    assert wb.hook_name(-1, "resid_post", 30) == "blocks.29.hook_resid_post"
    with pytest.raises(WorkbenchError, match=r"unknown site 'bogus'.*resid_pre, attn_out"):
        wb.hook_name(5, "bogus")
    with pytest.raises(WorkbenchError, match=r"negative layer counts from the end only with n_layers="):
        wb.hook_name(-1, "resid_pre")
    with pytest.raises(WorkbenchError, match=r"layer 30 out of range: there are 30 blocks"):
        wb.hook_name(30, "resid_pre", 30)
    with pytest.raises(WorkbenchError, match=r"layer must be an integer >= 0, got True"):
        wb.hook_name(True, "resid_pre")
