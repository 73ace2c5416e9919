"""Patching speed: the exact fast sweep against the reference hook loop on the same pairs, in one run.

    python benchmarks/patching_speed.py [--run DIR] [--n-pairs 32] [--backend transformer_lens] [--site resid_pre]
                                        [--vocabulary percent] [--threads N]

SmolLM2, all layers, one patch per (pair, layer) at the confidence slot. Prints the speedup and the max abs
difference of the normalised expected confidence (goal: >= 20x at <= 1e-4), then attribution patching's
speedup over the exact sweep and its agreement with it (Spearman per pair's layer profile, and of the mean
profile). Without --run, a run is collected first (not timed). Wall-clock and CPU time are both reported: on a
shared machine, CPU time is the steadier measure of the work each path does.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch


def main() -> None:
    from workbench.analyses.patching import attribution, fast, reference
    from workbench.analyses.patching.metrics import MetricSpec, expected
    from workbench.analyses.patching.pairs import correct_to_incorrect, random_pairs
    from workbench.analyses.patching.sources import source_activations
    from workbench.analyses.patching.sweep import make_job
    from workbench.backends import load_model
    from workbench.collect import collect
    from workbench.elicit.scoring import VocabularyTrie
    from workbench.errors import WorkbenchError
    from workbench.store import open_run

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default=None, help="a collected run (default: collect one into a temp dir)")
    parser.add_argument("--n-pairs", type=int, default=32)
    parser.add_argument("--backend", default="transformer_lens", choices=("transformer_lens", "nnsight"))
    parser.add_argument("--site", default="resid_pre", choices=("resid_pre", "resid_post", "attn_out", "mlp_out"))
    parser.add_argument("--role", default="confidence_slot")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--vocabulary", default="percent",
                        help="confidence vocabulary of the run collected without --run")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    backend = load_model("smollm2-135m-instruct", backend=args.backend, device="cpu")
    tmp = tempfile.TemporaryDirectory()
    if args.run is None:
        run = collect(out=Path(tmp.name) / "run", loaded=backend, backend=args.backend,
                      limit=max(48, args.n_pairs + 16), seed=args.seed, batch_size=16, vocabulary=args.vocabulary,
                      progress=False)
    else:
        run = open_run(args.run)
    try:
        pairs = correct_to_incorrect(run, n_pairs=args.n_pairs, seed=args.seed)
    except WorkbenchError:
        pairs = random_pairs(run, n_pairs=args.n_pairs, seed=args.seed)
    layers = tuple(range(backend.n_layers))
    trie = VocabularyTrie.build(backend.tokenizer, run.vocabulary)
    values, origin = source_activations(pairs, args.site, layers, args.role, backend)
    job = make_job(pairs, args.site, layers, args.role, values, trie)
    lengths = [len(t) for t in job.targets]
    print(f"{pairs.note}; sources from {origin}")
    print(f"backend {args.backend}, site {args.site}, role {args.role}, {len(layers)} layers, "
          f"{job.n_pairs * len(layers)} patched runs, {len(job.targets)} distinct targets of {min(lengths)}-"
          f"{max(lengths)} tokens, vocabulary {run.vocabulary.name} ({len(trie.token_ids)} strings, "
          f"{len(trie.nodes)} trie nodes), torch threads {torch.get_num_threads()}", flush=True)

    start, cpu = time.perf_counter(), time.process_time()
    exact = fast.run_fast(backend, job)
    t_fast, c_fast = time.perf_counter() - start, time.process_time() - cpu
    print(f"fast exact sweep: {t_fast:.1f} s ({c_fast:.1f} s CPU)", flush=True)

    spec = MetricSpec.resolve("shift", run.vocabulary)
    start = time.perf_counter()
    estimate = attribution.attribute(backend, job, spec, run.vocabulary)
    t_attr = time.perf_counter() - start
    target_of = np.asarray(job.target_of_pair)
    shift = expected(exact.patched, run.vocabulary) - expected(exact.clean, run.vocabulary)[target_of][:, None]
    table = pd.DataFrame({"pair_id": np.repeat(np.arange(job.n_pairs), len(layers)),
                          "layer": np.tile(layers, job.n_pairs), "estimate": estimate.reshape(-1),
                          "exact": shift.reshape(-1)})
    agree = attribution.agreement(table)
    print(f"attribution patching: {t_attr:.1f} s, {t_fast / t_attr:.1f}x faster than the exact fast sweep; "
          f"Spearman with exact: per pair {agree['spearman_per_pair_mean']:+.2f} (mean), "
          f"{agree['spearman_per_pair_median']:+.2f} (median), mean profile {agree['spearman_profile']:+.2f}",
          flush=True)

    done = [0]

    def tick(n: int) -> None:
        done[0] += n
        if done[0] % (8 * len(layers)) == 0:
            print(f"  reference: {done[0]} / {job.n_pairs * len(layers)} runs, {time.perf_counter() - start:.0f} s",
                  flush=True)

    start, cpu = time.perf_counter(), time.process_time()
    ref = reference.run_reference(backend, job, progress=tick)
    t_ref, c_ref = time.perf_counter() - start, time.process_time() - cpu
    diff_expected = float(np.abs(expected(exact.patched, run.vocabulary) - expected(ref.patched, run.vocabulary)).max())
    diff_probs = float(np.abs(exact.patched - ref.patched).max())
    diff_clean = float(np.abs(exact.clean - ref.clean).max())
    print(f"reference hook loop: {t_ref:.1f} s ({c_ref:.1f} s CPU)")
    print(f"speedup fast vs reference: {t_ref / t_fast:.1f}x wall-clock, {c_ref / c_fast:.1f}x CPU time  (goal >= 20x)")
    print(f"max abs difference, normalised expected confidence: {diff_expected:.2e}  (goal <= 1e-4); "
          f"any vocabulary probability: {diff_probs:.2e}; unpatched targets: {diff_clean:.2e}")
    print(f"attribution vs reference: {t_ref / t_attr:.1f}x faster")
    print(json.dumps({"backend": args.backend, "pairs": job.n_pairs, "layers": len(layers), "fast_s": t_fast,
                      "reference_s": t_ref, "speedup": t_ref / t_fast, "fast_cpu_s": c_fast, "reference_cpu_s": c_ref,
                      "speedup_cpu": c_ref / c_fast, "vocabulary": run.vocabulary.name,
                      "max_abs_diff_expected": diff_expected,
                      "max_abs_diff_probs": diff_probs, "attribution_s": t_attr, **agree}))


if __name__ == "__main__":
    main()
