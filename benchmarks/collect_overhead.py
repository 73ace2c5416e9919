"""Collect overhead: collecting (all-layer caching, exact vocabulary scoring) vs plain transformers greedy
generation of the same examples, and vs the same collect with its exact speed-ups off (``fast=False``: no
shared template prefix, logits at every position), measured in one run; then peak memory of collect for N
and 4N examples.

    python benchmarks/collect_overhead.py [--model qwen2.5-coder-0.5b-instruct] [--n 48] [--batch-size 16]
                                          [--backend transformer_lens] [--no-memory] [--smoke]

Goals: overhead = collect / plain - 1 <= 0.5; speed-up = collect(fast=False) / collect >= 2; peak memory
flat in N (each size runs in its own process). Ends with one JSON line. ``--smoke``: the same code path on 2
examples (explicit options still win), for the test suite (tests/benchmarks), whose numbers mean nothing.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

SMOKE = {"n": 2, "batch_size": 2}


def plain_generation_seconds(model_name: str, n: int, batch_size: int, seed: int) -> float:
    """transformers ``generate`` (greedy, left-padded batches) on the same answer prompts, producing as many
    tokens as collect reads: the answer, the text up to the confidence slot, and the confidence."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from workbench.backends.loading import resolve
    from workbench.datasets import load_dataset
    from workbench.prompts import get_template
    from workbench.prompts.render import answer_prompt

    path, _ = resolve(model_name)
    tok = AutoTokenizer.from_pretrained(path, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    template = get_template("answer_then_confidence")
    prompts = [answer_prompt(tok, template, item.question) for item in load_dataset("all", limit=n, seed=seed)]
    start = time.perf_counter()
    for i in range(0, n, batch_size):
        batch = tok(prompts[i:i + batch_size], return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            model.generate(**batch, do_sample=False, max_new_tokens=24 + 8 + 4, pad_token_id=tok.pad_token_id)
    return time.perf_counter() - start


def collect_seconds(model_name: str, n: int, batch_size: int, seed: int, backend: str, *, fast: bool = True,
                    loaded=None) -> tuple[float, int]:
    from workbench.backends import load_model
    from workbench.collect import collect

    loaded = loaded or load_model(model_name, backend=backend, device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        collect(out=Path(tmp) / "run", loaded=loaded, model=model_name, backend=backend, limit=n, seed=seed,
                batch_size=batch_size, fast=fast, progress=False)
        return time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(args: argparse.Namespace) -> None:
    seconds, peak_kb = collect_seconds(args.model, args.n, args.batch_size, args.seed, args.backend)
    print(json.dumps({"seconds": seconds, "peak_mb": peak_kb / 1024}))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct", help="registry name or checkpoint directory")
    parser.add_argument("--n", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", default="transformer_lens", choices=("transformer_lens", "nnsight"))
    parser.add_argument("--no-memory", dest="memory", action="store_false", help="skip the peak-memory runs")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--smoke", action="store_true", help=f"a tiny size for the test suite: {SMOKE}")
    args = parser.parse_args(argv)
    if args.smoke:  # smoke sizes as defaults, so an explicit option still wins
        parser.set_defaults(**SMOKE)
        args = parser.parse_args(argv)
    if args.child:
        return child(args)
    torch.set_num_threads(torch.get_num_threads())
    from workbench.backends import load_model

    plain = plain_generation_seconds(args.model, args.n, args.batch_size, args.seed)
    loaded = load_model(args.model, backend=args.backend, device="cpu")
    collected, _ = collect_seconds(args.model, args.n, args.batch_size, args.seed, args.backend, loaded=loaded)
    unoptimised, _ = collect_seconds(args.model, args.n, args.batch_size, args.seed, args.backend, fast=False,
                                     loaded=loaded)
    overhead, speedup = collected / plain - 1, unoptimised / collected
    print(f"model={args.model} n={args.n} batch={args.batch_size} backend={args.backend}")
    print(f"plain transformers greedy generation: {plain:.1f} s")
    print(f"workbench collect (all layers x 4 roles, exact vocabulary): {collected:.1f} s")
    print(f"workbench collect, speed-ups off (fast=False): {unoptimised:.1f} s")
    print(f"overhead collect / plain - 1 = {overhead:.2f}  (goal <= 0.5)")
    print(f"speed-up collect(fast=False) / collect = {speedup:.2f}x  (goal >= 2)")
    summary = {"benchmark": "collect_overhead", "model": args.model, "n": args.n, "batch_size": args.batch_size,
               "plain_s": round(plain, 2), "collect_s": round(collected, 2), "collect_unoptimised_s": round(unoptimised, 2),
               "overhead": round(overhead, 3), "speedup": round(speedup, 3)}
    if args.memory:
        peaks = {}
        for n in (args.n, 4 * args.n):
            out = subprocess.run([sys.executable, __file__, "--child", "--model", args.model, "--n", str(n),
                                  "--batch-size", str(args.batch_size), "--seed", str(args.seed), "--backend",
                                  args.backend], capture_output=True, text=True, check=True)
            peaks[n] = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"collect n={n}: peak RSS {peaks[n]['peak_mb']:.0f} MB ({peaks[n]['seconds']:.1f} s)")
        small, large = (peaks[n]["peak_mb"] for n in (args.n, 4 * args.n))
        print(f"peak memory ratio 4N / N = {large / small:.2f}  (goal: flat, ~1.0)")
        summary["memory_ratio"] = round(large / small, 3)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
