"""``workbench collect``: collect (or resume) a run into a run store."""

from __future__ import annotations

import argparse

from workbench.cli_options import add_config_options, config_fields
from workbench.configs import CollectConfig


def register(subparsers) -> None:
    parser = subparsers.add_parser("collect", help="collect answers, confidences and residuals into a run store")
    add_config_options(parser, CollectConfig)
    parser.add_argument("--out", required=True, help="run directory, resumed when it holds the same config (required)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from workbench import api

    result = api.collect(args.out, **config_fields(args, CollectConfig))
    print(f"{result.n_examples} examples in {result.path}: accuracy {result.records['correct'].mean():.3f}, "
          f"{len(result.readouts)} read-outs ({result.n_blocks} blocks + the last resid_post) x {len(result.roles)} "
          f"roles x d_model {result.d_model}")
    return 0
