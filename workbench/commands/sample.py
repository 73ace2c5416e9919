"""``workbench sample RUN``: the sampling channels (self-consistency, semantic entropy, P(True)) beside the run."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "sample", help="sampling channels: self-consistency, semantic entropy, P(True) (opt-in; costs ~k x collect's "
                       "answer generation)",
        description="Opt-in and costly: per example, k sampled answers (about k times the answer generation of "
                    "`workbench collect`; the prompt forward is shared) plus one forward for P(True). Stored per "
                    "example beside the run, resumable; `workbench calibrate` then reports the three channels.")
    parser.add_argument("run", help="run directory (from `workbench collect`)")
    parser.add_argument("--k", type=int, default=5, help="samples per example (at least 2)")
    parser.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (> 0)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-answer-tokens", type=int, default=None, help="default: the run's")
    parser.add_argument("--no-p-true", action="store_true", help="skip P(True) (saves one forward per example)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default=None)
    parser.add_argument("--overwrite", action="store_true", help="replace stored sampling channels of another config")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from workbench.sampling import SampleConfig, sample_channels

    config = SampleConfig(k=args.k, temperature=args.temperature, seed=args.seed,
                          max_answer_tokens=args.max_answer_tokens, p_true=not args.no_p_true,
                          batch_size=args.batch_size, device=args.device)
    table = sample_channels(args.run, config, overwrite=args.overwrite)
    columns = [c for c in ("self_consistency", "semantic_entropy", "p_true") if c in table]
    print(f"{len(table)} examples, k={config.k} at temperature {config.temperature}: mean "
          + ", ".join(f"{c} {table[c].mean():.3f}" for c in columns) + f"; {table['n_clusters'].mean():.2f} clusters")
    print("run `workbench calibrate RUN` to see them beside the other channels")
    return 0
