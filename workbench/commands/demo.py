"""``workbench demo``: the main job on the embedded default model — collect, then summarise every instrument."""

from __future__ import annotations

import argparse

from workbench.commands.collect import add_collect_arguments, collect_config


def register(subparsers) -> None:
    parser = subparsers.add_parser("demo", help="collect a few hundred items on the default model and summarise")
    add_collect_arguments(parser, limit=300)
    parser.add_argument("--out", default="runs/demo", help="run directory (resumed if it exists)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from workbench.demo import run_demo

    print(run_demo(collect_config(args), args.out))
    return 0
