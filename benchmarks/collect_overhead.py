"""Collect overhead: collecting (all-layer caching, exact vocabulary scoring) vs plain transformers greedy
generation of the same examples, measured in one run; then peak memory of collect for N and 4N examples.

    python benchmarks/collect_overhead.py [--n 48] [--batch-size 16] [--backend transformer_lens]

Goals: time ratio <= 1.10; peak memory flat in N (each size runs in its own process).
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


def plain_generation_seconds(n: int, batch_size: int, seed: int) -> float:
    """transformers ``generate`` (greedy, left-padded batches) on the same answer prompts, producing as many
    tokens as collect reads: the answer, the text up to the confidence slot, and the confidence."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from workbench.backends.loading import resolve
    from workbench.datasets import load_dataset
    from workbench.prompts import get_template
    from workbench.prompts.render import answer_prompt

    path, _ = resolve("smollm2-135m-instruct")
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


def collect_seconds(n: int, batch_size: int, seed: int, backend: str) -> tuple[float, int]:
    from workbench.backends import load_model
    from workbench.collect import collect

    loaded = load_model("smollm2-135m-instruct", backend=backend, device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        collect(out=Path(tmp) / "run", loaded=loaded, backend=backend, limit=n, seed=seed, batch_size=batch_size,
                progress=False)
        return time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(args: argparse.Namespace) -> None:
    seconds, peak_kb = collect_seconds(args.n, args.batch_size, args.seed, args.backend)
    print(json.dumps({"seconds": seconds, "peak_mb": peak_kb / 1024}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", default="transformer_lens", choices=("transformer_lens", "nnsight"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    torch.set_num_threads(torch.get_num_threads())
    plain = plain_generation_seconds(args.n, args.batch_size, args.seed)
    collected, _ = collect_seconds(args.n, args.batch_size, args.seed, args.backend)
    print(f"n={args.n} batch={args.batch_size} backend={args.backend}")
    print(f"plain transformers greedy generation: {plain:.1f} s")
    print(f"workbench collect (all layers x 4 roles, exact vocabulary): {collected:.1f} s")
    print(f"ratio collect / plain = {collected / plain:.2f}  (goal <= 1.10)")
    peaks = {}
    for n in (args.n, 4 * args.n):
        out = subprocess.run([sys.executable, __file__, "--child", "--n", str(n), "--batch-size", str(args.batch_size),
                              "--seed", str(args.seed), "--backend", args.backend], capture_output=True, text=True,
                             check=True)
        peaks[n] = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"collect n={n}: peak RSS {peaks[n]['peak_mb']:.0f} MB ({peaks[n]['seconds']:.1f} s)")
    small, large = (peaks[n]["peak_mb"] for n in (args.n, 4 * args.n))
    print(f"peak memory ratio 4N / N = {large / small:.2f}  (goal: flat, ~1.0)")


if __name__ == "__main__":
    main()
