"""``workbench collect``: collect (or resume) a run into a run store."""

from __future__ import annotations

import argparse

from workbench.backends.loading import BACKENDS, DEFAULT_MODEL


def add_collect_arguments(parser: argparse.ArgumentParser, *, limit: int) -> None:
    """Options shared by ``collect`` and ``demo``."""
    parser.add_argument("--model", default=DEFAULT_MODEL, help="registry name, Hugging Face id or checkpoint dir")
    parser.add_argument("--dataset", default="all", help="built-in family, 'all', or a file in a known format")
    parser.add_argument("--limit", type=int, default=limit, help="number of items (seeded, family-stratified)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--template", default="answer_then_confidence")
    parser.add_argument("--vocabulary", default="percent", help="percent (0..100), digits (0..9) or letters (A..E)")
    parser.add_argument("--backend", default="transformer_lens", choices=BACKENDS)
    parser.add_argument("--dtype", default="float32", choices=("float32", "float16", "bfloat16"))
    parser.add_argument("--store-dtype", default="float32", choices=("float32", "float16"))
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default=None)
    parser.add_argument("--no-fast", dest="fast", action="store_false",
                        help="switch off the exact speed-ups (shared template prefix once, logits only where read)")


def collect_config(args: argparse.Namespace):
    from workbench.collect import CollectConfig

    return CollectConfig(model=args.model, dataset=args.dataset, limit=args.limit, seed=args.seed,
                         template=args.template, vocabulary=args.vocabulary, backend=args.backend, dtype=args.dtype,
                         store_dtype=args.store_dtype, batch_size=args.batch_size, device=args.device,
                         fast=args.fast)


def register(subparsers) -> None:
    parser = subparsers.add_parser("collect", help="collect answers, confidences and residuals into a run store")
    add_collect_arguments(parser, limit=200)
    parser.add_argument("--out", required=True, help="run directory (resumed when it holds the same config)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from workbench.collect import collect

    config = collect_config(args)
    result = collect(config, args.out)
    frame = result.records
    print(f"{result.n_examples} examples in {result.path}: accuracy {frame['correct'].mean():.3f}, "
          f"{result.n_layers} layers x {len(result.roles)} roles x d_model {result.d_model}")
    return 0
