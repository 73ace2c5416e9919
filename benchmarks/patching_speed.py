"""Patching speed on the same pairs, in one run: TransformerLens's own patching, the reference loop, the fast path,
and attribution beside TransformerLens's attribution patching.

    python benchmarks/patching_speed.py --model {smollm2-135m-instruct,gemma-3-270m,qwen2.5-coder-0.5b-instruct}
        [--n-pairs 16] [--sources-per-target 1] [--layers all] [--run DIR] [--site resid_pre] [--threads N]
        [--backend transformer_lens|nnsight] [--skip tl,reference] [--repeats 3] [--smoke]

All layers (or --layers), one patch per (pair, layer) at the confidence slot. ``--sources-per-target K``
patches K sources into each of ``--n-pairs`` targets (pairs = targets x K; each target's prefix is computed
once by the fast path). Times:

1. TransformerLens 4.3's ``transformer_lens.patching.generic_activation_patch`` on the bridge (the same
   ``layer_pos_patch_setter`` as ``get_act_patch_resid_pre``), twice:
   - with the workbench's metric (``seconds_tl``, ``speedup_vs_tl``): the normalised expected confidence over the
     exact vocabulary, read from a trie batch (the target, then the target plus each trie node's tokens), so
     TransformerLens computes what the fast path computes (``max_abs_diff_tl`` checks it). One such run is a
     full forward of the batch whatever its layer, so it is timed on ``--tl-exact-runs`` runs spread over the job
     and the total is that rate times the job's runs;
   - with its natural logits metric, on every run (``seconds_tl_first_token``): the expected confidence over the
     strings' *first tokens* at the slot (a first token takes the mean value of the strings starting with it).
     It reads one position's logits, so it is less work than the exact multi-token score: a comparison in
     TransformerLens's favour, and a different number;
2. the workbench's reference loop (one hooked forward per (pair, layer), exact vocabulary);
3. the exact fast path (same outcome; ``max_abs_diff`` is fast vs reference, normalised expected confidence);
4. attribution patching (one backward per target), linear and refined block by block to
   ``--attribution-tolerance`` (an extension), against the fast path's exact effects; and, where a pair's
   source and target have the same length (TransformerLens needs token-aligned pairs), TransformerLens's
   ``tools.analysis.attribution_patching.attribution_patch`` on those pairs (``seconds_tl_attribution``).

``--backend`` is the workbench's backend for its own parts (the reference loop, the fast path, attribution); the
TransformerLens parts run on a TransformerLens bridge of the same checkpoint whatever it is.

The fast path and attribution take seconds, so each runs once untimed and is timed as the median of
``--repeats`` runs (``seconds_fast_runs`` lists them); the other parts take minutes and are timed once, after
the fast path has warmed the process.

Ends with one JSON line. Without --run a run is collected first (not timed). Run it alone on a quiet machine.
``--smoke``: the same code path at a tiny size (2 pairs, 3 layers, 6 items; explicit options still win), for the
test suite (tests/benchmarks), whose numbers mean nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")  # before tqdm loads: TransformerLens's per-call progress bars

import numpy as np
import pandas as pd
import torch

MODELS = ("smollm2-135m-instruct", "gemma-3-270m", "qwen2.5-coder-0.5b-instruct")
SMOKE = {"n_pairs": 2, "layers": "0,1,-1", "items": 6, "tl_exact_runs": 2, "repeats": 1}


def median_seconds(fn, repeats: int):
    """fn's result and the median wall time of ``repeats`` calls after one untimed call (warm-up): a call that
    takes seconds would otherwise carry one-time costs (thread pools, first-touch memory) that a sweep pays once."""
    out = fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return out, float(np.median(times)), times


def build_pairs(run, n_targets: int, per_target: int, seed: int):
    """``per_target`` random sources (other examples) for each of ``n_targets`` random targets."""
    from workbench.analyses.patching.pairs import PairSet

    records = run.records
    rng = np.random.default_rng(seed)
    ids, items = records["example_id"].to_numpy(), records["item_id"].to_numpy()
    targets = rng.choice(len(ids), size=min(n_targets, len(ids)), replace=False)
    rows = []
    for t in targets:
        others = np.setdiff1d(np.arange(len(ids)), [t])
        for s in rng.choice(others, size=min(per_target, len(others)), replace=False):
            rows.append({"pair_id": len(rows), "source_id": ids[s], "target_id": ids[t],
                         "source_item": items[s], "target_item": items[t]})
    return PairSet(kind="random", source=run, target=run, table=pd.DataFrame(rows), seed=seed)


def first_token_metric(trie, vocabulary):
    """TransformerLens's natural metric: logits [1, pos, d_vocab] -> expected confidence over first tokens."""
    first = [ids[0] for ids in trie.token_ids]
    tokens = sorted(set(first))
    values = torch.tensor([np.mean([v for f, v in zip(first, vocabulary.values) if f == t]) for t in tokens],
                          dtype=torch.float32)

    def metric(logits: torch.Tensor) -> torch.Tensor:
        p = logits[0, -1].float().softmax(-1)[tokens]
        return (p @ values.to(p.device)) / p.sum() / 100.0

    return metric


