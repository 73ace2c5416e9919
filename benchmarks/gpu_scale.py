"""GPU scale: collect and exact fast patching on randomly initialised models of real configs, beside
TransformerLens's and nnsight's patching on the same pairs.

    python benchmarks/gpu_scale.py [--models llama-3.1-8b-instruct,llama-3.1-70b-instruct:8,...] [--items 100]
        [--pairs 100] [--peer-pairs 4] [--reference-pairs 2] [--device cuda] [--dtype bfloat16]
        [--tokenizer DIR] [--smoke]

Each model is a config.json of data/model_configs/ (``NAME:N`` keeps its first N blocks: the 70B and 72B as 8 blocks
fit one device and keep their widths), built with random weights on the device in ``--dtype`` (no weights are read or
downloaded), with SmolLM2's tokenizer (its ids fit every config's vocabulary). Where SmolLM2 is not installed (its
GGUF package is large), pass ``--tokenizer DIR``: a directory holding only tokenizer files (SmolLM2's are ~3.5 MB,
written by ``AutoTokenizer.from_pretrained(...).save_pretrained(DIR)``). Per model:

1. ``collect`` of ``--items`` items (greedy answers, exact confidence read-out, residuals stored);
2. exact fast patching of ``--pairs`` random (source, target) pairs x every block (resid_pre at the confidence slot,
   the sources read from the store), timed;
3. the reference loop (one hooked forward per (pair, block)) on the first ``--reference-pairs`` pairs:
   ``max_abs_diff`` is the largest difference of a patched vocabulary probability, fast vs reference;
4. peers on the first ``--peer-pairs`` pairs x every block, each with its natural first-token metric (expected
   confidence over the vocabulary strings' first tokens at the slot): TransformerLens's ``generic_activation_patch``
   and nnsight (one trace per (pair, block)); their time is reported for those pairs and as the rate times all
   ``--pairs``, and ``max_abs_diff_<peer>`` against the same metric from the workbench's hooked forward. A peer whose
   package is missing is skipped (null).

Reported: tokens/s (collect: prompt and answer tokens of the stored runs; patching: prefix tokens plus one token per
(pair, block) run), achieved TFLOP/s (matmul FLOPs of the work done, as ``workbench plan`` counts them, over the
measured time) and its fraction of the device's dense bf16 peak (``workbench.planning.devices``), peak device memory.
Ends with one JSON line. ``--smoke``: the same code at tiny shapes on the CPU (2 blocks, d_model 64), for the test
suite (tests/benchmarks), whose numbers mean nothing. Sized to run within 8 minutes on one H200 (an estimate, not yet
run on a GPU: ``workbench plan`` puts collect and patching at under 10 s per model; the reference and the peers add
about (2 + 3 x 4) x blocks single forwards per model).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "data" / "model_configs"
SMOKE = {"models": "llama-3.1-8b-instruct,gemma-3-12b-it:2", "items": 6, "pairs": 3, "peer_pairs": 2,
         "reference_pairs": 2, "device": "cpu", "dtype": "float32"}
TINY = {"hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4, "num_key_value_heads": 2,
        "head_dim": 16, "num_hidden_layers": 2}
sys.path.insert(0, str(Path(__file__).resolve().parent))
from patching_speed import build_pairs, first_token_metric  # noqa: E402  (a sibling benchmark)


def random_model(spec: str, tokenizer, device: str, dtype: str, tiny: bool, out: Path):
    """A randomly initialised model of ``spec`` (``name`` or ``name:blocks``) on ``device``, its text config saved
    with the tokenizer under ``out/name`` (what collect records as the model), and that directory."""
    from transformers import AutoConfig, AutoModelForCausalLM

    name, _, blocks = spec.partition(":")
    config = AutoConfig.from_pretrained(CONFIGS / name).get_text_config()
    changes = {**(TINY if tiny else {}), **({"num_hidden_layers": int(blocks)} if blocks else {})}
    for key, value in changes.items():
        setattr(config, key, value)
    if getattr(config, "layer_types", None):
        config.layer_types = config.layer_types[:config.num_hidden_layers]
    config.vocab_size = len(tokenizer) if tiny else max(config.vocab_size, len(tokenizer))
    config.bos_token_id, config.eos_token_id = tokenizer.bos_token_id, tokenizer.eos_token_id
    config.pad_token_id = tokenizer.pad_token_id
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=getattr(torch, dtype)).eval()
    model.config.architectures = [type(model).__name__]  # a text config of a multimodal family names none
    where = out / spec.replace(":", "-")
    model.config.save_pretrained(where)
    tokenizer.save_pretrained(where)
    return model, where


def synced() -> float:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter()


def peak_gib(device: str) -> float | None:
    return torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else None


def first_token_runs(run_one, job, pairs: int, metric) -> tuple[float, np.ndarray]:
    """Seconds and metric [pairs, blocks] of ``run_one(tokens, pos, block, value) -> logits`` per (pair, block)."""
    values = np.zeros((pairs, len(job.layers)))
    start = synced()
    with torch.no_grad():
        for i in range(pairs):
            t = job.target_of_pair[i]
            tokens = torch.tensor([job.targets[t]])
            for k, block in enumerate(job.layers):
                values[i, k] = float(metric(run_one(tokens, job.positions[t], block, job.values[i, k])))
    return synced() - start, values


def tl_peer(backend, job, pairs: int, metric) -> tuple[float, np.ndarray]:
    """TransformerLens's ``generic_activation_patch`` on the bridge, one call per pair over every block."""
    from transformer_lens.patching import generic_activation_patch, layer_pos_patch_setter

    values = np.zeros((pairs, len(job.layers)))
    start = synced()
    with torch.no_grad():
        for i in range(pairs):
            t = job.target_of_pair[i]
            tokens, pos = torch.tensor([job.targets[t]]), job.positions[t]
            cache = {}
            for k, block in enumerate(job.layers):
                act = torch.zeros(1, tokens.shape[1], backend.d_model, dtype=backend.dtype, device=backend.device)
                act[0, pos] = job.values[i, k].to(device=backend.device, dtype=backend.dtype)
                cache[f"blocks.{block}.hook_{job.site}"] = act
            index = pd.DataFrame({"layer": list(job.layers), "pos": [pos] * len(job.layers)})
            out = generic_activation_patch(backend.bridge, tokens.to(backend.device), cache, metric,
                                           layer_pos_patch_setter, job.site, index_df=index)
            values[i] = out.reshape(-1).float().cpu().numpy()
    return synced() - start, values


