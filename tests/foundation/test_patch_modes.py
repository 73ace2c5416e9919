"""Additive patches on a tiny random llama, both backends: adding v equals setting act + v, and only there."""

from __future__ import annotations

import pytest
import torch

from workbench.backends import Patch, load_model
from workbench.errors import WorkbenchError

HOOK = "blocks.1.hook_resid_pre"


@pytest.fixture(scope="module", params=["transformer_lens", "nnsight"])
def tiny(request, tiny_checkpoint):
    return load_model(str(tiny_checkpoint), backend=request.param, device="cpu")


def test_add_equals_set_of_activation_plus_values(tiny):
    torch.manual_seed(1)
    ids = torch.randint(0, 1000, (3, 7))
    positions, rows = torch.tensor([6, 2, 4]), torch.tensor([0, 1, 2])
    v = 3.0 * torch.randn(3, tiny.d_model)
    clean = tiny.run(ids, cache=[HOOK])
    act = clean.activations[HOOK]  # [batch, pos, d_model]
    added = tiny.run(ids, patches=[Patch(HOOK, positions, v, rows=rows, mode="add")], cache=[HOOK])
    overwritten = tiny.run(ids, patches=[Patch(HOOK, positions, act[rows, positions] + v, rows=rows)])
    assert torch.allclose(added.logits, overwritten.logits, atol=1e-5)
    assert torch.allclose(added.activations[HOOK][rows, positions], act[rows, positions] + v, atol=1e-5)
    assert float((added.logits[0, 6] - clean.logits[0, 6]).abs().max()) > 1e-3  # the push did something
    assert torch.allclose(added.logits[0, :6], clean.logits[0, :6], atol=1e-5)  # and nothing before it


def test_two_adds_at_one_place_accumulate(tiny):
    ids = torch.randint(0, 1000, (1, 5))
    v = torch.randn(1, tiny.d_model)
    twice = tiny.run(ids, patches=[Patch(HOOK, torch.tensor([4]), v, mode="add")] * 2)
    once = tiny.run(ids, patches=[Patch(HOOK, torch.tensor([4]), 2 * v, mode="add")])
    assert torch.allclose(twice.logits, once.logits, atol=1e-5)


def test_unknown_mode_is_one_clear_error(tiny):
    with pytest.raises(WorkbenchError, match="Patch.mode: unknown mode 'multiply'"):
        tiny.run(torch.tensor([[1, 2, 3]]), patches=[Patch(HOOK, torch.tensor([2]), torch.zeros(1, tiny.d_model),
                                                           mode="multiply")])
