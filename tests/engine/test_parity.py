"""The parity matrix: every architecture row, plain transformers <-> TransformerLens <-> nnsight at every site,
the exact fast path against each backend's reference loop at every patch site, and attribution against exact
where the linear estimate must be exact. Tiny random checkpoints built locally (tests/engine/conftest.py).

Tolerances: fp32 agreement within 1e-5 relative (max |a - b| / max |b|), fast == reference within 1e-5 on
probabilities. bf16: within BF16_REL = 16 bf16 ulps (2^-4, 6.25%) relative — a bf16 number carries 8
significant bits (one rounding is up to 2^-8 = 0.39% relative); TransformerLens's bridge computes attention
with its own ops (another order of roundings than transformers' sdpa), and each of the 2-3 layers and the
unembedding add roundings (residual additions, norms, a 64-term dot product), and the attention softmax of
these large random weights (init std 0.2) amplifies rounding in its scores, so a few ulps between two correct
bf16 forwards are expected (measured: up to 4.2%, qwen2's last attn_out), while a wrong site or a missed norm
differs by O(100%).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from workbench.analyses.patching.attribution import attribute
from workbench.analyses.patching.fast import run_fast
from workbench.analyses.patching.job import PatchJob
from workbench.analyses.patching.metrics import MetricSpec, expected
from workbench.analyses.patching.reference import run_reference
from workbench.architectures import SITE_NAMES, architecture, module_at
from workbench.backends.base import hook_name
from workbench.elicit.scoring import VocabularyTrie
from workbench.prompts.vocabulary import ConfidenceVocabulary

ROWS = ("llama", "mistral", "qwen2", "qwen3", "gemma3_text")  # every row of ARCHITECTURES but gemma3
FP32_REL = 1e-5
BF16_REL = 16 * 2.0 ** -8
PATCH_SITES = ("resid_pre", "attn_out", "mlp_out", "resid_post")
# Four confidence strings as raw ids: two of them span two tokens, so the trie has two internal nodes.
TRIE = VocabularyTrie(token_ids=((50,), (51,), (51, 52), (53, 54)), nodes=((51,), (53,)), parents=(-1, -1))
VOCABULARY = ConfidenceVocabulary(name="tiny", strings=("a", "b", "bc", "de"), values=(0.0, 30.0, 60.0, 100.0))
PREFIX = (1, 5, 6)  # every sequence starts with it: the fast path computes it once
TARGETS = ((*PREFIX, 10, 11, 12, 13, 14, 15, 16, 9), (*PREFIX, 20, 21, 22, 23, 24, 25, 26, 27, 9),
           (*PREFIX, 30, 31, 32, 33, 34, 35, 9))
SOURCES = ((*PREFIX, 40, 41, 42, 43, 44, 45, 46, 9), (*PREFIX, 60, 61, 62, 63, 64, 65, 66, 67, 68, 9))


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().float(), b.detach().float()
    return float((a - b).abs().max() / b.abs().max())


def every_hook(n_layers: int) -> list[str]:
    return [hook_name(layer, site) for layer in range(n_layers) for site in SITE_NAMES]


@pytest.mark.parametrize("row", ROWS)
def test_backends_agree_at_every_site(row, row_backends):
    """TransformerLens and nnsight read the same tensors at every site as plain transformers computes, and the
    table's sites are what is added to the stream: resid_mid = resid_pre + attn_out, resid_post = resid_mid +
    mlp_out."""
    models = row_backends(row)
    plain, tl, nn = models["plain"], models["transformer_lens"], models["nnsight"]
    ids = torch.tensor([TARGETS[1]])
    with torch.no_grad():
        out = plain(ids, output_hidden_states=True)
    n = tl.n_layers
    runs = {name: models[name].run(ids, cache=every_hook(n)) for name in ("transformer_lens", "nnsight")}
    for name, run in runs.items():
        assert relative(run.logits, out.logits) <= FP32_REL, name
        for layer in range(n):
            acts = {site: run.activations[hook_name(layer, site)] for site in SITE_NAMES}
            assert relative(acts["resid_pre"], out.hidden_states[layer]) <= FP32_REL, (name, layer)
            assert relative(acts["resid_pre"] + acts["attn_out"], acts["resid_mid"]) <= FP32_REL, (name, layer)
            assert relative(acts["resid_mid"] + acts["mlp_out"], acts["resid_post"]) <= FP32_REL, (name, layer)
            for site in SITE_NAMES:
                theirs = runs["nnsight"].activations[hook_name(layer, site)]
                assert relative(acts[site], theirs) <= FP32_REL, (name, layer, site)
    assert tl.architecture == nn.architecture == architecture(plain).model_type


@pytest.mark.parametrize("row", ROWS)
def test_backends_agree_in_bf16(row, make_backends):
    models = make_backends(row, torch.bfloat16)
    ids = torch.tensor([TARGETS[0]])
    with torch.no_grad():
        plain = models["plain"](ids, output_hidden_states=True)
    n = models["nnsight"].n_layers
    for name in ("transformer_lens", "nnsight"):
        run = models[name].run(ids, cache=every_hook(n))
        assert run.logits.dtype == torch.bfloat16
        assert relative(run.logits, plain.logits) <= BF16_REL, name
        for layer in range(n):
            assert relative(run.activations[hook_name(layer, "resid_pre")], plain.hidden_states[layer]) <= BF16_REL
        for hook in every_hook(n):
            theirs = models["nnsight"].run(ids, cache=[hook]).activations[hook]
            assert relative(run.activations[hook], theirs) <= BF16_REL, (name, hook)


def make_job(backend, site: str, layers: tuple[int, ...]) -> PatchJob:
    """Two sources patched into three targets (one target twice), at the slot of two targets and three tokens
    before the slot of the third (a longer suffix, across the sliding window); values from the sources' clean
    runs on the same backend."""
    positions = (len(TARGETS[0]) - 1, len(TARGETS[1]) - 1, len(TARGETS[2]) - 4)
    target_of_pair = (0, 1, 2, 2)
    source_of_pair = (0, 1, 0, 1)
    values = torch.zeros(len(target_of_pair), len(layers), backend.d_model)
    for i, s in enumerate(source_of_pair):
        hooks = [hook_name(layer, site) for layer in layers]
        pos = torch.tensor([[len(SOURCES[s]) - 1]])
        acts = backend.run(torch.tensor([SOURCES[s]]), cache=hooks, cache_positions=pos).activations
        values[i] = torch.stack([acts[h][0, 0] for h in hooks]).float()
    spans = ((4, 6), (4, 7), (len(TARGETS[2]) - 3, len(TARGETS[2]) - 1))  # the third span is after its patch
    return PatchJob(site=site, layers=layers, targets=TARGETS, positions=positions, answer_spans=spans,
                    target_of_pair=target_of_pair, values=values, trie=TRIE)


@pytest.mark.parametrize("backend_name", ["transformer_lens", "nnsight"])
@pytest.mark.parametrize("row", ROWS)
def test_fast_equals_reference_at_every_site(row, backend_name, row_backends):
    backend = row_backends(row)[backend_name]
    for site in PATCH_SITES:
        job = make_job(backend, site, tuple(range(backend.n_layers)))
        fast, ref = run_fast(backend, job), run_reference(backend, job)
        assert fast.method == "fast" and ref.method == "reference"
        assert np.abs(fast.clean - ref.clean).max() <= FP32_REL, site
        assert np.abs(fast.patched - ref.patched).max() <= FP32_REL, site
        assert (fast.answer_unchanged == ref.answer_unchanged).all(), site
        moved = np.abs(ref.patched - ref.clean[list(job.target_of_pair)][:, None]).max()
        assert moved > 1e-3, site  # the patches move the read-out, so agreement is not vacuous


@pytest.mark.parametrize("row", ROWS)
def test_fast_takes_layers_in_any_order(row, row_backends):
    """A pair's runs share a batch row in the order of their start layers, whatever the job's order."""
    backend = row_backends(row)["transformer_lens"]
    layers = tuple(range(backend.n_layers))
    ordered = run_fast(backend, make_job(backend, "resid_pre", layers))
    shuffled = run_fast(backend, make_job(backend, "resid_pre", layers[::-1]))
    assert np.abs(shuffled.patched[:, ::-1] - ordered.patched).max() <= FP32_REL
    assert (shuffled.answer_unchanged[:, ::-1] == ordered.answer_unchanged).all()


def linear_backend(model, tokenizer):
    """nnsight over a copy of the tiny model without final norm and softcap: then a logit difference of two
    strings is linear in the last layer's resid_post at the slot (the later trie nodes' terms do not depend on
    it: their keys and values come from resid_pre of each layer, and the slot's normaliser cancels)."""
    from workbench.backends.nnsight import NNsightBackend

    spec = architecture(model)
    parent, _, name = spec.final_norm.rpartition(".")
    setattr(module_at(model, parent), name, torch.nn.Identity())
    model.config.final_logit_softcapping = None
    return NNsightBackend(model, tokenizer, {"name": "linear", "checksum": None})