def one_patch(backend, site: str):
    """``run_one`` for ``first_token_runs``: one ``backend.run`` with one patch (the workbench's hooked forward)."""
    from workbench.backends.base import Patch, hook_name

    def run_one(tokens, pos, block, value):
        patch = Patch(hook_name(block, site), positions=torch.tensor([pos]), values=value[None])
        return backend.run(tokens, patches=[patch], logits_to_keep=1).logits
    return run_one


def fast_flops(shape, job) -> tuple[float, int]:
    """Matmul FLOPs and tokens of the fast path's work: every target prefix through every block and unembedded
    once, and per (pair, block) one token through the blocks from the patched one on, unembedded once."""
    prefix = sum(len(t) for t in job.targets)
    suffix = sum(shape.layers - block for block in job.layers) * job.n_pairs
    runs = job.n_pairs * len(job.layers)
    flops = 2 * shape.block_matmul * (prefix * shape.layers + suffix) + 2 * shape.unembed * (len(job.targets) + runs)
    return flops, prefix + runs


def bench_model(spec: str, args, tokenizer, out: Path) -> dict:
    from workbench.analyses.patching import fast, reference
    from workbench.analyses.patching.pairs import PairSet
    from workbench.analyses.patching.sources import source_activations
    from workbench.analyses.patching.sweep import make_job
    from workbench.backends.transformer_lens import TransformerLensBackend
    from workbench.collect import collect
    from workbench.elicit.scoring import VocabularyTrie
    from workbench.planning.devices import device_spec
    from workbench.planning.shape import ModelShape

    hf_model, where = random_model(spec, tokenizer, args.device, args.dtype, args.smoke, out)
    shape = ModelShape.from_config(json.loads((where / "config.json").read_text()), name=spec)
    info = {"name": where.name, "hf_name": None, "source": f"random:{spec}", "checksum": "random-init:seed0",
            "checksum_of": None, "dtype": args.dtype, "backend": "transformer_lens"}
    backend = TransformerLensBackend(hf_model, tokenizer, info)
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    start = synced()
    run = collect(out=out / f"run-{where.name}", loaded=backend, model=str(where), limit=args.items, seed=0,
                  batch_size=args.batch_size, dtype=args.dtype, store_dtype="float32", progress=False)
    t_collect = synced() - start
    collect_tokens = int(sum(len(ids) for ids in run.records["input_ids"]))
    collect_peak = peak_gib(args.device)

    pairs = build_pairs(run, args.pairs, 1, 0)
    blocks = list(range(backend.n_layers))
    trie = VocabularyTrie.build(tokenizer, run.vocabulary)
    values, _ = source_activations(pairs, "resid_pre", blocks, "confidence_slot", backend)
    job = make_job(pairs, "resid_pre", blocks, "confidence_slot", values, trie)
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    start = synced()
    exact = fast.run_fast(backend, job)
    t_fast = synced() - start
    flops, patch_tokens = fast_flops(shape, job)
    peak = device_spec(args.peak_device).flops_per_s(args.dtype)

    head = PairSet(kind=pairs.kind, source=run, target=run, table=pairs.table.head(args.reference_pairs), seed=0)
    head_values, _ = source_activations(head, "resid_pre", blocks, "confidence_slot", backend)
    ref = reference.run_reference(backend, make_job(head, "resid_pre", blocks, "confidence_slot", head_values, trie))
    diff = float(np.abs(exact.patched[:len(head.table)] - ref.patched).max())

    metric = first_token_metric(trie, run.vocabulary)
    n_peer = min(args.peer_pairs, job.n_pairs)
    _, ours = first_token_runs(one_patch(backend, job.site), job, n_peer, metric)
    peers: dict[str, object] = {}
    if importlib.util.find_spec("transformer_lens"):
        seconds, theirs = tl_peer(backend, job, n_peer, metric)
        peers.update(seconds_tl=seconds, seconds_tl_all_pairs=seconds / n_peer * job.n_pairs,
                     max_abs_diff_tl=float(np.abs(theirs - ours).max()))
    if importlib.util.find_spec("nnsight"):
        from workbench.backends.nnsight import NNsightBackend

        seconds, theirs = first_token_runs(one_patch(NNsightBackend(hf_model, tokenizer, info), job.site), job,
                                           n_peer, metric)
        peers.update(seconds_nnsight=seconds, seconds_nnsight_all_pairs=seconds / n_peer * job.n_pairs,
                     max_abs_diff_nnsight=float(np.abs(theirs - ours).max()))
    result = {
        "model": spec, "blocks": backend.n_layers, "d_model": backend.d_model, "items": run.n_examples,
        "pairs": job.n_pairs, "seconds_collect": t_collect, "collect_tokens_per_s": collect_tokens / t_collect,
        "collect_peak_gib": collect_peak, "seconds_fast": t_fast, "fast_tokens_per_s": patch_tokens / t_fast,
        "fast_tflops": flops / t_fast / 1e12, "fast_fraction_of_peak": flops / t_fast / peak,
        "fast_peak_gib": peak_gib(args.device), "max_abs_diff": diff, "reference_pairs": len(head.table),
        "peer_pairs": n_peer, "seconds_tl": None, "seconds_nnsight": None, **peers}
    print(f"{spec}: collect {t_collect:.1f} s ({result['collect_tokens_per_s']:.0f} tokens/s); fast patching "
          f"{job.n_pairs} pairs x {len(blocks)} blocks {t_fast:.2f} s ({result['fast_tflops']:.2f} TFLOP/s, "
          f"{100 * result['fast_fraction_of_peak']:.1f}% of {args.peak_device} {args.dtype} peak); max |diff| vs "
          f"reference {diff:.2e}; peers on {n_peer} pairs: TL {peers.get('seconds_tl')}, "
          f"nnsight {peers.get('seconds_nnsight')} s", flush=True)
    del backend, hf_model
    if args.device.startswith("cuda"):
        torch.cuda.empty_cache()
    return result


