"""``workbench demo``: the main job on the embedded default model — collect, then summarize every instrument."""

from __future__ import annotations

import argparse

from workbench.cli_options import add_config_options, config_fields
from workbench.configs import CollectConfig

DEMO_LIMIT = 300  # the demo collects more items than a plain ``collect`` (its summary needs both classes)


def register(subparsers) -> None:
    parser = subparsers.add_parser("demo", help="collect a few hundred items on the default model and summarize")
    add_config_options(parser, CollectConfig, overrides={"limit": DEMO_LIMIT})
    parser.add_argument("--out", default="runs/demo", help="run directory, resumed if it exists (default: runs/demo)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from workbench.demo import run_demo

    print(run_demo(CollectConfig(**config_fields(args, CollectConfig)), args.out))
    return 0