@pytest.mark.parametrize("row", ROWS)
def test_attribution_equals_exact_where_the_metric_is_linear(row, make_tiny, word_tokenizer):
    backend = linear_backend(make_tiny(row), word_tokenizer)
    last = backend.n_layers - 1
    job = make_job(backend, "resid_post", (last,))
    job = PatchJob(**{**job.__dict__, "positions": tuple(len(t) - 1 for t in TARGETS)})  # at the slot
    spec = MetricSpec(name="logit_diff", levels=("de", "b"))
    estimate = attribute(backend, job, spec, VOCABULARY)[:, 0]  # [n_pairs]
    outcome = run_fast(backend, job)
    hi, lo = VOCABULARY.strings.index("de"), VOCABULARY.strings.index("b")
    clean = outcome.clean[list(job.target_of_pair)]
    exact = (np.log(outcome.patched[:, 0, hi]) - np.log(outcome.patched[:, 0, lo])
             - (np.log(clean[:, hi]) - np.log(clean[:, lo])))
    assert np.abs(exact).max() > 1e-2  # the patches move the metric
    assert np.abs(estimate - exact).max() <= 1e-4 * max(1.0, np.abs(exact).max())


@pytest.mark.parametrize("backend_name", ["transformer_lens", "nnsight"])
@pytest.mark.parametrize("row", ROWS)
def test_refined_attribution_that_never_converges_is_the_exact_effect(row, backend_name, row_backends, monkeypatch):
    """``tolerance`` 0 without a floor: every patch runs block by block to the end, at every site and row."""
    from workbench.analyses.patching import attribution

    monkeypatch.setattr(attribution, "ATOL", 0.0)
    backend = row_backends(row)[backend_name]
    spec = MetricSpec(name="expected")
    for site in PATCH_SITES:
        job = make_job(backend, site, tuple(range(backend.n_layers)))
        outcome = run_fast(backend, job)
        clean = expected(outcome.clean, VOCABULARY)[list(job.target_of_pair)]
        exact = expected(outcome.patched, VOCABULARY) - clean[:, None]
        refined = attribute(backend, job, spec, VOCABULARY, tolerance=0.0)
        assert np.abs(exact).max() > 1e-3, site
        assert np.abs(refined - exact).max() <= 1e-5, site