def main(argv: list[str] | None = None) -> None:
    from transformers import AutoTokenizer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="llama-3.1-8b-instruct,llama-3.1-70b-instruct:8,qwen2.5-7b-instruct,"
                        "qwen2.5-72b-instruct:8,gemma-3-12b-it,gemma-3-27b-it",
                        help=f"comma-separated NAME or NAME:BLOCKS of {CONFIGS.relative_to(ROOT)}")
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--peer-pairs", type=int, default=4)
    parser.add_argument("--reference-pairs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default="bfloat16", choices=("bfloat16", "float16", "float32"))
    parser.add_argument("--peak-device", default="h200", help="row of workbench.planning.devices for the peak")
    parser.add_argument("--tokenizer", default=None, help="a tokenizer directory (default: SmolLM2's)")
    parser.add_argument("--smoke", action="store_true", help=f"tiny shapes on the CPU for the test suite: {SMOKE}")
    args = parser.parse_args(argv)
    if args.smoke:  # smoke sizes as defaults, so an explicit option still wins
        parser.set_defaults(**SMOKE)
        args = parser.parse_args(argv)
    if args.tokenizer is None:
        from workbench.backends.loading import MODELS, converted_checkpoint

        args.tokenizer = str(converted_checkpoint(MODELS["smollm2-135m-instruct"])[0])
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    with tempfile.TemporaryDirectory() as tmp:
        results = [bench_model(spec, args, tokenizer, Path(tmp)) for spec in args.models.split(",")]
    print(json.dumps({"benchmark": "gpu_scale", "device": args.device, "dtype": args.dtype,
                      "peak_device": args.peak_device, "models": results}))


if __name__ == "__main__":
    main()