def time_tl_patching(backend, job, metric) -> float:
    """One ``generic_activation_patch`` call per pair over the job's layers at the pair's patched position."""
    from transformer_lens.patching import generic_activation_patch, layer_pos_patch_setter

    bridge = backend.bridge
    start = time.perf_counter()
    for i, t in enumerate(job.target_of_pair):
        tokens = torch.tensor([job.targets[t]])
        pos = job.positions[t]
        cache = {}
        for k, layer in enumerate(job.layers):
            act = torch.zeros(1, tokens.shape[1], backend.d_model, dtype=backend.dtype)
            act[0, pos] = job.values[i, k].to(backend.dtype)
            cache[f"blocks.{layer}.hook_{job.site}"] = act
        index = pd.DataFrame({"layer": list(job.layers), "pos": [pos] * len(job.layers)})
        with torch.no_grad():
            generic_activation_patch(bridge, tokens, cache, metric, layer_pos_patch_setter, job.site, index_df=index)
    return time.perf_counter() - start


def trie_batch(job, t: int) -> tuple[torch.Tensor, torch.Tensor]:
    """TransformerLens's input for the exact metric: target t, then target t + each trie node's tokens.

    Tokens [1 + n_nodes, len + max depth] (right-padded; causal, so padding never reaches a real token) and each
    row's read position [1 + n_nodes]: the slot's logits on row 0, each node's next-token logits on its row.
    """
    target = list(job.targets[t])
    rows = [target] + [target + list(node) for node in job.trie.nodes]
    width = max(len(r) for r in rows)
    tokens = torch.tensor([r + [r[-1]] * (width - len(r)) for r in rows])
    return tokens, torch.tensor([len(r) - 1 for r in rows])


def exact_metric(job, read: torch.Tensor, vocabulary):
    """The workbench's metric as a TransformerLens metric over a trie batch: logits [1 + n_nodes, pos, d_vocab] ->
    the normalised expected confidence / 100 over the exact vocabulary (multi-token strings scored through the trie)."""
    values = torch.tensor(vocabulary.values, dtype=torch.float64) / 100.0

    def metric(logits: torch.Tensor) -> torch.Tensor:
        lp = logits[torch.arange(len(read)), read.to(logits.device)].float().log_softmax(-1).cpu()
        probs = job.trie.log_probs(lp[:1], lp[None, 1:]).exp().double()[0]
        return (probs @ values) / probs.sum()

    return metric