@pytest.mark.parametrize("row", ROWS)
def test_attribution_agrees_across_backends(row, row_backends):
    """The same gradients through the bridge's modules and through plain transformers modules."""
    models = row_backends(row)
    spec = MetricSpec(name="expected")
    estimates = {}
    for name in ("transformer_lens", "nnsight"):
        job = make_job(models["nnsight"], "attn_out", tuple(range(models[name].n_layers)))
        estimates[name] = attribute(models[name], job, spec, VOCABULARY)
    scale = np.abs(estimates["nnsight"]).max()
    assert scale > 1e-5
    assert np.abs(estimates["transformer_lens"] - estimates["nnsight"]).max() <= 1e-4 * scale


def test_unknown_architecture_names_the_row_to_add():
    from workbench.errors import WorkbenchError

    with pytest.raises(WorkbenchError, match=r"add Architecture\('gpt2', \.\.\.\) to ARCHITECTURES in "
                                             r"workbench/architectures\.py"):
        architecture("gpt2")


def test_the_table_reads_layer_types_and_windows_from_the_config(make_tiny):
    gemma = make_tiny("gemma3_text")
    row = architecture(gemma)
    assert row.layer_types(gemma.config) == ("sliding_attention", "sliding_attention", "full_attention")
    assert row.sliding_window(gemma.config) == 4 and row.final_softcap(gemma.config) == 3.0
    mistral = make_tiny("mistral")
    assert architecture(mistral).layer_types(mistral.config) == ("sliding_attention",) * 2
    llama = make_tiny("llama")
    assert architecture(llama).layer_types(llama.config) == ("full_attention",) * 2
    assert architecture(llama).final_softcap(llama.config) is None


@pytest.mark.parametrize("backend_name", ["transformer_lens", "nnsight"])
def test_grad_run_differentiates_through_patches(backend_name, row_backends):
    """``Backend.run(grad=True)``: the logits are a differentiable function of a patch's values, and the
    gradient matches a finite difference; without it nothing is tracked."""
    from workbench.backends.base import Patch

    backend = row_backends("gemma3_text")[backend_name]
    ids, hook = torch.tensor([TARGETS[0]]), hook_name(1, "resid_post")
    clean = backend.run(ids, cache=[hook]).activations[hook][0, -1]
    values = clean[None].clone().requires_grad_(True)
    out = backend.run(ids, patches=[Patch(hook, torch.tensor([len(TARGETS[0]) - 1]), values)], grad=True)
    metric = out.logits[0, -1].log_softmax(-1)[50]
    (grad,) = torch.autograd.grad(metric, values)
    step = 1e-3 * grad / grad.norm()
    moved = backend.run(ids, patches=[Patch(hook, torch.tensor([len(TARGETS[0]) - 1]), clean[None] + step)])
    finite = moved.logits[0, -1].log_softmax(-1)[50] - metric.detach()
    assert abs(float(finite) - float((grad * step).sum())) <= 1e-2 * abs(float(finite)) + 1e-7
    assert not backend.run(ids).logits.requires_grad


@pytest.mark.parametrize("row", ["mistral", "gemma3_text"])
def test_finetune_vocabulary_logprobs_equal_the_reference_scoring(row, row_backends):
    """The loss's one-forward tree read-out (shared prefix, sliding windows) gives the reference's numbers."""
    from workbench.analyses.patching.reference import run_reference
    from workbench.finetune.loss import tree_batch, vocabulary_logprobs

    models = row_backends(row)
    clean = run_reference(models["nnsight"], make_job(models["nnsight"], "resid_pre", (0,))).clean  # [T, V]
    batch = tree_batch(list(TARGETS), TRIE, pad_id=0)
    assert batch.offset > 0  # the shared prefix runs once
    with torch.no_grad():
        probs = vocabulary_logprobs(models["plain"], batch, TRIE).exp().numpy()
    assert np.abs(probs - clean).max() <= 1e-5
