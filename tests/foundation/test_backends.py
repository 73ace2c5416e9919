"""Both backends agree with plain transformers and with each other on SmolLM2; batches equal single rows."""

from __future__ import annotations

import pytest
import torch

from workbench.backends import Patch, hook_name, load_model, parse_hook_name
from workbench.backends.base import SITES
from workbench.errors import WorkbenchError

PROMPTS = ["What is the capital of France?", "What is 7 + 5? Answer with a number only, please."]


@pytest.fixture(scope="module")
def plain(smollm2):
    """A separate, unwrapped transformers copy of the same checkpoint (the bridge wraps its model in place)."""
    from transformers import AutoModelForCausalLM

    from workbench.backends.loading import resolve

    path, _ = resolve("smollm2-135m-instruct")
    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()


def chat_ids(tokenizer, text: str) -> torch.Tensor:
    return tokenizer.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True,
                                         return_tensors="pt")["input_ids"]


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


@pytest.mark.parametrize("prompt", PROMPTS)
def test_backends_match_transformers_at_every_layer(smollm2, smollm2_nnsight, plain, prompt):
    ids = chat_ids(smollm2.tokenizer, prompt)
    with torch.no_grad():
        ref = plain(ids, output_hidden_states=True)
    hooks = [hook_name(layer, "resid_pre") for layer in range(smollm2.n_layers)]
    for backend in (smollm2, smollm2_nnsight):
        out = backend.run(ids, cache=hooks)
        assert rel_err(out.logits, ref.logits) < 1e-4, backend.name
        for layer, name in enumerate(hooks):  # hidden_states[L] is exactly the input of block L
            assert rel_err(out.activations[name], ref.hidden_states[layer]) < 1e-4, (backend.name, layer)
        probs = out.logits[0, -1].softmax(-1)
        assert float((probs - ref.logits[0, -1].softmax(-1)).abs().max()) < 1e-4


def test_backends_agree_on_every_site(smollm2, smollm2_nnsight):
    ids = chat_ids(smollm2.tokenizer, PROMPTS[0])
    hooks = [hook_name(layer, site) for layer in (0, 14, 29) for site in SITES]
    positions = torch.tensor([[2, ids.shape[1] - 1]])
    a = smollm2.run(ids, cache=hooks, cache_positions=positions)
    b = smollm2_nnsight.run(ids, cache=hooks, cache_positions=positions)
    for name in hooks:
        assert a.activations[name].shape == (1, 2, smollm2.d_model)
        assert rel_err(a.activations[name], b.activations[name]) < 1e-4, name


def test_patches_agree_and_change_downstream(smollm2, smollm2_nnsight):
    ids = chat_ids(smollm2.tokenizer, PROMPTS[0])
    last = ids.shape[1] - 1
    donor = smollm2.run(chat_ids(smollm2.tokenizer, PROMPTS[1]), cache=["blocks.10.hook_resid_pre"],
                        cache_positions=torch.tensor([[5]])).activations["blocks.10.hook_resid_pre"][:, 0]
    patch = Patch("blocks.10.hook_resid_pre", torch.tensor([last]), donor)
    clean = smollm2.run(ids)
    outs = [b.run(ids, patches=[patch], cache=["blocks.10.hook_resid_pre"], cache_positions=torch.tensor([[last]]))
            for b in (smollm2, smollm2_nnsight)]
    for out in outs:
        assert torch.allclose(out.activations["blocks.10.hook_resid_pre"][:, 0], donor)
        assert float((out.logits[0, -1] - clean.logits[0, -1]).abs().max()) > 1e-2  # the patch did something
        assert torch.allclose(out.logits[0, :-1], clean.logits[0, :-1], atol=1e-4)  # earlier positions untouched
    assert float((outs[0].logits[0, -1].softmax(-1) - outs[1].logits[0, -1].softmax(-1)).abs().max()) < 1e-4


def test_bad_hook_names_and_layers(smollm2):
    with pytest.raises(WorkbenchError, match="out of range"):
        parse_hook_name("blocks.30.hook_resid_pre", smollm2.n_layers)
    with pytest.raises(WorkbenchError, match="unknown hook point"):
        smollm2.run(chat_ids(smollm2.tokenizer, "hi"), cache=["blocks.1.hook_resid_sideways"])


def test_unknown_model_lists_known_ones():
    with pytest.raises(WorkbenchError, match="smollm2-135m-instruct"):
        load_model("smollm-135m")
    with pytest.raises(WorkbenchError, match="backend"):
        load_model("smollm2-135m-instruct", backend="pyvene")


def test_local_checkpoint_directory_loads_on_both_backends(tiny_checkpoint):
    for backend in ("transformer_lens", "nnsight"):
        model = load_model(str(tiny_checkpoint), backend=backend, device="cpu")
        assert (model.n_layers, model.d_model) == (2, 64)
        assert model.info["checksum"].startswith("sha256:")
        out = model.run(torch.tensor([[1, 2, 3]]), cache=["blocks.1.hook_resid_post"])
        assert out.activations["blocks.1.hook_resid_post"].shape == (1, 3, 64)