def time_tl_exact(backend, job, vocabulary, n_runs: int) -> tuple[float, int, np.ndarray, np.ndarray]:
    """TransformerLens's ``generic_activation_patch`` with the workbench's exact metric (a trie batch per run), on
    ``n_runs`` (pair, layer) runs spread over the job: seconds per run, runs timed, which runs, the metric of each.

    A TransformerLens run is one full forward of the trie batch whatever its layer, so its cost per run does not
    depend on which runs are timed; the total is that rate times the job's runs (stated in the output)."""
    from transformer_lens.patching import generic_activation_patch, layer_pos_patch_setter

    n_layers = len(job.layers)
    chosen = np.unique(np.linspace(0, job.n_pairs * n_layers - 1, n_runs).round().astype(int))
    metrics = np.zeros(len(chosen))
    start = time.perf_counter()
    for j, run in enumerate(chosen):
        i, k = divmod(int(run), n_layers)
        t = job.target_of_pair[i]
        tokens, read = trie_batch(job, t)
        pos, layer = job.positions[t], job.layers[k]
        act = torch.zeros(1, len(job.targets[t]), backend.d_model, dtype=backend.dtype)
        act[0, pos] = job.values[i, k].to(backend.dtype)
        index = pd.DataFrame({"layer": [layer], "pos": [pos]})
        with torch.no_grad():
            out = generic_activation_patch(backend.bridge, tokens, {f"blocks.{layer}.hook_{job.site}": act},
                                           exact_metric(job, read, vocabulary), layer_pos_patch_setter, job.site,
                                           index_df=index)
        metrics[j] = float(out.reshape(-1)[0])
    return (time.perf_counter() - start) / len(chosen), len(chosen), chosen, metrics


def time_tl_attribution(backend, run, pairs, metric) -> tuple[float | None, int]:
    """TransformerLens's attribution patching on the pairs whose source and target have the same length."""
    from transformer_lens.tools.analysis.attribution_patching import attribution_patch

    ids = run.records.set_index("example_id")["input_ids"]
    aligned = [(ids[s], ids[t]) for s, t in zip(pairs.table["source_id"], pairs.table["target_id"])
               if len(ids[s]) == len(ids[t])]
    if not aligned:
        return None, 0
    start = time.perf_counter()
    for source, target in aligned:
        attribution_patch(backend.bridge, torch.tensor([list(source)]), torch.tensor([list(target)]), metric)
    return time.perf_counter() - start, len(aligned)


