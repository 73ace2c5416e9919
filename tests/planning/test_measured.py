"""The plan against what a real run takes: a tiny random llama collected and patched on the CPU.

Store size: the bytes on disk of the run's folder (residual shards, records, manifest) against the plan's, within
5%; the residual shards, which are all of a big run's store, exactly.

Memory: torch's own peak, read with ``torch.profiler`` (``profile_memory=True``): it records every allocation and
free of a CPU tensor, so the running sum's maximum over the call is the peak of memory torch holds, the CPU
analogue of ``torch.cuda.max_memory_allocated``. (RSS would count the Python heap, the allocator's cached pages
and lazily returned ones; tracemalloc sees none of torch's C++ allocations.) The weights are loaded before the
profile starts, so the measured peak is what a call adds beside them; the plan's peak minus its weights is
compared with it, and the totals too.

Tolerance: plan / measured in [0.75, 1.35]. The plan adds up the largest tensors alive at a call's peak (key/value
cache, logits and log-probabilities, one block's working set, the fast path's clean cache and gathered prefixes)
and leaves out small ones (norm outputs, index and mask tensors besides the attention mask, Python-side copies),
so it may fall a little short; it counts attention scores that a fused kernel never stores, so it may run a
little over. Measured on the two shapes below: collect 0.87-0.91, patching 0.90-1.09. The band is far tighter
than the decisions the plan informs: a factor of 2 would change the batch size or the number of devices.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

import workbench as wb

LOW, HIGH = 0.75, 1.35
SHAPES = {  # logits dominate the first (percent vocabulary: 10 trie nodes); key/value caches the second (digits)
    "logits-bound": dict(hidden=256, mlp=1024, layers=6, heads=4, kv_heads=2, vocabulary="percent"),
    "cache-bound": dict(hidden=384, mlp=1536, layers=10, heads=6, kv_heads=3, vocabulary="digits"),
}
ITEMS, BATCH, ANSWER, PAIRS = 32, 16, 4, 16


def torch_peak(fn):
    """(fn's result, the peak bytes of CPU tensors torch held during the call beyond those held before it)."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        out = fn()
    events = sorted((e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events() if e.name() == "[memory]")
    held = peak = 0
    for _, nbytes in events:
        held += nbytes
        peak = max(peak, held)
    return out, peak


@pytest.fixture(scope="module", params=list(SHAPES))
def measured(request, smollm2_tokenizer, tmp_path_factory):
    """A tiny model's run, collected and then patched under the profiler, and the plan of the same run."""
    from transformers import LlamaConfig, LlamaForCausalLM

    s, tok = SHAPES[request.param], smollm2_tokenizer
    root = tmp_path_factory.mktemp(request.param)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=s["hidden"], intermediate_size=s["mlp"],
                         num_hidden_layers=s["layers"], num_attention_heads=s["heads"],
                         num_key_value_heads=s["kv_heads"], max_position_embeddings=512, tie_word_embeddings=True,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    LlamaForCausalLM(config).save_pretrained(root / "model")
    tok.save_pretrained(root / "model")
    model = wb.load_model(str(root / "model"), device="cpu", progress=False)
    run, collect_peak = torch_peak(lambda: wb.collect(
        out=root / "run", loaded=model, model=str(root / "model"), dataset="capitals", limit=ITEMS, batch_size=BATCH,
        max_answer_tokens=ANSWER, vocabulary=s["vocabulary"], progress=False))  # a random model never stops early
    on_disk = {p.relative_to(root / "run"): p.stat().st_size for p in (root / "run").rglob("*") if p.is_file()}
    _, patch_peak = torch_peak(lambda: wb.patch(run, model=model, pairs="random", n_pairs=PAIRS, method="fast",
                                                figures=False, progress=False, n_boot=20))
    prompt = int((run.records["pos_pre_answer"] + 1).max())  # the plan is told the prompt length a tokenizer gives
    plan = wb.plan(model=str(root / "model"), items=ITEMS, batch_size=BATCH, dtype="float32", prompt_tokens=prompt,
                   max_answer_tokens=ANSWER, vocabulary=s["vocabulary"], n_pairs=PAIRS, device="cpu")
    return plan, on_disk, collect_peak, patch_peak


def test_store_size_matches_the_bytes_a_real_run_wrote(measured):
    plan, on_disk, _, _ = measured
    residuals = sum(size for path, size in on_disk.items() if path.parts[0] == "activations")
    assert plan.residual_bytes == residuals
    assert plan.store_bytes == pytest.approx(sum(on_disk.values()), rel=0.05)
    assert residuals > 0.9 * sum(on_disk.values())  # the residuals are the store, as in every big run


def test_collect_peak_memory_is_torchs_within_the_tolerance(measured):
    plan, _, collect_peak, _ = measured
    assert LOW <= (plan.collect.peak - plan.weight_bytes) / collect_peak <= HIGH
    assert LOW <= plan.collect.peak / (collect_peak + plan.weight_bytes) <= HIGH


def test_fast_patching_peak_memory_is_torchs_within_the_tolerance(measured):
    plan, _, _, patch_peak = measured
    assert LOW <= (plan.patch.peak - plan.weight_bytes) / patch_peak <= HIGH
    assert LOW <= plan.patch.peak / (patch_peak + plan.weight_bytes) <= HIGH