def main(argv: list[str] | None = None) -> None:
    from workbench.analyses.patching import attribution, fast, reference
    from workbench.analyses.patching.metrics import MetricSpec, expected
    from workbench.analyses.patching.sources import source_activations
    from workbench.analyses.patching.sweep import make_job
    from workbench.backends import load_model
    from workbench.collect import collect
    from workbench.elicit.scoring import VocabularyTrie
    from workbench.layer_selection import parse_layers, select_layers
    from workbench.store import open_run

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=MODELS[0], help=f"a registry model ({', '.join(MODELS)}) or checkpoint")
    parser.add_argument("--n-pairs", type=int, default=16, help="targets (pairs = targets x --sources-per-target)")
    parser.add_argument("--sources-per-target", type=int, default=1)
    parser.add_argument("--layers", type=parse_layers, default="all", help="'all', '0,4,-1' or '10-20'")
    parser.add_argument("--run", default=None, help="a collected run of --model (default: collect one, not timed)")
    parser.add_argument("--site", default="resid_pre", choices=("resid_pre", "resid_post", "attn_out", "mlp_out"))
    parser.add_argument("--role", default="confidence_slot")
    parser.add_argument("--vocabulary", default="percent")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    parser.add_argument("--backend", default="transformer_lens", choices=("transformer_lens", "nnsight"),
                        help="the workbench's backend for the reference loop, the fast path and attribution")
    parser.add_argument("--tl-exact-runs", type=int, default=6,
                        help="runs on which TransformerLens with the exact metric is timed (its rate x all runs)")
    parser.add_argument("--skip", default="",
                        help="comma-separated parts not to time: tl, tl_first_token, reference, tl_attribution")
    parser.add_argument("--items", type=int, default=None,
                        help="items collected without --run (default: max(24, pairs + sources + 8))")
    parser.add_argument("--attribution-tolerance", type=float, default=0.1,
                        help="the refined attribution's tolerance (timed and compared beside the linear one)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed runs of the fast path and of attribution (median, after one untimed run)")
    parser.add_argument("--smoke", action="store_true", help=f"a tiny size for the test suite: {SMOKE}")
    args = parser.parse_args(argv)
    if args.smoke:  # smoke sizes as defaults, so an explicit option still wins
        parser.set_defaults(**SMOKE)
        args = parser.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    if args.threads:
        torch.set_num_threads(args.threads)

    backend = load_model(args.model, backend=args.backend, device="cpu")
    tl = backend if args.backend == "transformer_lens" else None  # TransformerLens's own parts: its bridge
    if tl is None and not {"tl", "tl_first_token", "tl_attribution"} <= skip:
        tl = load_model(args.model, backend="transformer_lens", device="cpu")
    tmp = tempfile.TemporaryDirectory()
    if args.run is None:
        n_items = args.items or max(24, args.n_pairs + args.sources_per_target + 8)
        run = collect(out=Path(tmp.name) / "run", loaded=backend, model=args.model, backend=backend.name,
                      limit=n_items, seed=args.seed, batch_size=8, vocabulary=args.vocabulary, progress=False)
    else:
        run = open_run(args.run)
    pairs = build_pairs(run, args.n_pairs, args.sources_per_target, args.seed)
    layers = select_layers(args.layers, backend.n_layers)
    trie = VocabularyTrie.build(backend.tokenizer, run.vocabulary)
    values, origin = source_activations(pairs, args.site, layers, args.role, backend)
    job = make_job(pairs, args.site, layers, args.role, values, trie)
    lengths = [len(t) for t in job.targets]
    print(f"{args.model}: {job.n_pairs} pairs ({len(job.targets)} targets x {args.sources_per_target} sources, "
          f"sources from {origin}), site {args.site}, {len(layers)} layers, {job.n_pairs * len(layers)} patched runs, "
          f"targets of {min(lengths)}-{max(lengths)} tokens, vocabulary {run.vocabulary.name} "
          f"({len(trie.token_ids)} strings, {len(trie.nodes)} trie nodes), torch threads {torch.get_num_threads()}",
          flush=True)

    exact, t_fast, fast_times = median_seconds(lambda: fast.run_fast(backend, job), args.repeats)
    print(f"fast exact path: {t_fast:.2f} s (median of {', '.join(f'{t:.2f}' for t in fast_times)} s, after one "
          "untimed run)", flush=True)

    spec = MetricSpec.resolve("shift", run.vocabulary)
    target_of = np.asarray(job.target_of_pair)
    shift = expected(exact.patched, run.vocabulary) - expected(exact.clean, run.vocabulary)[target_of][:, None]
    attributions = {}  # linear, then refined to --attribution-tolerance: (seconds, agreement with exact)
    for name, tolerance in (("linear", None), ("refined", args.attribution_tolerance)):
        estimate, seconds, _ = median_seconds(
            lambda: attribution.attribute(backend, job, spec, run.vocabulary, tolerance=tolerance), args.repeats)
        agree = attribution.agreement(pd.DataFrame({
            "pair_id": np.repeat(np.arange(job.n_pairs), len(layers)), "layer": np.tile(layers, job.n_pairs),
            "estimate": estimate.reshape(-1), "exact": shift.reshape(-1)}))
        attributions[name] = seconds, agree
        print(f"attribution ({name}{'' if tolerance is None else f', tolerance {tolerance}'}): {seconds:.2f} s "
              f"({t_fast / seconds:.1f}x faster than the fast exact path); Spearman with exact: mean layer profile "
              f"{agree['spearman_profile']:+.2f}, per pair {agree['spearman_per_pair_mean']:+.2f} (mean)", flush=True)
    t_attr, agree = attributions["linear"]
    t_refined, agree_refined = attributions["refined"]

    n_runs = job.n_pairs * len(layers)
    t_tl, diff_tl, rate, n_timed = None, None, None, 0
    if "tl" not in skip:
        rate, n_timed, chosen, tl_values = time_tl_exact(tl, job, run.vocabulary, args.tl_exact_runs)
        t_tl = rate * n_runs
        ours = expected(exact.patched, run.vocabulary).reshape(-1)[chosen]
        diff_tl = float(np.abs(ours - tl_values).max())
        print(f"TransformerLens generic_activation_patch, exact metric (trie batch): {rate:.2f} s per run on "
              f"{n_timed} runs -> {t_tl:.1f} s for {n_runs} runs ({t_tl / t_fast:.1f}x the fast path); max abs diff "
              f"with the fast path {diff_tl:.2e}", flush=True)
    metric = first_token_metric(trie, run.vocabulary)
    t_tl_first = None if "tl_first_token" in skip else time_tl_patching(tl, job, metric)
    if t_tl_first is not None:
        print(f"TransformerLens generic_activation_patch, first-token metric (less work, another number): "
              f"{t_tl_first:.2f} s ({t_tl_first / t_fast:.1f}x the fast path)", flush=True)
    t_tl_attr, n_aligned = (None, 0) if "tl_attribution" in skip else time_tl_attribution(tl, run, pairs, metric)
    if t_tl_attr is not None:
        print(f"TransformerLens attribution_patch on {n_aligned} token-aligned pairs: {t_tl_attr:.2f} s", flush=True)
    else:
        print("TransformerLens attribution_patch: not timed (no pair has source and target of the same length, "
              "which it needs)" if "tl_attribution" not in skip else "TransformerLens attribution_patch: skipped")

    t_ref, diff = None, None
    if "reference" not in skip:
        start = time.perf_counter()
        ref = reference.run_reference(backend, job)
        t_ref = time.perf_counter() - start
        diff = float(np.abs(expected(exact.patched, run.vocabulary) - expected(ref.patched, run.vocabulary)).max())
        print(f"reference loop: {t_ref:.2f} s; fast vs reference max abs diff (normalised expected confidence) "
              f"{diff:.2e}", flush=True)
    print(json.dumps({
        "model": args.model, "backend": args.backend, "pairs": job.n_pairs, "layers": len(layers),
        "sources_per_target": args.sources_per_target,
        "seconds_tl": t_tl, "seconds_reference": t_ref, "seconds_fast": t_fast,
        "seconds_fast_runs": fast_times,
        "speedup_vs_tl": None if t_tl is None else t_tl / t_fast,
        "speedup_vs_reference": None if t_ref is None else t_ref / t_fast, "max_abs_diff": diff,
        "attribution_speedup_vs_exact": t_fast / t_attr,
        "attribution_spearman_mean_profile": agree["spearman_profile"],
        "attribution_spearman_per_pair": agree["spearman_per_pair_mean"],
        "attribution_tolerance": args.attribution_tolerance, "seconds_attribution_refined": t_refined,
        "attribution_refined_spearman_mean_profile": agree_refined["spearman_profile"],
        "attribution_refined_spearman_per_pair": agree_refined["spearman_per_pair_mean"],
        "tl_metric": "exact vocabulary (trie batch)", "seconds_tl_per_run": rate, "tl_runs_timed": n_timed,
        "max_abs_diff_tl": diff_tl, "seconds_tl_first_token": t_tl_first,
        "speedup_vs_tl_first_token": None if t_tl_first is None else t_tl_first / t_fast,
        "seconds_attribution": t_attr, "seconds_tl_attribution": t_tl_attr, "tl_attribution_pairs": n_aligned}))


if __name__ == "__main__":
    main()
